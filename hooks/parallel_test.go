package hooks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
	"github.com/scopeline/scopeline/plugins"
)

// tierGateTenant gives client m2m the gold tier and a pipeline of the
// tier-gate examples at the given paths. The deadlines are generous: these
// tests are about concurrency, not timeouts, and run on busy machines.
func tierGateTenant(modules ...string) []byte {
	var b strings.Builder
	for i, m := range modules {
		fmt.Fprintf(&b, "      - name: gate-%d\n        module: %s\n        timeout: 1s\n", i, m)
	}
	return []byte(strings.Replace(string(pipelineTenant(b.String())), "timeout: 200ms", "timeout: 5s", 1))
}

func tokenRequest() *engine.TokenRequest {
	return &engine.TokenRequest{GrantType: engine.GrantClientCredentials, ClientID: "m2m", ClientSecret: "demo-m2m-secret",
		AuthMethod: engine.AuthSecretBasic, Scope: "write:users", ScopeSet: true, IP: "127.0.0.1"}
}

// TestParallel sends many concurrent requests through a pipeline of three
// pooled hooks (WAT, C, Go); run it with -race.
func TestParallel(t *testing.T) {
	var mods []string
	for _, m := range exampleHooks {
		abs, _ := filepath.Abs(m)
		mods = append(mods, abs)
	}
	rec := &recorder{host: newHost(t)}
	s := enginetest.Start(t, enginetest.Config{Tenant: tierGateTenant(mods[1], mods[2], mods[0]), Server: server.Config{Hooks: rec}})
	const workers, each = 8, 40
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				resp, err := s.Engine.Token(context.Background(), tokenRequest())
				if err != nil || resp.Scope != "read:users write:users" || string(resp.Transaction.Claims["tier"]) != `"gold"` {
					failed.Add(1)
					t.Errorf("request: %v %+v", err, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range 3 {
		if n := rec.hook(fmt.Sprintf("gate-%d", i)).Discarded(); n != 0 {
			t.Errorf("gate-%d discarded %d instances", i, n)
		}
	}
}

// TestHotReload swaps a changed module file in while requests are in
// flight: none fails, new requests see the new module, and the old hook is
// closed once the last request using it is done.
func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	module := filepath.Join(dir, "hook.wasm")
	copyFile(t, "../examples/hooks/wat/tier-gate.wasm", module)
	rec := &recorder{host: newHost(t)}
	src := tierGateTenant(module)
	s := enginetest.Start(t, enginetest.Config{Tenant: src, Server: server.Config{Hooks: rec}})
	old := rec.hook("gate-0")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served, failed atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Engine.Token(context.Background(), tokenRequest()); err != nil {
					failed.Add(1)
					t.Errorf("request during reload: %v", err)
					return
				}
				served.Add(1)
			}
		}()
	}
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(halt) // also when a wait below fails
	waitServed := func(n int64) {
		t.Helper()
		want := served.Load() + n
		deadline := time.Now().Add(10 * time.Second)
		for served.Load() < want && failed.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("only %d requests served in 10s", served.Load())
			}
			runtime.Gosched()
		}
	}
	waitServed(20) // requests are in flight on the old module
	// The new module: faulty.wasm in mode K sets claim k and logs "ok".
	copyFile(t, "testdata/faulty.wasm", module)
	tn, err := tenant.Parse([]byte(strings.Replace(string(src), "timeout: 1s", "timeout: 1s\n        config: \"K\"", 1)), "tenant.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Engine.Reload(context.Background(), tn, nil); err != nil {
		t.Fatal(err)
	}
	waitServed(20) // and go on through the swap
	halt()
	if failed.Load() > 0 || served.Load() == 0 {
		t.Fatalf("%d served, %d failed", served.Load(), failed.Load())
	}
	resp, err := s.Engine.Token(context.Background(), tokenRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := resp.Transaction.Claims["k"]; !ok {
		t.Errorf("after the reload the old module still runs: claims %v", resp.Transaction.Claims)
	}
	if !old.Closed() {
		t.Error("the old hook was not closed after its last request")
	}
	if rec.hook("gate-0") == old || rec.hook("gate-0").Closed() {
		t.Error("the new hook is not the one serving")
	}
	// A reload to a broken module keeps the current one serving.
	copyFile(t, "testdata/nomarker.wasm", module)
	if err := s.Engine.Reload(context.Background(), tn, nil); err == nil {
		t.Fatal("reloading a module without the ABI marker succeeded")
	}
	if _, err := s.Engine.Token(context.Background(), tokenRequest()); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil { // atomic, as a deploy would do
		t.Fatal(err)
	}
}

// TestExampleTenant issues a token through examples/hooks/tenant.yaml:
// two plugins, the Go example hook and a third plugin.
func TestExampleTenant(t *testing.T) {
	tn, err := tenant.Load("../examples/hooks/tenant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("../examples/hooks/tenant.yaml")
	s := enginetest.Start(t, enginetest.Config{Tenant: src, Dir: tn.Dir,
		Server: server.Config{Hooks: newHost(t, hooks.WithPlugins(plugins.Lookup))}})
	req := tokenRequest()
	req.ClientID, req.Scope = "demo-m2m", "read:users delete:users"
	resp, err := s.Engine.Token(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Scope != "read:users" || string(resp.Transaction.Claims["tier"]) != `"silver"` || string(resp.Transaction.Claims["region"]) != `"eu"` {
		t.Errorf("scope %q claims %v", resp.Scope, resp.Transaction.Claims)
	}
	req.IP = "192.0.2.1"
	if _, err := s.Engine.Token(context.Background(), req); err == nil || engine.AsError(err).Code() != "access_denied" {
		t.Errorf("from outside the allow-list: %v", err)
	}
}
