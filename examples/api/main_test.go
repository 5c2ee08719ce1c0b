package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/enginetest"
)

// The demo tenant, plus an admin client that may delete users.
var tenantYAML = string(demo.Tenant) + `
  - client: demo-admin
    api: https://api.example.com
    scopes: [read:users, delete:users]
    subjects: [client]
`

func init() {
	// demo-admin's secret is "demo-m2m-secret" too.
	tenantYAML = strings.Replace(tenantYAML, "clients:\n", `clients:
  - id: demo-admin
    type: m2m
    secrets: [sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2]
`, 1)
}

// TestUsersAPI runs the example as `go run` would, against a real issuer,
// and calls each route with real client-credentials tokens.
func TestUsersAPI(t *testing.T) {
	is := enginetest.Start(t, enginetest.Config{Tenant: []byte(tenantYAML)})
	ctx, cancel := context.WithCancel(context.Background())
	logs := &enginetest.LogBuffer{}
	listening := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--issuer", is.Issuer, "--audience", "https://api.example.com", "--addr", "127.0.0.1:0", "--debug"}, logs, listening)
	}()
	base := "http://" + <-listening

	client := func(id string, scopes ...string) (*http.Client, string) {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: "demo-m2m-secret", TokenURL: is.TokenEndpoint(),
			Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("token for %s: %v", id, err)
		}
		return cc.Client(ctx), tok.AccessToken
	}
	m2m, m2mToken := client("demo-m2m")
	reader, _ := client("demo-m2m", "read:users")
	admin, adminToken := client("demo-admin")

	do := func(c *http.Client, method, path, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	expect := func(c *http.Client, method, path, body string, status int, challenge string) string {
		t.Helper()
		resp, out := do(c, method, path, body)
		if resp.StatusCode != status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), challenge) {
			t.Fatalf("%s %s: %d %q %s, want %d %q", method, path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), out, status, challenge)
		}
		return out
	}

	expect(http.DefaultClient, "GET", "/healthz", "", 200, "")
	expect(http.DefaultClient, "GET", "/users", "", 401, `Bearer realm="https://api.example.com"`)
	list := expect(m2m, "GET", "/users", "", 200, "")
	if !strings.Contains(list, "Ada Lovelace") {
		t.Errorf("GET /users: %s", list)
	}
	created := expect(m2m, "POST", "/users", `{"name":"Grace Hopper","email":"grace@example.com"}`, 201, "")
	var u User
	if err := json.Unmarshal([]byte(created), &u); err != nil || u.CreatedBy != "demo-m2m" || u.ID != "3" {
		t.Fatalf("POST /users: %s (%v)", created, err)
	}
	expect(m2m, "POST", "/users", `{"name":""}`, 422, "")
	expect(m2m, "POST", "/users", `not json`, 400, "")
	expect(reader, "POST", "/users", `{"name":"X","email":"x@example.com"}`, 403, `error="insufficient_scope"`)
	expect(m2m, "DELETE", "/users/3", "", 403, `scope="delete:users"`)
	expect(admin, "DELETE", "/users/3", "", 204, "")
	expect(admin, "DELETE", "/users/3", "", 404, "")
	if list := expect(admin, "GET", "/users", "", 200, ""); strings.Contains(list, "Grace") {
		t.Errorf("deleted user still listed: %s", list)
	}
	expect(admin, "POST", "/users", `{"name":"X","email":"x@example.com"}`, 403, `scope="write:users"`)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, tok := range []string{m2mToken, adminToken} {
		if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), tok[strings.LastIndexByte(tok, '.')+1:]) {
			t.Error("a token was logged")
		}
	}
	if !strings.Contains(logs.String(), "user created") || !strings.Contains(logs.String(), "insufficient_scope") {
		t.Errorf("logs:\n%s", logs)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--issuer", "http://auth.example.com/"},
		{"--audience", ""},
		{"--nope"},
		{"extra"},
	} {
		if err := run(context.Background(), args, io.Discard, nil); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestDependencies: the API imports the resource-server SDK and nothing of
// the issuer, the WebAssembly runtime or NATS (its tests use the issuer).
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on the PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/scopeline/scopeline/sdk/resource") {
		t.Fatalf("go list -deps looks wrong:\n%s", out)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/scopeline/scopeline/engine") || strings.HasPrefix(d, "github.com/scopeline/scopeline/hooks") ||
			strings.Contains(d, "wazero") || strings.Contains(d, "nats") {
			t.Errorf("the API depends on %s", d)
		}
	}
}
