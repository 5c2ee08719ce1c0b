package tenant

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Algorithms Scopeline signs access tokens with (RFC 7518 names).
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// SupportedAlgorithms lists every signing algorithm a tenant may choose.
var SupportedAlgorithms = []string{RS256, ES256, EdDSA}

// Defaults applied when the tenant file leaves a value out.
const (
	DefaultAlgorithm     = RS256
	DefaultTokenLifetime = time.Hour
	MaxTokenLifetime     = 24 * time.Hour
)

// Tenant is one validated, immutable tenant configuration.
type Tenant struct {
	// Issuer is the `iss` of every token; empty means "decided by the
	// command line" (see the serve command).
	Issuer string
	// Algorithm is the default signing algorithm for APIs that do not set one.
	Algorithm string
	// DefaultAudience is used when a token request names no API.
	DefaultAudience string

	APIs      []*API
	Clients   []*Client
	Grants    []*Grant
	Pipelines map[Trigger]*Pipeline
	// Users and Roles are the end users of post-login flows (users.go);
	// Flows holds those flows' lifetimes.
	Users []*User
	Roles []*Role
	Flows UserFlows
	// Protocols are the settings of the standard endpoints and the token
	// exchanges (protocols.go).
	Protocols Protocols

	// Source is the file the tenant was read from ("" when parsed from bytes);
	// Dir is the directory relative module paths are resolved against.
	Source string
	Dir    string
	// Revision identifies the contents: the SHA-256 of the file, in hex,
	// or, for a tenant from the cluster's store, its revision there.
	Revision string

	apis    map[string]*API
	clients map[string]*Client
	grants  map[grantKey]*Grant
	users   map[string]*User
	logins  map[string]*User
	decoys  *decoys
}

type grantKey struct{ client, api string }

// API returns the API whose identifier (the token audience) is id.
func (t *Tenant) API(id string) (*API, bool) {
	a, ok := t.apis[id]
	return a, ok
}

// Client returns the client with the given id.
func (t *Tenant) Client(id string) (*Client, bool) {
	c, ok := t.clients[id]
	return c, ok
}

// Grant returns the grant connecting client to api, if any.
func (t *Tenant) Grant(clientID, apiID string) (*Grant, bool) {
	g, ok := t.grants[grantKey{clientID, apiID}]
	return g, ok
}

// Algorithms returns every algorithm the tenant signs with, sorted: those
// of its access tokens, its default, those of ID tokens when it has
// clients that sign users in, and those of signed introspection answers
// (RFC 9701). The key set needs a current key for each.
func (t *Tenant) Algorithms() []string {
	algs := append(t.AccessTokenAlgorithms(), t.Algorithm)
	if t.SignsUsersIn() {
		algs = append(algs, t.IDTokenAlgorithms()...)
	}
	for _, c := range t.Clients {
		if alg := c.Introspection.SignedResponseAlg; alg != "" {
			algs = append(algs, alg)
		}
	}
	slices.Sort(algs)
	return slices.Compact(algs)
}

// AccessTokenAlgorithms returns the algorithms the tenant's APIs sign
// access tokens with, sorted.
func (t *Tenant) AccessTokenAlgorithms() []string {
	var algs []string
	for _, a := range t.APIs {
		algs = append(algs, a.Algorithm)
	}
	slices.Sort(algs)
	return slices.Compact(algs)
}

// IDTokenAlgorithms returns the algorithms ID tokens may be signed with:
// RS256, which OpenID Connect Discovery §3 requires of every provider,
// the tenant's default and any client's id_token_signed_response_alg.
// RS256 comes first.
func (t *Tenant) IDTokenAlgorithms() []string {
	algs := []string{t.Algorithm}
	for _, c := range t.Clients {
		if c.IDTokenAlgorithm != "" {
			algs = append(algs, c.IDTokenAlgorithm)
		}
	}
	slices.Sort(algs)
	algs = slices.DeleteFunc(slices.Compact(algs), func(a string) bool { return a == RS256 })
	return append([]string{RS256}, algs...)
}

// SignsUsersIn reports whether the tenant has a client that signs users in
// (spa, web or native), and so issues ID tokens.
func (t *Tenant) SignsUsersIn() bool {
	return slices.ContainsFunc(t.Clients, func(c *Client) bool { return c.Type != ClientM2M })
}

// LongestTokenLifetime is the longest lifetime of any token the tenant
// signs, access tokens of every API and, when users sign in, ID tokens:
// how long a retired signing key must stay published.
func (t *Tenant) LongestTokenLifetime() time.Duration {
	longest := DefaultTokenLifetime
	for _, a := range t.APIs {
		longest = max(longest, a.TokenLifetime)
	}
	if t.SignsUsersIn() {
		longest = max(longest, t.Flows.IDTokenLifetime)
	}
	return longest
}

// Scopes returns every scope defined by any API, in file order without
// repeats (for discovery's scopes_supported).
func (t *Tenant) Scopes() []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range t.APIs {
		for _, s := range a.Scopes {
			if !seen[s.Name] {
				seen[s.Name] = true
				out = append(out, s.Name)
			}
		}
	}
	return out
}

// API is a protected resource: its identifier is the token audience.
type API struct {
	Identifier    string
	Name          string
	Algorithm     string
	TokenLifetime time.Duration
	// RBAC caps user tokens by the user's permissions on this API;
	// PermissionsClaim adds those permissions as a `permissions` claim.
	RBAC             bool
	PermissionsClaim bool
	Scopes           []Scope
	// Line is where the API is declared in the tenant file.
	Line int
	// AccessTokenDenylist lets the API's access tokens be revoked one by
	// one (by jti), until they expire (protocols.go).
	AccessTokenDenylist bool

	scopes map[string]*Scope
}

// NewAPI makes an API outside a tenant file, with its scopes indexed, for
// tools that run one hook on a sample event (scopeline hook test).
func NewAPI(identifier, name string, scopes []Scope) *API {
	a := &API{Identifier: identifier, Name: name, Algorithm: DefaultAlgorithm, TokenLifetime: DefaultTokenLifetime, Scopes: scopes, scopes: map[string]*Scope{}}
	for i := range a.Scopes {
		a.scopes[a.Scopes[i].Name] = &a.Scopes[i]
	}
	return a
}

// Scope is one permission an API defines.
type Scope struct {
	Name        string
	Description string
}

// Defines reports whether the API defines the scope.
func (a *API) Defines(scope string) bool {
	_, ok := a.scopes[scope]
	return ok
}

// Scope returns the definition of a scope.
func (a *API) Scope(name string) (*Scope, bool) {
	s, ok := a.scopes[name]
	return s, ok
}

// ClientType says how a client authenticates and which flows it may use.
type ClientType string

// The client types. m2m and web clients are confidential (they hold a
// secret); spa and native clients are public.
const (
	ClientM2M    ClientType = "m2m"
	ClientSPA    ClientType = "spa"
	ClientWeb    ClientType = "web"
	ClientNative ClientType = "native"
)

// Confidential reports whether clients of this type authenticate with a secret.
func (t ClientType) Confidential() bool { return t == ClientM2M || t == ClientWeb }

// Client is an application that asks for tokens.
type Client struct {
	ID           string
	Name         string
	Type         ClientType
	RedirectURIs []string
	Metadata     map[string]string
	// FirstParty clients skip the consent page in end-user flows.
	FirstParty bool
	// IDTokenAlgorithm signs the client's ID tokens (its
	// id_token_signed_response_alg, default the tenant's algorithm); ""
	// for m2m clients.
	IDTokenAlgorithm string
	// Line is where the client is declared in the tenant file.
	Line int
	// Auth is how the client authenticates; RequireDPoP makes it bind its
	// tokens to a key (RFC 9449 §5.2); RequirePAR makes it push its
	// authorization requests (RFC 9126 §6); Introspection lists the
	// tokens of others it may introspect or revoke (protocols.go).
	Auth          ClientAuth
	RequireDPoP   bool
	RequirePAR    bool
	Introspection ClientIntrospection

	secrets []Digest
}

// RedirectRegistered reports whether uri is one of the client's redirect
// URIs, compared by exact string match (RFC 9700 §2.1), except that a native app's loopback IP
// redirect may use any port (RFC 8252 §7.3): any port from 1 to 65535,
// written in digits without a leading zero, with the rest of the URI
// exactly as registered.
func (c *Client) RedirectRegistered(uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if c.Type != ClientNative {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || !isLoopbackIP(u.Hostname()) || !validPort(u.Port()) {
		return false
	}
	for _, reg := range c.RedirectURIs {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || ru.Hostname() != u.Hostname() || !isLoopbackIP(ru.Hostname()) {
			continue
		}
		// The registered URI with the request's port in place of its own.
		rest := strings.TrimPrefix(reg, "http://"+ru.Host)
		if uri == "http://"+net.JoinHostPort(ru.Hostname(), u.Port())+rest {
			return true
		}
	}
	return false
}

// validPort reports whether p is a TCP port number from 1 to 65535, in
// digits without a leading zero.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Digest is the SHA-256 digest of a client secret.
type Digest [sha256.Size]byte

// decoy is compared against when a client is unknown or has no secret, so
// that the time taken does not tell which.
var decoy = Digest(sha256.Sum256([]byte("scopeline: no such client")))

// VerifySecret reports whether secret matches one of the client's secret
// digests, in time independent of where they differ. A nil client is allowed
// and always fails after the same work as a real comparison.
func (c *Client) VerifySecret(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	if c == nil || len(c.secrets) == 0 {
		subtle.ConstantTimeCompare(sum[:], decoy[:])
		return false
	}
	ok := 0
	for i := range c.secrets {
		ok |= subtle.ConstantTimeCompare(sum[:], c.secrets[i][:])
	}
	return ok == 1
}

// HasSecret reports whether the client has at least one secret.
func (c *Client) HasSecret() bool { return len(c.secrets) > 0 }

// Subject kinds a grant allows tokens for.
const (
	SubjectClient = "client"
	SubjectUser   = "user"
)

// Grant lets a client get tokens for an API, up to a ceiling of scopes, for
// the subject kinds it lists. Without a grant there is no token.
type Grant struct {
	Client *Client
	API    *API
	// Scopes is the ceiling, in the API's order.
	Scopes []string
	// ForClient allows client-credentials tokens (sub = the client);
	// ForUser allows end-user tokens.
	ForClient bool
	ForUser   bool
	// Line is where the grant is declared in the tenant file.
	Line int
}

// Allows reports whether scope is within the grant's ceiling.
func (g *Grant) Allows(scope string) bool { return slices.Contains(g.Scopes, scope) }

// Trigger names a point in the token pipeline where hooks run.
type Trigger string

// The triggers.
const (
	// TriggerCredentialsExchange runs on client_credentials requests.
	TriggerCredentialsExchange Trigger = "credentials-exchange"
	// TriggerPostLogin runs on end-user flows (authorization code, refresh).
	TriggerPostLogin Trigger = "post-login"
	// TriggerTokenExchange runs on token exchanges (RFC 8693).
	TriggerTokenExchange Trigger = "token-exchange"
)

// Triggers lists every trigger in pipeline order.
var Triggers = []Trigger{TriggerCredentialsExchange, TriggerPostLogin, TriggerTokenExchange}

// Pipeline is the ordered list of hooks for one trigger.
type Pipeline struct {
	Trigger Trigger
	// Timeout bounds the whole pipeline for one request.
	Timeout time.Duration
	Hooks   []*HookSpec
}

// Defaults for hooks.
const (
	DefaultPipelineTimeout = 250 * time.Millisecond
	DefaultHookTimeout     = 50 * time.Millisecond
	DefaultHookMemory      = 16 << 20
	MaxHookMemory          = 1 << 30
	// DefaultBreakerAfter is how many runs in a row stopped at their
	// deadline open a hook's circuit breaker.
	DefaultBreakerAfter = 10
	// DefaultBreakerCooldown is how long an open breaker stays open before
	// it lets one run through to probe the hook.
	DefaultBreakerCooldown = 5 * time.Second
)

// Breaker is a hook's circuit breaker. After After consecutive runs
// stopped at their deadline, the hook is not run for Cooldown: each
// request gets the hook's failure policy at once, as for a fault of kind
// circuit-open. Then one run goes through as a probe: if it returns in
// time the breaker closes, else it stays open for another Cooldown.
// After 0 turns the breaker off.
type Breaker struct {
	After    int
	Cooldown time.Duration
}

// FailurePolicy says what a hook fault (trap, timeout, bad output) does to
// the request.
type FailurePolicy string

// The failure policies. Deny is the default: a broken hook fails closed.
const (
	FailDeny FailurePolicy = "deny"
	FailSkip FailurePolicy = "skip"
)

// HookSpec is one entry of a pipeline: what the tenant file says of a hook
// (the engine.Hook interface runs one; package hooks implements it for
// WebAssembly modules).
type HookSpec struct {
	Name string
	// Module is the absolute path of a .wasm file; Plugin the name of a
	// ready-made plugin. Exactly one is set, except while a tenant naming
	// stored modules is only validated (see Digest).
	Module string
	Plugin string
	// Digest is "sha256:<hex>" when the tenant names the module in the
	// cluster's module store (by digest or by name); Module is then the
	// local copy the replica fetched.
	Digest string
	// Config is the hook's `config`, converted to JSON.
	Config json.RawMessage
	// Secrets maps the names the hook sees to values read from the
	// environment at load time. Never log or publish them.
	Secrets          map[string]Secret
	Timeout          time.Duration
	Memory           int64
	Failure          FailurePolicy
	AllowExceedGrant bool
	Breaker          Breaker
	// Trigger is the pipeline the hook runs in.
	Trigger Trigger
	// Line is where the hook is declared in the tenant file.
	Line int
}

// Secret is a value that must never be shown: it prints as [redacted].
type Secret string

// String redacts the secret.
func (Secret) String() string { return "[redacted]" }

// GoString redacts the secret.
func (Secret) GoString() string { return "[redacted]" }

// LogValue redacts the secret in slog output.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalText redacts the secret when encoded as text or JSON; use Reveal
// for the value.
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Redactor replaces secret values in text with [redacted]: the one helper
// the pipeline (for what a hook writes) and the audit publisher (for what
// an event carries) both use. A nil *Redactor redacts nothing.
type Redactor struct{ r *strings.Replacer }

// NewRedactor returns a redactor of values, nil when none is set. Longer
// values are matched first, so that a secret that contains another is
// replaced whole.
func NewRedactor(values ...string) *Redactor {
	vs := slices.DeleteFunc(slices.Clone(values), func(v string) bool { return v == "" })
	if len(vs) == 0 {
		return nil
	}
	slices.SortFunc(vs, func(a, b string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	vs = slices.Compact(vs)
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, "[redacted]")
	}
	return &Redactor{strings.NewReplacer(pairs...)}
}

// Redact replaces every secret in s.
func (r *Redactor) Redact(s string) string {
	if r == nil || s == "" {
		return s
	}
	return r.r.Replace(s)
}

// SecretValues returns the values of the hook's secrets.
func (h *HookSpec) SecretValues() []string {
	out := make([]string, 0, len(h.Secrets))
	for _, v := range h.Secrets {
		out = append(out, v.Reveal())
	}
	return out
}

// SecretValues returns the values of the secrets of every hook of the
// tenant.
func (t *Tenant) SecretValues() []string {
	var out []string
	for _, p := range t.Pipelines {
		for _, h := range p.Hooks {
			out = append(out, h.SecretValues()...)
		}
	}
	return out
}

func sha256Sum(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// User is an end user of the post-login flows: who signs in, with which
// roles. Its permissions are per API.
type User struct {
	ID       string
	Username string
	Email    string
	Profile  map[string]any
	Metadata map[string]any
	Roles    []string
	// Permissions maps an API identifier to the scopes the user's roles allow.
	Permissions map[string][]string
	// EmailVerified says whether Email is known to belong to the user.
	EmailVerified bool
	// Line is where the user is declared in the tenant file.
	Line int

	password *PasswordHash
}
