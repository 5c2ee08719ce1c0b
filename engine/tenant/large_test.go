package tenant_test

import (
	"testing"

	"github.com/scopeline/scopeline/engine/tenant"
)

// BenchmarkBuildCompiled builds a tenant of 30,000 clients and grants from
// compiled parts, as a replica does (the whole measurement of a replica is
// engine/tenantstore's TestLargeTenantFigures).
func BenchmarkBuildCompiled(b *testing.B) {
	parts, err := tenant.Split(bigTenant(30000, 300), "t")
	if err != nil {
		b.Fatal(err)
	}
	if err := tenant.Compile(parts, "t"); err != nil {
		b.Fatal(err)
	}
	for i := range parts[1:] {
		parts[i+1].Data = nil
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tenant.Build(parts, "r"); err != nil {
			b.Fatal(err)
		}
	}
}
