// Package sdk holds, as files, the hook SDKs of the languages other than
// Go (C and C++, Rust, Zig, AssemblyScript), for `scopeline hook new` to
// copy into a new hook project. The Go SDK is package sdk/hook; the
// conformance table every SDK passes is in sdk/conformance.
package sdk

import "embed"

// Files holds the SDKs' sources and the npm files that pin the Zig and
// AssemblyScript toolchains.
//
//go:embed c/scopeline.h rust/src/lib.rs rust/src/json.rs zig/scopeline.zig zig/package.json zig/package-lock.json
//go:embed assemblyscript/assembly/index.ts assemblyscript/assembly/json.ts assemblyscript/package.json assemblyscript/package-lock.json
var Files embed.FS
