package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
)

// The benchmarks measure what the audit stream costs a token, in one run:
//
//	go test -run '^$' -bench . -benchtime 3s ./engine/audit/
//
// Issuance runs in process (no HTTP) with 16 requests in flight, against
// the embedded server (file storage, default sync), so that the ratios
// between events off, ack and buffered show the audit's share.

const benchTenant = `
apis:
  - identifier: https://api/ES256
    signing_algorithm: ES256
    scopes: [{name: read}, {name: write}]
  - identifier: https://api/RS256
    signing_algorithm: RS256
    scopes: [{name: read}, {name: write}]
clients:
  - id: c
    name: Bench client
    type: m2m
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
grants:
  - {client: c, api: https://api/ES256, scopes: [read, write]}
  - {client: c, api: https://api/RS256, scopes: [read, write]}
`

func benchIssuer(b *testing.B, auditor engine.Auditor) *engine.Issuer {
	tn, err := tenant.Parse([]byte(benchTenant), "bench.yaml", ".")
	if err != nil {
		b.Fatal(err)
	}
	ks, err := keys.NewStore(b.TempDir()).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	opts := []engine.Option{engine.WithIssuer("https://issuer.example/")}
	if auditor != nil {
		opts = append(opts, engine.WithAuditor(auditor))
	}
	iss, err := engine.New(context.Background(), tn, ks, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { iss.Close() })
	return iss
}

func benchPublisher(b *testing.B, mode settings.AuditMode, syncAlways bool) *audit.Publisher {
	cfg := testAudit(b, mode)
	cfg.NATS.Embedded.Listen = ""
	if syncAlways {
		cfg.NATS.Embedded.Sync = settings.Sync{Always: true}
		cfg.Spool.Sync = settings.Sync{Always: true}
	}
	p := openPublisher(b, cfg)
	deadline := time.Now().Add(30 * time.Second)
	for p.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			b.Fatal("publisher not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// BenchmarkIssuance issues client-credentials tokens with events off, in
// ack mode and in buffered mode.
func BenchmarkIssuance(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256"} {
		for _, mode := range []string{"off", "ack", "buffered"} {
			b.Run(alg+"/"+mode, func(b *testing.B) {
				var p *audit.Publisher
				var auditor engine.Auditor
				if mode != "off" {
					p = benchPublisher(b, settings.AuditMode(mode), false)
					auditor = p
				}
				iss := benchIssuer(b, auditor)
				b.SetParallelism(8)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						_, err := iss.Token(context.Background(), &engine.TokenRequest{
							GrantType: engine.GrantClientCredentials, ClientID: "c", ClientSecret: "demo-m2m-secret",
							AuthMethod: engine.AuthSecretBasic, Scope: "read", ScopeSet: true, Audience: "https://api/" + alg,
							RequestID: "bench", IP: "127.0.0.1", UserAgent: "bench",
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				if p != nil {
					waitBacklog(b, p)
				}
			})
		}
	}
}

// BenchmarkIssuanceInterleaved measures the three modes in alternating
// rounds within one benchmark, so that the machine's noise hits them alike,
// and reports each mode's cost per token and the throughput of ack and
// buffered as a percentage of events off. Buffered rounds end when the
// forwarder has delivered their events: sustained throughput, forwarding
// included.
func BenchmarkIssuanceInterleaved(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			modes := []string{"off", "ack", "buffered"}
			issuers := map[string]*engine.Issuer{"off": benchIssuer(b, nil)}
			pubs := map[string]*audit.Publisher{}
			for _, m := range modes[1:] {
				pubs[m] = benchPublisher(b, settings.AuditMode(m), false)
				issuers[m] = benchIssuer(b, pubs[m])
			}
			req := &engine.TokenRequest{
				GrantType: engine.GrantClientCredentials, ClientID: "c", ClientSecret: "demo-m2m-secret",
				AuthMethod: engine.AuthSecretBasic, Scope: "read", ScopeSet: true, Audience: "https://api/" + alg,
				RequestID: "bench", IP: "127.0.0.1", UserAgent: "bench",
			}
			const rounds, inFlight = 10, 16
			per := max(b.N/rounds, inFlight)
			spent := map[string]time.Duration{}
			b.ResetTimer()
			for range rounds {
				for _, m := range modes {
					start := time.Now()
					var wg sync.WaitGroup
					for w := range inFlight {
						wg.Go(func() {
							for i := w; i < per; i += inFlight {
								r := *req
								if _, err := issuers[m].Token(context.Background(), &r); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					if p := pubs[m]; p != nil {
						waitBacklog(b, p)
					}
					spent[m] += time.Since(start)
				}
			}
			b.StopTimer()
			n := float64(rounds * per)
			for _, m := range modes {
				b.ReportMetric(float64(spent[m].Nanoseconds())/n, m+"-ns/token")
			}
			b.ReportMetric(100*float64(spent["off"])/float64(spent["ack"]), "ack-%-of-off")
			b.ReportMetric(100*float64(spent["off"])/float64(spent["buffered"]), "buffered-%-of-off")
		})
	}
}

// BenchmarkPublish measures events per second: Record in ack mode, Record
// in buffered mode (the spool append), and buffered end to end (spooled
// and forwarded until the stream acknowledged every one); then the same
// with every write synced before it counts (sync: always, the opt-in
// against OS crashes).
func BenchmarkPublish(b *testing.B) {
	d := benchDecision()
	for _, tc := range []struct {
		name  string
		mode  settings.AuditMode
		drain bool
		sync  bool
	}{
		{"ack", settings.AuditAck, false, false},
		{"buffered-spool", settings.AuditBuffered, false, false},
		{"buffered-end-to-end", settings.AuditBuffered, true, false},
		{"ack/sync-always", settings.AuditAck, false, true},
		{"buffered-spool/sync-always", settings.AuditBuffered, false, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := benchPublisher(b, tc.mode, tc.sync)
			b.SetParallelism(8)
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := p.Record(context.Background(), d); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if tc.drain {
				waitBacklog(b, p)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			if !tc.drain {
				waitBacklog(b, p)
			}
		})
	}
}

func waitBacklog(b *testing.B, p *audit.Publisher) {
	deadline := time.Now().Add(5 * time.Minute)
	for p.Backlog() > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("spool not drained: %d events", p.Backlog())
		}
		time.Sleep(time.Millisecond)
	}
}

// benchDecision is a typical issued decision.
func benchDecision() *engine.Decision {
	tn, err := tenant.Parse([]byte(benchTenant), "bench.yaml", ".")
	if err != nil {
		panic(err)
	}
	c, _ := tn.Client("c")
	api, _ := tn.API("https://api/ES256")
	tx := &engine.Transaction{
		RequestID: "0123456789abcdef01234567", GrantType: "client_credentials", Trigger: tenant.TriggerCredentialsExchange,
		ClientID: "c", Client: c, API: api, Requested: []string{"read"}, Scopes: []string{"read"}, Subject: "c",
		IP: "203.0.113.9", UserAgent: "bench/1.0", Time: time.Now(),
		Trace: engine.Trace{{Stage: engine.StageBaseline, Op: engine.OpAdd, Scope: "read", Reason: "requested"}},
	}
	return &engine.Decision{Outcome: engine.OutcomeIssued, Issuer: "https://issuer.example/", Time: time.Now(), Tx: tx,
		JTI: fmt.Sprintf("%022d", 1), Expires: time.Now().Add(time.Hour)}
}

// BenchmarkRecordAck is Record in ack mode with 16 callers, against the
// embedded server: the whole cost of an acknowledged event in process,
// the server's share included (allocations too). cpu-ns/event is the
// process's CPU time per event, which other load on the machine disturbs
// less than the wall time.
func BenchmarkRecordAck(b *testing.B) {
	p := benchPublisher(b, settings.AuditAck, false)
	d := benchDecision()
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := p.Record(context.Background(), d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/event")
}

// BenchmarkIntrospection introspects one active token through HTTP with
// events off, in ack mode and in buffered mode: what recording every
// introspection costs an API that introspects without a cache.
func BenchmarkIntrospection(b *testing.B) {
	for _, mode := range []string{"off", "ack", "buffered"} {
		b.Run(mode, func(b *testing.B) {
			cfg := enginetest.Config{Tenant: []byte(introspectTenant)}
			var p *audit.Publisher
			if mode != "off" {
				p = benchPublisher(b, settings.AuditMode(mode), false)
				cfg.Server.Auditor = p
			}
			srv := enginetest.Start(b, cfg)
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			post := func(form url.Values, client string) (*http.Response, error) {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+endpoint.PathIntrospect, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(client, "demo-m2m-secret")
				return c.Do(req)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.TokenEndpoint(), strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("demo-m2m", "demo-m2m-secret")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			json.NewDecoder(resp.Body).Decode(&tok)
			resp.Body.Close()
			form := url.Values{"token": {tok.AccessToken}}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := post(form, "gateway")
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("introspection: %s", resp.Status)
						return
					}
				}
			})
			b.StopTimer()
			if p != nil {
				waitBacklog(b, p)
			}
		})
	}
}
