// Package grant has the grant types of the token endpoint, each an
// engine.Grant of its own (as fosite's handlers are): ClientCredentials
// (RFC 6749 §4.4), AuthorizationCode (§4.1.3, with PKCE, RFC 7636) and
// RefreshToken (§6, rotated, RFC 9700 §4.14.2). Each holds its
// dependencies in its fields (client authentication, storage, clock,
// randomness, logger); package server composes them into an issuer with
// engine.WithGrants. A new grant type is a new file here.
package grant
