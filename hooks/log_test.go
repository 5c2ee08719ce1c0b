package hooks_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
)

// TestLogCutByTheHost: the log host function cuts a long line on a
// character boundary, though the guest's "é" straddles the 1 KiB limit.
func TestLogCutByTheHost(t *testing.T) {
	res := runFaulty(t, "N")
	if want := strings.Repeat("a", engine.MaxHookLogLine-1); len(res.Logs) != 1 || res.Logs[0] != want {
		t.Errorf("logs %q, want one line of %d a's", res.Logs, len(want))
	}
}

// TestStdoutAndStderr: the guest's stdout and stderr are buffered apart: a
// line is whole when its own stream ends it, never glued to the other's;
// stdout lines log at level info, stderr lines at warn.
func TestStdoutAndStderr(t *testing.T) {
	res := runFaulty(t, "Q")
	// The guest wrote "out-" to stdout, "err\n" to stderr, "put\n" to stdout.
	if want := []string{"[warn] err", "out-put"}; !slices.Equal(res.Logs, want) {
		t.Errorf("logs %q, want %q", res.Logs, want)
	}
}

// runFaulty runs testdata/faulty.wasm once in the given mode, which must
// not fault.
func runFaulty(t *testing.T, mode string) *engine.HookResult {
	t.Helper()
	hk, err := newHost(t).Load(context.Background(), spec("faulty", "testdata/faulty.wasm", `"`+mode+`"`, tenant.FailDeny))
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	res, err := hk.Invoke(context.Background(), transaction(t).View())
	if err != nil {
		t.Fatal(err)
	}
	return res
}
