package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/settings"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/tenant"
)

func TestEmbeddedEvents(t *testing.T) {
	for _, mode := range []settings.AuditMode{settings.AuditAck, settings.AuditBuffered} {
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
				ClientID: "demo-m2m", ClientName: "Demo machine client", ClientAuth: "client_secret_basic", Audience: "https://api.example.com",
				RequestedScopes: []string{"read:users"}, GrantedScopes: []string{"read:users"},
				Trace: d.Trace, Subject: "demo-m2m", JTI: d.JTI, Expires: d.Expires,
				IP: "127.0.0.1", UserAgent: "Go-http-client/1.1", Timings: d.Timings,
			}
			if !equalJSON(t, d, want) {
				t.Errorf("issued data:\n%s", issued.Raw)
			}
			if d.RequestID == "" || len(d.Trace) == 0 || d.Trace[0].Stage != engine.StageBaseline || d.Expires < time.Now().Unix() ||
				len(d.Timings) != 1 || d.Timings[0].Stage != engine.StageBaseline || d.Timings[0].Duration <= 0 {
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
	cfg := testAudit(t, settings.AuditAck)
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
	cfg := testAudit(t, settings.AuditAck)
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

// TestThousandsOfTokens issues thousands of tokens (and some refusals) and
// finds exactly one event per decision: one issued event per jti, none
// holding any issued token or any client secret. Under -short it issues a
// tenth as many, the same way.
func TestThousandsOfTokens(t *testing.T) {
	tokens := 2000
	if testing.Short() {
		tokens = 200
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			p := openPublisher(t, testAudit(t, mode))
			srv := startIssuer(t, p)
			c := newTokenClient(srv)
			r := newResults()
			wrong := []string{"demo-m2m-secreT", "demo-other-secret", "demo-m2m-secret-but-longer"}
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := w; i < tokens; i += workers {
						c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users")
						if i%50 == 0 {
							c.request(t, r, "demo-m2m", wrong[i%len(wrong)], "read:users")
							c.request(t, r, "demo-other", "demo-other-secret", "")
						}
					}
				})
			}
			wg.Wait()
			if r.count(200) != tokens {
				t.Fatalf("%d tokens, want %d: %v", r.count(200), tokens, r.statuses)
			}
			waitFor(t, "the spool to drain", patience, func() bool { return p.Backlog() == 0 })
			var events []*audit.TailedEvent
			waitFor(t, "every event", patience, func() bool {
				events = streamEvents(t, p.ClientURL())
				return len(events) >= r.total()
			})
			if len(events) != r.total() {
				t.Errorf("%d events for %d decisions", len(events), r.total())
			}
			checkExactlyOnce(t, r, events, false, append(wrong, "demo-m2m-secret")...)
			denied := 0
			for _, e := range events {
				if k, _ := e.Kind(); k == audit.KindDenied {
					denied++
				}
			}
			if denied != r.total()-tokens {
				t.Errorf("%d denied events for %d refusals", denied, r.total()-tokens)
			}
		})
	}
}

// goHook is a hook written in Go, standing in for a WebAssembly module.
type goHook func(tx engine.View) (*engine.HookResult, error)

func (h goHook) Invoke(_ context.Context, tx engine.View) (*engine.HookResult, error) {
	return h(tx)
}

type goLoader map[string]goHook

func (l goLoader) LoadHook(_ context.Context, spec *tenant.HookSpec) (engine.Hook, error) {
	return l[spec.Plugin], nil
}

const hookTenant = `
default_audience: https://api.example.com
apis:
  - identifier: https://api.example.com
    scopes: [{name: read:users}, {name: write:users}, {name: delete:users}]
clients:
  - id: demo-m2m
    name: Demo
    type: m2m
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
grants:
  - {client: demo-m2m, api: https://api.example.com, scopes: [read:users, write:users]}
pipelines:
  credentials-exchange:
    hooks:
      - name: chatty
        plugin: chatty
        secrets: {API_KEY: SCOPELINE_TEST_HOOK_KEY}
      - name: flaky-skip
        plugin: flaky-skip
        failure: skip
        secrets: {API_KEY: SCOPELINE_TEST_HOOK_KEY}
      - name: flaky-deny
        plugin: flaky-deny
        secrets: {API_KEY: SCOPELINE_TEST_HOOK_KEY}
`

// TestHookFailuresAndSecrets checks the hook-failed events (a fault under
// failure: skip still issues, under deny refuses) and that hook secrets
// never reach an event, wherever a hook puts them.
func TestHookFailuresAndSecrets(t *testing.T) {
	const key = "hook-api-key-0123456789"
	t.Setenv("SCOPELINE_TEST_HOOK_KEY", key)
	requested := func(tx engine.View, s string) bool { return slices.Contains(tx.Requested(), s) }
	loader := goLoader{
		"chatty": func(tx engine.View) (*engine.HookResult, error) {
			return &engine.HookResult{
				Logs: []string{"calling upstream with key " + key},
				Ops:  []engine.HookOp{{Kind: engine.HookSetClaim, Name: "tier", Value: []byte(`"gold"`), Reason: "upstream (key " + key + ") said so"}},
			}, nil
		},
		"flaky-skip": func(tx engine.View) (*engine.HookResult, error) {
			if requested(tx, "write:users") {
				return nil, &engine.HookFault{Kind: "timeout", Err: errors.New("upstream with key " + key + " too slow")}
			}
			return nil, nil
		},
		"flaky-deny": func(tx engine.View) (*engine.HookResult, error) {
			if requested(tx, "delete:users") {
				return nil, &engine.HookFault{Kind: "trap", Err: errors.New("unreachable " + key)}
			}
			return nil, nil
		},
	}
	tn, err := tenant.Parse([]byte(hookTenant), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	p := openPublisher(t, testAudit(t, settings.AuditAck), audit.WithTenant(tn))
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(hookTenant),
		Server: server.Config{Auditor: p, Hooks: loader}})
	c := newTokenClient(srv)
	r := newResults()
	c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users")
	c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users write:users")
	c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users delete:users")
	if r.count(200) != 2 || r.count(500) != 1 {
		t.Fatalf("answers %v %v", r.statuses, r.bodies)
	}
	var events []*audit.TailedEvent
	waitFor(t, "3 events", patience, func() bool {
		events = streamEvents(t, p.ClientURL())
		return len(events) >= 3
	})
	for _, e := range events {
		if bytes.Contains(e.Raw, []byte(key)) {
			t.Fatalf("event holds the hook secret: %s", e.Raw)
		}
	}
	checkExactlyOnce(t, r, events, false, "demo-m2m-secret")
	tests := []struct {
		kind    audit.Kind
		outcome string
		subject string
		failure *audit.HookFailure
	}{
		{audit.KindIssued, "issued", "scopeline.audit.issued.demo-m2m", nil},
		{audit.KindHookFailed, "issued", "scopeline.audit.hook-failed.demo-m2m",
			&audit.HookFailure{Hook: "flaky-skip", Kind: "timeout", Error: "hook timeout: upstream with key [redacted] too slow"}},
		{audit.KindHookFailed, "denied", "scopeline.audit.hook-failed.demo-m2m",
			&audit.HookFailure{Hook: "flaky-deny", Kind: "trap", Error: "hook trap: unreachable [redacted]"}},
	}
	for i, tt := range tests {
		e := events[i]
		d, err := e.Decision()
		if err != nil {
			t.Fatal(err)
		}
		if k, _ := e.Kind(); k != tt.kind || d.Outcome != tt.outcome {
			t.Errorf("event %d: kind %s outcome %s, want %s %s", i, k, d.Outcome, tt.kind, tt.outcome)
		}
		if len(d.HookLogs) != 1 || d.HookLogs[0].Message != "calling upstream with key [redacted]" {
			t.Errorf("event %d: hook logs %+v", i, d.HookLogs)
		}
		var reasons []string
		for _, te := range d.Trace {
			reasons = append(reasons, te.Reason)
		}
		if !slices.Contains(reasons, "upstream (key [redacted]) said so") {
			t.Errorf("event %d: trace reasons %q", i, reasons)
		}
		switch {
		case tt.failure == nil && len(d.HookFailures) != 0:
			t.Errorf("event %d: failures %+v", i, d.HookFailures)
		case tt.failure != nil && (len(d.HookFailures) != 1 || d.HookFailures[0] != *tt.failure):
			t.Errorf("event %d: failures %+v, want %+v", i, d.HookFailures, *tt.failure)
		}
		if (d.Outcome == "issued") != (d.JTI != "") {
			t.Errorf("event %d: outcome %s with jti %q", i, d.Outcome, d.JTI)
		}
	}
	if d, _ := events[2].Decision(); d.Error == nil || d.Error.Code != "server_error" || d.LogCode != "feccft" {
		t.Errorf("denied by a faulting hook: %s", events[2].Raw)
	}
}

// TestUserFlowEvents signs in at the hosted login page (once with a wrong
// password) and exchanges the code: the sign-ins and the token are events,
// and no password reaches any of them.
func TestUserFlowEvents(t *testing.T) {
	tn, err := tenant.Parse(demo.Tenant, "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	p := openPublisher(t, testAudit(t, settings.AuditAck), audit.WithTenant(tn))
	srv := startIssuer(t, p)
	cfg := &oauth2.Config{
		ClientID:    "demo-spa",
		Endpoint:    oauth2.Endpoint{AuthURL: srv.URL + endpoint.PathAuthorize, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://localhost:3000/callback",
		Scopes:      []string{"openid", "read:users"},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("audience", "https://api.example.com"))
	b := enginetest.NewBrowser(t, srv.URL)
	if loc, _ := b.SignInPage(authURL, "alice", "wrong-password-123"); loc != nil {
		t.Fatalf("signed in with a wrong password: %s", loc)
	}
	loc := b.SignIn(authURL, "alice", "alice-password")
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	var events []*audit.TailedEvent
	waitFor(t, "3 events", patience, func() bool {
		events = streamEvents(t, p.ClientURL())
		return len(events) >= 3
	})
	for _, e := range events {
		for _, secret := range []string{"wrong-password-123", "alice-password", tok.AccessToken, code} {
			if bytes.Contains(e.Raw, []byte(secret)) {
				t.Fatalf("event holds a password, token or code: %s", e.Raw)
			}
		}
	}
	kinds := ""
	for _, e := range events {
		k, _ := e.Kind()
		kinds += string(k) + " "
	}
	if kinds != "login login issued " {
		t.Fatalf("kinds %q", kinds)
	}
	failed, _ := events[0].Login()
	ok, _ := events[1].Login()
	if failed.Outcome != "failed" || failed.LogCode != "fp" || failed.UserID != "alice" || ok.Outcome != "succeeded" || ok.LogCode != "s" {
		t.Errorf("sign-in events %+v %+v", failed, ok)
	}
	d, err := events[2].Decision()
	if err != nil {
		t.Fatal(err)
	}
	if d.GrantType != "authorization_code" || d.LogCode != "seacft" || d.Subject != "alice" || d.Trigger != "post-login" ||
		!slices.Contains(d.GrantedScopes, "openid") || !slices.Contains(d.GrantedScopes, "read:users") || d.JTI == "" {
		t.Errorf("issued event %s", events[2].Raw)
	}
}

// TestDenialForUnavailableStreamIsNotWaitedFor: a denial caused by the
// audit stream itself being unavailable is sent without waiting for its
// acknowledgement (the client has waited once already), and still stored.
func TestDenialForUnavailableStreamIsNotWaitedFor(t *testing.T) {
	p := openPublisher(t, testAudit(t, settings.AuditAck))
	waitFor(t, "the publisher ready", 30*time.Second, func() bool { return p.Ready(context.Background()) == nil })
	d := &engine.Decision{Outcome: engine.OutcomeDenied, Issuer: "https://issuer.example/", Time: time.Now(),
		Tx:  &engine.Transaction{ClientID: "demo-m2m", GrantType: engine.GrantClientCredentials},
		Err: engine.ErrTemporarilyUnavailable.Wrap(audit.ErrUnavailable)}
	if err := p.Record(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the denial stored", 30*time.Second, func() bool { return streamMsgCount(t, p.ClientURL()) == 1 })
	events := streamEvents(t, p.ClientURL())
	if len(events) != 1 || events[0].Type != audit.KindDenied.Type() {
		t.Fatalf("events: %v", events)
	}
	if dd, err := events[0].Decision(); err != nil || dd.Error == nil || dd.Error.Code != "temporarily_unavailable" {
		t.Errorf("decision %+v, %v", dd, err)
	}
}
