package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/settings"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/tenant"
)

const schemaPath = "../../docs/events.v1.schema.json"

func compileSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(audit.DataSchema, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(audit.DataSchema)
	if err != nil {
		t.Fatal(err)
	}
	var plain map[string]any
	json.Unmarshal(raw, &plain)
	return sch, plain
}

// validateEvents checks events against the schema.
func validateEvents(t *testing.T, sch *jsonschema.Schema, events []*audit.TailedEvent) {
	t.Helper()
	for _, e := range events {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("event does not match the schema: %v\n%s", err, e.Raw)
		}
	}
}

// TestEventsMatchSchema publishes every kind of event and validates each
// against docs/events.v1.schema.json; and checks that the schema documents
// every member the Go types can produce.
func TestEventsMatchSchema(t *testing.T) {
	sch, plain := compileSchema(t)

	t.Setenv("SCOPELINE_TEST_HOOK_KEY", "k")
	tn, err := tenant.Parse([]byte(hookTenant), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	loader := goLoader{
		"chatty": func(engine.View) (*engine.HookResult, error) {
			return &engine.HookResult{Logs: []string{"hi"}}, nil
		},
		"flaky-skip": func(tx engine.View) (*engine.HookResult, error) {
			if len(tx.Requested()) > 1 {
				return nil, &engine.HookFault{Kind: "timeout", Err: errors.New("slow")}
			}
			return nil, nil
		},
		"flaky-deny": func(engine.View) (*engine.HookResult, error) { return nil, nil },
	}
	p := openPublisher(t, testAudit(t, settings.AuditAck), audit.WithTenant(tn))
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(hookTenant),
		Server: server.Config{Auditor: p, Hooks: loader}})
	c := newTokenClient(srv)
	r := newResults()
	c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users")             // issued
	c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users write:users") // hook-failed, issued
	c.request(t, r, "demo-m2m", "bad", "")                                   // denied
	c.request(t, r, "", "", "")                                              // denied, no client
	ctx := context.Background()
	if _, err := srv.Engine.DryRun(ctx, &engine.DryRunRequest{ClientID: "demo-m2m", Scope: "read:users", ScopeSet: true, By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Reloaded(ctx, audit.Reload{Source: "t.yaml", By: "alice", Tenant: tn, RestartRequired: true}); err != nil {
		t.Fatal(err)
	}
	if err := p.Reloaded(ctx, audit.Reload{Source: "t.yaml", Revision: 7, By: "alice@ops", Err: errors.New("tenant revision 7: bogus")}); err != nil {
		t.Fatal(err)
	}
	if err := p.RecordLogin(ctx, &engine.Login{Outcome: engine.LoginFailed, Issuer: srv.Issuer, Time: time.Now(),
		ClientID: "demo-m2m", LoginName: "nobody", IP: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := p.RecordLogin(ctx, &engine.Login{Outcome: engine.LoginSucceeded, Issuer: srv.Issuer, Time: time.Now(),
		UserID: "u-1", IP: "127.0.0.1"}); err != nil { // no client id: no subject
		t.Fatal(err)
	}
	// A token exchange's decision, and revocations.
	api, _ := tn.API("https://api.example.com")
	client, _ := tn.Client("demo-m2m")
	if err := p.Record(ctx, &engine.Decision{Outcome: engine.OutcomeIssued, Issuer: srv.Issuer, Time: time.Now(), JTI: "j2", Expires: time.Now().Add(time.Hour),
		Tx: &engine.Transaction{RequestID: "r2", Trigger: tenant.TriggerTokenExchange, GrantType: engine.GrantTokenExchange, ClientID: "demo-m2m", Client: client,
			API: api, Subject: "alice", Scopes: []string{"read:users"}, Trace: engine.Trace{{Stage: "baseline", Op: engine.OpSetClaim, Claim: "act", Reason: "demo-m2m for alice"}},
			Exchange: &engine.Exchange{SubjectAPI: api, SubjectJTI: "j1", SubjectClientID: "demo-spa", Actor: "demo-m2m", Chain: []string{"demo-m2m"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*engine.Revocation{
		{Outcome: engine.RevocationRevoked, ClientID: "demo-m2m", TokenType: "access_token", Owner: "demo-m2m", Subject: "demo-m2m",
			Audience: "https://api.example.com", JTI: "j1", Expires: time.Now().Add(time.Hour), Reason: "listed", IP: "127.0.0.1"},
		{Outcome: engine.RevocationRefused, ClientID: "demo-m2m", Err: engine.ErrInvalidClient.WithDescription("client authentication failed")},
	} {
		r.Issuer, r.Time = srv.Issuer, time.Now()
		if err := p.RecordRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*engine.Introspection{
		{Outcome: engine.IntrospectionActive, ClientID: "demo-m2m", TokenType: "access_token", Owner: "demo-spa", Subject: "alice",
			Audience: "https://api.example.com", JTI: "j1", Expires: time.Now().Add(time.Hour), IP: "127.0.0.1", UserAgent: "Go-http-client/1.1"},
		{Outcome: engine.IntrospectionInactive, ClientID: "demo-m2m", TokenType: "access_token", Owner: "demo-spa", Subject: "alice",
			Audience: "https://api.example.com", JTI: "j1", Expires: time.Now().Add(time.Hour), Reason: "revoked: on the access-token denylist", IP: "127.0.0.1"},
		{Outcome: engine.IntrospectionInactive, ClientID: "demo-m2m", Reason: "malformed, or not an access token of this issuer", IP: "127.0.0.1"},
		{Outcome: engine.IntrospectionRefused, ClientID: "demo-spa", Reason: "the client may introspect no API",
			Err: engine.ErrUnauthorizedClient.WithDescription(`client "demo-spa" may not introspect tokens`)},
	} {
		r.Issuer, r.Time = srv.Issuer, time.Now()
		if err := p.RecordIntrospection(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var events []*audit.TailedEvent
	waitFor(t, "16 events", patience, func() bool {
		events = streamEvents(t, p.ClientURL())
		return len(events) >= 16
	})
	validateEvents(t, sch, events)
	if *updateSamples {
		writeSamples(t, events)
	}
	seen := map[audit.Kind]bool{}
	for _, e := range events {
		k, _ := e.Kind()
		seen[k] = true
	}
	if len(seen) != len(audit.Kinds) {
		t.Errorf("kinds seen %v", seen)
	}

	// Every member the types produce is documented.
	defs := plain["$defs"].(map[string]any)
	for def, typ := range map[string]reflect.Type{
		"decision":      reflect.TypeFor[audit.DecisionData](),
		"reload":        reflect.TypeFor[audit.ReloadData](),
		"traceEntry":    reflect.TypeFor[engine.TraceEntry](),
		"hookFailure":   reflect.TypeFor[audit.HookFailure](),
		"hookLog":       reflect.TypeFor[engine.HookLog](),
		"login":         reflect.TypeFor[audit.LoginData](),
		"revocation":    reflect.TypeFor[audit.RevocationData](),
		"introspection": reflect.TypeFor[audit.IntrospectionData](),
		"exchange":      reflect.TypeFor[audit.ExchangeData](),
	} {
		props := defs[def].(map[string]any)["properties"].(map[string]any)
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if _, ok := props[name]; !ok {
				t.Errorf("$defs.%s does not document %q", def, name)
			}
		}
		if len(props) != typ.NumField() {
			t.Errorf("$defs.%s documents %d members, %s has %d", def, len(props), typ, typ.NumField())
		}
	}
	for i, typ := 0, reflect.TypeFor[audit.Event](); i < typ.NumField(); i++ {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if _, ok := plain["properties"].(map[string]any)[name]; !ok {
			t.Errorf("the envelope does not document %q", name)
		}
	}
}

// samplesPath holds real events of every kind, written by
// TestEventsMatchSchema with -update-samples; the Ajv check of .ci/run
// (testdata/ajv) validates them too, so two validators agree on them.
const samplesPath = "testdata/events.json"

var updateSamples = flag.Bool("update-samples", false, "rewrite "+samplesPath+" with the events TestEventsMatchSchema publishes")

func writeSamples(t *testing.T, events []*audit.TailedEvent) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, e := range events {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.Write(e.Raw)
	}
	b.WriteString("\n]\n")
	if err := os.WriteFile(samplesPath, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaSamples validates the committed sample events, which the Ajv
// check validates too.
func TestSchemaSamples(t *testing.T) {
	sch, _ := compileSchema(t)
	raw, err := os.ReadFile(samplesPath)
	if err != nil {
		t.Fatal(err)
	}
	var samples []json.RawMessage
	if err := json.Unmarshal(raw, &samples); err != nil {
		t.Fatal(err)
	}
	var events []*audit.TailedEvent
	kinds := map[string]bool{}
	for _, s := range samples {
		events = append(events, &audit.TailedEvent{Raw: s})
		var e struct{ Type string }
		json.Unmarshal(s, &e)
		kinds[e.Type] = true
	}
	if len(kinds) != len(audit.Kinds) {
		t.Errorf("%s has events of %d types, want all %d: rewrite it with go test -run TestEventsMatchSchema -update-samples", samplesPath, len(kinds), len(audit.Kinds))
	}
	validateEvents(t, sch, events)
}

func TestSchemaRejectsWhatEventsMustNotBe(t *testing.T) {
	sch, _ := compileSchema(t)
	var good map[string]any
	if err := json.Unmarshal([]byte(exampleEvent), &good); err != nil {
		t.Fatal(err)
	}
	validate := func(v map[string]any) error {
		b, _ := json.Marshal(v)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		return sch.Validate(inst)
	}
	if err := validate(good); err != nil {
		t.Fatalf("the documented example fails: %v", err)
	}
	for name, mutate := range map[string]func(e, d map[string]any){
		"a v4 id":               func(e, d map[string]any) { e["id"] = "0b1e4d4c-3f5a-4c5e-9d1e-2f3a4b5c6d7e" },
		"an unknown type":       func(e, d map[string]any) { e["type"] = "io.github.scopeline.token.minted.v1" },
		"issued without a jti":  func(e, d map[string]any) { delete(d, "jti") },
		"issued with an error":  func(e, d map[string]any) { d["error"] = map[string]any{"code": "x"} },
		"denied without error":  func(e, d map[string]any) { d["outcome"] = "denied"; delete(d, "jti") },
		"an unknown trace op":   func(e, d map[string]any) { d["trace"] = []any{map[string]any{"stage": "s", "op": "mint"}} },
		"a bad time":            func(e, d map[string]any) { e["time"] = "yesterday" },
		"another specversion":   func(e, d map[string]any) { e["specversion"] = "0.3" },
		"an unknown log code":   func(e, d map[string]any) { d["log_code"] = "s" },
		"no trace":              func(e, d map[string]any) { delete(d, "trace") },
		"a reload shaped token": func(e, d map[string]any) { e["type"] = audit.KindTenantReloaded.Type() },
		"issued marked dry run": func(e, d map[string]any) { d["dry_run"] = true },
		"a dry run unmarked": func(e, d map[string]any) {
			e["type"] = audit.KindDryRun.Type()
			delete(d, "jti")
			delete(d, "exp")
			delete(d, "log_code")
		},
		"a dry run with a jti": func(e, d map[string]any) {
			e["type"] = audit.KindDryRun.Type()
			d["dry_run"] = true
			delete(d, "log_code")
		},
		"a negative timing": func(e, d map[string]any) {
			d["timings"] = []any{map[string]any{"stage": "baseline", "ns": -1}}
		},
	} {
		var e map[string]any
		b, _ := json.Marshal(good)
		json.Unmarshal(b, &e)
		mutate(e, e["data"].(map[string]any))
		if err := validate(e); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLoginEvents records sign-in attempts: the user and the name typed
// when it is a user's, never a name that is no user's (it may be a
// password typed in the wrong field), never a password.
func TestLoginEvents(t *testing.T) {
	sch, _ := compileSchema(t)
	tn, err := tenant.Parse(demo.Tenant, "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	p := openPublisher(t, testAudit(t, settings.AuditBuffered), audit.WithTenant(tn))
	ctx := context.Background()
	const typedPassword = "correct-horse-battery-staple"
	for _, l := range []*engine.Login{
		{Outcome: engine.LoginSucceeded, UserID: "alice", LoginName: "alice"},
		{Outcome: engine.LoginFailed, LoginName: "ALICE@example.com"},
		{Outcome: engine.LoginFailed, LoginName: typedPassword},
		{Outcome: engine.LoginThrottled, LoginName: typedPassword},
	} {
		l.Issuer, l.Time, l.ClientID, l.RequestID, l.IP, l.UserAgent = "http://127.0.0.1/", time.Now(), "demo-spa", "r1", "203.0.113.9", "browser"
		if err := p.RecordLogin(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	var events []*audit.TailedEvent
	waitFor(t, "4 events", patience, func() bool {
		events = streamEvents(t, p.ClientURL())
		return len(events) >= 4
	})
	validateEvents(t, sch, events)
	// (buffered mode keeps order but for re-sends: order by decision time)
	slices.SortFunc(events, func(a, b *audit.TailedEvent) int { return a.Time.Compare(b.Time) })
	want := []audit.LoginData{
		{Outcome: "succeeded", LogCode: "s", UserID: "alice", LoginName: "alice"},
		{Outcome: "failed", LogCode: "fp", UserID: "alice", LoginName: "ALICE@example.com"},
		{Outcome: "failed", LogCode: "fu", UnknownLogin: true},
		{Outcome: "throttled", UnknownLogin: true},
	}
	for i, e := range events {
		if bytes.Contains(e.Raw, []byte(typedPassword)) {
			t.Fatalf("a login name that is no user's reached an event: %s", e.Raw)
		}
		if e.Subject != "demo-spa" || e.Type != "io.github.scopeline.user.login.v1" {
			t.Errorf("event %d envelope: %s", i, e.Raw)
		}
		d, err := e.Login()
		if err != nil {
			t.Fatal(err)
		}
		w := want[i]
		w.Instance, w.Issuer, w.RequestID, w.ClientID, w.IP, w.UserAgent = "test-instance", "http://127.0.0.1/", "r1", "demo-spa", "203.0.113.9", "browser"
		w.ClientName = d.ClientName
		if *d != w {
			t.Errorf("event %d: %+v\nwant %+v", i, *d, w)
		}
		if d.ClientName == "" {
			t.Errorf("event %d: no client name", i)
		}
	}
}
