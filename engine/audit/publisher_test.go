package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/tenant"
)

func TestEmbeddedEvents(t *testing.T) {
	for _, mode := range []tenant.AuditMode{tenant.AuditAck, tenant.AuditBuffered} {
		t.Run(string(mode), func(t *testing.T) {
			p := openPublisher(t, testAudit(t, mode))
			if p.ClientURL() == "" {
				t.Fatal("the embedded server does not listen")
			}
			srv := startIssuer(t, p)
			c := newTokenClient(srv)
			r := newResults()
			c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users")
			c.request(t, r, "demo-m2m", "wrong-secret", "")
			c.request(t, r, "demo-other", "demo-other-secret", "read:users")
			if r.count(200) != 1 || r.count(401) != 1 || r.count(400)+r.count(403) != 1 {
				t.Fatalf("statuses %v %v", r.statuses, r.bodies)
			}
			var events []*audit.TailedEvent
			waitFor(t, "3 events", 30*time.Second, func() bool {
				events = streamEvents(t, p.ClientURL())
				return len(events) >= 3
			})
			if len(events) != 3 {
				t.Fatalf("%d events", len(events))
			}
			checkExactlyOnce(t, r, events, false, "demo-m2m-secret", "wrong-secret", "demo-other-secret")

			issued := events[0]
			if issued.SpecVersion != "1.0" || issued.Type != "io.github.scopeline.token.issued.v1" ||
				issued.Source != srv.Issuer || issued.Subject != "demo-m2m" || issued.DataContentType != "application/json" ||
				issued.DataSchema != audit.DataSchema || time.Since(issued.Time) > time.Minute {
				t.Errorf("issued event envelope: %s", issued.Raw)
			}
			if id := issued.ID; len(id) != 36 || id[14] != '7' {
				t.Errorf("id %q is not a UUIDv7", id)
			}
			d, err := issued.Decision()
			if err != nil {
				t.Fatal(err)
			}
			want := &audit.DecisionData{
				Outcome: "issued", LogCode: "seccft", Instance: "test-instance", Issuer: srv.Issuer,
				RequestID: d.RequestID, GrantType: "client_credentials", Trigger: "credentials-exchange",
				ClientID: "demo-m2m", ClientName: "Demo machine client", Audience: "https://api.example.com",
				RequestedScopes: []string{"read:users"}, GrantedScopes: []string{"read:users"},
				Trace: d.Trace, Subject: "demo-m2m", JTI: d.JTI, Expires: d.Expires,
				IP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
			}
			if !equalJSON(t, d, want) {
				t.Errorf("issued data:\n%s", issued.Raw)
			}
			if d.RequestID == "" || len(d.Trace) == 0 || d.Trace[0].Stage != engine.StageBaseline || d.Expires < time.Now().Unix() {
				t.Errorf("issued data: %s", issued.Raw)
			}
			if _, ok := r.jtis[d.JTI]; !ok {
				t.Errorf("jti %s was not handed out", d.JTI)
			}

			denied := events[1]
			dd, err := denied.Decision()
			if err != nil {
				t.Fatal(err)
			}
			if k, _ := denied.Kind(); k != audit.KindDenied || dd.Outcome != "denied" || dd.LogCode != "feccft" ||
				dd.Error == nil || dd.Error.Code != "invalid_client" || dd.ClientID != "demo-m2m" || dd.ClientName != "" || dd.JTI != "" {
				t.Errorf("denied event: %s", denied.Raw)
			}
			if dd.RequestedScopes != nil {
				t.Errorf("requested scopes without a scope parameter: %v", dd.RequestedScopes)
			}
			noGrant, _ := events[2].Decision()
			if noGrant.Error == nil || noGrant.ClientName != "Demo client without a grant" {
				t.Errorf("no-grant event: %s", events[2].Raw)
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Logf("got  %s\nwant %s", ja, jb)
		return false
	}
	return true
}

func TestStreamSettingsAndReaderPermissions(t *testing.T) {
	cfg := testAudit(t, tenant.AuditAck)
	cfg.Stream.MaxAge = 48 * time.Hour
	cfg.Stream.MaxBytes = 64 << 20
	cfg.Stream.DuplicateWindow = 10 * time.Minute
	p := openPublisher(t, cfg)
	waitFor(t, "ready", 30*time.Second, func() bool { return p.Ready(context.Background()) == nil })

	// A reader on the loopback port, with no credentials.
	var mu sync.Mutex
	var violations int
	nc, err := nats.Connect(p.ClientURL(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			mu.Lock()
			violations++
			mu.Unlock()
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "SCOPELINE_AUDIT")
	if err != nil {
		t.Fatal(err)
	}
	got := s.CachedInfo().Config
	if got.Retention != jetstream.LimitsPolicy || got.Storage != jetstream.FileStorage || !got.DenyDelete || !got.DenyPurge ||
		got.MaxAge != 48*time.Hour || got.MaxBytes != 64<<20 || got.Duplicates != 10*time.Minute || got.Replicas != 1 ||
		!slices.Equal(got.Subjects, []string{"scopeline.audit.>"}) {
		t.Errorf("stream config %+v", got)
	}
	// Readers cannot forge events, nor remove or change any: the server
	// refuses (or never answers) each attempt; the stream is unchanged.
	try := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 500*time.Millisecond) }
	c1, cancel1 := try()
	defer cancel1()
	if _, err := js.Publish(c1, "scopeline.audit.issued.forged", []byte(`{}`)); err == nil {
		t.Error("an unauthenticated reader published an event")
	}
	c2, cancel2 := try()
	defer cancel2()
	if err := js.DeleteStream(c2, "SCOPELINE_AUDIT"); err == nil {
		t.Error("an unauthenticated reader deleted the stream")
	}
	c3, cancel3 := try()
	defer cancel3()
	if err := s.Purge(c3); err == nil {
		t.Error("an unauthenticated reader purged the stream")
	}
	c4, cancel4 := try()
	defer cancel4()
	upd := got
	upd.DenyDelete, upd.MaxAge = false, time.Minute
	if _, err := js.UpdateStream(c4, upd); err == nil {
		t.Error("an unauthenticated reader changed the stream")
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 || !info.Config.DenyDelete || info.Config.MaxAge != 48*time.Hour {
		t.Errorf("the stream changed: %+v", info)
	}
	waitFor(t, "4 permission violations reported", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return violations == 4
	})
}

func TestStreamUpdatedOnStart(t *testing.T) {
	cfg := testAudit(t, tenant.AuditAck)
	cfg.NATS.Embedded.StoreDir = t.TempDir()
	p := openPublisher(t, cfg)
	waitFor(t, "ready", 30*time.Second, func() bool { return p.Ready(context.Background()) == nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.Close(ctx)

	cfg.Stream.MaxAge = 24 * time.Hour
	cfg.Stream.DuplicateWindow = 5 * time.Minute
	p = openPublisher(t, cfg)
	waitFor(t, "ready", 30*time.Second, func() bool { return p.Ready(context.Background()) == nil })
	nc, err := nats.Connect(p.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, "SCOPELINE_AUDIT")
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; c.MaxAge != 24*time.Hour || c.Duplicates != 5*time.Minute {
		t.Errorf("stream not updated: max age %s, window %s", c.MaxAge, c.Duplicates)
	}
}
