//go:build !linux

package hooks

// TouchedBytes is measured on Linux only (mincore).
func TouchedBytes(*WasmHook) []int64 { return nil }
