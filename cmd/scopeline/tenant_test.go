package main

import (
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
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
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
		{"diff", []string{"tenant", "diff", "1", "2"}, 0, []string{"--- revision 1", "+++ revision 2", "-  name: Demo machine client", "+  name: Renamed machine client"}},
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
