package claim

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestIsReserved(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"scope", "scope"},
		{"Scope", "scope"},
		{"SCOPE", "scope"},
		{"\u017fcope", "scope"},      // ſ LATIN SMALL LETTER LONG S folds to s
		{"\uff53\uff43ope", "scope"}, // fullwidth ｓｃ: NFKC
		{"Client_ID", "client_id"},
		{"\u212a", ""}, // KELVIN SIGN is k, and no claim is "k"
		{"ja\u212ai", ""},
		{"Aud", "aud"},
		{"EXP", "exp"},
		{"Jti", "jti"},
		{"Auth_Time", "auth_time"},
		{"may_act", "may_act"},
		{"tier", ""},
		{"scopes", ""},
		{"permissions", ""}, // reserved per request, not here
	} {
		got, ok := IsReserved(tc.name)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("IsReserved(%q) = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
	// The Kelvin sign folds with k: a name made with it has the key of
	// the same name made with k.
	if Key("\u212aey") != Key("key") || Key("KEY") != Key("key") {
		t.Error("Kelvin sign or upper case does not fold to k")
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want error
	}{
		{"tier", nil},
		{"https://example.com/claims/tier", nil},
		{"région", nil},       // NFC: é is one code point
		{"r\u00e9gion", nil},  // the same
		{"\u5ba2\u6237", nil}, // 客户
		{"", ErrNameLength},
		{strings.Repeat("a", 129), ErrNameLength},
		{strings.Repeat("a", 128), nil},
		{"re\u0301gion", ErrNameNormalized}, // e + combining acute: NFD
		{"\u212a", ErrNameNormalized},       // KELVIN SIGN: NFC makes it K
		{"ti\xffer", ErrNameUTF8},
		{"scope\u200b", ErrNameCharacter}, // ZERO WIDTH SPACE
		{"\u202escope", ErrNameCharacter}, // RIGHT-TO-LEFT OVERRIDE
		{"\ufeffscope", ErrNameCharacter}, // BOM
		{"sco\u00adpe", ErrNameCharacter}, // SOFT HYPHEN
		{"scope\u034f", ErrNameCharacter}, // COMBINING GRAPHEME JOINER
		{"scope\ufe0f", ErrNameCharacter}, // VARIATION SELECTOR-16
		{"\u3164scope", ErrNameCharacter}, // HANGUL FILLER
		{"a\x1b[2Jb", ErrNameCharacter},
		{"a\x00b", ErrNameCharacter},
		{"my claim", ErrNameCharacter},
		{"scope\u00a0", ErrNameCharacter}, // NO-BREAK SPACE
		{"a\u2028b", ErrNameCharacter},    // LINE SEPARATOR
		{"\ue000", ErrNameCharacter},      // private use
		{"\ufdd0", ErrNameCharacter},      // noncharacter
	} {
		if err := CheckName(tc.name); !errors.Is(err, tc.want) {
			t.Errorf("CheckName(%+q) = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestCheckValue(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  error
	}{
		{`"gold"`, nil},
		{`5`, nil},
		{`["a","b"]`, nil},
		{`{"a":1,"b":{"a":2}}`, nil},
		{`[{"a":1},{"a":2}]`, nil},
		{`"{\"a\":1,\"a\":2}"`, nil}, // a string, not an object
		{`{"A":1,"a":2}`, nil},       // nested values may differ in case
		{``, ErrValueJSON},
		{`{"a":1`, ErrValueJSON},
		{`1 2`, ErrValueJSON},
		{"\"\xff\"", ErrValueUTF8},
		{`{"a":1,"a":2}`, ErrValueDuplicate},
		{`{"a":1,"\u0061":2}`, ErrValueDuplicate},
		{`[1,{"x":{"y":1,"y":2}}]`, ErrValueDuplicate},
	} {
		if err := CheckValue([]byte(tc.value)); !errors.Is(err, tc.want) {
			t.Errorf("CheckValue(%s) = %v, want %v", tc.value, err, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("scope\u200b"); got != `"scope\u200b"` {
		t.Errorf("Quote = %s", got)
	}
	if got := Quote(strings.Repeat("x", 1000)); len(got) != MaxNameLen+2 {
		t.Errorf("Quote of 1000 bytes is %d bytes", len(got))
	}
}

// FuzzCheckValue: CheckValue never panics, accepts only valid UTF-8 JSON,
// finds a repeated member name exactly when a json.Decoder walk does, and
// accepts what it accepted once decoded and encoded again.
func FuzzCheckValue(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `[{"a":{"b":[1,{"c":2,"c":3}]}}]`, `"x"`, `{"a":"\u0061"}`, `{`, `{"a":1,"\u0061":2}`, `{"a\"b":1,"a\"b":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if PlainString(raw) {
			var compact bytes.Buffer
			if err := json.Compact(&compact, raw); err != nil || !bytes.Equal(compact.Bytes(), raw) || !utf8.Valid(raw) {
				t.Fatalf("PlainString(%q), but compacted it is %q (%v)", raw, compact.Bytes(), err)
			}
		}
		err := CheckValue(raw)
		if json.Valid(raw) && utf8.Valid(raw) {
			if dup := repeatsMember(json.NewDecoder(bytes.NewReader(raw))); dup != errors.Is(err, ErrValueDuplicate) {
				t.Fatalf("CheckValue(%q) = %v; a decoder walk finds a repeated member: %v", raw, err, dup)
			}
		}
		if err != nil {
			return
		}
		if !json.Valid(raw) || !utf8.Valid(raw) {
			t.Fatalf("CheckValue accepted %q", raw)
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", raw, err)
		}
		again, _ := json.Marshal(v)
		if err := CheckValue(again); err != nil {
			t.Fatalf("accepted %q but not its re-encoding %q: %v", raw, again, err)
		}
	})
}

// repeatsMember is the reference: it walks one value with dec's tokens.
func repeatsMember(dec *json.Decoder) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		if d == '{' {
			tok, _ := dec.Token()
			k, _ := tok.(string)
			if seen[k] {
				return true
			}
			seen[k] = true
		}
		if repeatsMember(dec) {
			return true
		}
	}
	dec.Token()
	return false
}

// BenchmarkCheckValue checks the usual claim value, a short string (by the
// plain-string path), and a small object (by the JSON scanner and the
// member walk).
func BenchmarkCheckValue(b *testing.B) {
	for _, v := range []string{`"gold"`, `{"tier":"gold","region":"eu"}`} {
		b.Run(v, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := CheckValue([]byte(v)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
