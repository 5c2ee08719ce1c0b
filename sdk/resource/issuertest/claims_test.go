package issuertest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/sdk/resource"
)

// signRaw signs a claims set given as JSON text, as it is (with whatever
// duplicate or odd member names it has), with the issuer's real key.
func (is *issuer) signRaw(tb testing.TB, alg, payload string) string {
	tb.Helper()
	return is.sign(tb, alg, nil, b64.EncodeToString([]byte(payload)))
}

// TestAmbiguousClaimsRefused: tokens signed with the issuer's real key
// whose claims set reads differently to different decoders — a claim
// repeated, or written again in another letter case or Unicode fold that
// encoding/json would match to the registered claim, last one winning —
// are refused with invalid_token, as are NumericDate claims that are not
// JSON numbers. Before, a token for one API carrying a folded "Aud" was
// accepted by another API, with a forged sub, client_id, scope and exp.
func TestAmbiguousClaimsRefused(t *testing.T) {
	is := startIssuer(t)
	now := time.Now()
	// base is a genuine claims set for rsAPI, as JSON members, and the
	// members to add after them.
	base := fmt.Sprintf(`"iss":%q,"sub":"app","aud":%q,"client_id":"app","iat":%d,"exp":%d,"jti":"j1","scope":"read:users"`,
		is.Issuer, rsAPI, now.Unix(), now.Add(time.Hour).Unix())
	past := fmt.Sprintf(`"iss":%q,"sub":"app","aud":%q,"client_id":"app","iat":%d,"exp":%d,"jti":"j1","scope":"read:users"`,
		is.Issuer, rsAPI, now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix())
	future := now.Add(24 * time.Hour).Unix()
	const ambiguous, notNumber = "ambiguous", "not a number"
	for _, tc := range []struct {
		name, aud, payload string
		why                string // "" when accepted
	}{
		{"genuine", rsAPI, "{" + base + "}", ""},
		{"custom claims, one of them in upper case", rsAPI, "{" + base + `,"Tier":"gold","org":{"id":1,"Id":2},"auth_time":5}`, ""},
		{"folded aud for another API", esAPI, "{" + base + `,"Aud":"` + esAPI + `"}`, ambiguous},
		{"folded sub, client_id and scope", rsAPI, "{" + base + `,"Sub":"admin","Client_id":"admin-app","Scope":"read:users delete:users"}`, ambiguous},
		{"long s in scope", rsAPI, "{" + base + `,"\u017fcope":"read:users delete:users"}`, ambiguous},
		{"long s, raw UTF-8", rsAPI, "{" + base + ",\"\u017fcope\":\"read:users delete:users\"}", ambiguous},
		{"KELVIN SIGN does not fold to any registered claim", rsAPI, "{" + base + ",\"\u212aid\":\"x\"}", ""},
		{"expired, with a folded Exp in the future", rsAPI, "{" + past + fmt.Sprintf(`,"Exp":%d}`, future), ambiguous},
		{"folded name of an absent registered claim", rsAPI, "{" + base + `,"NBF":0}`, ambiguous},
		{"sub twice", rsAPI, "{" + base + `,"sub":"admin"}`, ambiguous},
		{"sub twice, escaped", rsAPI, "{" + base + `,"\u0073ub":"admin"}`, ambiguous},
		{"a custom claim twice in two cases", rsAPI, "{" + base + `,"tier":"bronze","Tier":"gold"}`, ambiguous},
		{"a member repeated inside a claim", rsAPI, "{" + base + `,"org":{"id":1,"id":2}}`, ambiguous},
		{"a member repeated deeper", rsAPI, "{" + base + `,"org":[{"a":{"b":1,"b":2}}]}`, ambiguous},
		{"cnf in upper case", rsAPI, "{" + base + `,"CNF":{"jkt":"x"}}`, ambiguous},
		{"exp as a string", rsAPI, "{" + strings.Replace(base, fmt.Sprintf(`"exp":%d`, now.Add(time.Hour).Unix()), fmt.Sprintf(`"exp":"%d"`, future), 1) + "}", notNumber},
		{"iat as a string", rsAPI, "{" + strings.Replace(base, fmt.Sprintf(`"iat":%d`, now.Unix()), fmt.Sprintf(`"iat":"%d"`, now.Unix()), 1) + "}", notNumber},
		{"nbf as a string", rsAPI, "{" + base + `,"nbf":"0"}`, notNumber},
		{"auth_time as a string", rsAPI, "{" + base + `,"auth_time":"0"}`, notNumber},
		{"exp null", rsAPI, "{" + strings.Replace(base, fmt.Sprintf(`"exp":%d`, now.Add(time.Hour).Unix()), `"exp":null`, 1) + "}", notNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := is.validator(t, tc.aud)
			tok := is.signRaw(t, "ES256", tc.payload)
			c, err := v.Validate(context.Background(), tok)
			if tc.why == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Subject != "app" || c.ClientID != "app" || c.Audience[0] != rsAPI {
					t.Errorf("claims %+v", c)
				}
				return
			}
			var e *resource.Error
			if !errors.As(err, &e) || !errors.Is(err, resource.ErrInvalidToken) || !strings.Contains(e.Description, tc.why) {
				t.Fatalf("got %v (claims %+v), want invalid_token saying %q", err, c, tc.why)
			}
			w := call(api(v), "GET", "/users", "Bearer "+tok)
			checkRefusal(t, w, tc.aud, "invalid_token")
		})
	}
}
