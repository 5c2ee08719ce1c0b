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
