#!/usr/bin/env bash
# Rebuilds every plugin's .wasm from its C source (plugins/NAME/NAME.c,
# with the C SDK sdk/c/scopeline.h), and the time zone database of
# time-window from Go's copy of the IANA database, reproducibly: CI checks
# the result with `git diff --exit-code`. It installs nothing: run
# sdk/install-toolchains.sh once first (clang 14 and wasi-libc).
#
# Usage: plugins/build.sh   (from anywhere in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
. sdk/toolchain.sh

go run ./plugins/time-window/tzgen >"$SL_TMP/tzdata.h"
cp "$SL_TMP/tzdata.h" plugins/time-window/tzdata.h
for dir in plugins/*/; do
	dir=${dir%/}
	name=$(basename "$dir")
	[ -f "$dir/$name.c" ] || continue
	build_c "$dir/$name.c" "$dir/$name.wasm" -Wall -Wextra -Werror
done
