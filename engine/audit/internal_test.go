package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, kind := range Kinds {
		m := newMsg(Subject("scopeline.audit", kind, "a.b"), "01936f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f", "S", []byte(`{"x":1}`))
		gotKind, got, err := decodeRecord(encodeRecord(kind, m), "S", "scopeline.audit")
		if err != nil {
			t.Fatal(err)
		}
		if gotKind != kind || got.Subject != m.Subject || !bytes.Equal(got.Data, m.Data) ||
			got.Header.Get(jetstream.MsgIDHeader) != m.Header.Get(jetstream.MsgIDHeader) ||
			got.Header.Get(jetstream.ExpectedStreamHeader) != "S" || got.Header.Get("Content-Type") != ContentType {
			t.Errorf("%s: got %+v", kind, got)
		}
	}
	good := encodeRecord(KindIssued, newMsg("s.t", "id", "S", []byte("{}")))
	for i := range len(good) - 2 { // cut anywhere before the data
		if _, _, err := decodeRecord(good[:i], "S", "p"); !errors.Is(err, errBadRecord) {
			t.Errorf("a record cut to %d bytes decoded: %v", i, err)
		}
	}
	bad := bytes.Clone(good)
	bad[1] = 99
	if _, _, err := decodeRecord(bad, "S", "p"); !errors.Is(err, errBadRecord) {
		t.Errorf("unknown kind decoded: %v", err)
	}
}

// FuzzDecodeRecord feeds arbitrary bytes to the spool record decoder: it
// must refuse or decode, never panic.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(KindDenied, newMsg("a.b.c", "id", "S", []byte(`{"k":"v"}`))))
	f.Add([]byte{1, 0, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, m, err := decodeRecord(b, "S", "p")
		if err == nil && (kind == "" || m == nil) {
			t.Fatal("decoded to nothing")
		}
	})
}

func TestOversizedEventIsTruncated(t *testing.T) {
	tx := &engine.Transaction{ClientID: "c", GrantType: "client_credentials"}
	for range 2000 {
		tx.Logs = append(tx.Logs, engine.HookLog{Hook: "h", Message: strings.Repeat("l", 1000)})
		tx.Trace = append(tx.Trace, engine.TraceEntry{Stage: "h", Op: engine.OpAdd, Scope: "s", Reason: strings.Repeat("r", 500)})
	}
	d := &engine.Decision{Outcome: engine.OutcomeDenied, Tx: tx, Time: time.Now(), Err: engine.ErrAccessDenied}
	data := decisionData(d, "i", nil)
	b, err := encode(&Event{SpecVersion: SpecVersion, ID: "x", Type: KindDenied.Type()}, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxEventBytes {
		t.Fatalf("event is %d bytes", len(b))
	}
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	got, err := e.Decision()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Truncated || len(got.HookLogs) != 0 || len(got.Trace) == 0 || len(got.Trace) >= 2000 {
		t.Errorf("truncated=%v logs=%d trace=%d", got.Truncated, len(got.HookLogs), len(got.Trace))
	}
}

func TestRedaction(t *testing.T) {
	p := &Publisher{}
	mk := func(secrets ...string) *tenant.Tenant {
		h := &tenant.HookSpec{Name: "h", Secrets: map[string]tenant.Secret{}}
		for i, s := range secrets {
			h.Secrets[string(rune('A'+i))] = tenant.Secret(s)
		}
		return &tenant.Tenant{Pipelines: map[tenant.Trigger]*tenant.Pipeline{
			tenant.TriggerCredentialsExchange: {Hooks: []*tenant.HookSpec{h}},
		}}
	}
	if got := p.redact("nothing to hide"); got != "nothing to hide" {
		t.Errorf("redact without secrets = %q", got)
	}
	p.setSecrets(mk("abc", "abcdef", ""))
	if got := p.redact("x abcdef y abc z"); got != "x [redacted] y [redacted] z" {
		t.Errorf("redact = %q", got)
	}
	// After a reload the previous tenant's secrets stay redacted (requests
	// in flight may still run its hooks), the one before that no longer.
	p.setSecrets(mk("new-secret"))
	if got := p.redact("abc new-secret"); got != "[redacted] [redacted]" {
		t.Errorf("redact after one reload = %q", got)
	}
	p.setSecrets(mk("newer"))
	if got := p.redact("abc new-secret newer"); got != "abc [redacted] [redacted]" {
		t.Errorf("redact after two reloads = %q", got)
	}
}

// Fields copied from a request are at most maxFieldLen bytes
// (docs/events.md says so of client_id, grant_type and user_agent), also
// when invalid UTF-8 in them is replaced by U+FFFD (three bytes each).
func TestRequestFieldsStayWithinTheirBytes(t *testing.T) {
	junk := strings.Repeat("\xffa", 200) // 400 bytes, 200 invalid sequences
	tx := &engine.Transaction{ClientID: junk, GrantType: junk, UserAgent: junk}
	d := decisionData(&engine.Decision{Outcome: engine.OutcomeDenied, Tx: tx, Time: time.Now(), Err: engine.ErrInvalidClient}, "i", nil)
	l := loginData(&engine.Login{ClientID: junk, UserAgent: junk}, nil, "i")
	r := revocationData(&engine.Revocation{ClientID: junk, UserAgent: junk}, nil, "i")
	in := introspectionData(&engine.Introspection{ClientID: junk, UserAgent: junk, Subject: junk}, nil, "i")
	for name, v := range map[string]string{
		"decision client_id": d.ClientID, "decision grant_type": d.GrantType, "decision user_agent": d.UserAgent,
		"login client_id": l.ClientID, "login user_agent": l.UserAgent,
		"revocation client_id": r.ClientID, "revocation user_agent": r.UserAgent,
		"introspection client_id": in.ClientID, "introspection user_agent": in.UserAgent, "introspection subject": in.Subject,
	} {
		if len(v) > maxFieldLen || !utf8.ValidString(v) {
			t.Errorf("%s is %d bytes (valid UTF-8: %v), want at most %d", name, len(v), utf8.ValidString(v), maxFieldLen)
		}
	}
}

// The publisher's redaction writes "[redacted]" for a secret that may be
// shorter: a trace reason or hook log line at its bound must not pass it
// (the schema's maxLength of a reason, docs/events.md's 1 KiB lines).
func TestRedactionKeepsTheBounds(t *testing.T) {
	r := tenant.NewRedactor("ab")
	tx := &engine.Transaction{ClientID: "c",
		Trace: engine.Trace{{Stage: "h", Op: engine.OpAdd, Scope: "s", Reason: strings.Repeat("ab ", engine.MaxReasonLen/3)}},
		Logs:  []engine.HookLog{{Hook: "h", Message: strings.Repeat("ab ", engine.MaxHookLogLine/3)}},
	}
	d := decisionData(&engine.Decision{Outcome: engine.OutcomeDenied, Tx: tx, Time: time.Now(), Err: engine.ErrAccessDenied}, "i", r)
	if n := len(d.Trace[0].Reason); n > engine.MaxReasonLen || !strings.HasPrefix(d.Trace[0].Reason, "[redacted] ") {
		t.Errorf("a reason of %d bytes after redaction: %.40q...", n, d.Trace[0].Reason)
	}
	if n := len(d.HookLogs[0].Message); n > engine.MaxHookLogLine || !strings.HasPrefix(d.HookLogs[0].Message, "[redacted] ") {
		t.Errorf("a hook log line of %d bytes after redaction: %.40q...", n, d.HookLogs[0].Message)
	}
}
