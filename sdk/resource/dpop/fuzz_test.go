package dpop_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scopeline/scopeline/sdk/resource/dpop"
	"github.com/scopeline/scopeline/sdk/resource/dpop/dpoptest"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// FuzzVerify feeds arbitrary proofs, starting from genuine ones, to
// Verify: it must never panic, refuse with an *Error, and accept only
// proofs signed by the key in their header for the request.
func FuzzVerify(f *testing.F) {
	clk := newClock()
	for _, alg := range dpop.DefaultAlgorithms {
		k := dpoptest.NewKey(f, alg)
		f.Add(k.Proof(f, dpoptest.Proof{Method: "POST", URL: tokenURL, IssuedAt: clk.Now(), AccessToken: "t"}))
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, proof string) {
		v := verifier(t, clk)
		p, err := v.Verify(context.Background(), proof, dpop.Request{Method: "POST", URL: tokenURL, AccessToken: "t"})
		if err != nil {
			var e *dpop.Error
			if !errors.As(err, &e) {
				t.Fatalf("not an *Error: %v", err)
			}
			return
		}
		if p.Key == nil || !p.Key.Verifies(p.Algorithm) || p.Thumbprint != p.Key.Thumbprint {
			t.Fatalf("accepted proof %+v", p)
		}
		if _, err := v.Verify(context.Background(), proof, dpop.Request{Method: "POST", URL: tokenURL, AccessToken: "t"}); err == nil {
			t.Fatal("accepted twice")
		}
	})
}

// FuzzNormalizeURL checks that normalising is idempotent and never panics.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"https://api.example.com/a/./b/../%7e?x#y", "http://[::1]:80", "HTTPS://X:443", "https://x/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := dpop.NormalizeURL(s)
		if err != nil {
			return
		}
		again, err := dpop.NormalizeURL(n)
		if err != nil || again != n {
			t.Fatalf("NormalizeURL(%q) = %q, then %q (%v)", s, n, again, err)
		}
	})
}

var _ = jwk.ES256
