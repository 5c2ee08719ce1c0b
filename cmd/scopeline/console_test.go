package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/enginetest"
)

// consoleTenant is the demo tenant with its console redirect URI on addr
// (engine/browsertest drives the console in a browser, with hooks).
func consoleTenant(t *testing.T, addr string) string {
	t.Helper()
	src := strings.Replace(string(demo.Tenant), "http://127.0.0.1:8080/console/callback", "http://"+addr+"/console/callback", 1)
	path := filepath.Join(t.TempDir(), "tenant.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeConsoleModes: the console is on when the tenant has its client
// (auto), off when it has not (auto, logged) or when told, and --console
// on refuses a tenant that lacks it.
func TestServeConsoleModes(t *testing.T) {
	// The demo tenant's console redirect URI names 127.0.0.1:8080; on
	// another port, auto turns the console off and says why.
	addr, _, logs, _ := startServe(t, serveConfig{})
	resp, err := http.Get("http://" + addr + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(logs.String(), "console off: the tenant is not set up for it") {
		t.Errorf("auto without the redirect URI: %d\n%s", resp.StatusCode, logs)
	}
	err = serve(context.Background(), serveConfig{addr: "127.0.0.1:0", dataDir: t.TempDir(), natsListen: "off", console: consoleConfig{mode: "on", clientID: "scopeline-console", audience: "urn:scopeline:console"}},
		slog.New(slog.DiscardHandler), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "does not list the redirect URI") {
		t.Errorf("--console on with the redirect URI missing: %v", err)
	}

	addr = enginetest.FreeAddr(t)
	cfg := serveConfig{addr: addr, configPath: consoleTenant(t, addr), console: consoleConfig{clientID: "scopeline-console", audience: "urn:scopeline:console"}}
	_, _, logs, _ = startServe(t, cfg)
	if !strings.Contains(logs.String(), "msg=console url=http://"+addr+"/console/") {
		t.Errorf("the console's URL is not logged:\n%s", logs)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Get("http://" + addr + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("auto with the client: %d", resp.StatusCode)
	}

	off := enginetest.FreeAddr(t)
	cfg = serveConfig{addr: off, configPath: consoleTenant(t, off), console: consoleConfig{mode: "off"}}
	startServe(t, cfg)
	if resp, err := http.Get("http://" + off + "/console/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("--console off: %v %v", resp.StatusCode, err)
	}
}

// TestServeConsoleWrites: the console's reload and rotation run on
// serve's loop; a reload is recorded in the operator's name, and a
// rotation too soon after the last is refused as `keys rotate` refuses it.
func TestServeConsoleWrites(t *testing.T) {
	addr := enginetest.FreeAddr(t)
	_, _, logs, _ := startServe(t, serveConfig{addr: addr, configPath: consoleTenant(t, addr),
		console: consoleConfig{mode: "on", clientID: "scopeline-console", audience: "urn:scopeline:console"}})
	base := "http://" + addr + "/"
	b := enginetest.NewBrowser(t, base)
	_, page, _ := b.Visit(base + "console/tenant")
	status, page, _ := b.Submit(page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
	if status != http.StatusOK || !strings.Contains(page, "<h1>Tenant</h1>") {
		t.Fatalf("signing in: %d\n%s", status, page)
	}
	post := func(action string, page string) (int, string) {
		t.Helper()
		m := regexp.MustCompile(`action="` + regexp.QuoteMeta(action) + `"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no form to %s:\n%s", action, page)
		}
		resp, err := b.Client.PostForm(base+strings.TrimPrefix(action, "/"), url.Values{"csrf": {m[1]}})
		if err != nil {
			t.Fatal(err)
		}
		status, body, _ := b.Read(resp)
		return status, body
	}
	if status, body := post("/console/tenant/reload", page); status != http.StatusOK || !strings.Contains(body, "The tenant was reloaded") ||
		!strings.Contains(body, "applied") {
		t.Errorf("reload: %d\n%s", status, body)
	}
	if !strings.Contains(logs.String(), `msg="tenant reloaded"`) || !strings.Contains(logs.String(), "by=alice") {
		t.Errorf("the reload is not logged in alice's name:\n%s", logs)
	}
	_, keysPage, _ := b.Visit(base + "console/keys")
	if status, body := post("/console/keys/rotate", keysPage); status != http.StatusConflict || !strings.Contains(body, "less than the JWKS cache lifetime") {
		t.Errorf("a rotation too soon: %d\n%s", status, body)
	}
}
