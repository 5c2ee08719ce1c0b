package tenantstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/tenantstore"
	examplehooks "github.com/scopeline/scopeline/examples/hooks"
)

// The secret of every client of these tests is "secret".
var secretDigest = tenant.FormatDigest("secret")

// tenantFile is a tenant whose clients client-0 .. client-(n-1) have a
// grant on the API each, with more appended (grants, a pipeline).
func tenantFile(n int, more ...string) []byte {
	var b strings.Builder
	b.WriteString("issuer: https://issuer.example.com/\nsigning_algorithm: ES256\napis:\n  - identifier: https://api.example.com\n    scopes: [{name: read:users}, {name: write:users}, {name: delete:users}]\nclients:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: client-%d\n    type: m2m\n    secrets: [%q]\n    metadata: {tier: gold}\n", i, secretDigest)
	}
	b.WriteString("grants:\n")
	for i := range n - 1 { // the last client has no grant
		fmt.Fprintf(&b, "  - {client: client-%d, api: https://api.example.com, scopes: [read:users]}\n", i)
	}
	for _, m := range more {
		b.WriteString(m)
	}
	return []byte(b.String())
}

// grantLast is the grant of tenantFile's last client.
func grantLast(n int) string {
	return fmt.Sprintf("  - {client: client-%d, api: https://api.example.com, scopes: [read:users]}\n", n-1)
}

func openStore(t *testing.T, c *natstest.Cluster, opts ...tenantstore.Option) *tenantstore.Store {
	t.Helper()
	s, err := tenantstore.Open(context.Background(), c.JetStream(t), append([]tenantstore.Option{tenantstore.WithReplicas(c.Size())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPushHistoryDiffRollback(t *testing.T) {
	ctx := context.Background()
	c := natstest.Start(t, 1)
	s := openStore(t, c)
	if _, err := s.Head(ctx); !errors.Is(err, tenantstore.ErrNoTenant) {
		t.Fatalf("head of an empty store: %v", err)
	}
	r1, err := s.PushFile(ctx, tenantFile(600), "/x/tenant.yaml", "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Number == 0 || r1.By != "alice" || r1.Counts.Clients != 600 || len(r1.Parts) < 3 {
		t.Fatalf("r1 = %+v", r1)
	}
	r2, err := s.PushFile(ctx, tenantFile(600, grantLast(600)), "/x/tenant.yaml", "bob", r1.Number)
	if err != nil {
		t.Fatal(err)
	}
	// A push from what was read before r2 is refused, and names r2.
	_, err = s.PushFile(ctx, tenantFile(600), "/x/tenant.yaml", "carol", r1.Number)
	if !errors.Is(err, tenantstore.ErrConflict) || !strings.Contains(err.Error(), fmt.Sprintf("revision %d was pushed by bob", r2.Number)) {
		t.Fatalf("a stale push: %v", err)
	}
	// An invalid tenant is refused with every error at its line, and
	// changes nothing.
	bad := tenantFile(3, "  - {client: client-9, api: https://api.example.com}\n  - {client: client-0, api: https://nowhere.example.com}\n")
	_, err = s.PushFile(ctx, bad, "/x/bad.yaml", "mallory", r2.Number)
	if err == nil || !strings.Contains(err.Error(), "/x/bad.yaml:22: grants[2].client") || !strings.Contains(err.Error(), "/x/bad.yaml:23: grants[3].api") {
		t.Fatalf("an invalid push: %v", err)
	}
	if head, err := s.Head(ctx); err != nil || head.Number != r2.Number {
		t.Fatalf("after an invalid push the head is %d (%v), want %d", head.Number, err, r2.Number)
	}

	d, err := s.Diff(ctx, r1, r2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "\n+  - {client: client-599,") || strings.Count(d, "\n+") != 2 { // the header and the grant
		t.Errorf("diff r1 r2:\n%s", d)
	}
	file, err := s.File(ctx, r1)
	if err != nil {
		t.Fatal(err)
	}
	if tn, err := tenant.Parse(file, "pulled.yaml", "."); err != nil || len(tn.Grants) != 599 {
		t.Fatalf("pulled r1: %v", err)
	}

	r3, err := s.Rollback(ctx, r1.Number, "carol", r2.Number)
	if err != nil {
		t.Fatal(err)
	}
	if r3.RollbackOf != r1.Number || r3.By != "carol" || len(r3.Parts) != len(r1.Parts) {
		t.Fatalf("r3 = %+v", r3)
	}
	if _, err := s.Rollback(ctx, r2.Number, "dave", r2.Number); !errors.Is(err, tenantstore.ErrConflict) {
		t.Fatalf("a stale rollback: %v", err)
	}
	hist, err := s.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var who []string
	for _, r := range hist {
		who = append(who, r.By)
	}
	if strings.Join(who, ",") != "alice,bob,carol" {
		t.Errorf("history by %v", who)
	}
	if _, err := s.Get(ctx, 999); !errors.Is(err, tenantstore.ErrNoRevision) {
		t.Errorf("get 999: %v", err)
	}
}

func TestPushRefusesFileModules(t *testing.T) {
	c := natstest.Start(t, 1)
	s := openStore(t, c)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gate.wasm"), examplehooks.TierGateWAT, 0o600); err != nil {
		t.Fatal(err)
	}
	data := tenantFile(2, "pipelines:\n  credentials-exchange:\n    hooks:\n      - {name: gate, module: gate.wasm}\n")
	_, err := s.PushFile(context.Background(), data, filepath.Join(dir, "t.yaml"), "alice", 0)
	if err == nil || !strings.Contains(err.Error(), "t.yaml:20: pipelines.credentials-exchange.hooks[gate].module: a file path") {
		t.Fatalf("push: %v", err)
	}
}

func TestModules(t *testing.T) {
	ctx := context.Background()
	c := natstest.Start(t, 1)
	s := openStore(t, c)
	digest, err := s.PushModule(ctx, examplehooks.TierGateWAT, "tier-gate")
	if err != nil {
		t.Fatal(err)
	}
	if digest != tenantstore.Digest(examplehooks.TierGateWAT) {
		t.Fatalf("digest %s", digest)
	}
	if again, err := s.PushModule(ctx, examplehooks.TierGateWAT, ""); err != nil || again != digest {
		t.Fatalf("pushing again: %s %v", again, err)
	}
	for _, ref := range []string{"store:tier-gate", digest} {
		if d, err := s.ModuleDigest(ctx, ref); err != nil || d != digest {
			t.Errorf("%s: %s %v", ref, d, err)
		}
	}
	if _, err := s.ModuleDigest(ctx, "store:nope"); !errors.Is(err, tenantstore.ErrNoModule) {
		t.Errorf("store:nope: %v", err)
	}
	ms, err := s.Modules(ctx)
	if err != nil || len(ms) != 1 || ms[0].Digest != digest || len(ms[0].Names) != 1 || ms[0].Names[0] != "tier-gate" {
		t.Fatalf("modules %+v %v", ms, err)
	}
	dir := t.TempDir()
	path, err := s.FetchModule(ctx, digest, dir)
	if err != nil {
		t.Fatal(err)
	}
	if bin, err := os.ReadFile(path); err != nil || tenantstore.Digest(bin) != digest {
		t.Fatalf("fetched copy: %v", err)
	}
	// A tenant naming the module by name is stored with its digest.
	data := tenantFile(2, "pipelines:\n  credentials-exchange:\n    hooks:\n      - {name: gate, module: \"store:tier-gate\"}\n")
	r, err := s.PushFile(ctx, data, "t.yaml", "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Modules) != 1 || r.Modules[0] != digest {
		t.Errorf("revision modules %v", r.Modules)
	}
	file, err := s.File(ctx, r)
	if err != nil || !strings.Contains(string(file), "module: \""+digest) {
		t.Errorf("pulled:\n%s\n%v", file, err)
	}
}

// TestHistoryKeepsTheLastRevisions: the store keeps 64 revisions, and
// says so of an older one.
func TestHistoryKeepsTheLastRevisions(t *testing.T) {
	ctx := context.Background()
	c := natstest.Start(t, 1)
	s := openStore(t, c)
	var first, last tenantstore.Revision
	for i := range tenantstore.History + 2 {
		r, err := s.PushFile(ctx, tenantFile(2+i%3), "t.yaml", fmt.Sprint("pusher-", i), last.Number)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r
		}
		last = r
	}
	hist, err := s.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != tenantstore.History || hist[len(hist)-1].Number != last.Number || hist[0].By != "pusher-2" {
		t.Fatalf("history of %d revisions, from %q to %d", len(hist), hist[0].By, hist[len(hist)-1].Number)
	}
	if _, err := s.Get(ctx, first.Number); !errors.Is(err, tenantstore.ErrNoRevision) {
		t.Errorf("the first revision: %v", err)
	}
	if _, err := s.Rollback(ctx, hist[0].Number, "alice", last.Number); err != nil {
		t.Errorf("rolling back to the oldest kept revision: %v", err)
	}
}
