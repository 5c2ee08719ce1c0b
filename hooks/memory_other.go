//go:build !(linux || darwin || freebsd)

package hooks

// mapMemory reserves nothing here: the memory is a Go slice that grows
// by doubling.
func mapMemory(uint64) ([]byte, func(), bool) { return nil, nil, false }
