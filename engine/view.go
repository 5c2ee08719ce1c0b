package engine

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
)

// View is what a hook sees of a transaction: its state when the hook's
// stage starts, read only. A hook changes nothing through it; it stages
// ops in its HookResult, which the stage applies with the Transaction's
// rules once the hook returned cleanly (see docs/design.md, "Hooks read a
// view and stage their changes").
//
// The slices and maps View returns are copies. The tenant objects (Client,
// API, Grant, User) are the tenant snapshot's, shared by every request:
// they must not be changed.
type View struct{ tx *Transaction }

// View returns a read-only view of tx.
func (tx *Transaction) View() View { return View{tx} }

// Trigger is the pipeline the transaction runs through.
func (v View) Trigger() tenant.Trigger { return v.tx.Trigger }

// GrantType is the request's grant_type.
func (v View) GrantType() string { return v.tx.GrantType }

// ClientID is the authenticated client's id, or else the one presented.
func (v View) ClientID() string {
	if v.tx.Client != nil {
		return v.tx.Client.ID
	}
	return v.tx.ClientID
}

// Client is the authenticated client; nil before authentication.
func (v View) Client() *tenant.Client { return v.tx.Client }

// API is the API the token is for; nil before it is resolved.
func (v View) API() *tenant.API { return v.tx.API }

// Grant is the grant that lets the client reach the API; nil before the
// baseline found it.
func (v View) Grant() *tenant.Grant { return v.tx.Grant }

// User is the signed-in user of an end-user flow; nil for a client's own
// token.
func (v View) User() *tenant.User { return v.tx.User }

// Exchange describes a token exchange (RFC 8693): the subject token's
// claims, the actor and the actor chain. It is false for other grants.
// The value is a copy; its Rule and APIs are the tenant snapshot's.
func (v View) Exchange() (Exchange, bool) {
	x := v.tx.Exchange
	if x == nil {
		return Exchange{}, false
	}
	c := *x
	c.SubjectClaims, c.ActorClaims, c.act = slices.Clone(x.SubjectClaims), slices.Clone(x.ActorClaims), slices.Clone(x.act)
	c.SubjectScopes, c.Chain = slices.Clone(x.SubjectScopes), slices.Clone(x.Chain)
	return c, true
}

// Subject is the token's sub.
func (v View) Subject() string { return v.tx.Subject }

// Requested are the scopes of the request's scope parameter, in request
// order; nil when the parameter was absent.
func (v View) Requested() []string { return slices.Clone(v.tx.Requested) }

// Scopes are the API scopes the token carries so far, in the API's order.
func (v View) Scopes() []string {
	if v.tx.Scopes == nil {
		return []string{}
	}
	return slices.Clone(v.tx.Scopes)
}

// HasScope reports whether the token carries scope so far.
func (v View) HasScope(scope string) bool { return v.tx.HasScope(scope) }

// Identity are the OpenID Connect scopes of an end-user flow.
func (v View) Identity() []string { return slices.Clone(v.tx.Identity) }

// Claims are the custom claims set so far, as JSON values.
func (v View) Claims() map[string]json.RawMessage { return maps.Clone(v.tx.Claims) }

// RequestID identifies the request (X-Request-Id).
func (v View) RequestID() string { return v.tx.RequestID }

// IP and UserAgent describe the caller.
func (v View) IP() string { return v.tx.IP }

// UserAgent is the caller's User-Agent, cut to size.
func (v View) UserAgent() string { return v.tx.UserAgent }

// Time is when the request arrived.
func (v View) Time() time.Time { return v.tx.Time }

// Deadline is when the hook pipeline must have finished; zero when there
// are no hooks.
func (v View) Deadline() time.Time { return v.tx.Deadline }
