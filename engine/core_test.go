package engine_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCoreHasNoHTTP keeps the core usable without HTTP: no file of package
// engine imports net/http (docs/design.md, "The core has no HTTP"). The
// endpoints and pages are packages of their own.
func TestCoreHasNoHTTP(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == "net/http" {
				t.Errorf("%s imports net/http", name)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d files: is this the engine directory?", checked)
	}
}
