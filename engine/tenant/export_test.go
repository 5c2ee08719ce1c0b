package tenant

import "golang.org/x/crypto/bcrypt"

// Cheap reports whether checking a password against h takes little work. A
// hash at Scopeline's cost limits takes seconds to check, longer than a
// fuzzing run's budget, so the fuzz target checks only cheap ones.
func (h *PasswordHash) Cheap() bool {
	if h.argon != nil {
		return uint64(h.argon.Memory)*uint64(h.argon.Time) <= 4096
	}
	cost, err := bcrypt.Cost(h.bcrypt)
	return err == nil && cost <= 6
}

// DecoyCost names the kind and cost of the decoy hash an unknown login is
// checked against.
func (t *Tenant) DecoyCost(login string) string { return t.decoys.forLogin(login).cost() }

// Cost names the kind and cost of h.
func (h *PasswordHash) Cost() string { return h.cost() }

// ParseWhole reads a tenant file as one YAML tree, as Parse does for the
// files it cannot read in parts.
func ParseWhole(data []byte, source, dir string, opts ...Option) (*Tenant, error) {
	return parseWhole(data, source, dir, opts...)
}
