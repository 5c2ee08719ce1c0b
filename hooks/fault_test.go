package hooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

// recorder loads hooks with a Host and keeps them by name, so tests can
// look at their pools.
type recorder struct {
	host  *hooks.Host
	mu    sync.Mutex
	hooks map[string]*hooks.WasmHook
}

func (r *recorder) LoadHook(ctx context.Context, spec *tenant.HookSpec) (engine.Hook, error) {
	hk, err := r.host.Load(ctx, spec)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hooks == nil {
		r.hooks = map[string]*hooks.WasmHook{}
	}
	r.hooks[spec.Name] = hk
	return hk, nil
}

func (r *recorder) hook(name string) *hooks.WasmHook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hooks[name]
}

// auditLog keeps every decision.
type auditLog struct {
	mu   sync.Mutex
	last *engine.Decision
}

func (a *auditLog) Record(_ context.Context, d *engine.Decision) error {
	a.mu.Lock()
	a.last = d
	a.mu.Unlock()
	return nil
}

func (a *auditLog) Last() *engine.Decision {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// pipelineTenant is testTenant with a credentials-exchange pipeline.
func pipelineTenant(hooksYAML string) []byte {
	return []byte(testTenant + "pipelines:\n  credentials-exchange:\n    timeout: 200ms\n    hooks:\n" + hooksYAML)
}

func faultyHook(mode string, failure tenant.FailurePolicy) string {
	abs, _ := filepath.Abs("testdata/faulty.wasm")
	return fmt.Sprintf("      - name: faulty\n        module: %s\n        config: %q\n        failure: %s\n        timeout: 50ms\n        memory: 1MiB\n", abs, mode, failure)
}

// faultyTenant is the pipeline of faulty.wasm alone, in a mode. Its
// deadline is 50ms, so that the runaway loop is stopped quickly, but a
// second for the deep recursion, which must overflow the stack rather than
// run out of time on a busy machine.
func faultyTenant(mode string, failure tenant.FailurePolicy) []byte {
	src := string(pipelineTenant(faultyHook(mode, failure)))
	if mode == "R" {
		src = strings.Replace(src, "timeout: 200ms", "timeout: 2s", 1)
		src = strings.Replace(src, "timeout: 50ms", "timeout: 1s", 1)
	}
	return []byte(src)
}

type tokenReply struct {
	status int
	body   map[string]any
	took   time.Duration
}

func requestToken(t testing.TB, s *enginetest.Server) tokenReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.TokenEndpoint(), strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"read:users write:users"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("m2m", "demo-m2m-secret")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := tokenReply{status: resp.StatusCode, took: time.Since(start)}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("%s: %s", err, b)
	}
	return r
}

// TestFaults is the fault table: each misbehaving hook, under each failure
// policy, through a real issuer.
func TestFaults(t *testing.T) {
	before := runtime.NumGoroutine()
	host := newHost(t)
	cases := []struct {
		name, mode string
		kind       string // the fault kind; "" when the hook does not fault
		discarded  bool
		check      func(t *testing.T, d *engine.Decision)
	}{
		{name: "infinite loop", mode: "L", kind: "timeout", discarded: true},
		{name: "trap", mode: "T", kind: "trap", discarded: true},
		{name: "memory growth past the cap", mode: "G", kind: "memory", discarded: true},
		{name: "deep recursion", mode: "R", kind: "stack", discarded: true},
		{name: "out-of-bounds pointer", mode: "O", kind: "abi", discarded: true},
		{name: "log message over 16 KiB", mode: "H", kind: "abi", discarded: true},
		{name: "log message past the end of memory", mode: "Z", kind: "abi", discarded: true},
		{name: "oversized op", mode: "B", kind: "abi", discarded: true},
		{name: "too many ops", mode: "M", kind: "abi", discarded: true},
		{name: "unknown return code", mode: "C", kind: "abi", discarded: true},
		{name: "WASI proc_exit", mode: "X", kind: "exit", discarded: true},
		{name: "the hook's own error", mode: "E", kind: "error", discarded: false},
		{name: "log flood is truncated", mode: "F", check: func(t *testing.T, d *engine.Decision) {
			logs := d.Tx.Logs
			if len(logs) != engine.MaxHookLogs+1 || logs[len(logs)-1].Message != "[9968 more lines dropped]" {
				t.Errorf("logs: %d lines, last %q", len(logs), logs[len(logs)-1].Message)
			}
		}},
		{name: "reserved claims are refused", mode: "S", check: func(t *testing.T, d *engine.Decision) {
			refused := 0
			for _, e := range d.Tx.Trace {
				if e.Op == engine.OpSetClaim && e.Refused && e.Reason == "reserved claim" {
					refused++
				}
			}
			if refused != 2 || d.Tx.Subject != "m2m" || len(d.Tx.Claims) != 0 {
				t.Errorf("refused %d, subject %q, claims %v", refused, d.Tx.Subject, d.Tx.Claims)
			}
		}},
		{name: "undefined scope is refused", mode: "U", check: func(t *testing.T, d *engine.Decision) {
			last := d.Tx.Trace[len(d.Tx.Trace)-1]
			if last.Scope != "admin:everything" || !last.Refused || last.Reason != "the API does not define this scope" {
				t.Errorf("trace: %+v", last)
			}
		}},
	}
	for _, tc := range cases {
		for _, policy := range []tenant.FailurePolicy{tenant.FailDeny, tenant.FailSkip} {
			t.Run(tc.name+"/"+string(policy), func(t *testing.T) {
				rec := &recorder{host: host}
				audit := &auditLog{}
				s := enginetest.Start(t, enginetest.Config{
					Tenant: faultyTenant(tc.mode, policy),
					Server: server.Config{Hooks: rec, Auditor: audit},
				})
				hk := rec.hook("faulty")
				for round := 1; round <= 2; round++ { // the issuer keeps serving, with a fresh instance
					r := requestToken(t, s)
					d := audit.Last()
					switch {
					case tc.kind == "" || policy == tenant.FailSkip:
						if r.status != http.StatusOK || r.body["scope"] != nil && r.body["scope"] != "read:users write:users" {
							t.Fatalf("round %d: got %d %v, want a token", round, r.status, r.body)
						}
					default:
						if r.status != http.StatusInternalServerError || r.body["error"] != "server_error" || r.body["error_description"] != `hook "faulty" failed` {
							t.Fatalf("round %d: got %d %v, want server_error", round, r.status, r.body)
						}
					}
					if tc.kind != "" {
						if len(d.Tx.Failures) != 1 || d.Tx.Failures[0].Kind != tc.kind {
							t.Fatalf("round %d: failures %v, want one of kind %s", round, d.Tx.Failures, tc.kind)
						}
					}
					if want := map[bool]int64{true: int64(round), false: 0}[tc.discarded]; hk.Discarded() != want {
						t.Errorf("round %d: %d instances discarded, want %d", round, hk.Discarded(), want)
					}
					if tc.mode == "L" && r.took > 50*time.Millisecond+450*time.Millisecond {
						t.Errorf("the runaway hook was answered after %s (deadline 50ms)", r.took)
					}
					if tc.check != nil {
						tc.check(t, d)
					}
				}
			})
		}
	}
	t.Run("no goroutine leak", func(t *testing.T) {
		host.Close(context.Background())
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) { // +2: idle HTTP client conns
			http.DefaultClient.CloseIdleConnections()
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before+2 {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
	})
}

// TestLoadErrors: modules that break the ABI are refused when the tenant
// snapshot is built, with the hook's name and line.
func TestLoadErrors(t *testing.T) {
	host := newHost(t)
	for _, tc := range []struct{ module, config, want string }{
		{"testdata/forbidden.wasm", "", "wasi_snapshot_preview1.sock_accept (not on the WASI allow-list)"},
		{"testdata/nomarker.wasm", "", `missing export "scopeline_abi_v1"`},
		{"testdata/faulty.wasm", "I", "scopeline_init failed: hook timeout"},
	} {
		t.Logf("%s %s", tc.module, tc.config)
		abs, _ := filepath.Abs(tc.module)
		yaml := fmt.Sprintf("      - name: bad\n        module: %s\n        config: %q\n", abs, tc.config)
		tn, err := tenant.Parse(pipelineTenant(yaml), "tenant.yaml", ".")
		if err != nil {
			t.Fatal(err)
		}
		_, err = engine.New(context.Background(), tn, nil, engine.WithHookLoader(host))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `hook "bad" (line `) {
			t.Errorf("%s: got %v, want an error naming the hook and line, containing %q", tc.module, err, tc.want)
		}
	}
}

// What a hook logs before its scopeline_init fails goes into the load
// error (a reload's error and audit event) with the hook's secrets
// redacted: the hook may have read them at init.
func TestInitLogsAreRedacted(t *testing.T) {
	sp := spec("bad", "testdata/faulty.wasm", `"Y"`, tenant.FailDeny) // logs "bad config", returns 1
	sp.Secrets = map[string]tenant.Secret{"KEY": "bad config"}
	_, err := newHost(t).Load(context.Background(), sp)
	if err == nil || strings.Contains(err.Error(), "bad config") || !strings.Contains(err.Error(), "the hook logged: [error] [redacted]") {
		t.Fatalf("got %v, want the init failure with its log redacted", err)
	}
}
