package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/examples/quickstart"
)

// consoleTenant is the demo tenant with its console redirect URI on addr
// and pipelines of hooks in several languages: built-in plugins (C), the
// example tier gate in Rust, AssemblyScript and WAT.
func consoleTenant(t *testing.T, addr string) string {
	t.Helper()
	examples, err := filepath.Abs("../../examples/hooks")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(quickstart.Tenant), "http://127.0.0.1:8080/console/callback", "http://"+addr+"/console/callback", 1)
	src = strings.Replace(src, "      tier: gold\n", "      tier: gold\n      region: eu\n", 1)
	// An API without RBAC, and an app whose users all get its scope.
	src = strings.Replace(src, "\nclients:\n", `
  - identifier: https://reports.example.com
    name: Reports API
    scopes: [{name: read:reports}, {name: export:reports}]

clients:
  - id: reports-app
    name: Reports dashboard
    type: spa
    redirect_uris: [http://localhost:3001/callback]
`, 1)
	src += `
  - {client: reports-app, api: https://reports.example.com, scopes: [read:reports], subjects: [user]}
`
	src += `
pipelines:
  credentials-exchange:
    timeout: 250ms
    hooks:
      - name: local-only
        plugin: ip-allowlist
        config: {cidrs: [127.0.0.0/8, "::1/128"]}
      - name: no-deletes
        plugin: deny-scopes
        config: {scopes: ["delete:*"]}
      - name: tier-gate
        module: ` + examples + `/rust/tier-gate.wasm
        timeout: 20ms
      - name: region-claim
        plugin: claims-from-metadata
        config: {claims: {region: client.region}}
        failure: skip
  post-login:
    hooks:
      - name: tier-gate
        module: ` + examples + `/assemblyscript/tier-gate.wasm
      - name: tier-gate-wat
        module: ` + examples + `/wat/tier-gate.wasm
        failure: skip
`
	path := filepath.Join(t.TempDir(), "tenant.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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

	addr = freeAddr(t)
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

	off := freeAddr(t)
	cfg = serveConfig{addr: off, configPath: consoleTenant(t, off), console: consoleConfig{mode: "off"}}
	startServe(t, cfg)
	if resp, err := http.Get("http://" + off + "/console/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("--console off: %v %v", resp.StatusCode, err)
	}
}

// TestConsoleInBrowser drives the console in headless Chromium, as
// served by `scopeline serve`: sign in at the hosted login, open the
// grants matrix, watch a decision arrive live after a token request,
// open its trace, run a dry run, see the hooks with their languages.
// Screenshots are written on every run, to $SCOPELINE_CONSOLE_SCREENSHOTS
// when set (docs/console uses them), else to the test's temporary
// directory.
func TestConsoleInBrowser(t *testing.T) {
	ctx := enginetest.HeadlessChromium(t, 1280, 860, 4*time.Minute)
	addr := freeAddr(t)
	startServe(t, serveConfig{addr: addr, configPath: consoleTenant(t, addr),
		console: consoleConfig{mode: "on", clientID: "scopeline-console", audience: "urn:scopeline:console"}})
	base := "http://" + addr + "/console/"
	shots := os.Getenv("SCOPELINE_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(shots, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	must := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Text("body"))
			t.Fatalf("%s: %v\n%s", what, err, body)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	// Sign in through the hosted login, with the keyboard.
	must("opening the console", chromedp.Navigate(base), chromedp.WaitVisible("#username"))
	must("signing in",
		chromedp.KeyEvent("alice"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("alice-password"), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible("#role"))
	if role := text("#role"); role != "operator" {
		t.Errorf("alice's role: %q", role)
	}
	shot("console-overview")

	// The grants matrix.
	must("opening the matrix", chromedp.Navigate(base+"grants"), chromedp.WaitVisible("#matrix"))
	if m := text("#matrix"); !strings.Contains(m, "demo-m2m") || !strings.Contains(m, "machine") || !strings.Contains(m, "user · 1 of 2") || !strings.Contains(m, "user · no cap") {
		t.Errorf("matrix:\n%s", m)
	}
	shot("console-grants")

	// A decision arrives live.
	must("opening the decisions", chromedp.Navigate(base+"decisions"), chromedp.WaitVisible("#live.on"))
	if tok, err := getToken(t, addr, "read:users write:users delete:users"); err != nil || tok == "" {
		t.Fatalf("token: %v", err)
	}
	must("the decision arriving live", chromedp.WaitVisible(`#decisions tbody tr.k-issued.fresh`))
	row := text(`#decisions tbody tr.fresh`)
	if !strings.Contains(row, "demo-m2m") || !strings.Contains(row, "read:users write:users") {
		t.Errorf("live row: %q", row)
	}
	if status := text("#live-status"); !strings.Contains(status, "1 new decision") {
		t.Errorf("live status: %q", status)
	}
	shot("console-decisions")

	// Its trace, stage by stage.
	must("opening the trace", chromedp.Click(`#decisions tbody tr.fresh a`), chromedp.WaitVisible("ol.stages"))
	trace := text("ol.stages")
	for _, want := range []string{"Baseline policy", "Hook local-only", "Hook no-deletes", "Hook tier-gate", "Hook region-claim", "tier=gold", "claim region"} {
		if !strings.Contains(trace, want) {
			t.Errorf("the trace lacks %q:\n%s", want, trace)
		}
	}
	shot("console-trace")

	// A dry run: bob through the single-page app.
	must("opening the dry run", chromedp.Navigate(base+"try?flow=user&client=demo-spa&api="+url.QueryEscape("https://api.example.com")), chromedp.WaitVisible("#t-scope"))
	must("running it",
		chromedp.SetValue(chromedp.CSS("#t-user-id"), "bob"),
		chromedp.SendKeys(chromedp.CSS("#t-scope"), "openid read:users write:users"),
		chromedp.Click(chromedp.CSS("#t-run")),
		chromedp.WaitVisible("#dry-result"))
	if res := text("#dry-result"); !strings.Contains(res, "would be issued") || !strings.Contains(res, "not in the user's permissions (RBAC)") ||
		!strings.Contains(res, "Dry run by alice") {
		t.Errorf("dry run:\n%s", res)
	}
	shot("console-dry-run")

	// The hooks, with what built them.
	must("opening the hooks", chromedp.Navigate(base+"hooks"), chromedp.WaitVisible("#hook-credentials-exchange-tier-gate"))
	for id, lang := range map[string]string{
		"credentials-exchange-tier-gate": "Rust", "credentials-exchange-no-deletes": "C, C++, Rust or Zig",
		"post-login-tier-gate": "AssemblyScript", "post-login-tier-gate-wat": "unknown",
	} {
		if got := text("#hook-" + id + " .lang"); !strings.HasPrefix(got, lang) {
			t.Errorf("%s: language %q, want %s", id, got, lang)
		}
	}
	if runs := text("#hook-credentials-exchange-tier-gate .runs"); runs != "1" {
		t.Errorf("tier-gate runs: %q", runs)
	}
	shot("console-hooks")

	must("opening the keys", chromedp.Navigate(base+"keys"), chromedp.WaitVisible("#keys"))
	shot("console-keys")
	must("opening the tenant", chromedp.Navigate(base+"tenant"), chromedp.WaitVisible("#revision"))
	shot("console-tenant")
}

// TestServeConsoleWrites: the console's reload and rotation run on
// serve's loop; a reload is recorded in the operator's name, and a
// rotation too soon after the last is refused as `keys rotate` refuses it.
func TestServeConsoleWrites(t *testing.T) {
	addr := freeAddr(t)
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
