// Package jwk decodes and encodes public JSON Web Keys (RFC 7517, RFC 7518
// §6, RFC 8037 §2) and computes their thumbprints (RFC 7638).
//
// It is what the resource-server SDK, its DPoP support and the issuer's
// client authentication share: one decoder of the public keys others send
// (a client's JWK Set, the key in a DPoP proof's header, an issuer's JWK
// Set), strict about what it accepts. Only signature keys of the
// algorithms Scopeline verifies are decoded: RSA (RS256, PS256; 2048 to
// 8192 bits), P-256 (ES256) and Ed25519 (EdDSA). A JWK holding private or
// symmetric key material is refused.
package jwk
