package hooks

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scopeline/scopeline/engine"
)

// TestLogLineCut: a line longer than engine.MaxHookLogLine is cut on a
// character boundary, whether it comes from the log host function (with
// its level's prefix) or from WASI stdout.
func TestLogLineCut(t *testing.T) {
	const limit = engine.MaxHookLogLine
	// "é" is two bytes: the first at byte limit-1 of the line, the second
	// past the cut.
	long := strings.Repeat("a", limit-1) + "é" + "tail"
	warn := strings.Repeat("a", limit-1-len("[warn] ")) + "é" + "tail"
	c := &call{}
	c.log(levelInfo, long)
	c.log(levelWarn, warn)
	c.log(levelInfo, strings.Repeat("a", limit-2)+"é") // exactly limit bytes: kept whole
	c.write(streamStdout, []byte(long[:600]))
	c.write(streamStdout, []byte(long[600:]))
	c.write(streamStdout, []byte(" and more\n"))
	want := []string{
		strings.Repeat("a", limit-1),
		"[warn] " + strings.Repeat("a", limit-1-len("[warn] ")),
		strings.Repeat("a", limit-2) + "é",
		strings.Repeat("a", limit-1),
	}
	got := c.result().Logs
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] || !utf8.ValidString(got[i]) {
			t.Errorf("line %d: %d bytes ending %q, want %d bytes ending %q", i, len(got[i]), got[i][max(len(got[i])-4, 0):], len(want[i]), want[i][max(len(want[i])-4, 0):])
		}
	}
}
