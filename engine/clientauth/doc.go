// Package clientauth authenticates clients by JWT assertion: the
// private_key_jwt and client_secret_jwt methods of OpenID Connect Core §9,
// which are RFC 7523 §2.2 client authentication.
//
// A Verifier checks a client_assertion (of type
// urn:ietf:params:oauth:client-assertion-type:jwt-bearer) against the
// client it names in a tenant snapshot:
//
//   - iss and sub equal to the client id (and to client_id when the
//     request sends it), the client registered for the method;
//   - the signature: private_key_jwt with a key of the client's inline
//     jwks or of its jwks_uri (fetched, cached, refetched at most once per
//     interval when the assertion names an unknown key), with an
//     asymmetric algorithm of the tenant's allow-list (and the client's own
//     token_endpoint_auth_signing_alg when it pins one); client_secret_jwt
//     with HS256 under one of the client's secrets; never none;
//   - typ absent, JWT, or client-authentication+jwt; no crit;
//   - aud: with the explicit typ client-authentication+jwt, the issuer
//     identifier as a single string (RFC 7523 as updated, against audience
//     injection); without it, the issuer or the URL of an endpoint that
//     authenticates clients (the OpenID Connect habit), as one string or a
//     one-element array, never several values;
//   - exp present, not passed, and at most the tenant's max_lifetime after
//     iat (or now); nbf and iat not in the future; a clock skew allowed on
//     each;
//   - jti present, and never seen before while the assertion could be
//     accepted: a replay.Cache claims it, last, after every other check.
//
// Every refusal is ErrInvalidClient (RFC 6749 §5.2 invalid_client) with a
// description safe to send; the cause is for logs.
package clientauth
