// Package server composes a complete Scopeline issuer out of its parts, as
// fosite's compose package does: the core (package engine), the grants
// (package grant) with their dependencies, the HTTP endpoints (package
// endpoint) and the hosted sign-in pages (package pages), over one
// storage for the end-user flows and one set of throttles. It is what
// `scopeline serve` runs; a program that needs another set of grants
// composes the parts itself the same way.
package server

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/clientauth"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/grant"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/pages"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/memory"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/throttle"
	"github.com/scopeline/scopeline/sdk/resource/replay"
)

// Config is what a server is made of, besides its tenant and keys. The
// zero value serves with no hooks, no audit, in-memory storage and
// throttles, and the tenant file's issuer.
type Config struct {
	// Issuer overrides the tenant file's issuer identifier.
	Issuer string
	// Logger, Now and Rand default to discard, time.Now and crypto/rand.
	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
	// Hooks loads the tenant's hooks (package hooks); without it a tenant
	// that declares hooks is refused.
	Hooks engine.HookLoader
	// Auditor records every decision; when it is also an
	// engine.LoginAuditor, every sign-in attempt too.
	Auditor engine.Auditor
	// Metrics gets the metrics of the issuer and its routes, for the
	// caller to export (docs/configuration.md lists them).
	Metrics *metrics.Set
	// Storage keeps the end-user flows' codes, refresh tokens, sessions
	// and consents (default: in memory, lost on restart). The caller
	// closes the storage it gives.
	Storage storage.Storage
	// Throttles makes the throttles of sign-in and client authentication
	// (default throttle.Local, per process); Networks says how they count
	// client addresses together (default throttle.DefaultNetworks).
	Throttles throttle.Backend
	Networks  throttle.Networks
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Request-Id are believed.
	TrustedProxies []netip.Prefix
	// AssertionReplay and DPoPReplay remember the jti of client assertions
	// and of DPoP proofs (default: in process, as large as the tenant's
	// replay_cache_size at start). Replicas must share them.
	AssertionReplay replay.Cache
	DPoPReplay      replay.Cache
	// Ready are readiness checks for /healthz/ready (the audit stream).
	Ready []endpoint.Check
}

// Server is a running issuer: the core with its grants, and its HTTP
// handler.
type Server struct {
	*engine.Issuer
	storage     storage.Storage
	ownsStorage bool
	now         func() time.Time
	handler     http.Handler

	// remoteKeys caches clients' jwks_uri key sets across reloads.
	remoteKeys *clientauth.RemoteKeys
}

// New composes an issuer for tenant t, signing with the keys in ks.
func New(ctx context.Context, t *tenant.Tenant, ks *keys.Set, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
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
	if cfg.Networks == (throttle.Networks{}) {
		cfg.Networks = throttle.DefaultNetworks
	}
	if err := cfg.Networks.Validate(); err != nil {
		return nil, err
	}
	s := &Server{storage: cfg.Storage, now: cfg.Now}
	if s.storage == nil {
		s.storage, s.ownsStorage = memory.New(), true
	}
	s.remoteKeys = clientauth.NewRemoteKeys(nil, 0, cfg.Now, cfg.Logger)
	assertions, err := assertionVerifier(t, cfg, s.remoteKeys)
	if err != nil {
		s.closeStorage()
		return nil, err
	}
	clients := engine.NewClientAuthenticator(cfg.Throttles, cfg.Networks, cfg.Now, assertions)
	users := grant.EndUser{Clients: clients, Storage: s.storage, Now: cfg.Now, Rand: cfg.Rand, Log: cfg.Logger}
	opts := []engine.Option{
		engine.WithLogger(cfg.Logger),
		engine.WithClock(cfg.Now),
		engine.WithRand(cfg.Rand),
		engine.WithHookLoader(cfg.Hooks),
		engine.WithAuditor(cfg.Auditor),
		engine.WithMetrics(cfg.Metrics),
		engine.WithGrants(
			&grant.ClientCredentials{Clients: clients},
			&grant.AuthorizationCode{EndUser: users},
			&grant.RefreshToken{EndUser: users},
			&grant.TokenExchange{Clients: clients, Denylist: s.storage, Now: cfg.Now},
		),
	}
	if cfg.Issuer != "" {
		opts = append(opts, engine.WithIssuer(cfg.Issuer))
	}
	if cfg.DPoPReplay != nil {
		opts = append(opts, engine.WithDPoPReplay(cfg.DPoPReplay))
	}
	if s.Issuer, err = engine.New(ctx, t, ks, opts...); err != nil {
		s.closeStorage()
		return nil, err
	}
	logins, _ := cfg.Auditor.(engine.LoginAuditor)
	proxies := httpx.Proxies(cfg.TrustedProxies)
	rt := httpx.NewRouter(cfg.Logger, proxies, cfg.Metrics)
	ep := endpoint.New(s.Issuer, endpoint.Config{Log: cfg.Logger, Now: cfg.Now, Proxies: proxies, Ready: cfg.Ready,
		Clients: clients, Storage: s.storage})
	ep.Mount(rt)
	pages.New(s.Issuer, pages.Config{
		Log: cfg.Logger, Now: cfg.Now, Rand: cfg.Rand, Proxies: proxies, Storage: s.storage,
		Throttles: cfg.Throttles, Networks: cfg.Networks, Logins: logins, Clients: clients, CORS: ep.CORS,
	}).Mount(rt)
	rt.Route("other", "/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
	})
	s.handler = rt
	return s, nil
}

// assertionVerifier makes the verifier of client assertions: their jti
// are remembered in process (Config.Replay when set: replicas share one),
// clients' jwks_uri fetched and cached for the process's life.
func assertionVerifier(t *tenant.Tenant, cfg Config, keys *clientauth.RemoteKeys) (*clientauth.Verifier, error) {
	iss := cfg.Issuer
	if iss == "" {
		iss = t.Issuer
	}
	if iss == "" {
		return nil, nil // engine.New says what is missing
	}
	cache := cfg.AssertionReplay
	if cache == nil {
		cache = replay.NewMemory(t.Protocols.ClientAssertions.ReplayCacheSize, cfg.Now)
	}
	return clientauth.New(clientauth.Config{
		Issuer:    iss,
		Endpoints: []string{endpoint.URL(iss, endpoint.PathToken)},
		Replay:    cache,
		Keys:      keys,
		Now:       cfg.Now,
	})
}

// Reload swaps in tenant t (and the key set ks, nil to keep the current
// one), as engine.Issuer.Reload does, and then forgets the cached key sets
// of jwks_uri no client of t registers any more.
func (s *Server) Reload(ctx context.Context, t *tenant.Tenant, ks *keys.Set) error {
	if err := s.Issuer.Reload(ctx, t, ks); err != nil {
		return err
	}
	uris := map[string]bool{}
	for _, c := range t.Clients {
		if c.Auth.JWKSURI != "" {
			uris[c.Auth.JWKSURI] = true
		}
	}
	s.remoteKeys.Retain(func(url string) bool { return uris[url] })
	return nil
}

// Handler returns the issuer's HTTP endpoints and hosted pages. Endpoints
// sit below the issuer URL's path; the RFC 8414 metadata also at its
// well-known location.
func (s *Server) Handler() http.Handler { return s.handler }

// DeleteExpired removes expired codes, sessions, refresh-token families
// and requests from storage. Call it now and then (serve does, every
// minute).
func (s *Server) DeleteExpired(ctx context.Context) (int, error) {
	return s.storage.DeleteExpired(ctx, s.now())
}

// Close closes the issuer, and the storage when the server made it.
func (s *Server) Close() error {
	err := s.Issuer.Close()
	if cerr := s.closeStorage(); err == nil {
		err = cerr
	}
	return err
}

func (s *Server) closeStorage() error {
	if s.ownsStorage {
		return s.storage.Close()
	}
	return nil
}
