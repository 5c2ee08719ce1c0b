package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
)

// referenceEncode is what encoding/json makes of an event: the envelope
// marshalled with its data spliced in, truncated the same way.
func referenceEncode(e *Event, data any) ([]byte, error) {
	ev := *e
	ev.Data = nil
	head, err := json.Marshal(&ev)
	if err != nil {
		return nil, err
	}
	head, ok := bytes.CutSuffix(head, []byte(`null}`))
	if !ok {
		return nil, errors.New("unexpected envelope")
	}
	for {
		raw, err := json.Marshal(data)
		if err != nil {
			return nil, err
		}
		if len(head)+len(raw)+1 <= MaxEventBytes {
			return append(append(head, raw...), '}'), nil
		}
		dd, ok := data.(*DecisionData)
		if !ok {
			return nil, errors.New("too large")
		}
		dd.Truncated = true
		switch {
		case len(dd.HookLogs) > 0:
			dd.HookLogs = nil
		case len(dd.Trace) > 1:
			dd.Trace = dd.Trace[:len(dd.Trace)/2]
		default:
			return nil, errors.New("too large")
		}
	}
}

// fillAll sets every field of the struct v points to, recursively, to a
// non-zero value: strings that need escaping, true, 42, one-element
// slices, non-nil pointers.
func fillAll(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.String:
			f.SetString(name + ` <&> "q" \ é` + "\u2028\x01\xff")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(42)
		case reflect.Slice:
			s := reflect.MakeSlice(f.Type(), 2, 2)
			for j := range 2 {
				if e := s.Index(j); e.Kind() == reflect.Struct {
					fillAll(t, e)
				} else {
					e.SetString(name + "-item")
				}
			}
			f.Set(s)
		case reflect.Pointer:
			p := reflect.New(f.Type().Elem())
			fillAll(t, p.Elem())
			f.Set(p)
		default:
			t.Fatalf("fillAll: %s.%s is a %s: teach appendDecision and this test about it", v.Type(), name, f.Kind())
		}
	}
}

func testEnvelope() *Event {
	return &Event{SpecVersion: SpecVersion, ID: "01936f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f", Source: "https://issuer.example/",
		Type: KindIssued.Type(), Subject: "demo-m2m", Time: time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC),
		DataContentType: "application/json", DataSchema: DataSchema}
}

// TestEncodeMatchesEncodingJSON checks the hand-written encoder against
// encoding/json, byte for byte: typical, empty and fully populated
// decisions (every field of every type an event carries, so that a field
// added to them fails here until the encoder writes it), reloads, sign-ins
// and oversized events.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	full := &DecisionData{}
	fillAll(t, reflect.ValueOf(full).Elem())
	typical := decisionData(typicalDecision(), "i-1", nil)
	reload, login := &ReloadData{}, &LoginData{}
	fillAll(t, reflect.ValueOf(reload).Elem())
	fillAll(t, reflect.ValueOf(login).Elem())
	big := func() *DecisionData {
		d := &DecisionData{Outcome: "denied"}
		for range 3000 {
			d.HookLogs = append(d.HookLogs, engine.HookLog{Hook: "h", Message: strings.Repeat("l", 100)})
			d.Trace = append(d.Trace, engine.TraceEntry{Stage: "h", Op: engine.OpAdd, Scope: "s", Reason: strings.Repeat("r", 100)})
		}
		return d
	}
	for name, mk := range map[string]func() any{
		"typical":       func() any { return typical },
		"empty":         func() any { return &DecisionData{} },
		"empty trace":   func() any { return &DecisionData{Trace: []engine.TraceEntry{}} },
		"full":          func() any { return full },
		"reload":        func() any { return reload },
		"empty reload":  func() any { return &ReloadData{} },
		"login":         func() any { return login },
		"oversized":     func() any { return big() },
		"no subject":    func() any { return &DecisionData{Outcome: "issued"} },
		"only failures": func() any { return &DecisionData{HookFailures: []HookFailure{{Hook: "h", Kind: "trap"}}} },
	} {
		e := testEnvelope()
		if name == "no subject" {
			e.Subject = ""
		}
		want, err := referenceEncode(e, mk())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := appendEvent([]byte("prefix"), e, mk())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, ok := bytes.CutPrefix(got, []byte("prefix")); !ok || !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %.600s\nwant %.600s", name, got, want)
		}
	}
	// Times that RFC 3339 cannot hold are refused, as by encoding/json.
	for _, at := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		e := testEnvelope()
		e.Time = at
		if _, err := json.Marshal(e); err == nil {
			t.Fatalf("encoding/json accepts %v", at)
		}
		if b, err := appendEvent([]byte("x"), e, &DecisionData{}); err == nil || string(b) != "x" {
			t.Errorf("%v: encoded %q, %v; want an error and the buffer as it was", at, b, err)
		}
	}
}

// FuzzEncodeDecision encodes decisions made of arbitrary text with both
// encoders: they must agree byte for byte, and the result must be valid
// JSON.
func FuzzEncodeDecision(f *testing.F) {
	f.Add("demo-m2m", "read:users", "requested", "tier=gold", "<script>&\u2028", int64(1795435200), true)
	f.Add("", "", "", "", "\xff\xfe\x00\x1f\"\\", int64(0), false)
	f.Fuzz(func(t *testing.T, client, scope, reason, log, text string, exp int64, refused bool) {
		d := &DecisionData{
			Outcome: "issued", Instance: text, Issuer: client, ClientID: client, ClientName: text, ClientAuth: scope, DPoPKey: log, Audience: scope,
			RequestedScopes: []string{scope, text}, GrantedScopes: []string{scope},
			Trace:    []engine.TraceEntry{{Stage: client, Op: engine.Op(text), Scope: scope, Claim: text, Refused: refused, Reason: reason}},
			HookLogs: []engine.HookLog{{Hook: client, Message: log}}, HookFailures: []HookFailure{{Hook: text, Kind: scope, Error: reason}},
			Subject: client, JTI: text, Expires: exp, IP: text, UserAgent: log, Truncated: refused,
		}
		if refused {
			d.Error = &ErrorData{Code: scope, Description: reason}
		}
		e := testEnvelope()
		e.Subject, e.Source = client, text
		want, err := referenceEncode(e, d)
		if err != nil {
			t.Skip(err)
		}
		got, err := appendEvent(nil, e, d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON: %s", got)
		}
	})
}
