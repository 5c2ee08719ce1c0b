package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/demo"
)

// hookTenantFile writes the demo tenant with a credentials-exchange
// pipeline of one hook, hooks/testdata/faulty.wasm in the given mode.
func hookTenantFile(t *testing.T, mode string) string {
	t.Helper()
	module, err := filepath.Abs("../../hooks/testdata/faulty.wasm")
	if err != nil {
		t.Fatal(err)
	}
	src := string(demo.Tenant) + "\npipelines:\n  credentials-exchange:\n    hooks:\n      - name: faulty\n        module: " + module + "\n        config: \"" + mode + "\"\n"
	path := filepath.Join(t.TempDir(), "tenant.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTokenConfigHookInitFails: when a hook's scopeline_init refuses its
// config, `token --config` says so and exits 1; it used to panic.
func TestTokenConfigHookInitFails(t *testing.T) {
	path := hookTenantFile(t, "Y")
	code, out, errOut := runCLI(t, "", "token", "--config", path, "--client-id", "demo-m2m", "--client-secret", "demo-m2m-secret", "--cache-dir", t.TempDir())
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{`hook "faulty"`, "scopeline_init returned 1", "bad config"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestTokenConfigCachesAndSays: `token --config` keeps compiled modules in
// --cache-dir, and says on stderr what it does when loading a hook is slow.
func TestTokenConfigCachesAndSays(t *testing.T) {
	path := hookTenantFile(t, "K")
	cache := t.TempDir()
	var out, errOut bytes.Buffer
	cfg := tokenConfig{configPath: path, clientID: "demo-m2m", clientSecret: "demo-m2m-secret", trace: true,
		cacheDir: cache, slowLoad: time.Nanosecond} // every load counts as slow
	if err := localToken(context.Background(), &out, &errOut, cfg); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{`scopeline: loading hook "faulty" (module `, "cached in " + cache + "/wasm-cache", `scopeline: hook "faulty" loaded in`} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	if !strings.Contains(out.String(), "faulty    set-claim  claim k") {
		t.Errorf("the hook did not run:\n%s", out.String())
	}
	entries, err := os.ReadDir(filepath.Join(cache, "wasm-cache"))
	if err != nil || len(entries) == 0 {
		t.Errorf("nothing cached in %s: %v", cache, err)
	}
}
