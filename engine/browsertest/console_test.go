package browsertest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/enginetest"
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
	src := strings.Replace(string(demo.Tenant), "http://127.0.0.1:8080/console/callback", "http://"+addr+"/console/callback", 1)
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

// binDir holds the scopeline binary the tests build; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildScopeline builds the scopeline binary from this checkout, once
// per test binary.
var buildScopeline = sync.OnceValues(func() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	if binDir, err = os.MkdirTemp("", "scopeline-browsertest-"); err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, "scopeline")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/scopeline")
	cmd.Dir = "../.." // the issuer's module, whether or not the workspace is on
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build ./cmd/scopeline: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

// syncBuffer is a log written by a process and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startScopeline runs `scopeline serve` with args on addr and returns
// once it is ready; it stops when the test ends.
func startScopeline(t *testing.T, addr string, args ...string) {
	t.Helper()
	bin, err := buildScopeline()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--data-dir", t.TempDir(), "--nats-listen", "off"}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the process has exited (waitErr says how),
	// so that both the wait for readiness and the cleanup can see it.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("scopeline serve's log:\n%s", logs)
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/healthz/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("scopeline serve exited: %v\n%s", waitErr, logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("scopeline serve is not ready after a minute:\n%s", logs)
		}
	}
}

// TestConsoleInBrowser drives the console in headless Chromium, as
// served by `scopeline serve` (the binary, built from this checkout):
// sign in at the hosted login, open the grants matrix, watch a decision
// arrive live after a token request, open its trace, run a dry run, see
// the hooks with their languages. Screenshots are written on every run,
// to $SCOPELINE_CONSOLE_SCREENSHOTS when set (docs/console.md uses them),
// else to the test's temporary directory.
func TestConsoleInBrowser(t *testing.T) {
	ctx := headlessChromium(t, 1280, 860, 4*time.Minute)
	addr := enginetest.FreeAddr(t)
	startScopeline(t, addr, "--config", consoleTenant(t, addr), "--console", "on")
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

	// The keyboard: the first Tab reaches the skip link, with a visible
	// focus ring, and Enter skips to the page's content.
	must("tabbing to the skip link", chromedp.KeyEvent("\t"))
	focus, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => { const e = document.activeElement, s = getComputedStyle(e);
		return [e.textContent, s.outlineStyle, s.outlineWidth] })()`))
	if err != nil || len(focus) != 3 || focus[0] != "Skip to content" || focus[1] != "solid" || focus[2] != "3px" {
		t.Errorf("the first Tab: focus on %q (%v)", focus, err)
	}
	must("skipping to the content", chromedp.KeyEvent("\r"))
	if hash, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`)); err != nil || hash != "#main" {
		t.Errorf("after Enter on the skip link: %q (%v)", hash, err)
	}

	// A cell opens its grant, and the line of the tenant file it is on.
	must("opening a cell", chromedp.Click(`a[aria-label="demo-spa, write:users: details"]`), chromedp.WaitVisible("#grant-line"))
	if grant := text("pre.yaml"); !strings.Contains(grant, "client: demo-spa") || !strings.Contains(grant, "write:users") {
		t.Errorf("the grant:\n%s", grant)
	}
	if line := text("#grant-line"); line == "" || line == "0" {
		t.Errorf("the grant's line: %q", line)
	}
	shot("console-grant")

	// A decision arrives live.
	must("opening the decisions", chromedp.Navigate(base+"decisions"), chromedp.WaitVisible("#live.on"))
	cc := clientcredentials.Config{
		ClientID: "demo-m2m", ClientSecret: "demo-m2m-secret", TokenURL: "http://" + addr + "/oauth/token",
		EndpointParams: url.Values{"audience": {"https://api.example.com"}}, Scopes: []string{"read:users write:users delete:users"},
	}
	if _, err := cc.Token(context.Background()); err != nil {
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
	// An operator's write control: the reload, recorded in alice's name.
	must("reloading the tenant", chromedp.Navigate(base+"tenant"), chromedp.WaitVisible("#revision"),
		chromedp.Click(chromedp.CSS("#reload-form button")), chromedp.WaitVisible(".flash"))
	if flash, reloads := text(".flash"), text("#reloads-table"); flash != "The tenant was reloaded." ||
		!strings.Contains(reloads, "applied") || !strings.Contains(reloads, "alice") {
		t.Errorf("after the reload: %q\n%s", flash, reloads)
	}
	shot("console-tenant")

	// Signed out (of the console and of the hosted login), and in again as
	// bob, an auditor: the same pages, no write control.
	must("signing out",
		chromedp.Click(`form[action$="/console/signout"] button`), chromedp.WaitVisible(`form[action$="/logout"] button`),
		chromedp.Click(`form[action$="/logout"] button`), chromedp.WaitNotPresent(`form[action$="/logout"]`))
	if h1 := text("h1"); h1 != "Signed out" {
		t.Errorf("after signing out: %q", h1)
	}
	must("signing in as bob", chromedp.Navigate(base+"tenant"), chromedp.WaitVisible("#username"),
		chromedp.KeyEvent("bob"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("bob-password"), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible("#revision"))
	if role := text("#role"); role != "auditor (read only)" {
		t.Errorf("bob's role: %q", role)
	}
	for page, form := range map[string]string{"tenant": "#reload-form", "keys": "#rotate-form"} {
		must("opening "+page+" as bob", chromedp.Navigate(base+page), chromedp.WaitVisible("main"))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("`+form+`, form[action$='/reload'], form[action$='/rotate']").length`))
		if err != nil || n != 0 {
			t.Errorf("bob sees %d write controls on the %s page (%v)", n, page, err)
		}
	}
}
