package tenant_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/tenant"
)

// bigTenant is a tenant file with n m2m clients, each with a grant on
// one of apis APIs.
func bigTenant(n, apis int) []byte {
	var b strings.Builder
	b.WriteString("issuer: https://issuer.example.com/\n# the APIs\napis:\n")
	for i := range apis {
		fmt.Fprintf(&b, "  - identifier: https://api%d.example.com\n    scopes:\n      - name: read\n      - name: write\n", i)
	}
	b.WriteString("clients:\n")
	secret := tenant.FormatDigest("s")
	for i := range n {
		fmt.Fprintf(&b, "  - id: client-%d\n    type: m2m\n    secrets: [%q]\n", i, secret)
	}
	b.WriteString("grants:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - client: client-%d\n    api: https://api%d.example.com\n    scopes: [read]\n", i, i%apis)
	}
	return []byte(b.String())
}

func TestSplitBuildJoin(t *testing.T) {
	for name, data := range map[string][]byte{"demo": demo.Tenant, "big": bigTenant(3000, 7)} {
		t.Run(name, func(t *testing.T) {
			want, err := tenant.Parse(data, "tenant.yaml", ".")
			if err != nil {
				t.Fatal(err)
			}
			parts, err := tenant.Split(data, "tenant.yaml")
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range parts[1:] {
				if len(p.Data) > tenant.MaxPartSize || p.Entries == 0 {
					t.Errorf("part of %s: %d entries, %d bytes", p.Section, p.Entries, len(p.Data))
				}
			}
			got, err := tenant.Build(parts, "revision 1")
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Clients) != len(want.Clients) || len(got.Grants) != len(want.Grants) || len(got.APIs) != len(want.APIs) || len(got.Users) != len(want.Users) {
				t.Fatalf("built %d clients %d grants %d apis %d users, parsed %d %d %d %d",
					len(got.Clients), len(got.Grants), len(got.APIs), len(got.Users), len(want.Clients), len(want.Grants), len(want.APIs), len(want.Users))
			}
			for i, c := range want.Clients {
				if got.Clients[i].ID != c.ID {
					t.Fatalf("client %d is %q, want %q", i, got.Clients[i].ID, c.ID)
				}
			}
			var joined bytes.Buffer
			if err := tenant.Join(&joined, parts); err != nil {
				t.Fatal(err)
			}
			again, err := tenant.Parse(joined.Bytes(), "joined.yaml", ".")
			if err != nil {
				t.Fatalf("the joined file does not parse: %v", err)
			}
			if len(again.Clients) != len(want.Clients) || len(again.Grants) != len(want.Grants) {
				t.Fatalf("joined: %d clients, %d grants", len(again.Clients), len(again.Grants))
			}
		})
	}
}

// TestSplitIsLocal: changing one entry changes the part that holds it and
// at most its neighbour, never the parts after it.
func TestSplitIsLocal(t *testing.T) {
	data := bigTenant(5000, 3)
	before, err := tenant.Split(data, "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(before) < 10 {
		t.Fatalf("only %d parts for 5000 clients", len(before))
	}
	edited := bytes.Replace(data, []byte("  - id: client-2500\n"), []byte("  - id: client-2500\n    name: renamed\n"), 1)
	after, err := tenant.Split(edited, "t")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range before {
		have[p.Digest()] = true
	}
	changed := 0
	for _, p := range after {
		if !have[p.Digest()] {
			changed++
		}
	}
	if changed < 1 || changed > 2 {
		t.Errorf("%d of %d parts changed for one edited client, want 1 or 2", changed, len(after))
	}
}

func TestBuildErrorsNameTheRevision(t *testing.T) {
	data := bigTenant(10, 1)
	data = bytes.Replace(data, []byte("api: https://api0.example.com\n    scopes: [read]\n"), []byte("api: https://nowhere.example.com\n    scopes: [read]\n"), 1)
	parts, err := tenant.Split(data, "t")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tenant.Build(parts, "tenant revision 7")
	if err == nil || !strings.Contains(err.Error(), "tenant revision 7:41: grants[0].api: no API has the identifier") {
		t.Fatalf("err = %v", err)
	}
}

// TestCompiledParts: a build from compiled parts alone (as a replica
// does) gives the tenant the YAML gives, and compiling reports YAML
// errors at their line of the file.
func TestCompiledParts(t *testing.T) {
	data := bigTenant(700, 3)
	parts, err := tenant.Split(data, "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.Compile(parts, "t.yaml"); err != nil {
		t.Fatal(err)
	}
	stored := make([]tenant.Part, len(parts))
	for i, p := range parts {
		stored[i] = tenant.Part{Section: p.Section, Entries: p.Entries, Compiled: p.Compiled, Key: p.Digest()}
		if i == 0 {
			stored[i].Data = p.Data
		}
	}
	got, err := tenant.Build(stored, "revision 1")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := got.Client("client-699")
	if !ok || !c.VerifySecret("s") || len(got.Grants) != 700 {
		t.Fatalf("built from compiled parts: %d grants", len(got.Grants))
	}
	bad := bytes.Replace(data, []byte("  - id: client-500\n"), []byte("  - id: client-500\n    colour: blue\n"), 1)
	line := bytes.Count(bad[:bytes.Index(bad, []byte("colour"))], []byte("\n")) + 1
	parts, err = tenant.Split(bad, "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.Compile(parts, "t.yaml"); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("t.yaml:%d: colour: unknown field in a client", line)) {
		t.Fatalf("compile: %v (want line %d)", err, line)
	}
}

func TestModuleRefs(t *testing.T) {
	data := []byte(`
apis: [{identifier: https://api.example.com}]
pipelines:
  credentials-exchange:
    hooks:
      - name: gate
        module: store:gate
`)
	if _, err := tenant.Parse(data, "t.yaml", "."); err == nil || !strings.Contains(err.Error(), "t.yaml:7: pipelines.credentials-exchange.hooks[0].module") {
		t.Fatalf("a stored module without a store: %v", err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	tn, err := tenant.Parse(data, "t.yaml", ".", tenant.WithModules(func(ref string) (string, string, error) {
		if ref != "store:gate" {
			return "", "", fmt.Errorf("no module %s", ref)
		}
		return digest, "/cache/gate.wasm", nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	h := tn.Pipelines[tenant.TriggerCredentialsExchange].Hooks[0]
	if h.Digest != digest || h.Module != "/cache/gate.wasm" {
		t.Errorf("hook = %q %q", h.Digest, h.Module)
	}
	parts, err := tenant.Split(data, "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.RewriteModules(&parts[0], func(string) (string, error) { return digest, nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(parts[0].Data, []byte("module: "+digest)) || bytes.Contains(parts[0].Data, []byte("store:gate")) {
		t.Errorf("base part:\n%s", parts[0].Data)
	}
}

// BenchmarkParse and BenchmarkBuild compare loading a tenant of 10,000
// clients and grants from one file and from its parts (as YAML).
func BenchmarkParse(b *testing.B) {
	data := bigTenant(10000, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tenant.Parse(data, "t.yaml", "."); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	parts, err := tenant.Split(bigTenant(10000, 100), "t.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tenant.Build(parts, "revision 1"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseWithAnchors: a file whose lists share values through YAML
// anchors and aliases, which parts cannot resolve apart, is read whole.
func TestParseWithAnchors(t *testing.T) {
	data := []byte(`
apis: [{identifier: https://api.example.com, scopes: [{name: read}]}]
clients:
  - id: a
    type: m2m
    secrets: &shared ["` + secretDigestForTest + `"]
  - id: b
    type: m2m
    secrets: *shared
grants:
  - {client: b, api: https://api.example.com, scopes: [read]}
`)
	tn, err := tenant.Parse(data, "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := tn.Client("b"); !ok || !c.VerifySecret("s") {
		t.Error("client b lost its aliased secret")
	}
}

var secretDigestForTest = tenant.FormatDigest("s")
