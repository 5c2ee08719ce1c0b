package engine_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/grant"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/throttle"
)

// goHook is a hook written in Go, standing in for a WebAssembly module.
type goHook struct {
	run    func(v engine.View) (*engine.HookResult, error)
	closed *atomic.Int32
}

func (h *goHook) Invoke(_ context.Context, v engine.View) (*engine.HookResult, error) {
	return h.run(v)
}

func (h *goHook) Close() error {
	if h.closed != nil {
		h.closed.Add(1)
	}
	return nil
}

// goLoader loads hooks by plugin name from a map.
type goLoader struct {
	hooks  map[string]func(v engine.View) (*engine.HookResult, error)
	closed atomic.Int32
	loaded atomic.Int32
}

func (l *goLoader) LoadHook(_ context.Context, spec *tenant.HookSpec) (engine.Hook, error) {
	run, ok := l.hooks[spec.Plugin]
	if !ok {
		return nil, errors.New("no such plugin")
	}
	l.loaded.Add(1)
	return &goHook{run: run, closed: &l.closed}, nil
}

const hookTenant = `
apis:
  - identifier: https://api
    scopes: [{name: read}, {name: write}, {name: admin}, {name: extra}]
clients:
  - id: c
    type: m2m
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
grants:
  - {client: c, api: https://api, scopes: [read, write, extra]}
pipelines:
  credentials-exchange:
    hooks:
`

func newIssuer(t testing.TB, src string, loader engine.HookLoader, opts ...engine.Option) *engine.Issuer {
	t.Helper()
	tn, err := tenant.Parse([]byte(src), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.NewStore(t.TempDir()).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]engine.Option{engine.WithIssuer("https://issuer.example/"), engine.WithHookLoader(loader)}, opts...)
	iss, err := engine.New(context.Background(), tn, ks, append(opts, withClientCredentials())...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { iss.Close() })
	return iss
}

// withClientCredentials composes the client_credentials grant, as package
// server does.
func withClientCredentials() engine.Option {
	return engine.WithGrants(&grant.ClientCredentials{Clients: engine.NewClientAuthenticator(nil, throttle.DefaultNetworks, nil, nil)})
}

func ccRequest(scope string) *engine.TokenRequest {
	return &engine.TokenRequest{
		GrantType: engine.GrantClientCredentials, ClientID: "c", ClientSecret: "demo-m2m-secret",
		AuthMethod: engine.AuthSecretBasic, Audience: "https://api", Scope: scope, ScopeSet: scope != "",
	}
}

type recorder struct {
	mu        sync.Mutex
	decisions []*engine.Decision
	fail      error // when set, Record fails with it
}

func (r *recorder) Record(_ context.Context, d *engine.Decision) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.decisions = append(r.decisions, d)
	return nil
}

func (r *recorder) last() *engine.Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.decisions[len(r.decisions)-1]
}

func TestHookStageSemantics(t *testing.T) {
	ops := func(o ...engine.HookOp) func(engine.View) (*engine.HookResult, error) {
		return func(engine.View) (*engine.HookResult, error) { return &engine.HookResult{Ops: o}, nil }
	}
	loader := &goLoader{hooks: map[string]func(engine.View) (*engine.HookResult, error){
		"drop-write": ops(engine.HookOp{Kind: engine.HookRemoveScope, Name: "write", Reason: "read-only client"}),
		"add-many": ops(
			engine.HookOp{Kind: engine.HookAddScope, Name: "extra", Reason: "within the ceiling"},
			engine.HookOp{Kind: engine.HookAddScope, Name: "admin", Reason: "outside the ceiling"},
			engine.HookOp{Kind: engine.HookAddScope, Name: "nope", Reason: "undefined"},
			engine.HookOp{Kind: engine.HookSetClaim, Name: "tier", Value: []byte(` "gold" `), Reason: "from metadata"},
			engine.HookOp{Kind: engine.HookSetClaim, Name: "sub", Value: []byte(`"root"`)},
			engine.HookOp{Kind: engine.HookSetClaim, Name: "bad", Value: []byte(`{`)},
		),
		"sees-previous": func(v engine.View) (*engine.HookResult, error) {
			if v.HasScope("write") {
				return nil, errors.New("previous hook's change not visible")
			}
			return &engine.HookResult{Logs: []string{"saw " + strings.Join(v.Scopes(), ",")}}, nil
		},
		"deny": func(engine.View) (*engine.HookResult, error) {
			return &engine.HookResult{
				Ops:  []engine.HookOp{{Kind: engine.HookAddScope, Name: "extra"}},
				Deny: &engine.HookDenial{Code: "invalid_scope", Reason: "not on weekends"},
			}, nil
		},
		"deny-bad-code": func(engine.View) (*engine.HookResult, error) {
			return &engine.HookResult{Deny: &engine.HookDenial{Code: "server_error", Reason: "x"}}, nil
		},
		"trap": func(engine.View) (*engine.HookResult, error) {
			return &engine.HookResult{Ops: []engine.HookOp{{Kind: engine.HookAddScope, Name: "extra"}}},
				&engine.HookFault{Kind: "trap", Err: errors.New("unreachable")}
		},
		"too-many-ops": func(engine.View) (*engine.HookResult, error) {
			o := make([]engine.HookOp, engine.MaxHookOps+1)
			for i := range o {
				o[i] = engine.HookOp{Kind: engine.HookRemoveScope, Name: "read"}
			}
			return &engine.HookResult{Ops: o}, nil
		},
	}}
	pipeline := func(entries ...string) string {
		return hookTenant + strings.Join(entries, "\n") + "\n"
	}
	hook := func(name string, extra ...string) string {
		s := "      - name: " + name + "\n        plugin: " + name
		for _, e := range extra {
			s += "\n        " + e
		}
		return s
	}
	tests := []struct {
		name      string
		tenant    string
		scope     string
		wantErr   string
		wantScope []string
		wantClaim string
		trace     []string // "stage op target [refused]"
	}{
		{
			name: "remove then see the change", tenant: pipeline(hook("drop-write"), hook("sees-previous")), scope: "read write",
			wantScope: []string{"read"},
			trace:     []string{"baseline add read", "baseline add write", "drop-write remove write"},
		},
		{
			name: "adds within the ceiling only, reserved and bad claims refused", tenant: pipeline(hook("add-many")), scope: "read",
			wantScope: []string{"read", "extra"}, wantClaim: `"gold"`,
			trace: []string{"baseline add read", "add-many add extra", "add-many add admin refused", "add-many add nope refused",
				"add-many set-claim tier", "add-many set-claim sub refused", "add-many set-claim bad refused"},
		},
		{
			name: "allow_exceed_grant lets a hook add a defined scope", tenant: pipeline(hook("add-many", "allow_exceed_grant: true")), scope: "read",
			wantScope: []string{"read", "admin", "extra"},
			trace:     []string{"add-many add admin", "add-many add nope refused"},
		},
		{
			name: "deny stops the pipeline and applies nothing", tenant: pipeline(hook("deny"), hook("drop-write")),
			wantErr: "invalid_scope: not on weekends", trace: []string{"deny deny"},
		},
		{
			name: "deny with a code outside the safe set", tenant: pipeline(hook("deny-bad-code")),
			wantErr: "access_denied: x",
		},
		{
			name: "a fault fails closed", tenant: pipeline(hook("trap"), hook("drop-write")),
			wantErr: "server_error", trace: []string{"trap fault"},
		},
		{
			name: "a fault with failure skip is skipped, ops not applied", tenant: pipeline(hook("trap", "failure: skip"), hook("drop-write")), scope: "read write",
			wantScope: []string{"read"}, trace: []string{"trap fault", "trap skip", "drop-write remove write"},
		},
		{
			name: "too many ops is a fault", tenant: pipeline(hook("too-many-ops")),
			wantErr: "server_error", trace: []string{"too-many-ops fault"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			iss := newIssuer(t, tt.tenant, loader, engine.WithAuditor(rec))
			resp, err := iss.Token(context.Background(), ccRequest(tt.scope))
			d := rec.last()
			var got []string
			for _, e := range d.Tx.Trace {
				s := e.Stage + " " + string(e.Op)
				if target := e.Scope + e.Claim; target != "" {
					s += " " + target
				}
				if e.Refused {
					s += " refused"
				}
				got = append(got, s)
			}
			for _, want := range tt.trace {
				if !slices.Contains(got, want) {
					t.Errorf("trace %q lacks %q", got, want)
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				if d.Outcome != engine.OutcomeDenied {
					t.Errorf("outcome %s", d.Outcome)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Tx.Scopes, tt.wantScope) || resp.Scope != strings.Join(tt.wantScope, " ") {
				t.Errorf("scopes %q (response %q), want %q", d.Tx.Scopes, resp.Scope, tt.wantScope)
			}
			if tt.wantClaim != "" && string(d.Tx.Claims["tier"]) != tt.wantClaim {
				t.Errorf("claim tier = %s", d.Tx.Claims["tier"])
			}
		})
	}
}

func TestTraceOfBaseline(t *testing.T) {
	rec := &recorder{}
	iss := newIssuer(t, hookTenant, nil, engine.WithAuditor(rec))
	if _, err := iss.Token(context.Background(), ccRequest("write admin read")); err != nil {
		t.Fatal(err)
	}
	want := engine.Trace{
		{Stage: "baseline", Op: "add", Scope: "read", Reason: "requested"},
		{Stage: "baseline", Op: "add", Scope: "write", Reason: "requested"},
		{Stage: "baseline", Op: "add", Scope: "admin", Refused: true, Reason: "outside the grant ceiling"},
	}
	if got := rec.last().Tx.Trace; !slices.Equal(got, want) {
		t.Errorf("trace\n got %+v\nwant %+v", got, want)
	}
}

// Hooks need a runtime: without one, a tenant declaring hooks is refused.
func TestHooksNeedALoader(t *testing.T) {
	tn, err := tenant.Parse([]byte(hookTenant+"      - name: h\n        plugin: p\n"), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := keys.NewStore(t.TempDir()).Ensure(tn.Algorithms(), time.Now())
	_, err = engine.New(context.Background(), tn, ks, withClientCredentials(), engine.WithIssuer("https://i/"))
	if err == nil || !strings.Contains(err.Error(), "no hook runtime") {
		t.Errorf("err = %v", err)
	}
}

func TestReload(t *testing.T) {
	loader := &goLoader{hooks: map[string]func(engine.View) (*engine.HookResult, error){
		"noop": func(engine.View) (*engine.HookResult, error) { return &engine.HookResult{}, nil },
	}}
	src := hookTenant + "      - name: noop\n        plugin: noop\n"
	iss := newIssuer(t, src, loader)
	if _, err := iss.Token(context.Background(), ccRequest("write")); err != nil {
		t.Fatal(err)
	}
	// The new tenant narrows the grant: the next request sees it.
	narrowed, err := tenant.Parse([]byte(strings.Replace(src, "scopes: [read, write, extra]", "scopes: [read]", 1)), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Reload(context.Background(), narrowed, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Token(context.Background(), ccRequest("write")); !errors.Is(err, engine.ErrInvalidScope) {
		t.Errorf("after reload: %v, want invalid_scope", err)
	}
	if loader.closed.Load() != 1 {
		t.Errorf("the retired snapshot's hook was closed %d times, want 1", loader.closed.Load())
	}
	// A reload that fails (unknown plugin) keeps the current tenant.
	broken, _ := tenant.Parse([]byte(hookTenant+"      - name: x\n        plugin: missing\n"), "t.yaml", ".")
	if err := iss.Reload(context.Background(), broken, nil); err == nil {
		t.Fatal("a tenant with an unloadable hook must not be swapped in")
	}
	if _, err := iss.Token(context.Background(), ccRequest("read")); err != nil {
		t.Errorf("the old tenant stopped serving: %v", err)
	}
	// A tenant using a new algorithm needs keys for it.
	es, _ := tenant.Parse([]byte(strings.Replace(hookTenant, "  - identifier: https://api\n", "  - identifier: https://api\n    signing_algorithm: ES256\n", 1)), "t.yaml", ".")
	if err := iss.Reload(context.Background(), es, nil); err == nil {
		t.Error("reload to ES256 without an ES256 key must fail")
	}
}

// Requests keep flowing, race-free, while the tenant reloads and keys
// rotate. The test makes the overlap certain rather than likely: in each
// round one request is held inside its hook while the tenant reloads and
// the keys rotate, and the next round starts only once more requests went
// through the pipeline.
func TestConcurrentReloadAndRotation(t *testing.T) {
	type gate struct{ entered, release chan struct{} }
	var calls atomic.Int64
	var armed atomic.Pointer[gate]
	loader := &goLoader{hooks: map[string]func(engine.View) (*engine.HookResult, error){
		"count": func(engine.View) (*engine.HookResult, error) {
			calls.Add(1)
			if g := armed.Swap(nil); g != nil {
				close(g.entered)
				<-g.release
			}
			return &engine.HookResult{}, nil
		},
	}}
	// EdDSA keys generate in microseconds; RSA keys would make the rotations
	// the slow part of the test.
	src := "signing_algorithm: EdDSA\n" + hookTenant + "      - name: count\n        plugin: count\n"
	tn, _ := tenant.Parse([]byte(src), "t.yaml", ".")
	store := keys.NewStore(t.TempDir())
	ks, _ := store.Ensure(tn.Algorithms(), time.Now())
	iss, err := engine.New(context.Background(), tn, ks, withClientCredentials(), engine.WithIssuer("https://i/"), engine.WithHookLoader(loader))
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := iss.Token(ctx, ccRequest("read")); err != nil {
					failures.Add(1)
					t.Error(err)
					return
				}
			}
		})
	}
	patience := time.After(time.Minute)
	// progressed waits until requests went through the pipeline since
	// seen, and returns the new count.
	progressed := func(seen int64) int64 {
		t.Helper()
		for calls.Load() < seen+5 {
			select {
			case <-patience:
				t.Fatalf("requests stopped going through: %d calls, %d failures", calls.Load(), failures.Load())
			case <-time.After(time.Millisecond):
			}
		}
		return calls.Load()
	}
	seen := progressed(0)
	for range 20 {
		g := &gate{make(chan struct{}), make(chan struct{})}
		armed.Store(g)
		select {
		case <-g.entered: // a request is inside its hook, on the current snapshot
		case <-patience:
			t.Fatal("no request reached the hook")
		}
		if err := iss.Reload(ctx, tn, nil); err != nil {
			t.Fatal(err)
		}
		ks, err := store.Rotate(time.Now(), keys.RotateOptions{Retain: time.Hour, Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := iss.SetKeys(ks); err != nil {
			t.Fatal(err)
		}
		close(g.release) // it finishes on the snapshot it started with
		seen = progressed(seen)
	}
	cancel()
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d requests failed", failures.Load())
	}
	// Every retired snapshot's hook is closed; the current one is not.
	if got, want := loader.closed.Load(), loader.loaded.Load()-1; got != want {
		t.Errorf("closed %d hooks, want %d", got, want)
	}
}

// What a hook writes never carries its secrets: not the trace, the hook
// logs, the error description the client reads, nor the fault's text.
func TestHookSecretsAreRedacted(t *testing.T) {
	const secret = "s3cr3t-hook-value"
	loader := &goLoader{hooks: map[string]func(engine.View) (*engine.HookResult, error){
		"leaky": func(v engine.View) (*engine.HookResult, error) {
			res := &engine.HookResult{
				Logs: []string{"token is " + secret},
				Ops: []engine.HookOp{
					{Kind: engine.HookRemoveScope, Name: "write", Reason: "because " + secret},
					{Kind: engine.HookRemoveScope, Name: "write-" + secret},
					{Kind: engine.HookSetClaim, Name: "c-" + secret, Value: []byte(`1`)},
				},
			}
			if slices.Contains(v.Requested(), "extra") {
				res.Deny = &engine.HookDenial{Code: "access_denied", Reason: "denied with " + secret}
			}
			if slices.Contains(v.Requested(), "read") && len(v.Requested()) == 1 {
				return res, &engine.HookFault{Kind: "trap", Err: errors.New("guest said " + secret)}
			}
			return res, nil
		},
	}}
	src := hookTenant + "      - name: leaky\n        plugin: leaky\n        failure: skip\n        secrets: {KEY: HOOK_KEY}\n"
	tn, err := tenant.Parse([]byte(src), "t.yaml", ".", tenant.WithLookupEnv(func(string) (string, bool) { return secret, true }))
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := keys.NewStore(t.TempDir()).Ensure(tn.Algorithms(), time.Now())
	rec := &recorder{}
	iss, err := engine.New(context.Background(), tn, ks, withClientCredentials(), engine.WithIssuer("https://i/"), engine.WithHookLoader(loader), engine.WithAuditor(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	for _, scope := range []string{"read write", "read extra", "read"} {
		_, err := iss.Token(context.Background(), ccRequest(scope))
		d := rec.last()
		seen := fmt.Sprint(d.Tx.Trace, d.Tx.Logs, err)
		for _, f := range d.Tx.Failures {
			seen += f.Error()
		}
		if strings.Contains(seen, secret) {
			t.Errorf("scope %q: the secret leaked: %s", scope, seen)
		}
		if !strings.Contains(seen, "[redacted]") {
			t.Errorf("scope %q: nothing was redacted: %s", scope, seen)
		}
	}
}

// A request in flight while a reload switches the tenant from RS256 to
// ES256 finishes on the snapshot it started with: tenant, hooks and keys
// alike. It used to fail with "no signing key for RS256", because the
// tenant and the keys were swapped one after the other.
func TestReloadDuringRequestKeepsItsSnapshot(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	loader := &goLoader{hooks: map[string]func(engine.View) (*engine.HookResult, error){
		"block": func(engine.View) (*engine.HookResult, error) {
			if first.CompareAndSwap(false, true) {
				close(entered)
				<-release
			}
			return &engine.HookResult{}, nil
		},
	}}
	src := hookTenant + "      - name: block\n        plugin: block\n"
	rsTenant, err := tenant.Parse([]byte("signing_algorithm: RS256\n"+src), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	esTenant, err := tenant.Parse([]byte("signing_algorithm: ES256\n"+src), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	store := keys.NewStore(t.TempDir())
	ks, err := store.Ensure(rsTenant.Algorithms(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	iss, err := engine.New(context.Background(), rsTenant, ks, withClientCredentials(), engine.WithIssuer("https://i/"), engine.WithHookLoader(loader))
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()

	type result struct {
		resp *engine.TokenResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := iss.Token(context.Background(), ccRequest("read"))
		done <- result{resp, err}
	}()
	<-entered
	esKeys, err := store.Ensure(esTenant.Algorithms(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Reload(context.Background(), esTenant, esKeys); err != nil {
		t.Fatal(err)
	}
	if n := loader.closed.Load(); n != 0 {
		t.Errorf("the hooks of the snapshot in use were closed (%d) before its request finished", n)
	}
	close(release)
	r := <-done
	if r.err != nil {
		t.Fatalf("the request in flight during the reload failed: %v", r.err)
	}
	if alg := tokenAlg(t, r.resp.AccessToken); alg != tenant.RS256 {
		t.Errorf("the request in flight signed with %s, want RS256 (its snapshot's)", alg)
	}
	if n := loader.closed.Load(); n != 1 {
		t.Errorf("the retired snapshot's hook closed %d times once its request finished, want 1", n)
	}
	resp, err := iss.Token(context.Background(), ccRequest("read"))
	if err != nil {
		t.Fatal(err)
	}
	if alg := tokenAlg(t, resp.AccessToken); alg != tenant.ES256 {
		t.Errorf("a request after the reload signed with %s, want ES256", alg)
	}
}

// tokenAlg is the alg of a JWS's protected header.
func tokenAlg(t *testing.T, token string) string {
	t.Helper()
	hdr, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Alg string }
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Alg
}

// Near item 4: a reload or a key change that comes after Close (a SIGHUP
// racing shutdown) is refused, not a nil snapshot dereferenced.
func TestReloadAfterClose(t *testing.T) {
	tn, err := tenant.Parse([]byte("signing_algorithm: EdDSA\n"+hookTenant), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.NewStore(t.TempDir()).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	iss, err := engine.New(context.Background(), tn, ks, withClientCredentials(), engine.WithIssuer("https://i/"))
	if err != nil {
		t.Fatal(err)
	}
	iss.Close()
	if err := iss.Reload(context.Background(), tn, ks); err == nil {
		t.Error("reloaded a closed issuer")
	}
	if err := iss.SetKeys(ks); err == nil {
		t.Error("set keys of a closed issuer")
	}
	if iss.Tenant() != nil || iss.Keys() != nil {
		t.Error("a closed issuer still has a tenant")
	}
	if _, err := iss.Token(context.Background(), ccRequest("read")); !errors.Is(err, engine.ErrTemporarilyUnavailable) {
		t.Errorf("a token from a closed issuer: %v", err)
	}
}

// The errors are values nobody can change: every With... and Wrap returns
// a copy, and the sentinels keep answering what they did.
func TestErrorsAreImmutable(t *testing.T) {
	c := engine.ErrAccessDenied.WithStatus(200).WithDescription("x").WithRetryAfter(time.Second).Wrap(errors.New("cause"))
	if c.Status() != 200 || c.Description() != "x" || c.RetryAfter() != time.Second || !errors.Is(c, engine.ErrAccessDenied) {
		t.Errorf("the copy: %d %q %s", c.Status(), c.Description(), c.RetryAfter())
	}
	e := engine.ErrAccessDenied
	if e.Status() != 403 || e.Description() != "" || e.RetryAfter() != 0 || e.Unwrap() != nil || e.Code() != "access_denied" {
		t.Errorf("the sentinel changed: %d %q %s %v", e.Status(), e.Description(), e.RetryAfter(), e.Unwrap())
	}
}
