// Package pages is the issuer's hosted sign-in: the authorization
// endpoint (RFC 6749 §4.1.1), the login, consent and logout pages, their
// templates and cookies, and the sealed authorization requests the
// browser carries until somebody signs in. A signed-in request runs the
// post-login pipeline here, and its result is kept with the code that
// the authorization_code grant (package grant) redeems; the records they
// share are package userflow's.
package pages

import (
	"crypto/rand"
	"hash/maphash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/throttle"
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

// The throttles of the pages. Sign-in failures are limited per user (per
// normalized login name for unknown ones, so the limit does not tell) and
// per client network; the authorization requests anybody can start are
// limited per network; consent-pending requests, the only ones stored
// before a code, per signed-in user. Pushed requests are stored: a public
// client's count per network, as /authorize's; an authenticated
// client's per client (a web app pushes for all its users from its own
// servers: one network), at most about 6,000 stored per client in a
// 60-second lifetime.
var (
	ruleLoginUser        = throttle.Rule{Name: "login-user", Burst: 5, Refill: time.Minute}
	ruleLoginNetwork     = throttle.Rule{Name: "login-network", Burst: 20, Refill: 10 * time.Second}
	ruleAuthorizeNetwork = throttle.Rule{Name: "authorize-network", Burst: 100, Refill: 200 * time.Millisecond}
	rulePendingUser      = throttle.Rule{Name: "pending-user", Burst: 20, Refill: AuthRequestLifetime / 20}
	rulePARClient        = throttle.Rule{Name: "par-client", Burst: 1000, Refill: 10 * time.Millisecond}
)

// Config is what the pages need besides the issuer.
type Config struct {
	Log  *slog.Logger
	Now  func() time.Time
	Rand io.Reader
	// Proxies are the trusted reverse proxies (for the client address).
	Proxies httpx.Proxies
	// Storage keeps sessions, consents, requests waiting for consent and
	// codes.
	Storage storage.Storage
	// Throttles makes the pages' throttles (nil: throttle.Local);
	// Networks says how they count client addresses together.
	Throttles throttle.Backend
	Networks  throttle.Networks
	// Logins, when set, records every sign-in attempt.
	Logins engine.LoginAuditor
	// Clients authenticates clients at the PAR endpoint, as the token
	// endpoint's grants do.
	Clients *engine.ClientAuthenticator
	// CORS, when set, lets browser apps call the PAR endpoint, as the
	// token endpoint (endpoint.Endpoints.CORS).
	CORS func(http.HandlerFunc) http.HandlerFunc
}

// Pages serves the hosted sign-in of an issuer.
type Pages struct {
	iss    *engine.Issuer
	cfg    Config
	prefix string // the issuer URL's path
	tmpl   *templates
	// passwordGate bounds concurrent password hashing; loginLocks make
	// the throttle check, the password check and the failure count of a
	// login name, and of a network, one step.
	passwordGate chan struct{}
	loginLocks   loginLocks
	// sealers seal authorization requests with the keys of a snapshot.
	sealers *httpx.Derived[*sealers]

	loginUser, loginNetwork, authorizeNetwork, pendingUser, parClient throttle.Throttle
}

// New returns the pages of iss.
func New(iss *engine.Issuer, cfg Config) *Pages {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Throttles == nil {
		cfg.Throttles = throttle.Local
	}
	mk := cfg.Throttles
	pg := &Pages{
		iss: iss, cfg: cfg, prefix: endpoint.IssuerPath(iss.IssuerURL()), tmpl: newTemplates(),
		passwordGate: make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		sealers:      httpx.NewDerived(newSealers),
		loginUser:    mk(ruleLoginUser), loginNetwork: mk(ruleLoginNetwork),
		authorizeNetwork: mk(ruleAuthorizeNetwork), pendingUser: mk(rulePendingUser), parClient: mk(rulePARClient),
	}
	pg.loginLocks.seed = maphash.MakeSeed()
	return pg
}

// Mount adds the pages to rt. The forms are protected against cross-site
// posts (http.CrossOriginProtection) on top of their CSRF tokens.
func (pg *Pages) Mount(rt *httpx.Router) {
	csrf := http.NewCrossOriginProtection()
	protect := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := csrf.Check(r); err != nil {
				pg.errorPage(w, http.StatusForbidden, "Request refused", "This form was sent from another site. Go back to the application and sign in again.")
				return
			}
			h(w, r)
		}
	}
	p := pg.prefix
	rt.Route("authorize", p+endpoint.PathAuthorize, pg.handleAuthorize)
	par := pg.handlePAR
	if pg.cfg.CORS != nil {
		par = pg.cfg.CORS(par) // a single-page app pushes its request too
	}
	rt.Route("par", p+endpoint.PathPAR, par)
	rt.Route("login", p+endpoint.PathLogin, protect(pg.handleLogin))
	rt.Route("consent", p+endpoint.PathConsent, protect(pg.handleConsent))
	rt.Route("logout", p+endpoint.PathLogout, protect(pg.handleLogout))
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
	Outcome *engine.Result `json:"outcome,omitempty"`

	// DPoPKey binds the code to a DPoP key (RFC 9449 §10: dpop_jkt, or
	// the key of the PAR request's proof).
	DPoPKey string `json:"dpop_jkt,omitempty"`
}

// redirectTo builds the redirect to a client with params added to the
// registered URI's own query (RFC 6749 §3.1.2), and the issuer (RFC 9207).
func (pg *Pages) redirectTo(redirectURI string, params url.Values) string {
	u, err := url.Parse(redirectURI)
	if err != nil { // registered URIs are validated at load
		return redirectURI
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	q.Set("iss", pg.iss.IssuerURL())
	u.RawQuery = q.Encode()
	return u.String()
}
