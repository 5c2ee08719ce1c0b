package hooks_test

import (
	"context"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
)

// TestLogCutByTheHost: the log host function cuts a long line on a
// character boundary, though the guest's "é" straddles the 1 KiB limit.
func TestLogCutByTheHost(t *testing.T) {
	h := newHost(t)
	hk, err := h.Load(context.Background(), spec("faulty", "testdata/faulty.wasm", `"N"`, tenant.FailDeny))
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	res, err := hk.Invoke(context.Background(), transaction(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("a", engine.MaxHookLogLine-1); len(res.Logs) != 1 || res.Logs[0] != want {
		t.Errorf("logs %q, want one line of %d a's", res.Logs, len(want))
	}
}
