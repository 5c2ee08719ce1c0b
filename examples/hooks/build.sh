#!/usr/bin/env bash
# Rebuilds every committed .wasm that is not a plugin from the source beside
# it: the example hooks (Go, WAT, C) and the WAT test fixtures of the hook
# host. Builds are reproducible, so CI can run this and then
# `git diff --exit-code -- '*.wasm'`. It installs nothing: run
# examples/hooks/install-toolchains.sh once for wat2wasm and clang.
# plugins/build.sh rebuilds the plugins.
#
# Usage: examples/hooks/build.sh   (from anywhere in the repository)
set -euo pipefail
cd "$(dirname "$0")/../.."
# Go guests are byte-identical only when built by the same Go release: pin it
# (the go command fetches this toolchain from the module proxy if needed).
export GOTOOLCHAIN=go1.26.8

# Go, with the SDK.
GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -ldflags=-buildid= \
	-o examples/hooks/go/tier-gate.wasm ./examples/hooks/go

# WebAssembly text: the example and the test fixtures.
for wat in examples/hooks/wat/*.wat hooks/testdata/*.wat hooks/internal/wasmguard/testdata/*.wat; do
	wat2wasm "$wat" -o "${wat%.wat}.wasm"
done

# C, with wasi-libc (Debian's clang 14). -ffile-prefix-map keeps the build
# directory out of the output.
clang --target=wasm32-wasi -mexec-model=reactor -O2 -nostartfiles \
	-ffile-prefix-map="$PWD"=. -Wl,--no-entry -Wl,--strip-all \
	-o examples/hooks/c/tier-gate.wasm examples/hooks/c/tier-gate.c
chmod -x examples/hooks/c/tier-gate.wasm

for f in examples/hooks/*/*.wasm; do
	echo "built $f ($(wc -c <"$f") bytes)"
done
