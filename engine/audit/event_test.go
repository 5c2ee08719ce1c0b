package audit_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
)

func TestEncodeClientID(t *testing.T) {
	tests := []struct{ id, token string }{
		{"demo-m2m", "demo-m2m"},
		{"svc_reports-2", "svc_reports-2"},
		{"a.b", "a%2Eb"},
		{"orders.*", "orders%2E%2A"},
		{"x>y", "x%3Ey"},
		{"my client", "my%20client"},
		{"100%", "100%25"},
		{"%2E", "%252E"},
		{"tab\there", "tab%09here"},
		{"café", "caf%C3%A9"},
		{"", "_"},
		{"_", "%5F"},
		{"__", "__"},
		{"$SYS", "$SYS"},
		{"a:b/c@d", "a:b/c@d"},
	}
	for _, tt := range tests {
		got := audit.EncodeClientID(tt.id)
		if got != tt.token {
			t.Errorf("EncodeClientID(%q) = %q, want %q", tt.id, got, tt.token)
		}
		back, err := audit.DecodeClientID(got)
		if err != nil || back != tt.id {
			t.Errorf("DecodeClientID(%q) = %q, %v; want %q", got, back, err, tt.id)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "*", ">", "%", "%2", "%zz", "%41", "%2e", "%5F%5F", "é"} {
		if id, err := audit.DecodeClientID(bad); err == nil {
			t.Errorf("DecodeClientID(%q) = %q, want an error", bad, id)
		}
	}
}

func TestSubjects(t *testing.T) {
	if s := audit.Subject("scopeline.audit", audit.KindIssued, "a.b c"); s != "scopeline.audit.issued.a%2Eb%20c" {
		t.Errorf("subject %q", s)
	}
	if s := audit.Subject("p", audit.KindTenantReloaded, ""); s != "p.tenant-reloaded._" {
		t.Errorf("subject %q", s)
	}
	id := "x.y"
	for _, tt := range []struct {
		kind   audit.Kind
		client *string
		want   string
	}{
		{"", nil, "p.*.*"},
		{audit.KindDenied, nil, "p.denied.*"},
		{"", &id, "p.*.x%2Ey"},
		{audit.KindHookFailed, &id, "p.hook-failed.x%2Ey"},
	} {
		if got := audit.FilterSubject("p", tt.kind, tt.client); got != tt.want {
			t.Errorf("FilterSubject(%q, %v) = %q, want %q", tt.kind, tt.client, got, tt.want)
		}
	}
	o := audit.TailOptions{Kinds: []audit.Kind{audit.KindIssued, audit.KindIssued, audit.KindDenied}}
	if f := o.Filters(); strings.Join(f, " ") != "scopeline.audit.issued.* scopeline.audit.denied.*" {
		t.Errorf("filters %v", f)
	}
}

// FuzzClientID checks that every id encodes to one valid NATS token that
// decodes back, and that decoding never accepts what encoding cannot make.
func FuzzClientID(f *testing.F) {
	for _, s := range []string{"demo-m2m", "a.b", "*", ">", " ", "%", "_", "", "%5F", "é\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		tok := audit.EncodeClientID(id)
		if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") || !utf8.ValidString(tok) {
			t.Fatalf("EncodeClientID(%q) = %q is not a NATS token", id, tok)
		}
		back, err := audit.DecodeClientID(tok)
		if err != nil || back != id {
			t.Fatalf("round trip of %q: %q, %v", id, back, err)
		}
		if dec, err := audit.DecodeClientID(id); err == nil && audit.EncodeClientID(dec) != id {
			t.Fatalf("DecodeClientID accepted %q, which is not the encoding of %q", id, dec)
		}
	})
}

func TestKinds(t *testing.T) {
	want := map[audit.Kind]string{
		audit.KindIssued:         "io.github.scopeline.token.issued.v1",
		audit.KindDenied:         "io.github.scopeline.token.denied.v1",
		audit.KindHookFailed:     "io.github.scopeline.token.hook-failed.v1",
		audit.KindTenantReloaded: "io.github.scopeline.tenant.reloaded.v1",
		audit.KindLogin:          "io.github.scopeline.user.login.v1",
	}
	for k, typ := range want {
		if k.Type() != typ {
			t.Errorf("%s.Type() = %s, want %s", k, k.Type(), typ)
		}
		if got, ok := audit.KindOfType(typ); !ok || got != k {
			t.Errorf("KindOfType(%s) = %s", typ, got)
		}
		if got, err := audit.ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%s) = %s, %v", k, got, err)
		}
	}
	if _, err := audit.ParseKind("granted"); err == nil {
		t.Error("ParseKind accepted an unknown kind")
	}
	if _, ok := audit.KindOfType("com.example.other"); ok {
		t.Error("KindOfType accepted a foreign type")
	}
}

func TestLogCode(t *testing.T) {
	for _, tt := range []struct {
		outcome engine.Outcome
		grant   string
		want    string
	}{
		{engine.OutcomeIssued, "client_credentials", "seccft"},
		{engine.OutcomeDenied, "client_credentials", "feccft"},
		{engine.OutcomeIssued, "authorization_code", "seacft"},
		{engine.OutcomeDenied, "refresh_token", "fertft"},
		{engine.OutcomeIssued, "password", "sepft"},
		{engine.OutcomeDenied, "urn:example:unknown", ""},
		{engine.OutcomeDenied, "", ""},
	} {
		if got := audit.LogCode(tt.outcome, tt.grant); got != tt.want {
			t.Errorf("LogCode(%s, %q) = %q, want %q", tt.outcome, tt.grant, got, tt.want)
		}
	}
}

func TestEventDecoding(t *testing.T) {
	var e audit.Event
	if err := json.Unmarshal([]byte(exampleEvent), &e); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Reload(); err == nil {
		t.Error("a token event decoded as a reload")
	}
	e.Type = audit.KindTenantReloaded.Type()
	if _, err := e.Decision(); err == nil {
		t.Error("a reload decoded as a decision")
	}
	e.Data = json.RawMessage(`{"instance":"i","issuer":"https://id/","result":"ok","apis":2}`)
	r, err := e.Reload()
	if err != nil || r.APIs != 2 || r.Result != "ok" {
		t.Errorf("reload %+v, %v", r, err)
	}
}

const exampleEvent = `{
  "specversion": "1.0",
  "id": "01936f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f",
  "source": "https://id.example.com/",
  "type": "io.github.scopeline.token.issued.v1",
  "subject": "demo-m2m",
  "time": "2026-11-23T10:00:00.123456Z",
  "datacontenttype": "application/json",
  "dataschema": "https://github.com/scopeline/scopeline/blob/main/docs/events.v1.schema.json",
  "data": {
    "outcome": "issued", "log_code": "seccft", "instance": "id-1", "issuer": "https://id.example.com/",
    "request_id": "4f1c9a", "grant_type": "client_credentials", "trigger": "credentials-exchange",
    "client_id": "demo-m2m", "client_name": "Demo machine client", "audience": "https://api.example.com",
    "requested_scopes": ["read:users", "delete:users"], "granted_scopes": ["read:users"],
    "trace": [
      {"stage": "baseline", "op": "add", "scope": "read:users", "reason": "requested"},
      {"stage": "baseline", "op": "add", "scope": "delete:users", "refused": true, "reason": "outside the grant ceiling"}
    ],
    "subject": "demo-m2m", "jti": "pV3cS0x8QnK9m2Lr4TzY1w", "exp": 1795435200,
    "ip": "203.0.113.9", "user_agent": "curl/8.5.0"
  }
}`

// Decode an event received from the stream (a NATS message's data) and
// read its decision.
func ExampleEvent_Decision() {
	var e audit.Event
	if err := json.Unmarshal([]byte(exampleEvent), &e); err != nil {
		panic(err)
	}
	kind, _ := e.Kind()
	d, err := e.Decision()
	if err != nil {
		panic(err)
	}
	fmt.Println(kind, d.ClientID, d.Audience, d.GrantedScopes, d.JTI)
	for _, t := range d.Trace {
		fmt.Printf("  %s %s %s refused=%v (%s)\n", t.Stage, t.Op, t.Scope, t.Refused, t.Reason)
	}
	// Output:
	// issued demo-m2m https://api.example.com [read:users] pV3cS0x8QnK9m2Lr4TzY1w
	//   baseline add read:users refused=false (requested)
	//   baseline add delete:users refused=true (outside the grant ceiling)
}

// Client ids become one NATS subject token each.
func ExampleEncodeClientID() {
	fmt.Println(audit.Subject("scopeline.audit", audit.KindDenied, "billing.svc *prod*"))
	fmt.Println(audit.FilterSubject("scopeline.audit", "", new("demo-m2m")))
	// Output:
	// scopeline.audit.denied.billing%2Esvc%20%2Aprod%2A
	// scopeline.audit.*.demo-m2m
}
