package issuertest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/sdk/resource"
)

// BenchmarkValidation measures, for each signing algorithm with the keys
// cached, in one run:
//
//   - verify: the bare signature check (golang-jwt's SigningMethod.Verify
//     on the decoded signature, i.e. the crypto alone);
//   - validate: Validator.Validate (parse, header and key checks,
//     signature, claims);
//   - protect: a request through Protect with RequireScopes (Bearer
//     header, Validate, guard, claims into the context);
//   - interleaved: the three in turn in every iteration, so that they share
//     the machine's load, reporting validate/verify and protect/verify
//     ratios and the overhead in µs over the bare verification.
//
// docs/performance.md reports the ratios.
func BenchmarkValidation(b *testing.B) {
	is := startIssuer(b)
	ks, err := is.Keys.Load()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		aud := apiByAlg[alg]
		tok := is.token(b, aud, "read:users")
		v := is.validator(b, aud)
		if _, err := v.Validate(ctx, tok); err != nil { // fetches and caches the keys
			b.Fatal(err)
		}
		k, _ := ks.Signing(alg)
		dot := strings.LastIndexByte(tok, '.')
		input := tok[:dot]
		sig, err := b64.DecodeString(tok[dot+1:])
		if err != nil {
			b.Fatal(err)
		}
		method, pub := k.Method(), k.Public()

		b.Run(alg+"/verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := method.Verify(input, sig, pub); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/validate", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Validate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		h := v.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}), resource.RequireScopes("read:users"))
		req := request("GET", "/users", tok)
		b.Run(alg+"/protect", func(b *testing.B) {
			b.ReportAllocs()
			w := &statusOnly{header: http.Header{}}
			for b.Loop() {
				h.ServeHTTP(w, req)
				if w.status != http.StatusNoContent {
					b.Fatalf("status %d", w.status)
				}
			}
		})
		b.Run(alg+"/interleaved", func(b *testing.B) {
			w := &statusOnly{header: http.Header{}}
			var verify, validate, protect time.Duration
			for b.Loop() {
				t0 := time.Now()
				method.Verify(input, sig, pub)
				t1 := time.Now()
				v.Validate(ctx, tok)
				t2 := time.Now()
				h.ServeHTTP(w, req)
				t3 := time.Now()
				verify, validate, protect = verify+t1.Sub(t0), validate+t2.Sub(t1), protect+t3.Sub(t2)
			}
			n := float64(b.N)
			b.ReportMetric(float64(validate)/float64(verify), "validate/verify")
			b.ReportMetric(float64(protect)/float64(verify), "protect/verify")
			b.ReportMetric(float64(protect-verify)/n/1e3, "overhead-µs")
			b.ReportMetric(float64(verify)/n/1e3, "verify-µs")
		})
	}
}

// statusOnly is a ResponseWriter that keeps the status only.
type statusOnly struct {
	header http.Header
	status int
}

func (w *statusOnly) Header() http.Header         { return w.header }
func (w *statusOnly) Write(p []byte) (int, error) { return len(p), nil }
func (w *statusOnly) WriteHeader(status int)      { w.status = status }
