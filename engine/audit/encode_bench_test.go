package audit

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
)

// typicalDecision is a client-credentials token issued through three
// small hooks: what most events look like.
func typicalDecision() *engine.Decision {
	c := &tenant.Client{ID: "demo-m2m", Name: "Demo machine client"}
	api := &tenant.API{Identifier: "https://api.example.com"}
	tx := &engine.Transaction{
		RequestID: "0123456789abcdef01234567", GrantType: engine.GrantClientCredentials, Trigger: tenant.TriggerCredentialsExchange,
		ClientID: c.ID, Client: c, API: api, Requested: []string{"read:users", "write:users"}, Scopes: []string{"read:users", "write:users"},
		Subject: c.ID, IP: "203.0.113.9", UserAgent: "Go-http-client/1.1", Time: time.Now(),
		Trace: engine.Trace{
			{Stage: engine.StageBaseline, Op: engine.OpAdd, Scope: "read:users", Reason: "requested"},
			{Stage: engine.StageBaseline, Op: engine.OpAdd, Scope: "write:users", Reason: "requested"},
			{Stage: "tier-gate-wat", Op: engine.OpSetClaim, Claim: "tier", Reason: "client tier"},
			{Stage: "tier-gate-c", Op: engine.OpSetClaim, Claim: "tier", Reason: "client tier"},
			{Stage: "tier-gate-wat-2", Op: engine.OpSetClaim, Claim: "tier", Reason: "client tier"},
		},
		Logs: []engine.HookLog{{Hook: "tier-gate-wat", Message: "tier=silver"}, {Hook: "tier-gate-c", Message: "tier=silver"}, {Hook: "tier-gate-wat-2", Message: "tier=silver"}},
	}
	return &engine.Decision{Outcome: engine.OutcomeIssued, Issuer: "https://issuer.example/", Time: time.Now(), Tx: tx,
		JTI: "pV3cS0x8QnK9m2Lr4TzY1w", Expires: time.Now().Add(time.Hour)}
}

// BenchmarkEventMessage builds the NATS message of a typical decision as
// Record does: its data, event id, the CloudEvent's JSON, subject and
// headers. This is the cost of an event before it leaves the process.
func BenchmarkEventMessage(b *testing.B) {
	p := &Publisher{cfg: settings.DefaultAudit(), rand: rand.Reader, source: "https://issuer.example/", instance: "bench"}
	p.scratch.New = func() any { return newEventScratch(settings.DefaultAuditStream) }
	d := typicalDecision()
	b.ReportAllocs()
	for b.Loop() {
		s := p.scratch.Get().(*eventScratch)
		fillDecision(&s.decision, d, p.instance, p.redactor.Load())
		if err := p.message(s, kindOf(d), d.Issuer, d.Tx.ClientID, d.Time, &s.decision); err != nil || len(s.msg.Data) == 0 {
			b.Fatal(err)
		}
		p.putScratch(s)
	}
}

// BenchmarkEventEncode is the JSON of a typical decision event alone,
// into a reused buffer: no allocation.
func BenchmarkEventEncode(b *testing.B) {
	d := typicalDecision()
	data := decisionData(d, "bench", nil)
	e := &Event{SpecVersion: SpecVersion, ID: "01936f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f", Source: d.Issuer, Type: KindIssued.Type(),
		Subject: d.Tx.ClientID, Time: d.Time.UTC(), DataContentType: "application/json", DataSchema: DataSchema}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = appendEvent(buf[:0], e, data); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkEmbeddedConnection is Record in ack mode with 16 callers
// connected to the embedded server in process (what Open does) and over
// its loopback TCP listener, in alternating rounds: the cost the in-process
// connection saves.
func BenchmarkEmbeddedConnection(b *testing.B) {
	d := typicalDecision()
	pubs := map[string]*Publisher{}
	for _, name := range []string{"in-process", "loopback-tcp"} {
		cfg := settings.DefaultAudit()
		cfg.Instance = "bench"
		cfg.NATS.Embedded.Listen = "127.0.0.1:0"
		p, err := Open(context.Background(), cfg, WithDataDir(b.TempDir()), func(o *options) { o.overTCP = name == "loopback-tcp" })
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close(context.Background()) })
		deadline := time.Now().Add(30 * time.Second)
		for p.Ready(context.Background()) != nil {
			if time.Now().After(deadline) {
				b.Fatal("publisher not ready")
			}
			time.Sleep(10 * time.Millisecond)
		}
		pubs[name] = p
	}
	const rounds, callers = 10, 16
	per := max(b.N/rounds/callers, 1)
	spent := map[string]time.Duration{}
	b.ResetTimer()
	for range rounds {
		for _, name := range []string{"in-process", "loopback-tcp"} {
			start := time.Now()
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for range per {
						if err := pubs[name].Record(context.Background(), d); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			spent[name] += time.Since(start)
		}
	}
	n := float64(rounds * callers * per)
	for name, t := range spent {
		b.ReportMetric(float64(t.Nanoseconds())/n, name+"-ns/event")
	}
	b.ReportMetric(float64(spent["loopback-tcp"])/float64(spent["in-process"]), "tcp/in-process")
}
