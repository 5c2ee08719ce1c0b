package dpop_test

import (
	"context"
	"testing"
	"time"

	"github.com/scopeline/scopeline/sdk/resource/dpop"
	"github.com/scopeline/scopeline/sdk/resource/dpop/dpoptest"
	"github.com/scopeline/scopeline/sdk/resource/replay"
)

// BenchmarkVerify measures the validation of one DPoP proof at a token
// endpoint, replay-cache claim included, per algorithm: what DPoP adds to
// a token request. Each iteration checks a fresh proof; making the proofs
// is outside the timing.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range dpop.DefaultAlgorithms {
		b.Run(alg, func(b *testing.B) {
			k := dpoptest.NewKey(b, alg)
			const n = 4096
			proofs := make([]string, n)
			for i := range proofs {
				proofs[i] = k.Proof(b, dpoptest.Proof{Method: "POST", URL: tokenURL})
			}
			v, err := dpop.NewVerifier(dpop.WithReplayCache(replay.NewMemory(1<<22, nil)), dpop.WithIATWindow(10*time.Minute))
			if err != nil {
				b.Fatal(err)
			}
			r := dpop.Request{Method: "POST", URL: tokenURL}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == n {
					b.StopTimer()
					v, _ = dpop.NewVerifier(dpop.WithReplayCache(replay.NewMemory(1<<22, nil)), dpop.WithIATWindow(10*time.Minute))
					i = 0
					b.StartTimer()
				}
				if _, err := v.Verify(ctx, proofs[i], r); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
