package tenant_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/tenant"
)

func TestQuickstartTenant(t *testing.T) {
	tn, err := tenant.Parse(demo.Tenant, "tenant.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	api, ok := tn.API("https://api.example.com")
	if !ok {
		t.Fatal("demo API missing")
	}
	for _, s := range []string{"read:users", "write:users", "delete:users"} {
		sc, ok := api.Scope(s)
		if !ok || sc.Description == "" {
			t.Errorf("scope %s: defined %v, description %q", s, ok, sc.Description)
		}
	}
	m2m, ok := tn.Client("demo-m2m")
	if !ok || !m2m.VerifySecret("demo-m2m-secret") || m2m.VerifySecret("demo-other-secret") {
		t.Errorf("demo-m2m secret check wrong")
	}
	g, ok := tn.Grant("demo-m2m", api.Identifier)
	if !ok || !slices.Equal(g.Scopes, []string{"read:users", "write:users"}) || !g.ForClient || g.ForUser {
		t.Errorf("demo-m2m grant = %+v", g)
	}
	other, ok := tn.Client("demo-other")
	if !ok || !other.VerifySecret("demo-other-secret") {
		t.Errorf("demo-other secret check wrong")
	}
	if _, ok := tn.Grant("demo-other", api.Identifier); ok {
		t.Errorf("demo-other must have no grant")
	}
	if tn.Algorithm != tenant.RS256 || api.TokenLifetime != time.Hour {
		t.Errorf("alg %s lifetime %s", tn.Algorithm, api.TokenLifetime)
	}
	if !api.RBAC {
		t.Error("the demo API enforces RBAC")
	}
	spa, ok := tn.Client("demo-spa")
	if !ok || spa.Type != tenant.ClientSPA || spa.HasSecret() || !slices.Equal(spa.RedirectURIs, []string{"http://localhost:3000/callback"}) {
		t.Errorf("demo-spa = %+v", spa)
	}
	if g, ok := tn.Grant("demo-spa", api.Identifier); !ok || !g.ForUser || g.ForClient || !slices.Equal(g.Scopes, []string{"read:users", "write:users"}) {
		t.Errorf("demo-spa grant = %+v", g)
	}
	for _, u := range []struct {
		login, password string
		perms           []string
	}{
		{"alice", "alice-password", []string{"read:users", "write:users", "delete:users"}},
		{"bob", "bob-password", []string{"read:users"}},
	} {
		usr, ok := tn.Authenticate(u.login, u.password)
		if !ok || usr.ID != u.login || !slices.Equal(usr.Permissions[api.Identifier], u.perms) {
			t.Errorf("%s: ok %v user %+v", u.login, ok, usr)
		}
		if _, ok := tn.Authenticate(u.login, u.password+"x"); ok {
			t.Errorf("%s: wrong password accepted", u.login)
		}
	}
	if strings.Contains(string(demo.Tenant), "secret: demo") || strings.Contains(string(demo.Tenant), "password: ") {
		t.Error("the demo tenant must hold digests only")
	}
}

const base = `
apis:
  - identifier: https://api
    scopes:
      - name: read
      - name: write
clients:
  - id: c1
    type: m2m
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
`

// The nats: and audit: sections moved to the settings file: a tenant file
// that still has them is refused, at their lines, with where they go now.
func TestProcessSettingsRefused(t *testing.T) {
	_, err := tenant.Parse([]byte(base+"nats:\n  url: nats://a:4222\naudit:\n  mode: buffered\n"), "t.yaml", ".")
	if err == nil {
		t.Fatal("a tenant file with nats: and audit: was accepted")
	}
	for _, want := range []string{
		"t.yaml:11: nats: a process setting, not tenant data: move the nats: and audit: sections to a settings file",
		"t.yaml:13: audit: a process setting",
		"scopeline serve --settings FILE",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error, including "file:line"
	}{
		{"unknown top-level field", "issuer: https://x\nfoo: 1\n" + base, []string{"t.yaml:2: foo: unknown field in the tenant (top level)"}},
		{"unknown API field", "apis:\n  - identifier: a\n    scope: [x]\n", []string{"t.yaml:3: scope: unknown field in an API"}},
		{"no API", "clients: []\n", []string{"apis: a tenant needs at least one API"}},
		{"dangling grant api", base + "grants:\n  - client: c1\n    api: https://nope\n", []string{"t.yaml:13: grants[0].api: no API has the identifier \"https://nope\""}},
		{"dangling grant client", base + "grants:\n  - client: ghost\n    api: https://api\n", []string{"t.yaml:12: grants[0].client: no client has the id \"ghost\""}},
		{"undefined scope in grant", base + "grants:\n  - client: c1\n    api: https://api\n    scopes: [read, admin]\n", []string{"t.yaml:14: grants[0].scopes[1]: API \"https://api\" does not define scope \"admin\""}},
		{"plaintext secret", "apis: [{identifier: a}]\nclients:\n  - id: c\n    type: m2m\n    secrets: [hunter2]\n", []string{"t.yaml:5: clients[0].secrets[0]: must be a digest"}},
		{"bad client type", "apis: [{identifier: a}]\nclients:\n  - id: c\n    type: robot\n", []string{"t.yaml:4: clients[0].type: unknown type \"robot\""}},
		{"bad algorithm", "signing_algorithm: HS256\n" + base, []string{"t.yaml:1: signing_algorithm: unsupported algorithm \"HS256\""}},
		{"http issuer", "issuer: http://example.com/\n" + base, []string{"issuer: issuer \"http://example.com/\" must use https"}},
		{"bad duration", "apis:\n  - identifier: a\n    token_lifetime: 3600\n", []string{"t.yaml:3"}},
		{"lifetime too long", "apis:\n  - identifier: a\n    token_lifetime: 48h\n", []string{"t.yaml:3: apis[0].token_lifetime: token_lifetime must be between"}},
		{"duplicate scope", "apis:\n  - identifier: a\n    scopes: [{name: x}, {name: x}]\n", []string{"apis[0].scopes[1].name: scope \"x\" is defined twice"}},
		{"bad scope chars", "apis:\n  - identifier: a\n    scopes: [{name: 'a b'}]\n", []string{"apis[0].scopes[0].name"}},
		{"duplicate client", base + "  - id: c1\n    type: m2m\n    secrets: [\"sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2\"]\n", []string{"clients[1].id: client \"c1\" is defined twice"}},
		{"public client with secret", "apis: [{identifier: a}]\nclients:\n  - id: s\n    type: spa\n    secrets: [\"sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2\"]\n", []string{"clients[0].secrets: a spa client is public"}},
		{"public client client grant", "apis: [{identifier: a}]\nclients:\n  - id: s\n    type: spa\n    redirect_uris: [\"http://localhost:3000/cb\"]\ngrants:\n  - {client: s, api: a, subjects: [client]}\n", []string{"grants[0].subjects[0]: a spa client is public"}},
		{"redirect with fragment", "apis: [{identifier: a}]\nclients:\n  - id: s\n    type: spa\n    redirect_uris: [\"https://app/cb#x\"]\n", []string{"clients[0].redirect_uris[0]"}},
		{"unknown trigger", base + "pipelines:\n  on-login:\n    hooks: []\n", []string{"t.yaml:12: pipelines.on-login: unknown trigger"}},
		{"hook without module", base + "pipelines:\n  credentials-exchange:\n    hooks:\n      - name: h\n", []string{"t.yaml:14: pipelines.credentials-exchange.hooks[0]: a hook needs a module"}},
		{"hook missing module file", base + "pipelines:\n  credentials-exchange:\n    hooks:\n      - name: h\n        module: nope.wasm\n", []string{"t.yaml:15: pipelines.credentials-exchange.hooks[0].module: cannot read module"}},
		{"hook bad failure", base + "pipelines:\n  credentials-exchange:\n    hooks:\n      - name: h\n        plugin: p\n        failure: ignore\n", []string{"hooks[0].failure: failure must be deny or skip"}},
		{"hook secret env unset", base + "pipelines:\n  credentials-exchange:\n    hooks:\n      - name: h\n        plugin: p\n        secrets: {KEY: SCOPELINE_TEST_UNSET_VAR}\n", []string{"environment variable SCOPELINE_TEST_UNSET_VAR is not set"}},
		{"hook bad memory", base + "pipelines:\n  credentials-exchange:\n    hooks:\n      - name: h\n        plugin: p\n        memory: 2TiB\n", []string{"t.yaml:16"}},
		{"several errors at once", "apis:\n  - identifier: a\n  - identifier: a\ngrants:\n  - {client: x, api: a}\n", []string{"apis[1].identifier", "grants[0].client"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tenant.Parse([]byte(tt.yaml), "t.yaml", t.TempDir(), tenant.WithLookupEnv(func(string) (string, bool) { return "", false }))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadHooks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "h.wasm"), []byte("\x00asm"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := base + `
grants:
  - client: c1
    api: https://api
    scopes: [read]
pipelines:
  credentials-exchange:
    timeout: 100ms
    hooks:
      - name: first
        module: h.wasm
        config:
          deny: ["delete:*"]
          nested: {a: 1, b: [true, null]}
        secrets:
          TOKEN: MY_HOOK_TOKEN
      - name: second
        plugin: deny-scopes
        timeout: 5ms
        memory: 2MiB
        failure: skip
        allow_exceed_grant: true
`
	tn, err := tenant.Parse([]byte(src), filepath.Join(dir, "t.yaml"), dir, tenant.WithLookupEnv(func(k string) (string, bool) {
		return "s3cr3t", k == "MY_HOOK_TOKEN"
	}))
	if err != nil {
		t.Fatal(err)
	}
	p := tn.Pipelines[tenant.TriggerCredentialsExchange]
	if p.Timeout != 100*time.Millisecond || len(p.Hooks) != 2 {
		t.Fatalf("pipeline = %+v", p)
	}
	h := p.Hooks[0]
	if h.Module != filepath.Join(dir, "h.wasm") || h.Timeout != 50*time.Millisecond || h.Memory != tenant.DefaultHookMemory || h.Failure != tenant.FailDeny || h.AllowExceedGrant {
		t.Errorf("first hook = %+v", h)
	}
	if string(h.Config) != `{"deny":["delete:*"],"nested":{"a":1,"b":[true,null]}}` {
		t.Errorf("config = %s", h.Config)
	}
	if h.Secrets["TOKEN"].Reveal() != "s3cr3t" || h.Secrets["TOKEN"].String() != "[redacted]" {
		t.Errorf("secret handling wrong")
	}
	if h.Line != 20 {
		t.Errorf("line = %d, want 20", h.Line)
	}
	h2 := p.Hooks[1]
	if h2.Plugin != "deny-scopes" || h2.Timeout != 5*time.Millisecond || h2.Memory != 2<<20 || h2.Failure != tenant.FailSkip || !h2.AllowExceedGrant {
		t.Errorf("second hook = %+v", h2)
	}
	if len(tn.Pipelines[tenant.TriggerPostLogin].Hooks) != 0 {
		t.Error("post-login must be empty")
	}
}

func TestVerifySecret(t *testing.T) {
	tn, err := tenant.Parse([]byte(base), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := tn.Client("c1")
	if !c.VerifySecret("demo-m2m-secret") {
		t.Error("right secret refused")
	}
	for _, wrong := range []string{"", "demo-m2m-secreT", "demo-m2m-secret ", strings.Repeat("x", 10000)} {
		if c.VerifySecret(wrong) {
			t.Errorf("wrong secret %q accepted", wrong)
		}
	}
	var none *tenant.Client
	if none.VerifySecret("anything") {
		t.Error("nil client accepted")
	}
}

func TestFormatDigest(t *testing.T) {
	d := tenant.FormatDigest("demo-m2m-secret")
	if d != "sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2" {
		t.Errorf("digest = %s", d)
	}
	if _, err := tenant.ParseDigest(d); err != nil {
		t.Error(err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "16MiB": 16 << 20, "64KiB": 64 << 10, "1GiB": 1 << 30, "2 MB": 2 << 20} {
		got, err := tenant.ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1PB", "MiB", "99999999999999999999"} {
		if _, err := tenant.ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q): want error", bad)
		}
	}
}

// TestLines records where each API, client, grant, role and user is
// declared, so that tools (the console) can point at the file's line.
func TestLines(t *testing.T) {
	src := `apis:
  - identifier: https://api.example.com
    scopes: [{name: read}]
clients:
  - id: m2m
    type: m2m
    secrets: [sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2]
  - id: spa
    type: spa
    redirect_uris: [http://localhost/cb]
roles:
  - name: reader
    permissions: [{api: https://api.example.com, scopes: [read]}]
users:
  - {id: u1, username: u1, roles: [reader]}
grants:
  - client: m2m
    api: https://api.example.com
    scopes: [read]
  - {client: spa, api: https://api.example.com, scopes: [read]}
`
	tn, err := tenant.Parse([]byte(src), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	got := []int{tn.APIs[0].Line, tn.Clients[0].Line, tn.Clients[1].Line, tn.Roles[0].Line, tn.Users[0].Line, tn.Grants[0].Line, tn.Grants[1].Line}
	if want := []int{2, 5, 8, 12, 15, 17, 20}; !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	// The revision is the SHA-256 of the file.
	if sum := sha256.Sum256([]byte(src)); tn.Revision != hex.EncodeToString(sum[:]) {
		t.Errorf("revision %q", tn.Revision)
	}
	again, _ := tenant.Parse([]byte(src+"\n"), "t.yaml", ".")
	if again.Revision == tn.Revision {
		t.Error("a changed file keeps its revision")
	}
}
