// Package engine is Scopeline's token pipeline: the token endpoint, the
// baseline policy, the hook stages, minting and the audit record.
//
// One token request walks this path (see Issuer.Token):
//
//	POST /oauth/token ─► parse + authenticate client ─► resolve API (audience | resource)
//	  ─► Pipeline for the trigger, in order:
//	       baseline policy: no grant → access_denied; granted = requested ∩ ceiling
//	                        (∩ user permissions under RBAC)              [trace]
//	       hook 1 … hook n: each sees the state the previous one left;
//	                        ops applied only on a clean return           [trace]
//	  ─► mint an RFC 9068 JWT ─► Auditor.Record ─► response
//
// A Transaction carries the request through the stages; stages change it
// only through its methods (AddScope, RemoveScope, SetClaim, RemoveClaim),
// which enforce the rules (scopes the API defines, the grant ceiling,
// reserved claims, size limits) and append to its Trace. A refusal is an
// *Error mapping RFC 6749 §5.2; http.go turns it into the one JSON error
// response.
//
// The tenant (package tenant), its pipelines and the signing keys (package
// keys) are one immutable snapshot: a request acquires it and uses it from
// start to end, and Reload and SetKeys swap in a whole new one at once.
package engine
