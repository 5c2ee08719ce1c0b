package natskv_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/bolt"
	"github.com/scopeline/scopeline/engine/storage/natskv"
)

// backends are the stores the benchmarks compare, in one run: bolt (a
// file, fsynced on every commit); this backend on one embedded server
// reached in process (the single-process topology), with JetStream's
// default of syncing to disk every two minutes and with a sync on every
// write (as durable as bolt); the same over loopback TCP; and three
// servers with every bucket on all three (R3), syncing on the default
// interval (a write is acknowledged once two servers hold it).
func backends(b *testing.B) []struct {
	name string
	open func(b *testing.B) storage.Storage
} {
	single := natstest.Start(b, 1)
	inproc, err := jetstream.New(single.ConnectInProcess(b, 0))
	if err != nil {
		b.Fatal(err)
	}
	tcp := single.JetStream(b)
	synced := natstest.Start(b, 1, func(o *server.Options) { o.SyncAlways = true })
	inprocSync, err := jetstream.New(synced.ConnectInProcess(b, 0))
	if err != nil {
		b.Fatal(err)
	}
	var r3 jetstream.JetStream
	if !testing.Short() {
		r3 = natstest.Start(b, 3).JetStream(b)
	}
	n := 0
	kv := func(js jetstream.JetStream, opts ...natskv.Option) func(b *testing.B) storage.Storage {
		return func(b *testing.B) storage.Storage {
			if js == nil {
				b.Skip("no cluster under -short")
			}
			n++
			s, err := natskv.Open(b.Context(), js, append(opts, natskv.WithBucketPrefix(fmt.Sprintf("b%d_", n)))...)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
	}
	return []struct {
		name string
		open func(b *testing.B) storage.Storage
	}{
		{"bolt", func(b *testing.B) storage.Storage {
			s, err := bolt.Open(b.TempDir(), time.Second)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"kv-inprocess", kv(inproc)},
		{"kv-inprocess-syncalways", kv(inprocSync)},
		{"kv-loopback", kv(tcp)},
		{"kv-r3-loopback", kv(r3, natskv.WithReplicas(3))},
	}
}

// latencies records the duration of each operation and reports the
// median and the 99th percentile.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(p float64) float64 {
		return float64(l[min(len(l)-1, int(float64(len(l))*p))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkCodeExchange is what the token endpoint asks of storage to
// exchange an authorization code for tokens with a refresh token: consume
// the code, create the refresh-token family. (The code was stored at
// /authorize, outside the timing.)
func BenchmarkCodeExchange(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			ctx, now := b.Context(), time.Now()
			codes := make([]string, b.N)
			for i := range codes {
				codes[i] = storage.Hash(fmt.Sprintf("code-%d-%d", b.N, i))
				must(b, s.CreateAuthCode(ctx, &storage.AuthCode{Hash: codes[i], Expires: now.Add(time.Minute), Data: make([]byte, 400)}))
			}
			lat := make(latencies, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				fam := fmt.Sprintf("fam-%d-%d", b.N, i)
				if _, err := s.ConsumeAuthCode(ctx, codes[i], fam, now); err != nil {
					b.Fatal(err)
				}
				must(b, s.CreateRefreshFamily(ctx, &storage.RefreshFamily{
					ID: fam, ClientID: "spa", UserID: "alice", Current: storage.Hash(fam + "rt"),
					CurrentExpires: now.Add(time.Hour), Created: now, Expires: now.Add(24 * time.Hour), Data: make([]byte, 200),
				}))
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			lat.report(b)
		})
	}
}

// BenchmarkRefreshRotation is what the token endpoint asks of storage to
// use a refresh token: find its family, rotate it to a new token.
func BenchmarkRefreshRotation(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			ctx, now := b.Context(), time.Now()
			fam := fmt.Sprintf("fam-%d", b.N)
			token := storage.Hash(fam + "-0")
			must(b, s.CreateRefreshFamily(ctx, &storage.RefreshFamily{
				ID: fam, ClientID: "spa", UserID: "alice", Current: token,
				CurrentExpires: now.Add(time.Hour), Created: now, Expires: now.Add(24 * time.Hour), Data: make([]byte, 200),
			}))
			lat := make(latencies, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				f, err := s.GetRefreshToken(ctx, token, now)
				if err != nil || f.Current != token {
					b.Fatalf("get: %v", err)
				}
				next := storage.Hash(fmt.Sprintf("%s-%d", fam, i+1))
				must(b, s.RotateRefreshToken(ctx, fam, token, next, now.Add(time.Hour), now))
				token = next
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			lat.report(b)
		})
	}
}
