#!/usr/bin/env bash
# Rebuilds every committed .wasm of the examples from the source beside it:
# the tier-gate hook in Go, WAT, C, C++, Rust, Zig and AssemblyScript, and
# the WAT test fixtures of the hook host. Builds are reproducible, so CI
# can run this and then `git diff --exit-code -- '*.wasm'`. It installs
# nothing: run sdk/install-toolchains.sh once first. sdk/build.sh rebuilds
# the SDK conformance hooks, plugins/build.sh the plugins.
#
# Usage: examples/hooks/build.sh   (from anywhere in the repository)
set -euo pipefail
cd "$(dirname "$0")/../.."
. sdk/toolchain.sh

e=examples/hooks
build_go "$e/go" "$e/go/tier-gate.wasm"
for wat in $e/wat/*.wat hooks/testdata/*.wat hooks/internal/wasmguard/testdata/*.wat; do
	build_wat "$wat" "${wat%.wat}.wasm"
done
build_c "$e/c/tier-gate.c" "$e/c/tier-gate.wasm" -Wall -Wextra -Werror
# scopeline.h is usable from C++ (checked with -pedantic).
build_c "$e/cpp/tier-gate.cpp" "$e/cpp/tier-gate.wasm" -x c++ -std=c++17 -fno-exceptions -Wall -Wextra -pedantic -Werror
build_rust "$e/rust/tier-gate.rs" "$e/rust/tier-gate.wasm"
build_zig "$e/zig/tier-gate.zig" "$e/zig/tier-gate.wasm"
build_as "$e/assemblyscript/tier-gate.ts" "$e/assemblyscript/tier-gate.wasm"
