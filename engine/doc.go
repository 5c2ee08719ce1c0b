// Package engine is the core of Scopeline's token issuer: everything a
// token request goes through, with no HTTP. The parts composed around it
// (grants, endpoints, hosted pages) are packages of their own, and
// package server puts them together; docs/design.md draws the map.
//
// One token request walks this path (see Issuer.Token):
//
//	TokenRequest ─► Issuer.Token: acquire one Snapshot (tenant, pipelines, keys)
//	  ─► the Grant of its grant_type (package grant): authenticate the client
//	     (ClientAuthenticator), resolve the API, then the Pipeline of the trigger:
//	       baseline policy: no grant → access_denied; granted = requested ∩ ceiling
//	                        (∩ user permissions under RBAC)              [trace]
//	       hook 1 … hook n: each reads a View of the transaction and stages
//	                        ops, applied only on a clean return          [trace]
//	  ─► mint an RFC 9068 JWT ─► Extension (ID, refresh tokens) ─► Auditor.Record
//	  ─► response; any refusal goes through Issuer.Deny, the one place it is recorded
//
// A Transaction carries the request through the stages; stages change its
// outcome only through its methods (AddScope, RemoveScope, SetClaim,
// RemoveClaim), which enforce the rules (scopes the API defines, the
// grant ceiling, reserved claims, size limits) and append to its Trace.
// Hooks never hold one: they get a View and return a HookResult. A
// refusal is an *Error mapping RFC 6749 §5.2, immutable, which the HTTP
// layer turns into the one JSON error response.
//
// The tenant (package tenant), its pipelines and the signing keys (package
// keys) are one immutable Snapshot: a request acquires it and uses it
// from start to end, and Reload and SetKeys swap in a whole new one at
// once (docs/design.md, "One snapshot").
package engine
