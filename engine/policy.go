package engine

import (
	"bytes"
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

	permitted := userPermissions(tx)
	allow := func(scope, why string) {
		if refusal := scopeRefusal(g, permitted, scope, ceiling); refusal != "" {
			tx.record(TraceEntry{Stage: StageBaseline, Op: OpAdd, Scope: scope, Refused: true, Reason: refusal})
			return
		}
		tx.Scopes = append(tx.Scopes, scope)
		tx.record(TraceEntry{Stage: StageBaseline, Op: OpAdd, Scope: scope, Reason: why})
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
		tx.setIssuerClaim(StageBaseline, permissionsClaim, permissionsValue(g, permitted), "the user's permissions on the API within the grant (permissions_claim)")
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

// permissionsClaim is the claim of an API with permissions_claim: RFC
// 9068 §2.2.3.1 style entitlements, what the user may do on the API
// through this client, whatever this token's scope.
const permissionsClaim = "permissions"

// permissionsValue is the value of the permissions claim: the user's
// permissions within the grant's ceiling.
func permissionsValue(g *tenant.Grant, permitted []string) json.RawMessage {
	perms := slices.DeleteFunc(slices.Clone(permitted), func(s string) bool { return !g.Allows(s) })
	v, _ := json.Marshal(perms)
	return v
}

// userPermissions are the scopes the user of tx may be granted on tx's
// API when it enforces RBAC (empty when the user has none), or nil when
// no RBAC caps the token: a client's token, or an API without rbac.
func userPermissions(tx *Transaction) []string {
	if tx.User == nil || !tx.API.RBAC {
		return nil
	}
	if p := tx.User.Permissions[tx.API.Identifier]; p != nil {
		return p
	}
	return []string{}
}

// scopeRefusal says why the baseline does not grant scope under grant g
// ("" when it does): outside the grant's ceiling (ceiling says which), or
// not in the user's permissions when permitted is not nil.
func scopeRefusal(g *tenant.Grant, permitted []string, scope, ceiling string) string {
	switch {
	case !g.Allows(scope):
		return ceiling
	case permitted != nil && !slices.Contains(permitted, scope):
		return "not in the user's permissions (RBAC)"
	}
	return ""
}

// Recheck applies the rules again to an end user's result decided under
// an older snapshot and restored into tx (Transaction.Restore): the
// result of a sign-in, redeemed with its code after the tenant may have
// been reloaded (see docs/design.md, "A code is checked again at its
// exchange"). tx.API, tx.User and tx.Grant must be s's. Each scope is
// held to the rule it was granted under: the baseline's, the grant's
// ceiling and, on an RBAC API, the user's permissions; a hook's, the
// ceiling, unless that hook of s's pipeline has allow_exceed_grant; and
// for both, the API must still define it. A scope no longer allowed is
// removed, and the trace says why. The permissions claim the issuer
// writes is written again from the user's current permissions. Whether
// anything the user asked for is left is the caller's to check, as after
// a pipeline.
func (s *Snapshot) Recheck(tx *Transaction) {
	g, permitted := tx.Grant, userPermissions(tx)
	for _, sc := range slices.Clone(tx.Scopes) {
		stage := tx.Trace.madeBy(OpAdd, sc, "")
		var why string
		switch {
		case !tx.API.Defines(sc):
			why = "the API does not define this scope"
		case stage == StageBaseline || stage == "":
			why = scopeRefusal(g, permitted, sc, "outside the grant ceiling")
		case !g.Allows(sc) && !s.Pipeline(tx.Trigger).exceedsGrant(stage):
			why = "outside the grant ceiling"
		}
		if why != "" {
			tx.RemoveScope(StageBaseline, sc, "no longer granted: "+why)
		}
	}
	switch {
	case tx.API.PermissionsClaim:
		if v := permissionsValue(g, permitted); !bytes.Equal(tx.Claims[permissionsClaim], v) {
			tx.setIssuerClaim(StageBaseline, permissionsClaim, v, "the user's permissions on the API within the grant (permissions_claim), as they are now")
		}
	case tx.Trace.madeBy(OpSetClaim, "", permissionsClaim) == StageBaseline:
		tx.RemoveClaim(StageBaseline, permissionsClaim, "the API no longer asks for permissions_claim")
	}
}

// madeBy is the stage of the last entry that applied op to scope or
// claim, "" if none did.
func (tr Trace) madeBy(op Op, scope, claim string) string {
	for i := len(tr) - 1; i >= 0; i-- {
		if e := tr[i]; e.Op == op && !e.Refused && e.Scope == scope && e.Claim == claim {
			return e.Stage
		}
	}
	return ""
}
