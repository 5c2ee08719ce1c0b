package hook

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// TestAppendJSONString: SetClaimString's encoder writes what encoding/json
// would decode to the same string as json.Marshal's output, valid UTF-8
// even from invalid input (which the issuer would refuse as a value).
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "gold", `a"b\c`, "tab\there\n", "\x00\x1f\x7f", "région 客户 ſ", "a\xffb", "\xc3", "\xe2\x80", "ok\u2028", "\xed\xa0\x80"} {
		got := appendJSONString(nil, s)
		want, _ := json.Marshal(s)
		var g, w string
		if err := json.Unmarshal(got, &g); err != nil || !utf8.Valid(got) {
			t.Errorf("appendJSONString(%q) = %s: not valid UTF-8 JSON (%v)", s, got, err)
			continue
		}
		json.Unmarshal(want, &w)
		if g != w {
			t.Errorf("appendJSONString(%q) decodes to %q, json.Marshal's to %q", s, g, w)
		}
	}
}
