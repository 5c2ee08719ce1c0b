package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/scopeline/scopeline/engine/demo"
)

// startNATS runs a JetStream server in the test process, on loopback.
func startNATS(t *testing.T) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(srv.Shutdown)
	return srv.ClientURL()
}

func TestTenantCommands(t *testing.T) {
	url := startNATS(t)
	write := fileWriter(t)
	v1 := write("v1.yaml", string(demo.Tenant))
	v2 := write("v2.yaml", strings.Replace(string(demo.Tenant), "    name: Demo machine client", "    name: Renamed machine client", 1))
	bad := write("bad.yaml", string(demo.Tenant)+"\nbogus: 1\n")
	withHook := write("hook.yaml", string(demo.Tenant)+`
pipelines:
  credentials-exchange:
    hooks:
      - name: tier-gate
        module: "store:tier-gate"
`)
	if !strings.Contains(string(demo.Tenant), "    name: Demo machine client") {
		t.Fatal("the demo tenant changed; update the test")
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"empty history", []string{"tenant", "history"}, 1, []string{"no tenant in the store"}},
		{"push", []string{"tenant", "push", v1, "--by", "alice"}, 0, []string{"pushed revision 1 ("}},
		{"push a change", []string{"tenant", "push", v2, "--by", "bob"}, 0, []string{"pushed revision 2 ("}},
		{"stale push", []string{"tenant", "push", v1, "--by", "carol", "--expect", "1"}, 1, []string{"you read revision 1, and revision 2 was pushed by bob"}},
		{"invalid push", []string{"tenant", "push", bad, "--by", "carol"}, 1, []string{bad + ":", "bogus"}},
		{"diff", []string{"tenant", "diff", "1", "2"}, 0, []string{"--- revision 1", "+++ revision 2", "-    name: Demo machine client", "+    name: Renamed machine client"}},
		{"rollback", []string{"tenant", "rollback", "1", "--by", "dave"}, 0, []string{"revision 3 is revision 1 again"}},
		{"diff to the latest", []string{"tenant", "diff", "1"}, 0, []string{"revisions 1 and 3 are the same tenant"}},
		{"history", []string{"tenant", "history"}, 0, []string{"3 ", "dave", "rollback to 1", "2 ", "bob", "v2.yaml", "alice"}},
		{"pull", []string{"tenant", "pull", "--revision", "2"}, 0, []string{"name: Renamed machine client"}},
		{"a module not pushed", []string{"tenant", "push", withHook}, 1, []string{"no such module: store:tier-gate"}},
		{"hook push", []string{"hook", "push", "../../examples/hooks/wat/tier-gate.wasm", "--name", "tier-gate"}, 0, []string{"ok, hook ABI v1, stored as sha256:", `module: "store:tier-gate"`}},
		{"hook push refuses a bad module", []string{"hook", "push", "../../hooks/testdata/forbidden.wasm"}, 1, []string{"invalid module"}},
		{"a tenant running it", []string{"tenant", "push", withHook}, 0, []string{"pushed revision 4", "1 hooks"}},
		{"bad revision", []string{"tenant", "diff", "x"}, 2, []string{`revision "x"`}},
		{"unknown revision", []string{"tenant", "rollback", "99"}, 1, []string{"no such revision: 99"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--url", url)
			if tc.name == "hook push" || tc.name == "hook push refuses a bad module" {
				args = append(args, "--cache-dir", t.TempDir())
			}
			code, out, errOut := runCLI(t, "", args...)
			all := out + errOut
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, all)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("missing %q in:\n%s", w, all)
				}
			}
		})
	}
}

// TestServeTenantFromStore: serve --tenant-source nats starts on the
// store's latest revision, applies each push, and keeps serving the
// previous revision, saying so on /healthz/ready, when one cannot be built.
func TestServeTenantFromStore(t *testing.T) {
	url := startNATS(t)
	write := fileWriter(t)
	demoGrant := "    scopes: [read:users, write:users]\n    subjects: [client]\n"
	if !strings.Contains(string(demo.Tenant), demoGrant) {
		t.Fatal("the demo tenant changed; update the test")
	}
	readOnly := write("v1.yaml", strings.Replace(string(demo.Tenant), demoGrant, "    scopes: [read:users]\n    subjects: [client]\n", 1))
	readWrite := write("v2.yaml", string(demo.Tenant))
	needsSecret := write("v3.yaml", string(demo.Tenant)+`
pipelines:
  credentials-exchange:
    hooks:
      - name: gate
        plugin: ip-allowlist
        config: {cidrs: [127.0.0.0/8]}
        secrets: {token: SCOPELINE_TEST_UNSET_VARIABLE}
`)
	settingsFile := write("settings.yaml", "nats:\n  url: "+url+"\n")
	push := func(file string) {
		t.Helper()
		if code, out, errOut := runCLI(t, "", "tenant", "push", file, "--url", url, "--by", "alice"); code != 0 {
			t.Fatalf("push %s: %s%s", file, out, errOut)
		}
	}
	push(readOnly)
	addr, _, logs, _ := startServe(t, serveConfig{tenantSource: tenantFromNATS, settingsPath: settingsFile, natsListen: "off"})
	if _, err := getToken(t, addr, "write:users"); err == nil {
		t.Fatal("revision 1 granted write:users")
	}
	push(readWrite)
	waitUntil(t, "revision 2 applied", func() bool { _, err := getToken(t, addr, "write:users"); return err == nil })

	push(needsSecret)
	waitFor(t, logs, "tenant revision cannot be applied")
	if _, err := getToken(t, addr, "write:users"); err != nil {
		t.Fatalf("revision 2 stopped serving: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/healthz/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"degraded"`) ||
		!strings.Contains(string(body), "serving tenant revision 2: revision 3 (pushed by alice) cannot be applied") ||
		!strings.Contains(string(body), "SCOPELINE_TEST_UNSET_VARIABLE is not set") {
		t.Fatalf("ready: %d %s", resp.StatusCode, body)
	}
	events := tailEvents(t, 2, "--url", url, "--type", "tenant-reloaded")
	var seen []string
	for _, e := range events {
		d := e["data"].(map[string]any)
		seen = append(seen, fmt.Sprintf("%v/%v/%v", d["revision"], d["by"], d["result"]))
	}
	if strings.Join(seen, " ") != "2/alice/ok 3/alice/error" {
		t.Errorf("tenant-reloaded events: %v", seen)
	}
}

// fileWriter returns a function writing files into a temporary directory
// and returning their paths.
func fileWriter(t *testing.T) func(name, content string) string {
	dir := t.TempDir()
	return func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// waitUntil polls cond with a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
