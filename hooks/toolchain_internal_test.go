package hooks

import (
	"os"
	"testing"
)

// custom returns a custom section named name holding body.
func custom(name string, body []byte) []byte {
	payload := append(uleb(len(name)), name...)
	payload = append(payload, body...)
	return append(append([]byte{0}, uleb(len(payload))...), payload...)
}

func uleb(n int) []byte {
	var out []byte
	for {
		b := byte(n & 0x7F)
		n >>= 7
		if n == 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// producers encodes a producers section of fields of (name, version)s.
func producers(fields ...[]string) []byte {
	body := uleb(len(fields))
	for _, f := range fields {
		body = append(body, uleb(len(f[0]))...)
		body = append(body, f[0]...)
		vals := f[1:]
		body = append(body, uleb(len(vals)/2)...)
		for _, v := range vals {
			body = append(append(body, uleb(len(v))...), v...)
		}
	}
	return custom("producers", body)
}

// TestToolchain reads the language of the committed example hooks and of
// modules carrying a producers section or a toolchain's marks.
func TestToolchain(t *testing.T) {
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wat := read("../examples/hooks/wat/tier-gate.wasm")
	with := func(extra ...[]byte) []byte {
		b := append([]byte{}, wat...)
		for _, e := range extra {
			b = append(b, e...)
		}
		return b
	}
	for _, c := range []struct {
		name           string
		bin            []byte
		language, tool string
	}{
		{name: "Go, from its producers section", bin: read("../examples/hooks/go/tier-gate.wasm"), language: "Go", tool: "Go cmd/compile go1.26.8"},
		{name: "C, stripped: wasm-ld's stack pointer", bin: read("../examples/hooks/c/tier-gate.wasm"), language: "C, C++, Rust or Zig"},
		{name: "WAT: nothing tells", bin: wat, language: ""},
		{name: "WAT with globals of its own", bin: read("../sdk/conformance/wat/conformance.wasm"), language: ""},
		{name: "Rust, stripped: its library's paths", bin: read("../examples/hooks/rust/tier-gate.wasm"), language: "Rust"},
		{name: "AssemblyScript: its runtime's paths", bin: read("../examples/hooks/assemblyscript/tier-gate.wasm"), language: "AssemblyScript"},
		{name: "Zig, stripped: wasm-ld's stack pointer", bin: read("../examples/hooks/zig/tier-gate.wasm"), language: "C, C++, Rust or Zig"},
		{name: "C11 and clang", bin: with(producers([]string{"language", "C11", ""}, []string{"processed-by", "clang", "14.0.6"})), language: "C", tool: "clang 14.0.6"},
		{name: "C++ by its standard", bin: with(producers([]string{"language", "C++14", ""})), language: "C++"},
		{name: "Rust from processed-by", bin: with(producers([]string{"processed-by", "rustc", "1.80.0"})), language: "Rust", tool: "rustc 1.80.0"},
		{name: "TinyGo", bin: with(producers([]string{"processed-by", "TinyGo", "0.33.0"})), language: "Go"},
		{name: "Rust from function names", bin: with(custom("name", []byte("\x01..__rust_alloc"))), language: "Rust"},
		{name: "AssemblyScript from function names", bin: with(custom("name", []byte("~lib/rt/itcms/__new"))), language: "AssemblyScript"},
		{name: "Go build id", bin: with(custom("go:buildid", []byte("x"))), language: "Go"},
		{name: "a malformed producers section is no evidence", bin: with(custom("producers", []byte{0x05, 0xFF})), language: ""},
	} {
		p, err := prepare(c.bin, 0, 0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tc := p.report.Toolchain
		if tc.Language != c.language || tc.Evidence == "" {
			t.Errorf("%s: %+v, want language %q", c.name, tc, c.language)
		}
		if c.tool != "" && (len(tc.Tools) == 0 || tc.Tools[len(tc.Tools)-1] != c.tool) {
			t.Errorf("%s: tools %v, want %q", c.name, tc.Tools, c.tool)
		}
	}
}
