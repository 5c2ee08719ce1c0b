package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"time"

	"github.com/scopeline/scopeline/engine/internal/scope"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/memory"
	"github.com/scopeline/scopeline/engine/tenant"
)

// The end-user grant types.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// Paths of the end-user endpoints, below the issuer's path.
const (
	PathAuthorize = "/authorize"
	PathLogin     = "/login"
	PathConsent   = "/consent"
	PathLogout    = "/logout"
	PathUserinfo  = "/userinfo"
)

// Limits and lifetimes of the end-user flows that the tenant file does not
// set.
const (
	// AuthRequestLifetime is how long a user has to sign in and consent.
	AuthRequestLifetime = 15 * time.Minute
	// MaxStateLen bounds state and nonce.
	MaxStateLen = 1024
)

// passwordChecksWaitSecs is how long a sign-in waits for its turn to check
// a password.
const passwordChecksWaitSecs = 5

// WithStorage sets where the end-user flows keep codes, refresh tokens,
// sessions and consents (default: in memory, lost on restart). The caller
// closes it.
func WithStorage(s storage.Storage) Option {
	return func(i *Issuer) {
		if i.flows == nil {
			i.flows = &userFlows{}
		}
		i.flows.storage = s
	}
}

// LoginOutcome is how a sign-in attempt at the hosted login page ended.
type LoginOutcome string

// The sign-in outcomes.
const (
	LoginSucceeded LoginOutcome = "succeeded"
	LoginFailed    LoginOutcome = "failed"
	LoginThrottled LoginOutcome = "throttled"
)

// Login is the record of one sign-in attempt. It never holds the password;
// for a failure it holds the login name as typed, which may be a mistyped
// password: auditors should treat it as sensitive.
type Login struct {
	Outcome   LoginOutcome
	Issuer    string
	Time      time.Time
	RequestID string
	ClientID  string
	// UserID is set when the sign-in succeeded; LoginName is what was typed.
	UserID    string
	LoginName string
	IP        string
	UserAgent string
}

// LoginAuditor is an Auditor that also records sign-in attempts. The
// issuer uses it when its Auditor implements it.
type LoginAuditor interface {
	RecordLogin(ctx context.Context, l *Login) error
}

// userFlows is the state of the end-user flows that outlives a request.
type userFlows struct {
	storage      storage.Storage
	ownsStorage  bool
	passwordGate chan struct{} // bounds concurrent password hashing
	pages        *pages
}

func (i *Issuer) initUserFlows() {
	f := i.flows
	if f == nil { // options run first: WithStorage may have made it
		f = &userFlows{}
		i.flows = f
	}
	if f.storage == nil {
		f.storage, f.ownsStorage = memory.New(), true
	}
	f.passwordGate = make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	f.pages = newPages()
}

func (i *Issuer) closeUserFlows() error {
	if i.flows != nil && i.flows.ownsStorage {
		return i.flows.storage.Close()
	}
	return nil
}

// DeleteExpired removes expired codes, sessions, refresh-token families
// and requests from storage. Call it now and then (serve does, every
// minute).
func (i *Issuer) DeleteExpired(ctx context.Context) (int, error) {
	return i.flows.storage.DeleteExpired(ctx, i.now())
}

// authRequest is an authorization request in flight (storage Data).
type authRequest struct {
	ClientID      string    `json:"client_id"`
	RedirectURI   string    `json:"redirect_uri"`
	RedirectGiven bool      `json:"redirect_given,omitempty"`
	State         string    `json:"state,omitempty"`
	Nonce         string    `json:"nonce,omitempty"`
	Challenge     string    `json:"code_challenge,omitempty"`
	API           string    `json:"api"`
	Requested     []string  `json:"requested"`
	Identity      []string  `json:"identity,omitempty"`
	Prompt        []string  `json:"prompt,omitempty"`
	MaxAge        int64     `json:"max_age"` // -1: none
	LoginHint     string    `json:"login_hint,omitempty"`
	Binding       string    `json:"binding"` // hash of the browser cookie
	Created       time.Time `json:"created"`
	IP            string    `json:"ip,omitempty"`
	UserAgent     string    `json:"user_agent,omitempty"`

	// Set once the user signed in.
	UserID   string    `json:"user_id,omitempty"`
	AuthTime time.Time `json:"auth_time,omitzero"`
	// Set once the post-login pipeline ran, while consent is asked.
	Outcome *authOutcome `json:"outcome,omitempty"`
}

// authOutcome is what the post-login pipeline decided for a sign-in.
type authOutcome struct {
	Scopes   []string                   `json:"scopes"`
	Identity []string                   `json:"identity,omitempty"`
	Claims   map[string]json.RawMessage `json:"claims,omitempty"`
	Trace    Trace                      `json:"trace"`
	Logs     []HookLog                  `json:"logs,omitempty"`
	Timings  []StageTiming              `json:"timings,omitempty"`
}

// codeGrant is what an authorization code stands for (storage Data).
type codeGrant struct {
	ClientID      string      `json:"client_id"`
	RedirectURI   string      `json:"redirect_uri"`
	RedirectGiven bool        `json:"redirect_given,omitempty"`
	Challenge     string      `json:"code_challenge,omitempty"`
	Nonce         string      `json:"nonce,omitempty"`
	UserID        string      `json:"user_id"`
	AuthTime      time.Time   `json:"auth_time"`
	API           string      `json:"api"`
	Requested     []string    `json:"requested"`
	Outcome       authOutcome `json:"outcome"`
}

// familyGrant is what a refresh-token family stands for (storage Data):
// the scopes first granted, the ceiling of every refresh.
type familyGrant struct {
	API      string    `json:"api"`
	Scopes   []string  `json:"scopes"`
	Identity []string  `json:"identity,omitempty"`
	AuthTime time.Time `json:"auth_time"`
}

func (i *Issuer) randomToken() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(i.rand, b[:]); err != nil {
		return "", fmt.Errorf("engine: randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// scopeClaim is the token's scope: OpenID Connect scopes, then the API's.
func (tx *Transaction) scopeClaim() string {
	if len(tx.Identity) == 0 {
		return scope.Join(tx.Scopes)
	}
	return scope.Join(append(slices.Clone(tx.Identity), tx.Scopes...))
}

// splitScopes separates OpenID Connect scopes from API scopes.
func splitScopes(all []string) (identity, api []string) {
	api = []string{}
	for _, s := range all {
		if slices.Contains(tenant.OIDCScopes, s) {
			if !slices.Contains(identity, s) {
				identity = append(identity, s)
			}
		} else {
			api = append(api, s)
		}
	}
	// Keep the order of tenant.OIDCScopes, so tokens read the same.
	slices.SortFunc(identity, func(a, b string) int {
		return slices.Index(tenant.OIDCScopes, a) - slices.Index(tenant.OIDCScopes, b)
	})
	return identity, api
}

// userTransaction fills a transaction for an end-user flow and records the
// OpenID Connect scopes it carries in the trace.
func userTransaction(tx *Transaction, c *tenant.Client, api *tenant.API, u *tenant.User, requested, identity []string) {
	tx.Trigger = tenant.TriggerPostLogin
	tx.Client, tx.ClientID = c, c.ID
	tx.API, tx.User, tx.Subject = api, u, u.ID
	tx.Requested = requested
	for _, s := range identity {
		tx.record(TraceEntry{Stage: StageBaseline, Op: OpAdd, Scope: s, Reason: "OpenID Connect scope (the issuer's own)"})
	}
	tx.Identity = identity
}

// checkUserResult refuses a user token that asked for API scopes and ends
// with none: it would be useless to the client, and tell it nothing. A
// request that named only OpenID Connect scopes (sign-in only) is fine.
func checkUserResult(tx *Transaction) error {
	if len(tx.Scopes) > 0 || (tx.Requested != nil && len(tx.Requested) == 0) {
		return nil
	}
	tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Reason: "none of the requested scopes is granted to this user"})
	return ErrAccessDenied.WithDescription("none of the requested scopes of %q is granted to this user through this client", tx.API.Identifier)
}

// authenticateUserClient authenticates a client at the token endpoint for
// an end-user grant: confidential clients with their secret, public ones
// by client_id alone (their codes are bound by PKCE).
func (i *Issuer) authenticateUserClient(ctx context.Context, t *tenant.Tenant, r *TokenRequest, tx *Transaction) (*tenant.Client, error) {
	c, ok := t.Client(r.ClientID)
	if !ok || c.Type.Confidential() {
		c, err := i.authenticate(ctx, t, r, tx)
		if err != nil {
			return nil, err
		}
		if c.Type == tenant.ClientM2M {
			return nil, ErrUnauthorizedClient.WithDescription("an m2m client has no users; it cannot use %s", r.GrantType)
		}
		return c, nil
	}
	if r.ClientSecret != "" { // the answer of a wrong secret: it does not tell the client's type
		return nil, ErrInvalidClient.WithDescription("client authentication failed")
	}
	return c, nil
}

// redirectTo builds the redirect to a client with params added to the
// registered URI's own query (RFC 6749 §3.1.2), and the issuer (RFC 9207).
func (i *Issuer) redirectTo(redirectURI string, params url.Values) string {
	u, err := url.Parse(redirectURI)
	if err != nil { // registered URIs are validated at load
		return redirectURI
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	q.Set("iss", i.issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// storageError maps a storage failure to an OAuth error.
func storageError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, storage.ErrFull) {
		return ErrTemporarilyUnavailable.WithDescription("too many sign-ins in progress; try again later").Wrap(err)
	}
	return ErrServerError.Wrap(err)
}

// userRoutes adds the end-user endpoints.
func (i *Issuer) userRoutes(mux *http.ServeMux, prefix string) {
	csrf := http.NewCrossOriginProtection()
	protect := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := csrf.Check(r); err != nil {
				i.errorPage(w, http.StatusForbidden, "Request refused", "This form was sent from another site. Go back to the application and sign in again.")
				return
			}
			h(w, r)
		}
	}
	i.route(mux, "authorize", prefix+PathAuthorize, i.handleAuthorize)
	i.route(mux, "login", prefix+PathLogin, protect(i.handleLogin))
	i.route(mux, "consent", prefix+PathConsent, protect(i.handleConsent))
	i.route(mux, "logout", prefix+PathLogout, protect(i.handleLogout))
	i.route(mux, "userinfo", prefix+PathUserinfo, i.cors(i.handleUserinfo))
}

// cors lets the browser origins of the tenant's public clients call an
// endpoint (the token endpoint and userinfo, from single-page apps).
// Origins come from the redirect URIs of spa and native clients.
func (i *Issuer) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && i.allowedOrigin(origin) {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				hd.Set("Access-Control-Allow-Methods", "GET, POST")
				hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				hd.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		h(w, r)
	}
}

func (i *Issuer) allowedOrigin(origin string) bool {
	s := i.acquire()
	if s == nil {
		return false
	}
	defer s.release()
	return s.origins[origin]
}

// corsOrigins are the browser origins of the redirect URIs of t's spa and
// native clients, worked out once per snapshot.
func corsOrigins(t *tenant.Tenant) map[string]bool {
	origins := map[string]bool{}
	for _, c := range t.Clients {
		if c.Type != tenant.ClientSPA && c.Type != tenant.ClientNative {
			continue
		}
		for _, ru := range c.RedirectURIs {
			if u, err := url.Parse(ru); err == nil {
				origins[u.Scheme+"://"+u.Host] = true
			}
		}
	}
	return origins
}

// publicCORS lets any origin read a public document (discovery, JWKS).
func publicCORS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h(w, r)
	}
}
