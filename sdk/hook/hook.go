package hook

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scopeline/scopeline/sdk/hook/internal/abi"
)

// Handler handles one token request. Returning an error fails the hook.
type Handler func(e *Event, c *Changes) error

// Handle registers the hook's handler. Call it from an init function.
func Handle(h Handler) {
	abi.Run = func() int32 { return run(h) }
}

// Setup registers a function run once per instance with the hook's config
// (nil when the tenant file gives none), before any request. An error
// fails the hook's load, with the error in the message.
func Setup(f func(config []byte) error) {
	abi.Init = func() (code int32) {
		defer func() {
			if r := recover(); r != nil {
				logPanic(r)
				code = abi.ReturnError
			}
		}()
		if err := f((&Event{}).Config()); err != nil {
			host().Log(abi.LevelError, "setup: "+err.Error())
			return abi.ReturnError
		}
		return abi.ReturnOK
	}
}

// DecodeConfig decodes a hook's config, as a Setup function gets it, into
// v with encoding/json, strictly: a field v does not have is an error. Its
// errors read "config: ...", ready to return from the Setup function.
func DecodeConfig(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("config: " + err.Error())
	}
	return nil
}

func run(h Handler) (code int32) {
	defer func() {
		if r := recover(); r != nil {
			logPanic(r)
			code = abi.ReturnError
		}
	}()
	if err := h(&Event{}, &Changes{}); err != nil {
		host().Log(abi.LevelError, err.Error())
		return abi.ReturnError
	}
	return abi.ReturnOK
}

func logPanic(r any) {
	msg := "panic"
	switch v := r.(type) {
	case error:
		msg += ": " + v.Error()
	case string:
		msg += ": " + v
	}
	host().Log(abi.LevelError, msg)
}

var errNoHost = errors.New("hook: no host: outside WebAssembly, run hooks with package hooktest")

func host() abi.Host {
	if abi.Current == nil {
		panic(errNoHost)
	}
	return abi.Current
}

// Triggers.
const (
	// CredentialsExchange runs on client_credentials requests.
	CredentialsExchange = "credentials-exchange"
	// PostLogin runs on end-user flows.
	PostLogin = "post-login"
	// TokenExchange runs on token exchanges (RFC 8693).
	TokenExchange = "token-exchange"
)

// OAuth error codes a hook may deny with (others become access_denied).
const (
	AccessDenied        = "access_denied"
	InvalidScope        = "invalid_scope"
	InvalidRequest      = "invalid_request"
	UnauthorizedClient  = "unauthorized_client"
	InvalidGrant        = "invalid_grant"
	InteractionRequired = "interaction_required"
	LoginRequired       = "login_required"
	ConsentRequired     = "consent_required"
)

// Event is the token request as the previous pipeline stages left it.
// Each getter asks the host; keep what you need in a variable rather than
// calling it in a loop.
type Event struct {
	doc string
}

func field(id int32) string {
	v, _ := host().Field(id)
	return v
}

// Trigger is CredentialsExchange, PostLogin or TokenExchange.
func (e *Event) Trigger() string { return field(abi.FieldTrigger) }

// GrantType is the OAuth grant type, such as "client_credentials".
func (e *Event) GrantType() string { return field(abi.FieldGrantType) }

// ClientID is the authenticated client's id.
func (e *Event) ClientID() string { return field(abi.FieldClientID) }

// ClientName is the client's display name.
func (e *Event) ClientName() string { return field(abi.FieldClientName) }

// ClientType is m2m, web, spa or native.
func (e *Event) ClientType() string { return field(abi.FieldClientType) }

// ClientMetadata returns one of the client's metadata values.
func (e *Event) ClientMetadata(key string) (string, bool) { return host().ClientMetadata(key) }

// Audience is the identifier of the API the token is for.
func (e *Event) Audience() string { return field(abi.FieldAudience) }

// RequestedScopes are the scopes of the request's scope parameter; ok is
// false when the parameter was absent.
func (e *Event) RequestedScopes() (scopes []string, ok bool) {
	v, ok := host().Field(abi.FieldRequestedScopes)
	return strings.Fields(v), ok
}

// Scopes are the scopes the token carries so far (not counting this
// hook's own staged changes).
func (e *Event) Scopes() []string { return strings.Fields(field(abi.FieldScopes)) }

// HasScope reports whether the token carries scope so far.
func (e *Event) HasScope(scope string) bool { return host().HasScope(scope) }

// GrantScopes is the client's scope ceiling on the API.
func (e *Event) GrantScopes() []string { return strings.Fields(field(abi.FieldGrantScopes)) }

// Subject is the token's sub: the client id, or the user id.
func (e *Event) Subject() string { return field(abi.FieldSubject) }

// UserID is the signed-in user's id; ok is false for client tokens.
func (e *Event) UserID() (id string, ok bool) { return host().Field(abi.FieldUserID) }

// IP is the caller's IP address ("" when unknown).
func (e *Event) IP() string { return field(abi.FieldIP) }

// UserAgent is the caller's User-Agent.
func (e *Event) UserAgent() string { return field(abi.FieldUserAgent) }

// RequestID identifies the request in logs and audit events.
func (e *Event) RequestID() string { return field(abi.FieldRequestID) }

// Time is when the request arrived (UTC, to the second).
func (e *Event) Time() time.Time {
	s := field(abi.FieldTimeUnix)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// TimeText is when the request arrived as the host writes it: RFC 3339
// in UTC, with a fraction of a second only when it is not zero
// (docs/hook-abi.md §3.2, field 15).
func (e *Event) TimeText() string { return field(abi.FieldTime) }

// HookName is the hook's name in the tenant file.
func (e *Event) HookName() string { return field(abi.FieldHookName) }

// Config is the hook's config as JSON (nil when none).
func (e *Event) Config() []byte {
	v, _ := host().Field(abi.FieldConfig)
	if v == "" {
		return nil
	}
	return []byte(v)
}

// Secret returns a secret the tenant file gives the hook. Never log it.
func (e *Event) Secret(name string) (string, bool) { return host().Secret(name) }

// Document is the whole input document (docs/hook-abi.md §4) as JSON.
func (e *Event) Document() []byte {
	if e.doc == "" {
		e.doc, _ = host().Input()
	}
	return []byte(e.doc)
}

// Decode decodes the input document into v with encoding/json. It costs
// far more than the field getters: use it for what they do not give.
func (e *Event) Decode(v any) error { return json.Unmarshal(e.Document(), v) }

// User is the signed-in user of a post-login request.
type User struct {
	ID       string         `json:"id"`
	Username string         `json:"username"`
	Email    string         `json:"email"`
	Profile  map[string]any `json:"profile"`
	Metadata map[string]any `json:"metadata"`
	Roles    []string       `json:"roles"`
	// Permissions are the user's scopes on the API, when it uses RBAC.
	Permissions []string `json:"permissions"`
}

// User decodes the signed-in user from the input document; it returns
// nil for client tokens.
func (e *Event) User() (*User, error) {
	if _, ok := e.UserID(); !ok {
		return nil, nil
	}
	var doc struct {
		User *User `json:"user"`
	}
	if err := e.Decode(&doc); err != nil {
		return nil, err
	}
	return doc.User, nil
}

// Exchange is what a token exchange (RFC 8693) presented: the subject
// token's claims, verified by the issuer, and the actor.
type Exchange struct {
	// SubjectToken is the subject token's claims (iss, sub, aud, scope,
	// act, custom claims).
	SubjectToken map[string]any `json:"subject_token"`
	// Actor is the actor token's sub, or the client's id without one;
	// ActorToken the actor token's claims (nil without one).
	Actor      string         `json:"actor"`
	ActorToken map[string]any `json:"actor_token"`
	// ActorChain is the actors, newest first: the new token's act claim.
	ActorChain []string `json:"actor_chain"`
}

// Exchange decodes the token exchange from the input document; it
// returns nil for other triggers.
func (e *Event) Exchange() (*Exchange, error) {
	if e.Trigger() != TokenExchange {
		return nil, nil
	}
	var doc struct {
		Exchange *Exchange `json:"exchange"`
	}
	if err := e.Decode(&doc); err != nil {
		return nil, err
	}
	return doc.Exchange, nil
}

// Changes stages the hook's changes. Nothing is applied until the handler
// returns nil; the issuer then applies each change in order, refusing (and
// tracing) what the rules forbid: scopes the API does not define or
// outside the grant ceiling, reserved claims (in any letter case or
// Unicode fold), claims the issuer wrote, malformed claim names,
// oversized values (docs/hook-abi.md §8).
type Changes struct{}

// AddScope asks for scope to be added, with a reason for the trace.
func (c *Changes) AddScope(scope, reason string) { host().AddScope(scope, reason) }

// RemoveScope asks for scope to be removed.
func (c *Changes) RemoveScope(scope, reason string) { host().RemoveScope(scope, reason) }

// SetClaim asks for a custom claim set to value, encoded as JSON.
func (c *Changes) SetClaim(name string, value any, reason string) error {
	b, err := json.Marshal(value)
	if err != nil {
		return err
	}
	host().SetClaim(name, b, reason)
	return nil
}

// SetClaimString asks for a custom claim set to a string, without
// encoding/json (invalid UTF-8 in value becomes U+FFFD, as with
// encoding/json).
func (c *Changes) SetClaimString(name, value, reason string) {
	host().SetClaim(name, appendJSONString(nil, value), reason)
}

// SetClaimJSON asks for a custom claim set to raw JSON.
func (c *Changes) SetClaimJSON(name string, raw []byte, reason string) {
	host().SetClaim(name, raw, reason)
}

// RemoveClaim asks for a custom claim removed.
func (c *Changes) RemoveClaim(name, reason string) { host().RemoveClaim(name, reason) }

// Deny refuses the request with an OAuth error code (one of the constants
// of this package) and a reason the client sees as error_description. The
// first denial of a run stands; staged scope and claim changes are
// dropped.
func (c *Changes) Deny(code, reason string) { host().Deny(code, reason) }

// Log logs a line, kept in the decision trace (at most 32 lines of 1 KiB).
func (c *Changes) Log(msg string) { host().Log(abi.LevelInfo, msg) }

// Debug logs a line at debug level (kept with a "[debug] " prefix).
func (c *Changes) Debug(msg string) { host().Log(abi.LevelDebug, msg) }

// Warn logs a line at warning level.
func (c *Changes) Warn(msg string) { host().Log(abi.LevelWarn, msg) }

// Error logs a line at error level. To fail the hook, return an error
// from the handler instead: it is logged at this level.
func (c *Changes) Error(msg string) { host().Log(abi.LevelError, msg) }

// appendJSONString appends s as a JSON string, as encoding/json would:
// invalid UTF-8 becomes U+FFFD, so that the value is valid JSON text the
// issuer accepts (it refuses a claim value that is not UTF-8).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
