// Package resource protects net/http APIs with Scopeline access tokens: it
// is the resource-server side of OAuth 2.0, strict by default.
//
// A Validator is made for one issuer and one API (the audience):
//
//	rs, err := resource.New("https://auth.example.com/", "https://api.example.com")
//	mux.Handle("GET /users", rs.Protect(listUsers, resource.RequireScopes("read:users")))
//
// It discovers the issuer's metadata (RFC 8414, then OpenID Connect
// Discovery), fetches its JWK Set and caches it as long as the
// Cache-Control header says (within one minute and one hour), refetches it
// when a token names an unknown key (single-flight, at most once per
// refetch interval), and keeps using cached keys for up to a day while the
// issuer cannot be reached.
//
// Tokens are validated per RFC 9068 §4: typ at+jwt (or application/at+jwt),
// a signature by a key the issuer publishes, with an algorithm it
// advertises for access tokens and the key's own (RS256, ES256 or EdDSA;
// never none or HMAC), iss equal to the issuer, aud containing the
// audience, exp, nbf and iat within a small leeway, and iss, sub, aud,
// client_id, iat, exp and jti present.
//
// The claims set is decoded strictly, so that it reads the same to this API
// as to any other decoder: member names match exactly (encoding/json alone
// ignores case), and a token is refused when an object repeats a member
// name, two claims are equal under Unicode case folding ("scope", "Scope",
// "ſcope"), a claim folds to a registered one (iss, sub, aud, exp, nbf,
// iat, jti, scope, client_id, auth_time, acr, amr, cnf) without being it,
// or exp, nbf, iat or auth_time is not a JSON number.
//
// Tokens are accepted only in the Authorization header, with the Bearer
// (RFC 6750 §2.1) or DPoP (RFC 9449 §7.1) scheme. A DPoP-bound token
// (cnf.jkt) passes only with the DPoP scheme and a proof by its key for
// the request and the token (package dpop checks it); sent as a bearer
// token it is refused. Refusals follow RFC 6750 §3 and RFC 9449 §7.1, with
// one challenge per scheme, and never echo the token.
//
// WithIntrospection asks the issuer about each token (RFC 7662, signed
// answers per RFC 9701) instead of validating it here;
// WithRevocationCheck and WithDenylist validate here and then ask whether
// the token was revoked. Active answers are cached briefly.
//
// The package imports neither the issuer (engine) nor anything it runs on.
package resource
