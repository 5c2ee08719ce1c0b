package keys

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// The rotation policy, the same whichever store keeps the keys (a file
// of the data directory, or a key-value bucket shared by replicas): it
// works on a list of keys and returns the new list, never changing a Key
// that a published Set may hold.

// Leeway is added to the longest token lifetime when deciding how long a
// retired key stays published, to cover clock skew.
const Leeway = 5 * time.Minute

// RotateOptions tune Rotate.
type RotateOptions struct {
	// Algorithms to rotate; empty means every algorithm in the file.
	Algorithms []string
	// Retain is how long a retired key stays in the file and the JWKS: the
	// longest token lifetime plus Leeway.
	Retain time.Duration
	// MinPublished refuses the rotation when the next key has been published
	// for less than this (so caches of the JWKS already hold it), unless Force.
	MinPublished time.Duration
	Force        bool
}

// ensureKeys gives every algorithm in algs a current and a next key,
// generating what is missing, and reports whether it added any.
func ensureKeys(keys []*Key, algs []string, now time.Time) ([]*Key, bool, error) {
	keys = slices.Clone(keys)
	changed := false
	for _, alg := range algs {
		for _, st := range []Status{StatusCurrent, StatusNext} {
			if slices.ContainsFunc(keys, func(k *Key) bool { return k.Algorithm == alg && k.Status == st }) {
				continue
			}
			k, err := Generate(alg, now)
			if err != nil {
				return nil, false, err
			}
			k.Status = st
			if st == StatusCurrent {
				k.Activated = k.Created
			}
			keys = append(keys, k)
			changed = true
		}
	}
	return keys, changed, nil
}

// rotateKeys makes each next key current, retires the current one,
// publishes a new next key and drops retired keys whose retention has
// passed.
func rotateKeys(keys []*Key, now time.Time, o RotateOptions) ([]*Key, error) {
	now = now.UTC().Truncate(time.Second)
	// Copies: the keys given may be in a Set that is serving.
	keys = slices.Clone(keys)
	for i, k := range keys {
		c := *k
		keys[i] = &c
	}
	algs := o.Algorithms
	if len(algs) == 0 {
		for _, k := range keys {
			if k.Status != StatusRetired && !slices.Contains(algs, k.Algorithm) {
				algs = append(algs, k.Algorithm)
			}
		}
	}
	if len(algs) == 0 {
		return nil, errors.New("keys: no keys to rotate (start the server once, or run `scopeline keys rotate --alg ES256`)")
	}
	for _, alg := range algs {
		idx := func(st Status) int {
			return slices.IndexFunc(keys, func(k *Key) bool { return k.Algorithm == alg && k.Status == st })
		}
		next := idx(StatusNext)
		if next >= 0 && !o.Force && now.Sub(keys[next].Created) < o.MinPublished {
			return nil, fmt.Errorf("keys: the next %s key was published %s ago, less than the JWKS cache lifetime (%s): resource servers may not have it yet; rotate later or use --force",
				alg, now.Sub(keys[next].Created).Round(time.Second), o.MinPublished)
		}
		if cur := idx(StatusCurrent); cur >= 0 {
			keys[cur].Status, keys[cur].Retired = StatusRetired, now
		}
		if next < 0 {
			k, err := Generate(alg, now)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
			next = len(keys) - 1
		}
		keys[next].Status, keys[next].Activated = StatusCurrent, now
		k, err := Generate(alg, now)
		if err != nil {
			return nil, err
		}
		k.Status = StatusNext
		keys = append(keys, k)
	}
	return slices.DeleteFunc(keys, func(k *Key) bool {
		return k.Status == StatusRetired && now.Sub(k.Retired) > o.Retain
	}), nil
}
