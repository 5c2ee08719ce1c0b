package console_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/console"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
)

// The test tenant: the demo API (RBAC), a reports API without RBAC, the
// console's API, machine and user clients, a hook on each trigger (one
// allowed to exceed the grant), and users with and without console roles.
// ISSUER is replaced by the test server's URL.
const testTenant = `
default_audience: https://api.example.com
apis:
  - identifier: https://api.example.com
    name: Example users API
    rbac: true
    scopes: [{name: read:users}, {name: write:users}, {name: delete:users}]
  - identifier: https://reports.example.com
    name: Reports
    scopes: [{name: read:reports}, {name: export:reports}]
  - identifier: urn:scopeline:console
    name: Scopeline console
    rbac: true
    scopes: [{name: console:read}, {name: console:manage}]
clients:
  - id: demo-m2m
    name: Demo machine client
    type: m2m
    secrets: [sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2]
    metadata: {tier: gold}
  - id: demo-other
    type: m2m
    secrets: [sha256:4ae8a6b88c6b9e9157b41756768995cd2cfbc834eb44fe926bd5275a9cadbc61]
  - id: demo-spa
    type: spa
    redirect_uris: [http://localhost:3000/callback]
  - id: reports-app
    type: spa
    redirect_uris: [http://localhost:3001/callback]
  - id: scopeline-console
    type: spa
    redirect_uris: [ISSUERconsole/callback]
roles:
  - {name: user-admin, permissions: [{api: https://api.example.com, scopes: [read:users, write:users, delete:users]}]}
  - {name: user-reader, permissions: [{api: https://api.example.com, scopes: [read:users]}]}
  - {name: console-operator, permissions: [{api: urn:scopeline:console, scopes: [console:read, console:manage]}]}
  - {name: console-auditor, permissions: [{api: urn:scopeline:console, scopes: [console:read]}]}
users:
  - {id: alice, username: alice, password_hash: "HASH", roles: [user-admin, console-operator], profile: {name: Alice Example}}
  - {id: bob, username: bob, password_hash: "HASH", roles: [user-reader, console-auditor]}
  - {id: carol, username: carol, password_hash: "HASH", roles: [user-reader]}
grants:
  - {client: demo-m2m, api: https://api.example.com, scopes: [read:users, write:users], subjects: [client]}
  - {client: demo-spa, api: https://api.example.com, scopes: [read:users, write:users], subjects: [user]}
  - {client: reports-app, api: https://reports.example.com, scopes: [read:reports], subjects: [user]}
  - {client: scopeline-console, api: urn:scopeline:console, scopes: [console:read, console:manage], subjects: [user]}
pipelines:
  credentials-exchange:
    hooks:
      - {name: tier-claim, plugin: tier-claim}
  post-login:
    hooks:
      - {name: export-for-all, plugin: nothing, allow_exceed_grant: true, failure: skip}
`

// password is every test user's password.
const password = "correct-horse"

// goHooks are the test tenant's hooks, in Go.
type goHooks struct{}

func (goHooks) LoadHook(_ context.Context, spec *tenant.HookSpec) (engine.Hook, error) {
	switch spec.Plugin {
	case "tier-claim":
		return hookFunc(func(v engine.View) *engine.HookResult {
			tier := v.Client().Metadata["tier"]
			return &engine.HookResult{Ops: []engine.HookOp{{Kind: engine.HookSetClaim, Name: "tier", Value: []byte(`"` + tier + `"`), Reason: "client tier"}},
				Logs: []string{"tier=" + tier}}
		}), nil
	case "nothing":
		return hookFunc(func(engine.View) *engine.HookResult { return nil }), nil
	}
	return nil, errors.New("no such plugin")
}

type hookFunc func(engine.View) *engine.HookResult

func (f hookFunc) Invoke(_ context.Context, v engine.View) (*engine.HookResult, error) {
	return f(v), nil
}

// harness is an issuer with its audit stream and the console mounted.
type harness struct {
	t       *testing.T
	URL     string // the issuer, with a trailing slash
	issuer  *server.Server
	pub     *audit.Publisher
	src     *testSource
	console *console.Console
	// hooks are the figures the source gives for the hooks.
	hooksMu sync.Mutex
	hooks   []*engine.HookStats
	// skew moves the console's clock forward.
	skew atomic.Int64
}

var (
	hashOnce sync.Once
	hash     string
)

func newHarness(t *testing.T) *harness {
	t.Helper()
	hashOnce.Do(func() {
		var err error
		if hash, err = tenant.HashPassword(password, tenant.DefaultArgon2, rand.Reader); err != nil {
			t.Fatal(err)
		}
	})
	hs := httptest.NewUnstartedServer(nil)
	h := &harness{t: t, URL: "http://" + hs.Listener.Addr().String() + "/"}
	src := strings.NewReplacer("ISSUER", h.URL, "HASH", hash).Replace(testTenant)
	tn, err := tenant.Parse([]byte(src), "tenant.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	a := settings.DefaultAudit()
	a.Instance = "test"
	a.NATS.Embedded.Listen = ""
	h.pub, err = audit.Open(context.Background(), a, audit.WithDataDir(t.TempDir()), audit.WithSource(h.URL), audit.WithTenant(tn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.pub.Close(ctx)
	})
	store := keys.NewStore(t.TempDir())
	ks, err := store.Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.issuer, err = server.New(context.Background(), tn, ks, server.Config{Issuer: h.URL, Auditor: h.pub,
		Hooks: goHooks{}})
	if err != nil {
		t.Fatal(err)
	}
	h.src = &testSource{h: h, store: store}
	h.src.state.Store(&console.TenantState{Tenant: tn, Revision: tn.Revision, Loaded: time.Now(), Source: "tenant.yaml"})
	h.console, err = console.New(h.src, console.Config{Issuer: h.URL, Endpoints: h.issuer.Handler(),
		Now: func() time.Time { return time.Now().Add(time.Duration(h.skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", h.issuer.Handler())
	mux.Handle(h.console.Path(), h.console.Handler())
	hs.Config.Handler = mux
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		h.issuer.Close()
	})
	return h
}

// testSource is the console's source over the harness.
type testSource struct {
	h       *harness
	store   *keys.Store
	state   atomic.Pointer[console.TenantState]
	reloads atomic.Int32
}

func (s *testSource) Tenant() console.TenantState { return *s.state.Load() }

func (s *testSource) Keys() console.KeyState {
	return console.KeyState{Set: s.h.issuer.Keys(), Retain: time.Hour + keys.Leeway, Store: s.store.Path()}
}

func (s *testSource) Module(h *tenant.HookSpec) *console.Module {
	return &console.Module{Size: 2157, SHA256: "1b847f93f4e51496c265ba213c9769600f0540953c74c00a5c367d4ecff4ac5a", Language: "Go", Evidence: "producers section, language field"}
}

func (s *testSource) DryRun(ctx context.Context, r *console.DryRunRequest) (*audit.DecisionData, error) {
	d, err := s.h.issuer.DryRun(ctx, &engine.DryRunRequest{ClientID: r.ClientID, UserID: r.UserID, Audience: r.Audience,
		Scope: r.Scope, ScopeSet: r.Scope != "", By: r.By, RequestID: r.RequestID, IP: r.IP, UserAgent: r.UserAgent})
	if err != nil {
		return nil, err
	}
	return s.h.pub.DecisionData(d), nil
}

func (s *testSource) Events() console.Events { return s.h.pub.Reader() }

func (s *testSource) HookStats() []engine.HookStats {
	s.h.hooksMu.Lock()
	defer s.h.hooksMu.Unlock()
	return console.CopyHookStats(s.h.hooks)
}

// addHookStats adds a hook's figures to those the source gives.
func (h *harness) addHookStats(st *engine.HookStats) {
	h.hooksMu.Lock()
	defer h.hooksMu.Unlock()
	h.hooks = append(h.hooks, st)
}

func (s *testSource) Reload(ctx context.Context, by string) error {
	s.reloads.Add(1)
	return s.h.pub.Reloaded(ctx, audit.Reload{Source: "tenant.yaml", By: by, Tenant: s.Tenant().Tenant})
}

func (s *testSource) RotateKeys(ctx context.Context, by string) error {
	ks, err := s.store.Rotate(time.Now(), keys.RotateOptions{Retain: time.Hour + keys.Leeway})
	if err != nil {
		return err
	}
	return s.h.issuer.SetKeys(ks)
}

// signIn signs name in to the console with a new browser and returns it,
// on the console's home page.
func (h *harness) signIn(name string) *enginetest.Browser {
	h.t.Helper()
	b := enginetest.NewBrowser(h.t, h.URL)
	h.signInWith(b, name)
	return b
}

// signInWith signs name in with browser b.
func (h *harness) signInWith(b *enginetest.Browser, name string) {
	h.t.Helper()
	status, page, _ := b.Visit(h.URL + "console/")
	if status != http.StatusOK || !strings.Contains(page, "<h1>Sign in</h1>") {
		h.t.Fatalf("want the login page, got %d:\n%s", status, page)
	}
	status, page, _ = b.Submit(page, url.Values{"username": {name}, "password": {password}})
	if status != http.StatusOK || !strings.Contains(page, "<h1>Overview</h1>") {
		h.t.Fatalf("%s: want the console's overview, got %d:\n%s", name, status, page)
	}
}

// token gets a client-credentials token (or a refusal) at the token
// endpoint.
func (h *harness) token(clientID, secret, scope string) int {
	h.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodPost, h.URL+"oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// lastSeq waits for the stream to hold at least n messages and returns
// its last sequence.
func (h *harness) waitSeq(n uint64) uint64 {
	h.t.Helper()
	var last uint64
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		last, err = h.pub.Reader().LastSeq(context.Background())
		if err == nil && last >= n {
			return last
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the stream holds %d messages, want %d (%v)", last, n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
