package issuertest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/sdk/resource"
)

// FuzzValidate feeds arbitrary strings, starting from genuine and forged
// tokens of a real issuer, to Validate: it must never panic, refuse with
// invalid_token (or unavailable), and accept only what the issuer signed.
func FuzzValidate(f *testing.F) {
	is := startIssuer(f)
	now := time.Now()
	var genuine []string
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		genuine = append(genuine, is.token(f, apiByAlg[alg], "read:users"))
	}
	for _, tok := range genuine {
		f.Add(tok)
	}
	f.Add(is.forge(f, "EdDSA", map[string]any{"typ": "JWT"}, is.claims(edAPI, now, nil)))
	f.Add(is.forge(f, "ES256", nil, is.claims(esAPI, now, map[string]any{"exp": "soon", "aud": 1})))
	f.Add(encodeSegment(f, map[string]any{"alg": "none"}) + "." + encodeSegment(f, is.claims(rsAPI, now, nil)) + ".")
	f.Add("a.b.c")
	f.Add("....")
	f.Add("")

	validators := map[string]*resource.Validator{}
	for _, aud := range apiByAlg {
		validators[aud] = is.validator(f, aud)
	}
	signed := func(tok string) bool { // the signing input is one the issuer produced
		input := tok[:strings.LastIndexByte(tok, '.')]
		return slices.ContainsFunc(genuine, func(g string) bool { return strings.HasPrefix(g, input+".") })
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for aud, v := range validators {
			c, err := v.Validate(context.Background(), tok)
			if err == nil {
				if !signed(tok) || c.Issuer != is.Issuer || !slices.Contains(c.Audience, aud) {
					t.Fatalf("accepted %q for %s: %+v", tok, aud, c)
				}
				continue
			}
			if !errors.Is(err, resource.ErrInvalidToken) && !errors.Is(err, resource.ErrUnavailable) {
				t.Fatalf("error %v", err)
			}
			var e *resource.Error
			if errors.As(err, &e) && len(tok) > 8 && strings.Contains(e.Description, tok) {
				t.Fatal("the refusal repeats the token")
			}
		}
	})
}
