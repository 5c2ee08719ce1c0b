package console

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestContrast checks the style sheet's colour pairs against WCAG 2.2:
// text at least 4.5:1 on its background (1.4.3, AA), the focus ring at
// least 3:1 against what surrounds it (1.4.11). The colours are read from
// console.css, so a change of colour that breaks a pair fails here; a new
// pair of colours in the sheet belongs in this list.
func TestContrast(t *testing.T) {
	css, err := files.ReadFile("static/console.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):(#[0-9a-f]{3,6})`).FindAllStringSubmatch(string(css), -1) {
		vars[m[1]] = m[2]
	}
	colour := func(s string) string {
		if name, ok := strings.CutPrefix(s, "--"); ok {
			c, ok := vars[name]
			if !ok {
				t.Fatalf("console.css defines no --%s", name)
			}
			return c
		}
		if !strings.Contains(string(css), s) {
			t.Fatalf("console.css does not use %s any more: update the pairs", s)
		}
		return s
	}
	for _, p := range []struct {
		what   string
		fg, bg string
		min    float64
	}{
		{"body text", "--fg", "--bg", 4.5},
		{"muted text", "--muted", "--bg", 4.5},
		{"muted text on panels", "--muted", "--panel", 4.5},
		{"links", "--accent", "--bg", 4.5},
		{"links on panels", "--accent", "--panel", 4.5},
		{"table heads", "--fg", "#eef2f7", 4.5},
		{"matrix row heads", "--fg", "#f8fafc", 4.5},
		{"uncapped matrix cells", "--fg", "#fff7f5", 4.5},
		{"machine and dry-run tags", "--blue", "--blue-bg", 4.5},
		{"user and issued tags", "--green", "--green-bg", 4.5},
		{"uncapped and denied tags", "--red", "--red-bg", 4.5},
		{"hook-failed and retired tags", "--amber", "--amber-bg", 4.5},
		{"hook tags", "--violet", "--violet-bg", 4.5},
		{"added and ok", "--green", "--bg", 4.5},
		{"removed and bad", "--red", "--bg", 4.5},
		{"claims ops", "--violet", "--bg", 4.5},
		{"faults", "--amber", "--bg", 4.5},
		{"diff line numbers, added", "--muted", "--green-bg", 4.5},
		{"diff line numbers, removed", "--muted", "--red-bg", 4.5},
		{"current rows", "--fg", "#fffbe8", 4.5},
		{"the top bar", "#fff", "#13294b", 4.5},
		{"the operator badge", "#13294b", "#f2c14e", 4.5},
		{"buttons", "#fff", "--accent", 4.5},
		{"danger buttons", "#fff", "--red", 4.5},
		{"hook logs", "#f3f6fa", "#13294b", 4.5},
		{"the focus ring on pages", "--focus", "--bg", 3},
		{"the focus ring on panels", "--focus", "--panel", 3},
		{"the focus ring on the top bar", "--focus", "#13294b", 3},
	} {
		fg, bg := colour(p.fg), colour(p.bg)
		if r := contrast(t, fg, bg); r < p.min {
			t.Errorf("%s: %s on %s has a contrast of %.2f:1, want at least %.1f:1", p.what, fg, bg, r, p.min)
		}
	}
}

// contrast is the WCAG contrast ratio of two sRGB colours (#rgb or
// #rrggbb).
func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// luminance is WCAG's relative luminance of an sRGB colour.
func luminance(t *testing.T, hex string) float64 {
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil || len(h) != 6 {
		t.Fatalf("colour %q", hex)
	}
	lin := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(v>>16&0xff) + 0.7152*lin(v>>8&0xff) + 0.0722*lin(v&0xff)
}
