#!/usr/bin/env bash
# Rebuilds the SDK conformance hooks (sdk/conformance/*/conformance.wasm)
# from their sources, reproducibly. CI runs it and then
# `git diff --exit-code -- '*.wasm'`. Run sdk/install-toolchains.sh once
# first.
#
# Usage: sdk/build.sh   (from anywhere in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
. sdk/toolchain.sh

c=sdk/conformance
build_go "$c/go" "$c/go/conformance.wasm"
build_c "$c/c/conformance.c" "$c/c/conformance.wasm" -Wall -Wextra -Werror
build_rust "$c/rust/conformance.rs" "$c/rust/conformance.wasm"
build_zig "$c/zig/conformance.zig" "$c/zig/conformance.wasm"
build_as "$c/assemblyscript/conformance.ts" "$c/assemblyscript/conformance.wasm"
build_wat "$c/wat/conformance.wat" "$c/wat/conformance.wasm"

