package tenant_test

import (
	"testing"

	"github.com/scopeline/scopeline/engine/tenant"
)

// BenchmarkBuildParts builds a tenant of 30,000 clients and grants from
// its parts as YAML, and from its compiled parts as a replica does (the
// whole measurement of a replica is engine/tenantstore's
// TestLargeTenantFigures).
func BenchmarkBuildParts(b *testing.B) {
	parts, err := tenant.Split(bigTenant(30000, 300), "t")
	if err != nil {
		b.Fatal(err)
	}
	if err := tenant.Compile(parts, "t"); err != nil {
		b.Fatal(err)
	}
	yaml := make([]tenant.Part, len(parts))
	compiled := make([]tenant.Part, len(parts))
	for i, p := range parts {
		yaml[i], compiled[i] = p, p
		yaml[i].Compiled = nil
		if i > 0 {
			compiled[i].Data = nil
		}
	}
	for _, c := range []struct {
		name  string
		parts []tenant.Part
	}{{"yaml", yaml}, {"compiled", compiled}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tenant.Build(c.parts, "r"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
