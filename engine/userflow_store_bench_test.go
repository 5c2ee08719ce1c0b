package engine_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/bolt"
	"github.com/scopeline/scopeline/engine/storage/natskv"
)

// BenchmarkUserFlowBackends measures a code exchange and a refresh
// through the whole issuer (in process, ES256) on each durable backend,
// with the median and the 99th percentile of the operations: bbolt (one
// process), the key-value backend on one embedded server reached in
// process, and on three servers with every bucket on all three (R3), as a
// cluster's replicas use it. The three-server cases are skipped under
// -short.
func BenchmarkUserFlowBackends(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) storage.Storage
	}{
		{"bolt", func(b *testing.B) storage.Storage {
			s, err := bolt.Open(b.TempDir(), time.Second)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"kv", func(b *testing.B) storage.Storage {
			c := natstest.Start(b, 1)
			js, err := jetstream.New(c.ConnectInProcess(b, 0))
			if err != nil {
				b.Fatal(err)
			}
			return openKV(b, js, 1)
		}},
		{"kv-R3", func(b *testing.B) storage.Storage {
			c := natstest.Start(b, 3)
			return openKV(b, c.JetStream(b), 3)
		}},
	}
	for _, st := range backends {
		b.Run("code_exchange/"+st.name, func(b *testing.B) {
			f := newBenchFlows(b, st.open(b))
			codes := make([]string, b.N)
			for i := range codes {
				codes[i] = f.code(b)
			}
			var q quantiles
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				f.exchange(b, codes[i])
				q.add(time.Since(start))
			}
			q.report(b)
		})
		b.Run("refresh/"+st.name, func(b *testing.B) {
			f := newBenchFlows(b, st.open(b))
			rt := f.exchange(b, f.code(b)).RefreshToken
			ctx := context.Background()
			var q quantiles
			for b.Loop() {
				start := time.Now()
				resp, err := f.iss.Token(ctx, &engine.TokenRequest{
					GrantType: engine.GrantRefreshToken, ClientID: "spa", AuthMethod: engine.AuthNone,
					Params: url.Values{"refresh_token": {rt}},
				})
				if err != nil {
					b.Fatal(err)
				}
				q.add(time.Since(start))
				rt = resp.RefreshToken
			}
			q.report(b)
		})
	}
}

func openKV(b *testing.B, js jetstream.JetStream, replicas int) storage.Storage {
	s, err := natskv.Open(b.Context(), js, natskv.WithReplicas(replicas))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// quantiles collects operation times and reports their median and 99th
// percentile in µs.
type quantiles []time.Duration

func (q *quantiles) add(d time.Duration) { *q = append(*q, d) }

func (q quantiles) report(b *testing.B) {
	if len(q) == 0 {
		return
	}
	slices.Sort(q)
	at := func(p float64) float64 { return float64(q[int(p*float64(len(q)-1))].Microseconds()) }
	b.ReportMetric(at(0.5), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
