package jsonmember

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

func walk(t testing.TB, text string) []string {
	t.Helper()
	var got []string
	if err := Walk([]byte(text), func(m Member) error {
		got = append(got, fmt.Sprintf("%d %s=%s", m.Depth, m.Name, m.Value))
		return nil
	}); err != nil {
		t.Fatalf("Walk(%s): %v", text, err)
	}
	return got
}

func TestWalk(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{`"x"`, nil},
		{`[1, "a", null]`, nil},
		{`{"a":1,"a":2}`, []string{"0 a=1", "0 a=2"}},
		{` { "a" : { "b" : [ {"c":true} ] } , "\u0061\"" : "v" } `, []string{`2 c=true`, `1 b=[ {"c":true} ]`, `0 a={ "b" : [ {"c":true} ] }`, `0 a"="v"`}},
		{`[{"k":1},{"k":2}]`, []string{"0 k=1", "0 k=2"}},
	} {
		if got := walk(t, tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Walk(%s) visited %q, want %q", tc.text, got, tc.want)
		}
	}
	// Sibling objects are told apart.
	var objects []int
	Walk([]byte(`[{"k":1},{"k":2}]`), func(m Member) error { objects = append(objects, m.Object); return nil })
	if len(objects) != 2 || objects[0] == objects[1] {
		t.Errorf("objects %v", objects)
	}
}

func TestUnquote(t *testing.T) {
	for _, raw := range []string{`""`, `"abc"`, `"a\"b\u00e9\n"`, "\"a\x90\x90b\"", `"\ud800"`} {
		var want string
		json.Unmarshal([]byte(raw), &want)
		if got, err := Unquote([]byte(raw)); err != nil || got != want {
			t.Errorf("Unquote(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{``, `"`, `abc`, `"a"b`, `"\`} {
		if _, err := Unquote([]byte(raw)); err == nil {
			t.Errorf("Unquote(%q) accepted", raw)
		}
	}
}

// FuzzWalk: Walk never panics nor reads past its input, and on valid JSON
// visits the members a json.Decoder walk meets, with their depths.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `[{"a":{"b":[1,{"c":2,"c":3}]}}]`, `"x"`, `{"a":"\u0061"}`, `{`, `{"a"0,0`, `{"a\"b":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []string
		err := Walk(b, func(m Member) error {
			got = append(got, fmt.Sprintf("%d %q", m.Depth, m.Name))
			if !json.Valid(m.Value) && json.Valid(b) {
				t.Fatalf("member %q of %q has value %q", m.Name, b, m.Value)
			}
			return nil
		})
		if !json.Valid(b) {
			return
		}
		if err != nil {
			t.Fatalf("Walk(%q): %v", b, err)
		}
		var want []string
		reference(json.NewDecoder(bytes.NewReader(b)), 0, &want)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("Walk(%q) visited %q, a decoder walk %q", b, got, want)
		}
	})
}

// reference lists the members of one value with dec's tokens.
func reference(dec *json.Decoder, depth int, out *[]string) {
	tok, err := dec.Token()
	if err != nil {
		return
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return
	}
	for dec.More() {
		if d == '{' {
			tok, _ := dec.Token()
			k, _ := tok.(string)
			*out = append(*out, fmt.Sprintf("%d %q", depth, k))
			reference(dec, depth+1, out)
			continue
		}
		reference(dec, depth, out)
	}
	dec.Token()
}
