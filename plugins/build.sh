#!/usr/bin/env bash
# Rebuilds every plugin's .wasm from its Go source, reproducibly (same Go
# version → same bytes; CI checks with `git diff --exit-code`). Installs
# nothing: it needs the Go toolchain only.
#
# Usage: plugins/build.sh   (from anywhere in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
# Go guests are byte-identical only when built by the same Go release: pin it
# (the go command fetches this toolchain from the module proxy if needed).
export GOTOOLCHAIN=go1.26.8
for dir in plugins/*/; do
	name=$(basename "$dir")
	[ -f "$dir/main.go" ] || continue
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -ldflags=-buildid= \
		-o "$dir/$name.wasm" "./$dir"
	echo "built $dir$name.wasm ($(wc -c <"$dir/$name.wasm") bytes)"
done
