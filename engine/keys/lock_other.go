//go:build !unix

package keys

// lock is a no-op where flock is not available: run one writer at a time.
func lock(string) (func(), error) { return func() {}, nil }
