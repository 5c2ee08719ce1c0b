// Package tenant holds Scopeline's tenant model: the APIs tokens are issued
// for, the clients that ask for them, the grants that connect the two, the
// users and roles of end-user flows, and the hook pipelines that run on every
// token request.
//
// A tenant is read from one YAML file by [Load] or [Parse], validated once
// (every error names the field and the line), and is immutable afterwards:
// a reload builds a new [Tenant] and swaps it in whole. What belongs to
// the process rather than the tenant (the audit stream's `nats:` and
// `audit:`) is package settings' file; a tenant file that has those
// sections is refused.
package tenant
