package hooks

import "context"

// Grow makes n more instances of hk, for measuring their memory.
func Grow(hk *Hook, n int) (*Hook, error) {
	for range n {
		hk.live.Add(1)
		in, err := hk.instantiate(context.Background())
		if err != nil {
			return nil, err
		}
		hk.idle <- in
	}
	return hk, nil
}

// Hold takes an idle instance of hk out of its pool, as a request in
// progress would, and returns the function that gives it back.
func Hold(hk *Hook) (release func()) {
	in := <-hk.idle
	return func() { hk.release(in) }
}

// Idle tells how many instances of hk are idle in its pool.
func Idle(hk *Hook) int { return len(hk.idle) }

// WithGoMemory makes the host keep linear memory in Go slices that grow by
// copying, as on systems without mmap.
func WithGoMemory() Option {
	return func(h *Host) { h.mapMemory = func(uint64) ([]byte, func(), bool) { return nil, nil, false } }
}
