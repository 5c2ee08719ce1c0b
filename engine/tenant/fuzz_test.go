package tenant_test

import (
	"testing"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/tenant"
)

// FuzzParse checks that reading a tenant file in parts (Parse) and whole
// agree: both accept it or both refuse it, and what they accept holds the
// same entries.
func FuzzParse(f *testing.F) {
	f.Add(demo.Tenant)
	f.Add(bigTenant(5, 2))
	f.Add([]byte("apis:\n- identifier: https://a.example\nclients:\n- id: c\n  type: m2m\n  secrets: [\"" + tenant.FormatDigest("s") + "\"]\ngrants:\n- {client: c, api: https://a.example}\n"))
	noEnv := tenant.WithLookupEnv(func(string) (string, bool) { return "x", true })
	f.Fuzz(func(t *testing.T, data []byte) {
		parts, perr := tenant.Parse(data, "t.yaml", t.TempDir(), noEnv)
		whole, werr := tenant.ParseWhole(data, "t.yaml", t.TempDir(), noEnv)
		if (perr == nil) != (werr == nil) {
			t.Fatalf("in parts: %v\nwhole: %v", perr, werr)
		}
		if perr != nil {
			return
		}
		if len(parts.Clients) != len(whole.Clients) || len(parts.Grants) != len(whole.Grants) ||
			len(parts.APIs) != len(whole.APIs) || len(parts.Users) != len(whole.Users) || len(parts.Roles) != len(whole.Roles) {
			t.Fatalf("in parts and whole differ: %d/%d clients, %d/%d grants, %d/%d APIs",
				len(parts.Clients), len(whole.Clients), len(parts.Grants), len(whole.Grants), len(parts.APIs), len(whole.APIs))
		}
	})
}
