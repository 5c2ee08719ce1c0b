package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
)

// runCLI runs the binary's entry point and returns its exit code and output.
// asMainEnv makes the test binary run as scopeline itself: `bench --http`
// starts it as its `serve` child, and the projects `hook new` generates
// call it from their test.sh.
const asMainEnv = "SCOPELINE_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// startServe runs serve in the background and returns its address, the
// reload trigger, its log and a stop function that returns serve's error.
func startServe(t *testing.T, cfg serveConfig) (string, chan struct{}, *enginetest.LogBuffer, func() error) {
	t.Helper()
	if cfg.addr == "" {
		cfg.addr = "127.0.0.1:0"
	}
	if cfg.dataDir == "" {
		cfg.dataDir = t.TempDir()
	}
	if cfg.shutdownTimeout == 0 {
		cfg.shutdownTimeout = 5 * time.Second
	}
	if cfg.keyPoll == 0 {
		cfg.keyPoll = time.Hour
	}
	if cfg.natsListen == "" {
		cfg.natsListen = "127.0.0.1:0" // never the default port: tests run side by side
	}
	logs := &enginetest.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{})
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, reload, func(a string) { addrc <- a }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v\n%s", err, logs)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return addr, reload, logs, stop
}

func getToken(t *testing.T, addr, scope string) (string, error) {
	t.Helper()
	cc := clientcredentials.Config{
		ClientID: "demo-m2m", ClientSecret: "demo-m2m-secret",
		TokenURL: "http://" + addr + "/oauth/token", EndpointParams: url.Values{"audience": {"https://api.example.com"}},
	}
	if scope != "" {
		cc.Scopes = []string{scope}
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

func TestServeDemoTenant(t *testing.T) {
	addr, _, logs, stop := startServe(t, serveConfig{})
	tok, err := getToken(t, addr, "read:users")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("not a JWT: %q", tok)
	}
	if !strings.Contains(logs.String(), "built-in demo tenant") {
		t.Error("serve must say it runs the demo tenant")
	}
	if !strings.Contains(logs.String(), "issuer=http://"+addr+"/") {
		t.Errorf("default issuer not http://<addr>/:\n%s", logs)
	}
	// Metrics are served and count the token.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`scopeline_token_requests_total{grant_type="client_credentials",outcome="issued"} 1`, "scopeline_http_request_duration_seconds", "go_goroutines", "scopeline_build_info"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), "demo-m2m-secret") {
		t.Error("a token or secret reached the log")
	}
	if err := stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Error("no clean stop logged")
	}
}

func TestServeReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tenant.yaml")
	if err := os.WriteFile(path, demo.Tenant, 0o644); err != nil {
		t.Fatal(err)
	}
	addr, reload, logs, _ := startServe(t, serveConfig{configPath: path})
	if _, err := getToken(t, addr, "write:users"); err != nil {
		t.Fatal(err)
	}
	// Narrow the grant and reload: write:users is no longer granted.
	narrowed := strings.Replace(string(demo.Tenant), "scopes: [read:users, write:users]", "scopes: [read:users]", 1)
	os.WriteFile(path, []byte(narrowed), 0o644)
	reload <- struct{}{}
	waitFor(t, logs, "tenant reloaded")
	if _, err := getToken(t, addr, "write:users"); err == nil || !strings.Contains(err.Error(), "invalid_scope") {
		t.Errorf("after reload: %v, want invalid_scope", err)
	}
	// A broken file is refused and the previous tenant keeps serving.
	os.WriteFile(path, []byte("apis: [{identifier: x}]\nbogus: 1\n"), 0o644)
	reload <- struct{}{}
	waitFor(t, logs, "reload failed")
	if !strings.Contains(logs.String(), "bogus") {
		t.Errorf("the log must say what is wrong:\n%s", logs)
	}
	if _, err := getToken(t, addr, "read:users"); err != nil {
		t.Errorf("old tenant stopped serving: %v", err)
	}
}

func TestServePicksUpRotatedKeys(t *testing.T) {
	dataDir := t.TempDir()
	addr, _, logs, _ := startServe(t, serveConfig{dataDir: dataDir, keyPoll: 20 * time.Millisecond})
	kid := func() string {
		tok, err := getToken(t, addr, "")
		if err != nil {
			t.Fatal(err)
		}
		hdr, _ := keysB64.DecodeString(strings.Split(tok, ".")[0])
		var h struct{ Kid string }
		json.Unmarshal(hdr, &h)
		return h.Kid
	}
	before := kid()
	code, out, errOut := runCLI(t, "", "keys", "rotate", "--data-dir", dataDir, "--force")
	if code != 0 {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	waitFor(t, logs, "signing keys reloaded")
	if after := kid(); after == before {
		t.Error("the server still signs with the retired key")
	}
	// The retired key is still published for the tokens it signed.
	resp, err := http.Get("http://" + addr + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(jwks), before) {
		t.Error("the retired key left the JWKS too early")
	}
	_, list, _ := runCLI(t, "", "keys", "list", "--data-dir", dataDir)
	if !strings.Contains(list, "retired") || !strings.Contains(list, before) {
		t.Errorf("keys list:\n%s", list)
	}
	// A second rotation right away is refused: the new next key is too fresh.
	if code, _, errOut := runCLI(t, "", "keys", "rotate", "--data-dir", dataDir); code == 0 || !strings.Contains(errOut, "--force") {
		t.Errorf("immediate rotation: %d %s", code, errOut)
	}
}

func TestServeKeysSurviveRestart(t *testing.T) {
	dataDir := t.TempDir()
	addr, _, _, stop := startServe(t, serveConfig{dataDir: dataDir})
	if _, err := getToken(t, addr, ""); err != nil {
		t.Fatal(err)
	}
	stop()
	fi, err := os.Stat(filepath.Join(dataDir, keys.FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	first, _ := keys.NewStore(dataDir).Load()
	startServe(t, serveConfig{dataDir: dataDir})
	second, _ := keys.NewStore(dataDir).Load()
	if len(first.Keys()) != len(second.Keys()) || first.Keys()[0].ID != second.Keys()[0].ID {
		t.Error("a restart replaced the keys")
	}
}

func TestServeRefusesBadSetups(t *testing.T) {
	logs := &enginetest.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	for name, cfg := range map[string]serveConfig{
		"non-loopback http issuer": {addr: "127.0.0.1:0", issuer: "http://example.com/"},
		"missing tenant file":      {addr: "127.0.0.1:0", configPath: "/nonexistent/tenant.yaml"},
		"bad trusted proxy":        {addr: "127.0.0.1:0", trustedProxies: []string{"nope"}},
		"IPv4 prefix too long":     {addr: "127.0.0.1:0", ipv4Prefix: 33},
		"IPv6 prefix too short":    {addr: "127.0.0.1:0", ipv6Prefix: 8},
		"demo tenant, all IPv4":    {addr: "0.0.0.0:0"},
		"demo tenant, every host":  {addr: ":0"},
		"--demo and --config":      {addr: "127.0.0.1:0", demo: true, configPath: "tenant.yaml"},
	} {
		cfg.dataDir = t.TempDir()
		cfg.keyPoll = time.Hour
		if err := serve(context.Background(), cfg, log, nil, nil); err == nil {
			t.Errorf("%s: serve started", name)
		}
	}
}

// The demo tenant's secrets are public: without --config, serve keeps it
// on loopback addresses unless --demo says otherwise.
func TestDemoTenantOnlyOnLoopback(t *testing.T) {
	for _, tt := range []struct {
		addr string
		demo bool
		ok   bool
	}{
		{"127.0.0.1:8080", false, true},
		{"[::1]:8080", false, true},
		{"localhost:8080", false, true},
		{"127.0.0.2:8080", false, true},
		{"0.0.0.0:8080", false, false},
		{":8080", false, false},
		{"192.0.2.7:8080", false, false},
		{"[::]:8080", false, false},
		{"0.0.0.0:8080", true, true},
		{"192.0.2.7:8080", true, true},
	} {
		err := checkDemo(serveConfig{addr: tt.addr, demo: tt.demo})
		if (err == nil) != tt.ok {
			t.Errorf("--addr %s --demo=%v: %v", tt.addr, tt.demo, err)
		}
		var u usageError
		if err != nil && (!errors.As(err, &u) || !strings.Contains(err.Error(), "--demo")) {
			t.Errorf("--addr %s: the refusal does not say how to go on: %v", tt.addr, err)
		}
	}
	if err := checkDemo(serveConfig{addr: "0.0.0.0:8080", configPath: "tenant.yaml"}); err != nil {
		t.Errorf("a tenant file may be served anywhere: %v", err)
	}
}

func waitFor(t *testing.T, logs *enginetest.LogBuffer, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", text, logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTokenCommand(t *testing.T) {
	addr, _, _, _ := startServe(t, serveConfig{})
	code, out, errOut := runCLI(t, "", "token", "--issuer", "http://"+addr+"/", "--client-id", "demo-m2m", "--client-secret", "demo-m2m-secret", "--scope", "read:users")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"typ": "at+jwt"`, `"scope": "read:users"`, `"sub": "demo-m2m"`, "signature:", "verified against"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, _, errOut = runCLI(t, "", "token", "--issuer", "http://"+addr+"/", "--client-id", "demo-other", "--client-secret", "demo-other-secret", "--auth", "post")
	if code != 1 || !strings.Contains(errOut, "access_denied") {
		t.Errorf("demo-other: %d %s", code, errOut)
	}
}

func TestTokenCommandTrace(t *testing.T) {
	code, out, errOut := runCLI(t, "", "token", "--demo", "--client-id", "demo-m2m", "--client-secret", "demo-m2m-secret", "--scope", "read:users delete:users", "--trace")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`baseline\s+add\s+delete:users\s+REFUSED: outside the grant ceiling`).MatchString(out) {
		t.Errorf("trace missing the refusal:\n%s", out)
	}
	// A denial prints its trace too.
	code, out, errOut = runCLI(t, "", "token", "--demo", "--client-id", "demo-other", "--client-secret", "demo-other-secret", "--trace")
	if code != 1 || !strings.Contains(errOut, "access_denied") || !strings.Contains(out, "no client grant") {
		t.Errorf("denial: %d\n%s\n%s", code, out, errOut)
	}
	// The secret may come from the environment instead of the command line.
	t.Setenv("SCOPELINE_CLIENT_SECRET", "demo-m2m-secret")
	if code, _, errOut := runCLI(t, "", "token", "--demo", "--client-id", "demo-m2m", "--raw"); code != 0 {
		t.Errorf("secret from env: %d %s", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"token", "--client-id", "x"},
		{"token", "--demo", "--issuer", "http://x/", "--client-id", "x"},
		{"token", "--issuer", "http://x/", "--client-id", "x", "--trace"},
		{"serve", "--no-such-flag"},
		{"serve", "--log-level", "loud"},
		{"serve", "--ipv4-prefix", "40"},
		{"bench", "--alg", "HS256"},
	} {
		if code, _, _ := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestSecretCommands(t *testing.T) {
	code, out, _ := runCLI(t, "", "secret", "new")
	if code != 0 {
		t.Fatal(out)
	}
	m := regexp.MustCompile(`secret: (\S+)\ndigest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output:\n%s", out)
	}
	if len(m[1]) != 43 { // 256 bits, base64url
		t.Errorf("secret %q is not 256 bits", m[1])
	}
	if tenant.FormatDigest(m[1]) != m[2] {
		t.Error("digest does not match the secret")
	}
	if !strings.Contains(out, "      - "+m[2]) {
		t.Error("no line to paste into the tenant file")
	}
	_, out2, _ := runCLI(t, "", "secret", "new")
	if out2 == out {
		t.Error("two secrets are the same")
	}
	code, out, _ = runCLI(t, "demo-m2m-secret\n", "secret", "digest")
	if code != 0 || strings.TrimSpace(out) != "sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2" {
		t.Errorf("secret digest: %d %q", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "scopeline ") {
		t.Errorf("%d %q", code, out)
	}
}

// TestMeasureErrorsOfDifferentTypes: goroutines that fail with errors of
// different types make measure return one of them, not panic.
func TestMeasureErrorsOfDifferentTypes(t *testing.T) {
	var calls atomic.Int64
	op := func(context.Context) error {
		if calls.Add(1)%2 == 0 {
			return &url.Error{Op: "Post", URL: "http://127.0.0.1/oauth/token", Err: errors.New("connection refused")}
		}
		return fmt.Errorf("loopback: %s", "500 Internal Server Error")
	}
	if _, err := measure(context.Background(), op, time.Second, 4); err == nil {
		t.Fatal("no error")
	}
}

func TestBenchCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "", "bench", "--alg", "EdDSA", "--duration", "20ms", "--rounds", "1", "--loopback")
	if code != 0 {
		t.Fatalf("%d %s", code, errOut)
	}
	for _, c := range []string{"sign", "issue", "handler", "loopback"} {
		if !regexp.MustCompile(`(?m)^\s*` + c + `\s+EdDSA\s+\d`).MatchString(out) {
			t.Errorf("no %s row:\n%s", c, out)
		}
	}
}
