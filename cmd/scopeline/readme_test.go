package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestReadmeHookCommands runs the `scopeline hook` command lines of the
// README as written (from the repository's root): each must succeed.
func TestReadmeHookCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	t.Chdir("../..")
	var ran int
	for _, line := range strings.Split(string(readme), "\n") {
		cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "$ go run ./cmd/scopeline hook ")
		if !ok {
			continue
		}
		ran++
		args := append([]string{"hook"}, strings.Fields(cmd)...)
		args = append(args, "--cache-dir", cache)
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut); code != 0 {
			t.Errorf("scopeline %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
	}
	if ran < 2 {
		t.Fatalf("found %d hook commands in README.md", ran)
	}
}
