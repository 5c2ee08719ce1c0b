package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/text"
	"github.com/scopeline/scopeline/engine/tenant"
)

// SpecVersion is the CloudEvents version of every event.
const SpecVersion = "1.0"

// ContentType is the Content-Type header of every event message: CloudEvents
// structured mode, JSON.
const ContentType = "application/cloudevents+json"

// SchemaVersion is the version of the event data schema. It is part of each
// event's type; a change that is not backward compatible makes a new
// version (and new types) rather than changing this one.
const SchemaVersion = "v1"

// DataSchema is the `dataschema` of every event: the JSON Schema of the data
// (docs/events.v1.schema.json in the repository).
const DataSchema = "https://github.com/scopeline/scopeline/blob/main/docs/events.v1.schema.json"

// Kind is the short name of an event type: the second-to-last token of
// its subject and the value of `scopeline audit tail --type`.
type Kind string

// The kinds of events.
const (
	// KindIssued is a token issued with no hook fault.
	KindIssued Kind = "issued"
	// KindDenied is a refused token request with no hook fault.
	KindDenied Kind = "denied"
	// KindHookFailed is a token request during which at least one hook
	// faulted (trap, timeout, bad output), whatever the outcome: its failure
	// policy either denied the request or skipped the hook.
	KindHookFailed Kind = "hook-failed"
	// KindTenantReloaded is a tenant reload, successful or refused.
	KindTenantReloaded Kind = "tenant-reloaded"
	// KindLogin is a sign-in attempt at the hosted login page.
	KindLogin Kind = "login"
	// KindDryRun is a token request run through the pipeline for its
	// trace only (the console's "try a request"): no token was minted,
	// whatever its outcome says would have happened.
	KindDryRun Kind = "dry-run"
	// KindRevoked is a revocation request (RFC 7009), whatever it revoked.
	KindRevoked Kind = "revoked"
	// KindIntrospected is an introspection request (RFC 7662), whatever
	// it answered.
	KindIntrospected Kind = "introspected"
)

// Kinds lists every kind. (Spooled events record their kind's index here:
// new kinds go at the end.)
var Kinds = []Kind{KindIssued, KindDenied, KindHookFailed, KindTenantReloaded, KindLogin, KindDryRun, KindRevoked, KindIntrospected}

// DecisionKinds are the kinds of token decisions, whose data is a
// DecisionData.
var DecisionKinds = []Kind{KindIssued, KindDenied, KindHookFailed, KindDryRun}

// Type returns the CloudEvents `type` of events of this kind.
func (k Kind) Type() string {
	switch k {
	case KindIssued:
		return typePrefix + "token.issued." + SchemaVersion
	case KindDenied:
		return typePrefix + "token.denied." + SchemaVersion
	case KindHookFailed:
		return typePrefix + "token.hook-failed." + SchemaVersion
	case KindTenantReloaded:
		return typePrefix + "tenant.reloaded." + SchemaVersion
	case KindLogin:
		return typePrefix + "user.login." + SchemaVersion
	case KindDryRun:
		return typePrefix + "token.dry-run." + SchemaVersion
	case KindRevoked:
		return typePrefix + "token.revoked." + SchemaVersion
	case KindIntrospected:
		return typePrefix + "token.introspected." + SchemaVersion
	}
	return typePrefix + "token." + string(k) + "." + SchemaVersion
}

const typePrefix = "io.github.scopeline."

// ParseKind reads a kind name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("audit: unknown event kind %q (want issued, denied, hook-failed, tenant-reloaded, login, dry-run, revoked or introspected)", s)
}

// KindOfType returns the kind of a CloudEvents type, false when the type is
// not one of Scopeline's.
func KindOfType(typ string) (Kind, bool) {
	k, ok := kindOfType[typ]
	return k, ok
}

// kindOfType maps each kind's type back to the kind.
var kindOfType = func() map[string]Kind {
	m := make(map[string]Kind, len(Kinds))
	for _, k := range Kinds {
		m[k.Type()] = k
	}
	return m
}()

// Event is one audit event in CloudEvents 1.0 structured JSON.
type Event struct {
	SpecVersion string `json:"specversion"`
	// ID is a UUIDv7, also sent as the Nats-Msg-Id header: the stream drops
	// a re-sent copy, and consumers may drop one by it too.
	ID string `json:"id"`
	// Source is the issuer URL.
	Source string `json:"source"`
	Type   string `json:"type"`
	// Subject is the client id the request named ("" for reloads).
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	DataSchema      string    `json:"dataschema"`
	// Data is a DecisionData for token events, a ReloadData for reloads and
	// a LoginData for sign-ins.
	Data json.RawMessage `json:"data"`
}

// Kind returns the event's kind, false when its type is not Scopeline's.
func (e *Event) Kind() (Kind, bool) { return KindOfType(e.Type) }

// Decision decodes the data of a token event (issued, denied,
// hook-failed, dry-run).
func (e *Event) Decision() (*DecisionData, error) {
	return decodeData[DecisionData](e, "a token decision", DecisionKinds...)
}

// Reload decodes the data of a tenant-reloaded event.
func (e *Event) Reload() (*ReloadData, error) {
	return decodeData[ReloadData](e, "a tenant reload", KindTenantReloaded)
}

// Login decodes the data of a sign-in event.
func (e *Event) Login() (*LoginData, error) {
	return decodeData[LoginData](e, "a sign-in", KindLogin)
}

// Revocation decodes the data of a revoked event.
func (e *Event) Revocation() (*RevocationData, error) {
	return decodeData[RevocationData](e, "a revocation", KindRevoked)
}

// Introspection decodes the data of an introspected event.
func (e *Event) Introspection() (*IntrospectionData, error) {
	return decodeData[IntrospectionData](e, "an introspection", KindIntrospected)
}

// decodeData decodes e's data as a T, if e is of one of kinds.
func decodeData[T any](e *Event, what string, kinds ...Kind) (*T, error) {
	if k, _ := e.Kind(); !slices.Contains(kinds, k) {
		return nil, fmt.Errorf("audit: %s is not %s event", e.Type, what)
	}
	var d T
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, fmt.Errorf("audit: event %s: %w", e.ID, err)
	}
	return &d, nil
}

// DecisionData is the data of a token event. It holds no token, client
// secret, password or hook secret.
type DecisionData struct {
	// Outcome is "issued" or "denied" (a hook-failed event may be either).
	Outcome string `json:"outcome"`
	// LogCode is the Auth0 log event code of the same outcome (seccft,
	// feccft, ...), for log pipelines migrating from Auth0; absent for
	// grant types Auth0 has no code for.
	LogCode string `json:"log_code,omitempty"`
	// Instance names the issuer process; Issuer is the `iss` URL.
	Instance  string `json:"instance"`
	Issuer    string `json:"issuer"`
	RequestID string `json:"request_id,omitempty"`
	GrantType string `json:"grant_type,omitempty"`
	Trigger   string `json:"trigger,omitempty"`
	// ClientID is the client id the request named (authenticated or not);
	// ClientName is set once the client authenticated.
	ClientID   string `json:"client_id,omitempty"`
	ClientName string `json:"client_name,omitempty"`
	// ClientAuth is how the client authenticated (client_secret_basic,
	// client_secret_post, private_key_jwt, client_secret_jwt, none), once
	// it has.
	ClientAuth string `json:"client_auth_method,omitempty"`
	// DPoPKey is the RFC 7638 thumbprint of the key of the request's
	// verified DPoP proof: the token's cnf.jkt when issued.
	DPoPKey string `json:"dpop_jkt,omitempty"`
	// Audience is the API's identifier, once resolved.
	Audience string `json:"audience,omitempty"`
	// RequestedScopes is absent when the request had no scope parameter.
	RequestedScopes []string `json:"requested_scopes,omitempty"`
	GrantedScopes   []string `json:"granted_scopes,omitempty"`
	// Trace is every decision taken on the request, in order.
	Trace        []engine.TraceEntry `json:"trace"`
	HookFailures []HookFailure       `json:"hook_failures,omitempty"`
	HookLogs     []engine.HookLog    `json:"hook_logs,omitempty"`
	// Subject, JTI and Expires (seconds since the epoch) describe the token;
	// Subject is also set on denials once known.
	Subject string `json:"subject,omitempty"`
	JTI     string `json:"jti,omitempty"`
	Expires int64  `json:"exp,omitempty"`
	// Error is the OAuth error answered when denied.
	Error     *ErrorData `json:"error,omitempty"`
	IP        string     `json:"ip,omitempty"`
	UserAgent string     `json:"user_agent,omitempty"`
	// Timings is how long each stage of the pipeline took, in order,
	// each in nanoseconds.
	Timings []engine.StageTiming `json:"timings,omitempty"`
	// DryRun is set on dry-run events: the request ran through the
	// pipeline for its trace only, no token was minted. DryRunBy names
	// who ran it (a console user).
	DryRun   bool   `json:"dry_run,omitempty"`
	DryRunBy string `json:"dry_run_by,omitempty"`
	// Exchange describes a token exchange (RFC 8693): whose token was
	// exchanged, and the actor chain of the new token.
	Exchange *ExchangeData `json:"exchange,omitempty"`
	// Truncated is set when hook logs or trace entries were left out to keep
	// the event under MaxEventBytes.
	Truncated bool `json:"truncated,omitempty"`
}

// ExchangeData is what a token exchange presented. It never holds the
// subject or actor token, only what identifies them.
type ExchangeData struct {
	// SubjectAudience, SubjectClientID and SubjectJTI identify the
	// subject token: its API, the client it was issued to, its jti.
	SubjectAudience string `json:"subject_audience"`
	SubjectClientID string `json:"subject_client_id,omitempty"`
	SubjectJTI      string `json:"subject_jti,omitempty"`
	// Actor acts for the subject: the actor token's sub, or the client;
	// ActorToken says an actor token was presented.
	Actor      string `json:"actor"`
	ActorToken bool   `json:"actor_token,omitempty"`
	// ActorChain is the new token's act claim, newest actor first.
	ActorChain []string `json:"actor_chain"`
}

// RevocationData is the data of a revoked event (RFC 7009). It never
// holds the token: an access token's jti, a refresh token's family id.
type RevocationData struct {
	// Outcome is revoked, ignored (unknown, expired or already revoked),
	// not-owner (another client's token: nothing revoked) or refused.
	Outcome   string `json:"outcome"`
	Instance  string `json:"instance"`
	Issuer    string `json:"issuer"`
	RequestID string `json:"request_id,omitempty"`
	// ClientID is the client that asked.
	ClientID   string `json:"client_id,omitempty"`
	ClientName string `json:"client_name,omitempty"`
	// TokenType is access_token or refresh_token, once known.
	TokenType string `json:"token_type,omitempty"`
	// Owner is the client the token was issued to; Subject its sub;
	// Audience its API (access tokens).
	Owner    string `json:"owner,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Audience string `json:"audience,omitempty"`
	JTI      string `json:"jti,omitempty"`
	FamilyID string `json:"family_id,omitempty"`
	// Expires is when the token would have expired, seconds since the epoch.
	Expires   int64      `json:"exp,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Error     *ErrorData `json:"error,omitempty"`
	IP        string     `json:"ip,omitempty"`
	UserAgent string     `json:"user_agent,omitempty"`
}

// revocationData builds the data of a revoked event; t (nil when unknown)
// names the client.
func revocationData(r *engine.Revocation, t *tenant.Tenant, instance string) *RevocationData {
	d := &RevocationData{
		Outcome: string(r.Outcome), Instance: instance, Issuer: r.Issuer, RequestID: r.RequestID,
		ClientID: clip(r.ClientID, maxFieldLen), TokenType: r.TokenType, Owner: r.Owner, Subject: r.Subject,
		Audience: r.Audience, JTI: r.JTI, FamilyID: r.FamilyID, Reason: clip(r.Reason, maxErrorLen),
		IP: r.IP, UserAgent: clip(r.UserAgent, maxFieldLen),
	}
	d.Expires, d.Error, d.ClientName = unixTime(r.Expires), errorData(r.Err), clientName(t, r.ClientID)
	return d
}

// IntrospectionData is the data of an introspected event (RFC 7662). It
// never holds the token: for a token of this issuer's, its jti (access
// tokens) and the claims that say whose it is.
type IntrospectionData struct {
	// Outcome is active, inactive (the client was told only that; Reason
	// says why) or refused.
	Outcome   string `json:"outcome"`
	Instance  string `json:"instance"`
	Issuer    string `json:"issuer"`
	RequestID string `json:"request_id,omitempty"`
	// ClientID is the client that asked.
	ClientID   string `json:"client_id,omitempty"`
	ClientName string `json:"client_name,omitempty"`
	// TokenType is access_token or refresh_token, when the token is
	// this issuer's.
	TokenType string `json:"token_type,omitempty"`
	// Owner is the client the token was issued to; Subject its sub;
	// Audience its API (access tokens).
	Owner    string `json:"owner,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Audience string `json:"audience,omitempty"`
	JTI      string `json:"jti,omitempty"`
	// Expires is the token's exp, seconds since the epoch.
	Expires   int64      `json:"exp,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Error     *ErrorData `json:"error,omitempty"`
	IP        string     `json:"ip,omitempty"`
	UserAgent string     `json:"user_agent,omitempty"`
}

// introspectionData builds the data of an introspected event; t (nil
// when unknown) names the client.
func introspectionData(r *engine.Introspection, t *tenant.Tenant, instance string) *IntrospectionData {
	d := &IntrospectionData{
		Outcome: string(r.Outcome), Instance: instance, Issuer: r.Issuer, RequestID: r.RequestID,
		ClientID: clip(r.ClientID, maxFieldLen), TokenType: r.TokenType, Owner: clip(r.Owner, maxFieldLen), Subject: clip(r.Subject, maxFieldLen),
		Audience: clip(r.Audience, maxFieldLen), JTI: clip(r.JTI, maxFieldLen), Reason: clip(r.Reason, maxErrorLen),
		IP: r.IP, UserAgent: clip(r.UserAgent, maxFieldLen),
	}
	d.Expires, d.Error, d.ClientName = unixTime(r.Expires), errorData(r.Err), clientName(t, r.ClientID)
	return d
}

// unixTime is t in seconds since the epoch, 0 when t is zero.
func unixTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// errorData is the OAuth error e answered, nil when none.
func errorData(e *engine.Error) *ErrorData {
	if e == nil {
		return nil
	}
	return &ErrorData{Code: e.Code(), Description: clip(e.Description(), maxErrorLen)}
}

// clientName is the name of client id in t (nil when unknown), "" when
// t has no such client.
func clientName(t *tenant.Tenant, id string) string {
	if t == nil {
		return ""
	}
	if c, ok := t.Client(id); ok {
		return c.Name
	}
	return ""
}

// HookFailure is a hook that faulted during the request.
type HookFailure struct {
	Hook string `json:"hook"`
	// Kind is a short word: timeout, trap, memory, abi, ...
	Kind  string `json:"kind"`
	Error string `json:"error,omitempty"`
}

// ErrorData is an OAuth error response (RFC 6749 §5.2).
type ErrorData struct {
	Code        string `json:"code"`
	Description string `json:"description,omitempty"`
}

// ReloadData is the data of a tenant-reloaded event.
type ReloadData struct {
	Instance string `json:"instance"`
	Issuer   string `json:"issuer"`
	// Result is "ok" or "error" (the previous tenant keeps serving).
	Result string `json:"result"`
	// Error is why the reload was refused.
	Error string `json:"error,omitempty"`
	// Source is the tenant file.
	Source string `json:"source,omitempty"`
	// Revision is the revision of the cluster's tenant store applied or
	// refused, and By who pushed it (tenant push --by); absent for a
	// tenant served from a file.
	Revision int64  `json:"revision,omitempty"`
	By       string `json:"by,omitempty"`
	// Counts of what the new tenant holds (when ok).
	APIs    int `json:"apis,omitempty"`
	Clients int `json:"clients,omitempty"`
	Grants  int `json:"grants,omitempty"`
	Hooks   int `json:"hooks,omitempty"`
	// RestartRequired is set when the nats: or audit: settings changed:
	// they apply from the next start.
	RestartRequired bool   `json:"restart_required,omitempty"`
	LogCode         string `json:"log_code,omitempty"`
}

// LoginData is the data of a sign-in event. It never holds the password,
// nor a login name that is no user's (it may be a password typed in the
// wrong field).
type LoginData struct {
	// Outcome is "succeeded", "failed" or "throttled".
	Outcome string `json:"outcome"`
	// LogCode is the Auth0 code: s (success), fp (wrong password for a
	// known user), fu (unknown user); absent when throttled.
	LogCode   string `json:"log_code,omitempty"`
	Instance  string `json:"instance"`
	Issuer    string `json:"issuer"`
	RequestID string `json:"request_id,omitempty"`
	// ClientID is the application the user was signing in to.
	ClientID   string `json:"client_id,omitempty"`
	ClientName string `json:"client_name,omitempty"`
	// UserID and LoginName (as typed) are set when the name is a user's.
	UserID    string `json:"user_id,omitempty"`
	LoginName string `json:"login_name,omitempty"`
	// UnknownLogin is set when the name typed is no user's; it is not
	// recorded.
	UnknownLogin bool   `json:"unknown_login,omitempty"`
	IP           string `json:"ip,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`
}

// loginData builds the data of a sign-in event; t (nil when unknown) tells
// which login names are users'.
func loginData(l *engine.Login, t *tenant.Tenant, instance string) *LoginData {
	d := &LoginData{
		Outcome:   string(l.Outcome),
		Instance:  instance,
		Issuer:    l.Issuer,
		RequestID: l.RequestID,
		ClientID:  clip(l.ClientID, maxFieldLen),
		UserID:    l.UserID,
		IP:        l.IP,
		UserAgent: clip(l.UserAgent, maxFieldLen),
	}
	var u *tenant.User
	if t != nil {
		if c, ok := t.Client(l.ClientID); ok {
			d.ClientName = c.Name
		}
		if l.UserID != "" {
			u, _ = t.User(l.UserID)
		}
		if u == nil && l.LoginName != "" {
			u, _ = t.UserByLogin(l.LoginName)
		}
	}
	switch {
	case u != nil:
		d.UserID, d.LoginName = u.ID, clip(l.LoginName, maxFieldLen)
	case l.UserID == "" && l.LoginName != "":
		d.UnknownLogin = true
	}
	switch {
	case l.Outcome == engine.LoginSucceeded:
		d.LogCode = "s"
	case l.Outcome == engine.LoginFailed && d.UnknownLogin:
		d.LogCode = "fu"
	case l.Outcome == engine.LoginFailed:
		d.LogCode = "fp"
	}
	return d
}

// MaxEventBytes bounds an encoded event; hook logs, then trace entries, are
// left out (and Truncated set) to stay under it.
const MaxEventBytes = 256 << 10

// Limits on text fields copied from the request.
const (
	maxFieldLen = 256
	maxErrorLen = 512
)

// kindOf classifies a decision.
func kindOf(d *engine.Decision) Kind {
	switch {
	case d.DryRun:
		return KindDryRun
	case len(d.Tx.Failures) > 0:
		return KindHookFailed
	case d.Outcome == engine.OutcomeIssued:
		return KindIssued
	}
	return KindDenied
}

// logCodes maps a grant type to its Auth0 log codes.
var logCodes = map[string]struct{ issued, denied string }{
	engine.GrantClientCredentials: {"seccft", "feccft"},
	engine.GrantAuthorizationCode: {"seacft", "feacft"},
	engine.GrantRefreshToken:      {"sertft", "fertft"},
	"password":                    {"sepft", "fepft"}, // Auth0's; Scopeline has no password grant
}

// LogCode returns the Auth0 log event code for an outcome of a grant type:
// "s" (success) or "f" (failure), "e" (exchange), then what was exchanged,
// such as seccft for a client-credentials token. It is "" for grant types
// Auth0 has no code for.
func LogCode(outcome engine.Outcome, grantType string) string {
	codes := logCodes[grantType]
	if outcome == engine.OutcomeIssued {
		return codes.issued
	}
	return codes.denied
}

// decisionData builds the data of a token event, with every hook secret
// replaced in its free texts by r (nil: no secrets). Without secrets the
// event reads the transaction's trace and hook logs rather than copying
// them: the transaction does not change while its decision is recorded.
func decisionData(d *engine.Decision, instance string, r *tenant.Redactor) *DecisionData {
	out := new(DecisionData)
	fillDecision(out, d, instance, r)
	return out
}

// fillDecision sets out (zero) to the data of a token event, as
// decisionData.
func fillDecision(out *DecisionData, d *engine.Decision, instance string, r *tenant.Redactor) {
	redact := r.Redact
	tx := d.Tx
	*out = DecisionData{
		Outcome:   string(d.Outcome),
		LogCode:   LogCode(d.Outcome, tx.GrantType),
		Instance:  instance,
		Issuer:    d.Issuer,
		RequestID: tx.RequestID,
		GrantType: clip(tx.GrantType, maxFieldLen),
		Trigger:   string(tx.Trigger),
		ClientID:  clip(tx.ClientID, maxFieldLen),
		IP:        tx.IP,
		UserAgent: clip(tx.UserAgent, maxFieldLen),
		Subject:   tx.Subject,
		DryRun:    d.DryRun,
		DryRunBy:  clip(d.DryRunBy, maxFieldLen),
	}
	if d.DryRun { // no Auth0 code: nothing was exchanged
		out.LogCode = ""
	}
	out.Timings = tx.Timings // the transaction does not change while its decision is recorded
	out.ClientAuth, out.DPoPKey = tx.ClientAuth, tx.DPoPKey
	if tx.Client != nil {
		out.ClientID, out.ClientName = tx.Client.ID, tx.Client.Name
	}
	if tx.API != nil {
		out.Audience = tx.API.Identifier
	}
	out.RequestedScopes = tx.Requested
	if d.Outcome == engine.OutcomeIssued {
		// As the token's scope claim: OpenID Connect scopes, then the API's.
		out.GrantedScopes = tx.Scopes
		if len(tx.Identity) > 0 {
			out.GrantedScopes = append(slices.Clone(tx.Identity), tx.Scopes...)
		}
		out.JTI = d.JTI
		if !d.Expires.IsZero() {
			out.Expires = d.Expires.Unix()
		}
	}
	switch {
	case r == nil && tx.Trace != nil:
		out.Trace = tx.Trace
	default: // never null: an empty trace is []
		out.Trace = make([]engine.TraceEntry, len(tx.Trace))
		for i, e := range tx.Trace {
			// A scope or claim a hook asked for is its writing too. A
			// secret shorter than "[redacted]" lengthens a text: cut it
			// back to its bound.
			e.Scope, e.Claim, e.Reason = redact(e.Scope), redact(e.Claim), clip(redact(e.Reason), engine.MaxReasonLen)
			out.Trace[i] = e
		}
	}
	for _, f := range tx.Failures {
		hf := HookFailure{Hook: f.Hook, Kind: f.Kind}
		if f.Err != nil {
			hf.Error = clip(redact(f.Err.Error()), maxErrorLen)
		}
		out.HookFailures = append(out.HookFailures, hf)
	}
	if r == nil {
		out.HookLogs = tx.Logs
	} else if len(tx.Logs) > 0 {
		out.HookLogs = make([]engine.HookLog, len(tx.Logs))
		for i, l := range tx.Logs {
			out.HookLogs[i] = engine.HookLog{Hook: l.Hook, Message: clip(redact(l.Message), engine.MaxHookLogLine)}
		}
	}
	if d.Err != nil {
		out.Error = &ErrorData{Code: d.Err.Code(), Description: clip(redact(d.Err.Description()), maxErrorLen)}
	}
	if x := tx.Exchange; x != nil {
		out.Exchange = &ExchangeData{SubjectClientID: x.SubjectClientID, SubjectJTI: x.SubjectJTI,
			Actor: x.Actor, ActorToken: x.ActorClaims != nil, ActorChain: x.Chain}
		if x.SubjectAPI != nil {
			out.Exchange.SubjectAudience = x.SubjectAPI.Identifier
		}
	}
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence, and
// makes it valid UTF-8. It cuts again after the repair, which writes each
// invalid sequence as U+FFFD (three bytes).
func clip(s string, n int) string {
	return text.Truncate(strings.ToValidUTF8(text.Truncate(s, n), "\uFFFD"), n)
}
