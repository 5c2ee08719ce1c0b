// Package claim holds the rules for the names and values of the claims
// that hooks set in access tokens: which names are reserved to the issuer,
// which names are well formed, and when two names are the same claim to a
// decoder that matches names without regard to case.
//
// The engine applies them to every op a hook stages (engine.Transaction);
// the ready-made plugins, written in C, carry the same rules for their
// configs. Why names are compared folded: docs/design.md, "Claim names are
// compared folded".
package claim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/scopeline/scopeline/sdk/resource/jsonmember"
)

// MaxNameLen bounds a claim name, in bytes.
const MaxNameLen = 128

// Reserved are the claims only the issuer writes, and no hook may set or
// remove: the JWT registered claims (RFC 7519 §4.1), the access token's
// (RFC 9068 §2.2), the OpenID Connect protocol claims (OIDC Core §2,
// §3.1.3.6, Front-Channel Logout §3), the confirmation claim (RFC 7800)
// and the token-exchange actor claims (RFC 8693 §4.1, §4.4), which the
// issuer may write in the future. A resource server trusts each of them
// as the issuer's word.
var Reserved = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
	"scope", "client_id", "cnf",
	"auth_time", "acr", "amr", "azp", "nonce", "sid", "at_hash", "c_hash",
	"act", "may_act",
}

// Key returns the comparison key of a claim name: its compatibility
// normal form (NFKC) under Unicode simple case folding, each character
// replaced by the smallest of its fold orbit, as encoding/json matches
// object keys to struct fields. Two names with the same key are the same
// claim to a decoder that ignores case or normalizes compatibility
// characters: "scope", "Scope", "SCOPE", "ſcope" (long s) and "ｓｃｏｐｅ"
// (fullwidth) all have the key of "scope".
func Key(name string) string {
	name = norm.NFKC.String(name)
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune returns the smallest rune of r's simple case folding orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// reservedKeys are the keys of Reserved.
var reservedKeys = func() map[string]string {
	m := make(map[string]string, len(Reserved))
	for _, n := range Reserved {
		m[Key(n)] = n
	}
	return m
}()

// IsReserved reports whether name is a reserved claim or folds to one
// (see Key); it returns the reserved name.
func IsReserved(name string) (string, bool) {
	if isASCII(name) { // its own NFKC form: simple folding is EqualFold
		for _, r := range Reserved {
			if len(r) == len(name) && strings.EqualFold(r, name) {
				return r, true
			}
		}
		return "", false
	}
	r, ok := reservedKeys[Key(name)]
	return r, ok
}

// Same reports whether a and b are the same claim to a decoder that
// ignores case or normalizes compatibility characters: Key(a) == Key(b).
func Same(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return len(a) == len(b) && strings.EqualFold(a, b)
	}
	return Key(a) == Key(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Errors of CheckName.
var (
	ErrNameLength     = fmt.Errorf("claim names are 1 to %d bytes", MaxNameLen)
	ErrNameUTF8       = errors.New("claim name is not valid UTF-8")
	ErrNameNormalized = errors.New("claim name is not in Unicode normalization form C (NFC)")
	ErrNameCharacter  = errors.New("claim name has a control, format, space or invisible character")
)

// CheckName reports whether name may be the name of a claim: 1 to
// MaxNameLen bytes of valid UTF-8 in normalization form C, without control
// or format characters (such as zero-width spaces and bidirectional
// overrides), spaces, private-use characters, noncharacters, variation
// selectors or other default-ignorable characters: nothing that lets two
// names look alike or a name hide in a log. It does not check reservation
// (IsReserved). Errors wrap the Err... values of this package.
func CheckName(name string) error {
	switch {
	case name == "" || len(name) > MaxNameLen:
		return ErrNameLength
	case !utf8.ValidString(name):
		return ErrNameUTF8
	}
	for _, r := range name {
		if forbidden(r) {
			return fmt.Errorf("%w (%U)", ErrNameCharacter, r)
		}
	}
	if !isASCII(name) && !norm.NFC.IsNormalString(name) {
		return ErrNameNormalized
	}
	return nil
}

// forbidden tells whether r may not appear in a claim name.
func forbidden(r rune) bool {
	if r < utf8.RuneSelf {
		return r <= ' ' || r == 0x7f
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Z, unicode.Co,
		unicode.Noncharacter_Code_Point, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// Quote renders a name that CheckName refused for a trace or a log: Go
// quoted, with every non-ASCII or invisible character escaped, cut to
// about MaxNameLen bytes.
func Quote(name string) string {
	if len(name) > MaxNameLen {
		name = name[:MaxNameLen]
	}
	return fmt.Sprintf("%+q", name)
}

// Errors of CheckValue.
var (
	ErrValueJSON      = errors.New("value is not valid JSON")
	ErrValueUTF8      = errors.New("value is not valid UTF-8")
	ErrValueDuplicate = errors.New("value has an object with a duplicate member name")
)

// CheckValue reports whether raw is one JSON value fit for a claim: valid
// JSON (RFC 8259) in valid UTF-8, whose objects have unique member names
// (I-JSON, RFC 7493 §2.3), so that every decoder reads the same value.
// Errors wrap the Err... values of this package.
func CheckValue(raw []byte) error {
	if PlainString(raw) {
		return nil // the usual claim value, checked without a JSON scanner
	}
	if !json.Valid(raw) {
		return ErrValueJSON
	}
	if !utf8.Valid(raw) {
		return ErrValueUTF8
	}
	if bytes.IndexByte(raw, '{') < 0 {
		return nil // no object, no member names (a '{' in a string is harmless)
	}
	type member struct {
		object int
		name   string
	}
	seen := map[member]bool{}
	return jsonmember.Walk(raw, func(m jsonmember.Member) error {
		k := member{m.Object, m.Name}
		if seen[k] {
			return fmt.Errorf("%w (%s)", ErrValueDuplicate, Quote(m.Name))
		}
		seen[k] = true
		return nil
	})
}

// PlainString reports whether raw is a JSON string of printable ASCII
// without escapes ("gold"), with nothing around it: valid, compact and
// free of member names as it is.
func PlainString(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
