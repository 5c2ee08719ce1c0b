package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/scopeline/scopeline/engine/internal/claim"
	"github.com/scopeline/scopeline/engine/internal/scope"
	"github.com/scopeline/scopeline/engine/internal/text"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Transaction is one token request on its way through the pipeline. The
// grant fills in who asks for what (the exported request fields) before
// the pipeline runs; the stages change the outcome (Scopes, Claims) only
// through its methods, which enforce the baseline's rules (see
// docs/design.md, "The rules a hook cannot break") and record every change
// in the Trace. Hooks never hold a Transaction: they read a View of it and
// stage their changes in a HookResult.
type Transaction struct {
	// RequestID identifies the HTTP request (X-Request-Id).
	RequestID string
	Trigger   tenant.Trigger
	GrantType string
	// ClientID is the client id the request presented; Client is set once
	// the client has authenticated.
	ClientID string
	Client   *tenant.Client
	// ClientAuth is how the client authenticated (client_secret_basic,
	// client_secret_post, private_key_jwt, client_secret_jwt, or none for
	// a public client), once it has.
	ClientAuth string
	// DPoPKey is the RFC 7638 thumbprint of the key of the request's
	// verified DPoP proof: the access token is bound to it (cnf.jkt).
	DPoPKey string
	// API and Grant are set once the target API is resolved.
	API   *tenant.API
	Grant *tenant.Grant
	// Requested are the scopes of the scope parameter, in request order;
	// nil when the parameter was absent.
	Requested []string
	// Scopes are the scopes the token will carry, in the API's order.
	Scopes []string
	// Identity are the OpenID Connect scopes (openid, profile, email,
	// offline_access) granted in end-user flows: the issuer's own, not the
	// API's. The token's scope claim lists them before Scopes.
	Identity []string
	// Claims are extra claims set by hooks (and by the baseline: the RBAC
	// permissions), as JSON values.
	Claims map[string]json.RawMessage
	// issuerClaims are the names in Claims the issuer wrote on this
	// request: reserved for hooks like the claims IsReservedClaim names.
	issuerClaims []string
	// Subject is the token's sub: the client id for client credentials,
	// the user id in end-user flows. User is set in end-user flows.
	Subject string
	User    *tenant.User
	// Exchange is set on token exchanges (RFC 8693): the subject token,
	// the actor chain and the ceiling the exchange allows.
	Exchange *Exchange
	// IP and UserAgent describe the caller.
	IP        string
	UserAgent string
	// Time is when the request arrived; Deadline is when the hook pipeline
	// must have finished (zero when there are no hooks).
	Time     time.Time
	Deadline time.Time

	// Trace records every decision taken on the request, in order.
	Trace Trace
	// Logs holds what hooks logged; Failures the hooks that faulted.
	Logs     []HookLog
	Failures []*HookFailure
	// Timings is how long each stage of the pipeline took, in order.
	Timings []StageTiming
	// timings holds Timings for pipelines of up to 8 stages, so that
	// timing a request allocates nothing.
	timings [8]StageTiming
}

// StageTiming is how long one stage of a pipeline took on a request. In
// JSON (audit events) the duration is in nanoseconds.
type StageTiming struct {
	Stage    string        `json:"stage"`
	Duration time.Duration `json:"ns"`
}

// Trace is the ordered record of what changed a transaction and why.
type Trace []TraceEntry

// TraceEntry is one decision: which stage did what to which scope or claim.
type TraceEntry struct {
	// Stage is "baseline" or the name of the hook.
	Stage string `json:"stage"`
	Op    Op     `json:"op"`
	Scope string `json:"scope,omitempty"`
	Claim string `json:"claim,omitempty"`
	// Refused is set when the op was asked for and not applied.
	Refused bool   `json:"refused,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Op is what a trace entry did.
type Op string

// The trace operations.
const (
	OpAdd         Op = "add"
	OpRemove      Op = "remove"
	OpSetClaim    Op = "set-claim"
	OpRemoveClaim Op = "remove-claim"
	OpDeny        Op = "deny"
	// OpFault records a hook that failed (trap, timeout, bad output); OpSkip
	// that its failure policy let the request go on without it.
	OpFault Op = "fault"
	OpSkip  Op = "skip"
)

// HookLog is one line a hook logged.
type HookLog struct {
	Hook    string `json:"hook"`
	Message string `json:"message"`
}

// StageBaseline names the baseline policy in traces.
const StageBaseline = "baseline"

// IsReservedClaim reports whether name is a claim only the issuer sets, or
// folds to one (claim.Key): "Scope" or "ſcope" is "scope" to a resource
// server that matches names without regard to case, as encoding/json
// does. No hook may set or remove such a claim.
func IsReservedClaim(name string) bool {
	_, ok := claim.IsReserved(name)
	return ok
}

// Limits on what stages may do to a transaction.
const (
	MaxClaims      = 64
	MaxClaimName   = claim.MaxNameLen
	MaxClaimValue  = 4096
	MaxClaimsBytes = 16 << 10
	MaxReasonLen   = 512
)

func (tx *Transaction) record(e TraceEntry) {
	if len(e.Reason) > MaxReasonLen {
		e.Reason = truncate(e.Reason, MaxReasonLen)
	}
	tx.Trace = append(tx.Trace, e)
}

// HasScope reports whether the token currently carries scope.
func (tx *Transaction) HasScope(scope string) bool { return slices.Contains(tx.Scopes, scope) }

// AddScope adds scope on behalf of stage. The API must define it and, unless
// exceedGrant, the grant ceiling must allow it; otherwise the op is refused.
// Either way it is traced. It reports whether the scope was added.
func (tx *Transaction) AddScope(stage, scope, reason string, exceedGrant bool) bool {
	refuse := func(why string) bool {
		tx.record(TraceEntry{Stage: stage, Op: OpAdd, Scope: traceScope(scope), Refused: true, Reason: why})
		return false
	}
	switch {
	case tx.API == nil:
		return refuse("no API resolved")
	case !tx.API.Defines(scope):
		return refuse("the API does not define this scope")
	case !exceedGrant && (tx.Grant == nil || !tx.Grant.Allows(scope)):
		return refuse("outside the grant ceiling")
	case tx.HasScope(scope):
		return refuse("already granted")
	}
	tx.Scopes = insertInOrder(tx.Scopes, scope, tx.API)
	tx.record(TraceEntry{Stage: stage, Op: OpAdd, Scope: scope, Reason: reason})
	return true
}

// insertInOrder adds scope keeping the API's scope order, so tokens list
// scopes the same way whatever order they were added in.
func insertInOrder(scopes []string, scope string, api *tenant.API) []string {
	pos := func(s string) int {
		return slices.IndexFunc(api.Scopes, func(d tenant.Scope) bool { return d.Name == s })
	}
	p := pos(scope)
	i := slices.IndexFunc(scopes, func(s string) bool { return pos(s) > p })
	if i < 0 {
		return append(scopes, scope)
	}
	return slices.Insert(scopes, i, scope)
}

// traceScope is how the trace shows a scope a stage asked for: as it is
// when it is a scope token (RFC 6749 §3.3), else Go-quoted with its odd
// characters escaped and cut, for a hook may name anything up to 16 KiB.
func traceScope(s string) string {
	if scope.ValidToken(s) == nil {
		return s
	}
	return claim.Quote(s)
}

// RemoveScope removes scope on behalf of stage. Removing is always allowed;
// removing a scope the token does not carry is traced as refused.
func (tx *Transaction) RemoveScope(stage, scope, reason string) bool {
	i := slices.Index(tx.Scopes, scope)
	if i < 0 {
		tx.record(TraceEntry{Stage: stage, Op: OpRemove, Scope: traceScope(scope), Refused: true, Reason: "not granted"})
		return false
	}
	tx.Scopes = slices.Delete(tx.Scopes, i, i+1)
	tx.record(TraceEntry{Stage: stage, Op: OpRemove, Scope: scope, Reason: reason})
	return true
}

// SetClaim sets a custom claim to a JSON value on behalf of stage. It is
// refused, and traced as such, for a name that is malformed (claim.CheckName),
// reserved (IsReservedClaim), written by the issuer on this request (such as
// the RBAC permissions), or equal under case folding to another claim of
// the token; and for a value that is not valid JSON in UTF-8, repeats a
// member name, or passes the size limits.
func (tx *Transaction) SetClaim(stage, name string, value json.RawMessage, reason string) bool {
	return tx.setClaim(stage, name, value, reason, false)
}

// setIssuerClaim sets a claim the issuer itself writes on this request
// (the baseline's permissions): from then on no hook may set or remove it,
// nor a name that folds to it.
func (tx *Transaction) setIssuerClaim(stage, name string, value json.RawMessage, reason string) bool {
	if !tx.setClaim(stage, name, value, reason, true) {
		return false
	}
	tx.issuerClaims = append(tx.issuerClaims, name)
	return true
}

func (tx *Transaction) setClaim(stage, name string, value json.RawMessage, reason string, byIssuer bool) bool {
	refuse := func(shown, why string) bool {
		tx.record(TraceEntry{Stage: stage, Op: OpSetClaim, Claim: shown, Refused: true, Reason: why})
		return false
	}
	if shown, why := tx.claimRefusal(name, byIssuer); why != "" {
		return refuse(shown, why)
	}
	if len(value) > MaxClaimValue {
		return refuse(name, "value larger than 4096 bytes")
	}
	if err := claim.CheckValue(value); err != nil {
		return refuse(name, err.Error())
	}
	for k := range tx.Claims {
		if k != name && claim.Same(k, name) {
			return refuse(name, fmt.Sprintf("equal to claim %q under case folding", k))
		}
	}
	if _, exists := tx.Claims[name]; !exists && len(tx.Claims) >= MaxClaims {
		return refuse(name, "too many claims")
	}
	total := len(name) + len(value)
	for k, v := range tx.Claims {
		if k != name {
			total += len(k) + len(v)
		}
	}
	if total > MaxClaimsBytes {
		return refuse(name, "custom claims larger than 16 KiB in all")
	}
	if tx.Claims == nil {
		tx.Claims = map[string]json.RawMessage{}
	}
	tx.Claims[name] = compactJSON(value)
	tx.record(TraceEntry{Stage: stage, Op: OpSetClaim, Claim: name, Reason: reason})
	return true
}

// claimRefusal says why a stage may not set or remove the claim name
// (why is "" when it may), and how to show the name in the trace: as it
// is, or quoted with its odd characters escaped when it is malformed.
func (tx *Transaction) claimRefusal(name string, byIssuer bool) (shown, why string) {
	if err := claim.CheckName(name); err != nil {
		return claim.Quote(name), err.Error()
	}
	if r, ok := claim.IsReserved(name); ok {
		if r == name {
			return name, "reserved claim"
		}
		return name, fmt.Sprintf("reserved claim: folds to %q", r)
	}
	if byIssuer {
		return name, ""
	}
	for _, n := range tx.issuerClaims {
		if claim.Same(n, name) {
			return name, fmt.Sprintf("claim %q is set by the issuer on this request", n)
		}
	}
	return name, ""
}

// RemoveClaim removes a custom claim on behalf of stage. Removing a
// reserved claim, one the issuer set on this request, or one that is not
// set is refused.
func (tx *Transaction) RemoveClaim(stage, name, reason string) bool {
	refuse := func(shown, why string) bool {
		tx.record(TraceEntry{Stage: stage, Op: OpRemoveClaim, Claim: shown, Refused: true, Reason: why})
		return false
	}
	if shown, why := tx.claimRefusal(name, false); why != "" {
		return refuse(shown, why)
	}
	if _, ok := tx.Claims[name]; !ok {
		return refuse(name, "not set")
	}
	delete(tx.Claims, name)
	tx.record(TraceEntry{Stage: stage, Op: OpRemoveClaim, Claim: name, Reason: reason})
	return true
}

func compactJSON(v json.RawMessage) json.RawMessage {
	if claim.PlainString(v) {
		return bytes.Clone(v) // compact already; v may be the caller's buffer
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return v
	}
	return b.Bytes()
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string { return text.Truncate(s, n) }

// scopeClaim is the token's scope: OpenID Connect scopes, then the API's.
func (tx *Transaction) scopeClaim() string {
	if len(tx.Identity) == 0 {
		return scope.Join(tx.Scopes)
	}
	return scope.Join(append(slices.Clone(tx.Identity), tx.Scopes...))
}

// Record appends a decision to the trace that no stage's method made: a
// refusal the grant or a hosted page decided (stage "consent", say), or
// the OpenID Connect scopes of an end-user flow.
func (tx *Transaction) Record(e TraceEntry) { tx.record(e) }

// Result is what the pipeline decided for a transaction, as kept between
// a sign-in and the exchange of its authorization code.
type Result struct {
	Scopes   []string                   `json:"scopes"`
	Identity []string                   `json:"identity,omitempty"`
	Claims   map[string]json.RawMessage `json:"claims,omitempty"`
	Trace    Trace                      `json:"trace"`
	Logs     []HookLog                  `json:"logs,omitempty"`
	Timings  []StageTiming              `json:"timings,omitempty"`
}

// Result returns what the pipeline decided so far.
func (tx *Transaction) Result() Result {
	return Result{Scopes: tx.Scopes, Identity: tx.Identity, Claims: tx.Claims, Trace: tx.Trace, Logs: tx.Logs, Timings: tx.Timings}
}

// Restore takes up a result decided earlier (at sign-in) for the request
// that redeems it (the code exchange): its scopes, claims and logs, and
// its stage timings, and its trace after the entries tx already has.
func (tx *Transaction) Restore(r Result) {
	tx.Scopes, tx.Identity, tx.Claims, tx.Logs, tx.Timings = r.Scopes, r.Identity, r.Claims, r.Logs, r.Timings
	tx.Trace = append(tx.Trace, r.Trace...)
}
