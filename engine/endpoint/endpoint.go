// Package endpoint is the issuer's HTTP API: the token endpoint (RFC 6749
// §3.2), the JWKS, discovery (RFC 8414, OpenID Connect Discovery),
// userinfo (OpenID Connect Core §5.3) and health. Each handler parses its
// request, hands it to the core (package engine) and writes the answer;
// an error becomes a response in one place (httpx.WriteError). The hosted
// sign-in pages are package pages; package server mounts both.
package endpoint

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/storage"
)

// Paths of the endpoints and pages, below the issuer URL's path.
const (
	PathToken      = "/oauth/token"
	PathPAR        = "/oauth/par"
	PathRevoke     = "/oauth/revoke"
	PathIntrospect = "/oauth/introspect"
	PathJWKS       = "/.well-known/jwks.json"
	PathOAuthMeta  = "/.well-known/oauth-authorization-server"
	PathOIDCMeta   = "/.well-known/openid-configuration"
	PathUserinfo   = "/userinfo"
	PathAuthorize  = "/authorize"
	PathLogin      = "/login"
	PathConsent    = "/consent"
	PathLogout     = "/logout"
	PathLive       = "/healthz/live"
	PathReady      = "/healthz/ready"
)

// Check is a readiness check of /healthz/ready (the audit stream, say).
// An Advisory check's failure is reported (under "degraded") without
// making the replica unready: a replica serving an older tenant revision
// still serves correctly, and taking every replica out when a revision
// cannot be built anywhere would stop the issuer.
type Check struct {
	Name     string
	Check    func(context.Context) error
	Advisory bool
}

// Config is what the endpoints need besides the issuer.
type Config struct {
	Log     *slog.Logger
	Now     func() time.Time
	Proxies httpx.Proxies
	// Ready are the checks of /healthz/ready, besides the tenant's.
	Ready []Check
	// Clients authenticates clients at the endpoints that do besides the
	// token endpoint (whose grants hold their own): read the request's
	// credentials with ReadClientAuth, then call Clients.Confidential.
	// Storage holds the refresh-token families and the access-token
	// denylist. Without both, revocation and introspection are not mounted.
	Clients *engine.ClientAuthenticator
	Storage storage.Storage
}

// Endpoints serves the issuer's HTTP API.
type Endpoints struct {
	iss    *engine.Issuer
	cfg    Config
	prefix string // the issuer URL's path: endpoints sit below it
	// tokenURL is the token endpoint's URL, as published.
	tokenURL string
	// docs are the discovery documents of a snapshot; origins the
	// browser origins allowed to call the token endpoint and userinfo.
	docs    *httpx.Derived[map[string][]byte]
	origins *httpx.Derived[map[string]bool]
}

// New returns the endpoints of iss.
func New(iss *engine.Issuer, cfg Config) *Endpoints {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Endpoints{iss: iss, cfg: cfg, prefix: IssuerPath(iss.IssuerURL()), tokenURL: URL(iss.IssuerURL(), PathToken)}
	grants := iss.GrantTypes()
	slices.Sort(grants)
	revocation := cfg.Clients != nil && cfg.Storage != nil
	e.docs = httpx.NewDerived(func(s *engine.Snapshot) map[string][]byte { return discoveryDocs(s, grants, revocation) })
	e.origins = httpx.NewDerived(corsOrigins)
	return e
}

// Mount adds the endpoints to rt.
func (e *Endpoints) Mount(rt *httpx.Router) {
	p := e.prefix
	rt.Route("token", p+PathToken, e.CORS(e.handleToken))
	rt.Route("jwks", p+PathJWKS, publicCORS(e.handleJWKS))
	rt.Route("discovery", PathOAuthMeta+p, publicCORS(e.handleDiscovery("oauth")))
	rt.Route("discovery", p+PathOIDCMeta, publicCORS(e.handleDiscovery("openid")))
	if p != "" {
		rt.Route("discovery", p+PathOAuthMeta, publicCORS(e.handleDiscovery("oauth")))
	}
	rt.Route("userinfo", p+PathUserinfo, e.CORS(e.handleUserinfo))
	if e.cfg.Clients != nil && e.cfg.Storage != nil {
		rt.Route("revoke", p+PathRevoke, e.CORS(e.handleRevoke)) // public clients revoke from browsers
		rt.Route("introspect", p+PathIntrospect, e.handleIntrospect)
	}
	rt.Route("health", PathLive, e.handleLive)
	rt.Route("health", PathReady, e.handleReady)
}

// acquire returns the current snapshot, or answers that the issuer is
// shutting down and returns nil. The caller releases the snapshot.
func (e *Endpoints) acquire(w http.ResponseWriter) *engine.Snapshot {
	s := e.iss.Acquire()
	if s == nil {
		httpx.WriteError(w, engine.ErrTemporarilyUnavailable, false)
	}
	return s
}

// IssuerPath is the path of an issuer URL without its trailing slash: the
// prefix of every endpoint.
func IssuerPath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// URL returns the absolute URL of a path below the issuer.
func URL(issuer, path string) string { return strings.TrimSuffix(issuer, "/") + path }
