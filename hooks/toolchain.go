package hooks

import (
	"bytes"
	"regexp"
	"slices"
	"strings"

	"github.com/scopeline/scopeline/hooks/internal/wasmguard"
)

// Toolchain is what built a module, as far as the module itself tells:
// its producers custom section (the WebAssembly tool conventions) when it
// has one, else the marks toolchains leave in it (section and function
// names, exports, the stack pointer global of LLVM's linker). Nothing of
// it is trusted: it only helps people read a pipeline.
type Toolchain struct {
	// Language is the source language ("Go", "C", "Rust", ...), a family
	// when only the linker tells ("C, C++, Rust or Zig"), or "" when the
	// module carries no mark (written by hand, or stripped).
	Language string `json:"language,omitempty"`
	// Tools are the producers section's processed-by and sdk entries,
	// such as "clang 14.0.6".
	Tools []string `json:"tools,omitempty"`
	// Evidence says what Language was read from.
	Evidence string `json:"evidence"`
}

// llvmFamily is what a module linked by wasm-ld may be written in.
const llvmFamily = "C, C++, Rust or Zig"

// languageOfTool infers a language from a processed-by tool's name.
var languageOfTool = []struct{ prefix, language string }{
	{"Go cmd/compile", "Go"},
	{"TinyGo", "Go"},
	{"rustc", "Rust"},
	{"wasm-bindgen", "Rust"},
	{"AssemblyScript", "AssemblyScript"},
	{"Emscripten", "C or C++"},
	{"clang", "C or C++"},
	{"Zig", "Zig"},
}

// Marks in the function names of a "name" section.
var nameMarks = []struct {
	mark     string
	language string
}{
	{"runtime.gcenable", "Go"},
	{"runtime.main", "Go"},
	{"__rust_", "Rust"},
	{"rust_begin_unwind", "Rust"},
	{"~lib/", "AssemblyScript"},
	{"__wasm_call_ctors", llvmFamily},
}

// Marks in the data section: panic locations of Rust's standard
// library, and the UTF-16 paths of AssemblyScript's runtime.
var dataMarks = []struct{ mark, language, what string }{
	{"library/core/src/", "Rust", "Rust core library paths in the data"},
	{"/rustc/", "Rust", "Rust compiler paths in the data"},
	{"~\x00l\x00i\x00b\x00/\x00", "AssemblyScript", "AssemblyScript runtime paths (~lib/) in the data"},
}

// cVersion matches the C standards clang names ("C11", "C99").
var cVersion = regexp.MustCompile(`^C[0-9]*$`)

// normalLanguage reads a producers language name ("C11", "C++14",
// "Rust"): the language without its standard.
func normalLanguage(name string) string {
	switch {
	case strings.HasPrefix(name, "C++"):
		return "C++"
	case cVersion.MatchString(name):
		return "C"
	}
	return name
}

// detectToolchain reads what built m.
func detectToolchain(m *wasmguard.Module) Toolchain {
	var tc Toolchain
	for _, c := range m.Customs {
		if c.Name != "producers" {
			continue
		}
		ps, err := wasmguard.ParseProducers(c.Body)
		if err != nil {
			break
		}
		var langs []string
		for _, p := range ps {
			entry := strings.TrimSpace(p.Name + " " + p.Version)
			switch p.Field {
			case "language":
				if l := normalLanguage(p.Name); !slices.Contains(langs, l) {
					langs = append(langs, l)
				}
			case "processed-by", "sdk":
				tc.Tools = append(tc.Tools, entry)
			}
		}
		if len(langs) > 0 {
			tc.Language, tc.Evidence = strings.Join(langs, ", "), "producers section, language field"
			return tc
		}
		for _, tool := range tc.Tools {
			for _, t := range languageOfTool {
				if strings.HasPrefix(tool, t.prefix) {
					tc.Language, tc.Evidence = t.language, "producers section, processed-by "+t.prefix
					return tc
				}
			}
		}
	}
	for _, c := range m.Customs {
		switch c.Name {
		case "go:buildid", "go.buildid":
			tc.Language, tc.Evidence = "Go", c.Name+" section"
			return tc
		case "name":
			for _, nm := range nameMarks {
				if bytes.Contains(c.Body, []byte(nm.mark)) {
					tc.Language, tc.Evidence = nm.language, "function name "+nm.mark
					return tc
				}
			}
		}
	}
	for _, dm := range dataMarks {
		if bytes.Contains(m.Data, []byte(dm.mark)) {
			tc.Language, tc.Evidence = dm.language, dm.what
			return tc
		}
	}
	for _, e := range m.Exports {
		switch e.Name {
		case "__wasm_call_ctors", "__heap_base", "__data_end":
			tc.Language, tc.Evidence = llvmFamily, "wasm-ld export "+e.Name
			return tc
		}
	}
	if m.StackPointer {
		tc.Language, tc.Evidence = llvmFamily, "wasm-ld stack pointer global"
		return tc
	}
	tc.Evidence = "no producers section or toolchain mark; written by hand, or stripped"
	return tc
}
