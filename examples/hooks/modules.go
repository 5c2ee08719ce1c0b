// Package hooks holds the compiled example hooks that need no SDK, so that
// `scopeline bench --http` can run them from any directory: the tier-gate
// hook in WebAssembly text and in C (the sources and their build commands
// are beside the modules; build.sh rebuilds them).
package hooks

import _ "embed"

// TierGateWAT is wat/tier-gate.wasm.
//
//go:embed wat/tier-gate.wasm
var TierGateWAT []byte

// TierGateC is c/tier-gate.wasm.
//
//go:embed c/tier-gate.wasm
var TierGateC []byte
