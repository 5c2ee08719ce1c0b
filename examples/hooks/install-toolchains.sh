#!/usr/bin/env bash
# Installs, on Debian 12, the guest toolchains examples/hooks/build.sh needs
# beyond Go: wabt (wat2wasm) and clang 14 with wasi-libc. Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends wabt clang lld wasi-libc libclang-rt-14-dev-wasm32
