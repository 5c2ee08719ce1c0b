// Package dpop checks DPoP proofs (OAuth 2.0 Demonstrating Proof of
// Possession, RFC 9449) for an authorization server's token endpoint and
// for resource servers alike.
//
// A Verifier checks a proof per RFC 9449 §4.3: one DPoP header holding one
// JWT of typ dpop+jwt, signed with an asymmetric algorithm of its
// allow-list by the public key in its jwk header (which must hold no
// private part); htm equal to the request's method and htu to its URL
// (both normalised per RFC 3986 §6.2.2 and §6.2.3, query and fragment
// left out); iat within a window; jti never seen before (a replay.Cache
// remembers it until the proof could no longer be accepted); the server's
// nonce when nonces are required (§8, §9); and, when the proof comes with
// an access token, ath equal to the token's hash and the proof's key equal
// to the one the token is bound to (cnf.jkt, §6.1).
//
// Nonces are stateless: a nonce is a time period's index and an HMAC of
// it, so every replica sharing the key issues and accepts the same ones.
//
// Refusals are *Error values with the RFC 9449 error codes
// invalid_dpop_proof and use_dpop_nonce; the caller decides how they
// reach the client (a token endpoint's JSON error, a resource's
// WWW-Authenticate: DPoP challenge).
package dpop
