// Package issuertest tests the resource-server SDK (module
// github.com/scopeline/scopeline/sdk/resource) against the real issuer,
// in process: discovery, the JWKS cache across key rotations, refused
// tokens, claims the issuer's hooks set. It is a module of its own, a
// test module, so that the SDK's module requires nothing of the issuer's
// (see docs/design.md, "Modules").
package issuertest
