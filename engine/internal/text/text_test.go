package text

import (
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 4, ""},
		{"abc", 3, "abc"},
		{"abcdef", 3, "abc"},
		{"abc", 0, ""},
		{"héllo", 2, "h"}, // é is 2 bytes: not split
		{"héllo", 3, "hé"},
		{"日本語", 5, "日"}, // 3-byte runes
		{"日本語", 6, "日本"},
		{"😀x", 3, ""},             // a 4-byte rune at the start
		{"ab\xffcd", 3, "ab\xff"}, // invalid bytes are kept, not fixed
	}
	for _, tt := range tests {
		if got := Truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// FuzzTruncate checks that Truncate never returns more than n bytes, and
// keeps valid UTF-8 valid.
func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld", 4)
	f.Add("日本語", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 {
			return
		}
		got := Truncate(s, n)
		if len(got) > n || got != s[:len(got)] {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q: not valid UTF-8", s, n, got)
		}
	})
}
