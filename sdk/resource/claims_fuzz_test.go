package resource

import (
	"encoding/json"
	"testing"
)

// FuzzClaimsSet feeds arbitrary claims sets to the strict decoder: it must
// never panic, and what it accepts must read the same to a decoder that
// matches member names exactly: no two claims equal under case folding,
// the fields it filled from the claims of exactly their names, and the
// NumericDate claims numbers.
func FuzzClaimsSet(f *testing.F) {
	for _, s := range []string{
		`{"iss":"https://i/","sub":"a","aud":["x","y"],"exp":1,"iat":1,"nbf":1,"jti":"j","client_id":"c","scope":"s","auth_time":2}`,
		`{"sub":"a","Sub":"b"}`, `{"ſcope":"x"}`, `{"scope":"a","scope":"b"}`, `{"\u0073ub":"a","sub":"b"}`,
		`{"exp":"1"}`, `{"exp":null}`, `{"x":{"a":1,"a":2}}`, `{"x":[{"a":[{"b":1}]}]}`, `{}`, `[]`, `{"a":1} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		new(tokenClaims).UnmarshalJSON(b) // on any bytes: never panics nor reads past them
		var tc tokenClaims
		if json.Unmarshal(b, &tc) != nil {
			return
		}
		var all map[string]json.RawMessage
		if err := json.Unmarshal(b, &all); err != nil {
			t.Fatalf("accepted %q, not an object: %v", b, err)
		}
		folded := map[string]string{}
		for name := range all {
			if other, ok := folded[foldName(name)]; ok {
				t.Fatalf("accepted %q with %q and %q", b, name, other)
			}
			folded[foldName(name)] = name
			if r, ok := registeredKeys[foldName(name)]; ok && r != name {
				t.Fatalf("accepted %q with %q, a fold of %q", b, name, r)
			}
		}
		for name, field := range map[string]string{"iss": tc.Issuer, "sub": tc.Subject, "jti": tc.ID, "client_id": tc.ClientID, "scope": tc.Scope} {
			var want string
			if raw, ok := all[name]; ok {
				json.Unmarshal(raw, &want)
			}
			if field != want {
				t.Fatalf("accepted %q with %s = %q, want %q", b, name, field, want)
			}
		}
		for _, name := range []string{"exp", "nbf", "iat", "auth_time"} {
			if raw, ok := all[name]; ok {
				var n json.Number
				if err := json.Unmarshal(raw, &n); err != nil || raw[0] == '"' {
					t.Fatalf("accepted %q with %s = %s", b, name, raw)
				}
			}
		}
	})
}
