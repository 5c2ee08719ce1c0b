// Package enginetest starts a real Scopeline issuer in process for tests:
// an httptest server on 127.0.0.1 with a fresh data directory, serving the
// demo tenant or a given tenant file.
package enginetest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Server is a running in-process issuer.
type Server struct {
	*httptest.Server
	// Issuer is the issuer identifier (the server's URL with a trailing /).
	Issuer string
	Engine *server.Server
	Keys   *keys.Store
	Tenant *tenant.Tenant
}

// Config tunes Start.
type Config struct {
	// Tenant is a tenant file's contents; nil serves the demo tenant.
	Tenant []byte
	// Dir is where relative hook module paths resolve (default ".").
	Dir string
	// Server configures the issuer; its Issuer is the test server's URL.
	Server server.Config
	// Wrap, when set, wraps the issuer's handler (to add routes).
	Wrap func(http.Handler) http.Handler
}

// Start starts an issuer and stops it when the test ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	src := cfg.Tenant
	if src == nil {
		src = demo.Tenant
	}
	dir := cfg.Dir
	if dir == "" {
		dir = "."
	}
	t, err := tenant.Parse(src, "tenant.yaml", dir)
	if err != nil {
		tb.Fatal(err)
	}
	store := keys.NewStore(tb.TempDir())
	ks, err := store.Ensure(t.Algorithms(), time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	s := &Server{Server: hs, Issuer: "http://" + hs.Listener.Addr().String() + "/", Keys: store, Tenant: t}
	sc := cfg.Server
	sc.Issuer = s.Issuer
	s.Engine, err = server.New(context.Background(), t, ks, sc)
	if err != nil {
		hs.Close()
		tb.Fatal(err)
	}
	var h http.Handler = s.Engine.Handler()
	if cfg.Wrap != nil {
		h = cfg.Wrap(h)
	}
	hs.Config.Handler = h
	hs.Start()
	tb.Cleanup(func() {
		hs.Close()
		s.Engine.Close()
	})
	return s
}

// Rotate rotates the signing keys at once (ignoring the JWKS cache
// lifetime) and makes the issuer sign with the new current keys.
func (s *Server) Rotate(tb testing.TB) {
	tb.Helper()
	ks, err := s.Keys.Rotate(time.Now(), keys.RotateOptions{
		Retain: s.Tenant.LongestTokenLifetime() + keys.Leeway,
		Force:  true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Engine.SetKeys(ks); err != nil {
		tb.Fatal(err)
	}
}

// TokenEndpoint is the token endpoint's URL.
func (s *Server) TokenEndpoint() string { return s.URL + endpoint.PathToken }
