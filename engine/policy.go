package engine

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/scopeline/scopeline/engine/tenant"
)

// baseline is the policy every request goes through before any hook (see
// docs/design.md, "The baseline policy"): no grant, no token; granted =
// requested ∩ grant ceiling (∩ the user's permissions when the API
// enforces RBAC); absent scope means the whole ceiling. In user flows an
// empty result is not an error here: hooks may still add scopes; the
// end-user flows refuse a token that ends with none of the API scopes it
// asked for (userflow.CheckResult).
type baseline struct {
	tenant *tenant.Tenant
}

func (baseline) Name() string { return StageBaseline }

func (b baseline) Run(_ context.Context, tx *Transaction) error {
	forUser := tx.User != nil
	g, ok := b.tenant.Grant(tx.Client.ID, tx.API.Identifier)
	ceiling := "outside the grant ceiling"
	if x := tx.Exchange; x != nil {
		// A token exchange's grant is its rule, capped by the subject
		// token's scopes (see Exchange.Grant), never the client's own.
		g, ok = x.Grant, x.Grant != nil
		ceiling = "outside the exchange's ceiling"
		if x.Rule != nil && x.Rule.CapBySubjectScopes {
			ceiling = "outside the exchange's ceiling or the subject token's scopes"
		}
	}
	if !ok || (forUser && !g.ForUser) || (!forUser && !g.ForClient) {
		kind := "client"
		if forUser {
			kind = "user"
		}
		if tx.Exchange != nil {
			tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Reason: "the exchange does not allow " + kind + " subject tokens"})
			return ErrAccessDenied.WithDescription("client %q may not exchange %s tokens for %q", tx.Client.ID, kind, tx.API.Identifier)
		}
		tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Reason: "no " + kind + " grant for this client on this API"})
		return ErrAccessDenied.WithDescription("client %q is not granted %s access to %q", tx.Client.ID, kind, tx.API.Identifier)
	}
	tx.Grant = g

	var permitted []string // nil: no RBAC cap
	if forUser && tx.API.RBAC {
		permitted = tx.User.Permissions[tx.API.Identifier]
		if permitted == nil {
			permitted = []string{}
		}
	}
	allow := func(scope, why string) {
		switch {
		case !g.Allows(scope):
			tx.record(TraceEntry{Stage: StageBaseline, Op: OpAdd, Scope: scope, Refused: true, Reason: ceiling})
		case permitted != nil && !slices.Contains(permitted, scope):
			tx.record(TraceEntry{Stage: StageBaseline, Op: OpAdd, Scope: scope, Refused: true, Reason: "not in the user's permissions (RBAC)"})
		default:
			tx.Scopes = append(tx.Scopes, scope)
			tx.record(TraceEntry{Stage: StageBaseline, Op: OpAdd, Scope: scope, Reason: why})
		}
	}

	if tx.Requested == nil {
		for _, s := range g.Scopes {
			allow(s, "grant ceiling (no scope requested)")
		}
	} else {
		for _, s := range tx.Requested {
			if !tx.API.Defines(s) {
				tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Scope: s, Reason: "scope not defined by the API"})
				return ErrInvalidScope.WithDescription("scope %q is not defined by %q", s, tx.API.Identifier)
			}
		}
		// Walk the API's scopes so the token lists them in a stable order.
		for _, d := range tx.API.Scopes {
			if slices.Contains(tx.Requested, d.Name) {
				allow(d.Name, "requested")
			}
		}
	}
	if forUser && tx.API.PermissionsClaim {
		// RFC 9068 §2.2.3.1 style entitlements: what the user may do on
		// this API through this client, whatever this token's scope.
		perms := slices.DeleteFunc(slices.Clone(permitted), func(s string) bool { return !g.Allows(s) })
		claim, _ := json.Marshal(perms)
		tx.setIssuerClaim(StageBaseline, "permissions", claim, "the user's permissions on the API within the grant (permissions_claim)")
	}
	if len(tx.Scopes) == 0 && (!forUser || tx.Exchange != nil) {
		tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Reason: "no scope left to grant"})
		if tx.Requested == nil {
			return ErrInvalidScope.WithDescription("the grant for %q allows no scopes", tx.API.Identifier)
		}
		return ErrInvalidScope.WithDescription("none of the requested scopes is granted")
	}
	return nil
}
