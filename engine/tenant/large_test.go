package tenant_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
)

// LargeTenant writes a tenant of clients m2m clients, grants grants (spread
// over the clients) and apis APIs of five scopes each.
func LargeTenant(clients, grants, apis int) []byte {
	var b strings.Builder
	b.Grow(clients*200 + grants*120 + apis*300)
	b.WriteString("issuer: https://issuer.example.com/\nsigning_algorithm: ES256\napis:\n")
	for i := range apis {
		fmt.Fprintf(&b, "  - identifier: https://api-%d.example.com\n    name: API %d\n    scopes: [{name: read}, {name: write}, {name: delete}, {name: admin}, {name: audit}]\n", i, i)
	}
	b.WriteString("clients:\n")
	for i := range clients {
		fmt.Fprintf(&b, "  - id: client-%07d\n    name: Client %d\n    type: m2m\n    secrets: [\"%s\"]\n    metadata: {tier: gold, team: team-%d}\n", i, i, tenant.FormatDigest(fmt.Sprint("s", i)), i%100)
	}
	b.WriteString("grants:\n")
	for i := range grants {
		fmt.Fprintf(&b, "  - {client: client-%07d, api: \"https://api-%d.example.com\", scopes: [read, write]}\n", i%clients, (i/clients*7+i)%apis)
	}
	return []byte(b.String())
}

func TestLargeTenantMemory(t *testing.T) {
	if os.Getenv("SCOPELINE_LARGE") == "" {
		t.Skip("set SCOPELINE_LARGE=1")
	}
	data := LargeTenant(100000, 300000, 1000)
	t.Logf("file: %d MiB", len(data)>>20)
	start := time.Now()
	parts, err := tenant.Split(data, "t")
	t.Logf("split: %v, %d parts, err %v", time.Since(start), len(parts), err)
	start = time.Now()
	err = tenant.Compile(parts, "t")
	t.Logf("compile: %v, err %v", time.Since(start), err)
	start = time.Now()
	_, err = tenant.Build(parts[:1:1], "t")
	stored := make([]tenant.Part, len(parts))
	size := 0
	for i, p := range parts {
		stored[i] = tenant.Part{Section: p.Section, Entries: p.Entries, Compiled: p.Compiled, Key: p.Digest()}
		size += len(p.Compiled)
		if i == 0 {
			stored[i].Data = p.Data
		}
	}
	data, parts = nil, nil
	t.Logf("compiled: %d MiB", size>>20)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base := m.HeapInuse
	start = time.Now()
	tn, err := tenant.Build(stored, "r")
	t.Logf("build: %v err %v", time.Since(start), err)
	runtime.GC()
	runtime.ReadMemStats(&m)
	t.Logf("tenant heap: %d MiB (compiled parts %d MiB)", (m.HeapInuse-base)>>20, base>>20)
	runtime.KeepAlive(tn)
}

func BenchmarkBuildLarge(b *testing.B) {
	parts, err := tenant.Split(LargeTenant(30000, 90000, 300), "t")
	if err != nil {
		b.Fatal(err)
	}
	if err := tenant.Compile(parts, "t"); err != nil {
		b.Fatal(err)
	}
	for i := range parts[1:] {
		parts[i+1].Data = nil
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := tenant.Build(parts, "r"); err != nil {
			b.Fatal(err)
		}
	}
}
