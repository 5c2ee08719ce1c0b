package scope

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "read:users", want: []string{"read:users"}},
		{in: "read:users write:users", want: []string{"read:users", "write:users"}},
		{in: "  read:users   write:users ", want: []string{"read:users", "write:users"}},
		{in: "a a b a", want: []string{"a", "b"}},
		{in: "", wantErr: true},
		{in: "   ", wantErr: true},
		{in: `a"b`, wantErr: true},
		{in: `a\b`, wantErr: true},
		{in: "a\tb", wantErr: true},
		{in: "caf\xc3\xa9", wantErr: true},
		{in: strings.Repeat("x", MaxTokenLen+1), wantErr: true},
		{in: strings.Repeat("s ", MaxTokens), want: []string{"s"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, err := Parse(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("Parse(\"\") = %v, want ErrEmpty", err)
	}
	many := make([]string, MaxTokens+1)
	for i := range many {
		many[i] = "s" + strings.Repeat("x", i)
	}
	if _, err := Parse(strings.Join(many, " ")); err == nil {
		t.Errorf("Parse of %d scopes: want an error", len(many))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"read:users write:users", "", " a  b ", "a\x00b", `"`, strings.Repeat("a ", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			return
		}
		if len(got) == 0 || len(got) > MaxTokens {
			t.Fatalf("Parse(%q) returned %d scopes", s, len(got))
		}
		for _, tok := range got {
			if ValidToken(tok) != nil {
				t.Fatalf("Parse(%q) returned invalid token %q", s, tok)
			}
		}
		again, err := Parse(Join(got))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("round trip of %q: %q, %v", s, again, err)
		}
	})
}
