//go:build !linux

package hooks

// TouchedBytes is measured on Linux only (mincore).
func TouchedBytes(*Hook) []int64 { return nil }
