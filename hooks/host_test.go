package hooks_test

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

// testTenant is the tenant of the host tests: one API with three scopes,
// one client granted two of them.
const testTenant = `
issuer: https://issuer.test/
signing_algorithm: ES256
default_audience: https://api.test
apis:
  - identifier: https://api.test
    scopes: [{name: read:users}, {name: write:users}, {name: delete:users}]
clients:
  - id: m2m
    type: m2m
    secrets: [sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2]
    metadata: {tier: gold}
grants:
  - client: m2m
    api: https://api.test
    scopes: [read:users, write:users]
`

// newHost makes a host with small pools, closed when the test ends.
func newHost(t testing.TB, opts ...hooks.Option) *hooks.Host {
	t.Helper()
	opts = append([]hooks.Option{hooks.WithPoolSize(1, 2), hooks.WithCacheDir(cacheDir(t))}, opts...)
	h, err := hooks.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

var (
	cacheOnce sync.Once
	cachePath string
)

// cacheDir is a compilation cache shared by the tests of this package, so
// the Go guests compile once per test binary.
func cacheDir(t testing.TB) string {
	cacheOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scopeline-hooks-test-")
		if err != nil {
			t.Fatal(err)
		}
		cachePath = dir
	})
	return cachePath
}

// spec makes a hook spec for a module in testdata (or a path).
func spec(name, module, config string, failure tenant.FailurePolicy) *tenant.HookSpec {
	s := &tenant.HookSpec{Name: name, Module: module, Timeout: 50 * time.Millisecond, Memory: 1 << 20, Failure: failure}
	if config != "" {
		s.Config = json.RawMessage(config)
	}
	return s
}

// transaction makes a credentials-exchange transaction for m2m as the
// baseline would leave it.
func transaction(t testing.TB) *engine.Transaction {
	t.Helper()
	tn, err := tenant.Parse([]byte(testTenant), "tenant.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := tn.Client("m2m")
	api, _ := tn.API("https://api.test")
	g, _ := tn.Grant("m2m", "https://api.test")
	return &engine.Transaction{
		RequestID: "req-1", Trigger: tenant.TriggerCredentialsExchange, GrantType: engine.GrantClientCredentials,
		ClientID: "m2m", Client: c, API: api, Grant: g, Requested: []string{"write:users"}, Scopes: []string{"write:users"},
		Subject: "m2m", IP: "192.0.2.7", UserAgent: "test", Time: time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC),
	}
}
