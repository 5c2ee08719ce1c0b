package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/scopeline/scopeline/engine"
)

// Events are encoded by hand, not through encoding/json's reflection: a
// token event is encoded once per token, and reflection was the largest
// cost of the publisher. The output is byte for byte what encoding/json
// makes of the same values (same member order, omitempty, escaping), which
// TestEncodeMatchesEncodingJSON and FuzzEncodeDecision check, including for
// every field of the engine types an event carries, so that a field added
// there and not here fails a test rather than going missing.

// appendEvent appends e's JSON with data as its `data` (e.Data is not
// read), leaving out hook logs and then trace entries of a DecisionData
// when the event would pass MaxEventBytes.
func appendEvent(b []byte, e *Event, data any) ([]byte, error) {
	start := len(b)
	b = append(b, `{"specversion":`...)
	b = appendString(b, e.SpecVersion)
	b = append(b, `,"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	if e.Subject != "" {
		b = append(b, `,"subject":`...)
		b = appendString(b, e.Subject)
	}
	b = append(b, `,"time":`...)
	var err error
	if b, err = appendTime(b, e.Time); err != nil {
		return b[:start], fmt.Errorf("audit: encoding event: %w", err)
	}
	b = append(b, `,"datacontenttype":`...)
	b = appendString(b, e.DataContentType)
	b = append(b, `,"dataschema":`...)
	b = appendString(b, e.DataSchema)
	b = append(b, `,"data":`...)
	head := len(b)
	dd, _ := data.(*DecisionData)
	for {
		if dd != nil {
			b = appendDecision(b, dd)
		} else {
			raw, err := json.Marshal(data)
			if err != nil {
				return b[:start], fmt.Errorf("audit: encoding event data: %w", err)
			}
			b = append(b, raw...)
		}
		b = append(b, '}')
		if len(b)-start <= MaxEventBytes {
			return b, nil
		}
		b = b[:head]
		if dd == nil {
			return b[:start], errors.New("audit: event larger than MaxEventBytes")
		}
		dd.Truncated = true
		switch {
		case len(dd.HookLogs) > 0:
			dd.HookLogs = nil
		case len(dd.Trace) > 1:
			dd.Trace = dd.Trace[:len(dd.Trace)/2]
		default:
			return b[:start], errors.New("audit: event larger than MaxEventBytes")
		}
	}
}

// encode returns the event's JSON (appendEvent into a new slice).
func encode(e *Event, data any) ([]byte, error) { return appendEvent(nil, e, data) }

// appendDecision appends d as encoding/json would.
func appendDecision(b []byte, d *DecisionData) []byte {
	b = append(b, `{"outcome":`...)
	b = appendString(b, d.Outcome)
	b = appendStringMember(b, `,"log_code":`, d.LogCode)
	b = append(b, `,"instance":`...)
	b = appendString(b, d.Instance)
	b = append(b, `,"issuer":`...)
	b = appendString(b, d.Issuer)
	b = appendStringMember(b, `,"request_id":`, d.RequestID)
	b = appendStringMember(b, `,"grant_type":`, d.GrantType)
	b = appendStringMember(b, `,"trigger":`, d.Trigger)
	b = appendStringMember(b, `,"client_id":`, d.ClientID)
	b = appendStringMember(b, `,"client_name":`, d.ClientName)
	b = appendStringMember(b, `,"client_auth_method":`, d.ClientAuth)
	b = appendStringMember(b, `,"dpop_jkt":`, d.DPoPKey)
	b = appendStringMember(b, `,"audience":`, d.Audience)
	b = appendStringsMember(b, `,"requested_scopes":`, d.RequestedScopes)
	b = appendStringsMember(b, `,"granted_scopes":`, d.GrantedScopes)
	b = append(b, `,"trace":`...)
	if d.Trace == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range d.Trace {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTraceEntry(b, &d.Trace[i])
		}
		b = append(b, ']')
	}
	if len(d.HookFailures) > 0 {
		b = append(b, `,"hook_failures":[`...)
		for i, f := range d.HookFailures {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"hook":`...)
			b = appendString(b, f.Hook)
			b = append(b, `,"kind":`...)
			b = appendString(b, f.Kind)
			b = appendStringMember(b, `,"error":`, f.Error)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(d.HookLogs) > 0 {
		b = append(b, `,"hook_logs":[`...)
		for i, l := range d.HookLogs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"hook":`...)
			b = appendString(b, l.Hook)
			b = append(b, `,"message":`...)
			b = appendString(b, l.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendStringMember(b, `,"subject":`, d.Subject)
	b = appendStringMember(b, `,"jti":`, d.JTI)
	if d.Expires != 0 {
		b = append(b, `,"exp":`...)
		b = strconv.AppendInt(b, d.Expires, 10)
	}
	if d.Error != nil {
		b = append(b, `,"error":{"code":`...)
		b = appendString(b, d.Error.Code)
		b = appendStringMember(b, `,"description":`, d.Error.Description)
		b = append(b, '}')
	}
	b = appendStringMember(b, `,"ip":`, d.IP)
	b = appendStringMember(b, `,"user_agent":`, d.UserAgent)
	if len(d.Timings) > 0 {
		b = append(b, `,"timings":[`...)
		for i, t := range d.Timings {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"stage":`...)
			b = appendString(b, t.Stage)
			b = append(b, `,"ns":`...)
			b = strconv.AppendInt(b, t.Duration.Nanoseconds(), 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if d.DryRun {
		b = append(b, `,"dry_run":true`...)
	}
	b = appendStringMember(b, `,"dry_run_by":`, d.DryRunBy)
	if x := d.Exchange; x != nil {
		b = append(b, `,"exchange":{"subject_audience":`...)
		b = appendString(b, x.SubjectAudience)
		b = appendStringMember(b, `,"subject_client_id":`, x.SubjectClientID)
		b = appendStringMember(b, `,"subject_jti":`, x.SubjectJTI)
		b = append(b, `,"actor":`...)
		b = appendString(b, x.Actor)
		if x.ActorToken {
			b = append(b, `,"actor_token":true`...)
		}
		b = append(b, `,"actor_chain":`...)
		if x.ActorChain == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, a := range x.ActorChain {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, a)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	if d.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	return append(b, '}')
}

func appendTraceEntry(b []byte, e *engine.TraceEntry) []byte {
	b = append(b, `{"stage":`...)
	b = appendString(b, e.Stage)
	b = append(b, `,"op":`...)
	b = appendString(b, string(e.Op))
	b = appendStringMember(b, `,"scope":`, e.Scope)
	b = appendStringMember(b, `,"claim":`, e.Claim)
	if e.Refused {
		b = append(b, `,"refused":true`...)
	}
	b = appendStringMember(b, `,"reason":`, e.Reason)
	return append(b, '}')
}

// appendStringMember appends an omitempty string member: name (with its
// leading comma and colon) and s, unless s is empty.
func appendStringMember(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, name...), s)
}

// appendStringsMember appends an omitempty []string member.
func appendStringsMember(b []byte, name string, v []string) []byte {
	if len(v) == 0 {
		return b
	}
	b = append(append(b, name...), '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendTime appends t as time.Time's MarshalJSON does: RFC 3339 with
// nanoseconds, refusing what RFC 3339 cannot express.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	num2 := func(b []byte) byte { return 10*(b[0]-'0') + (b[1] - '0') }
	switch {
	case b[n0+len("9999")] != '-': // year must be exactly 4 digits wide
		return b, errors.New("Time.MarshalJSON: year outside of range [0,9999]")
	case b[len(b)-1] != 'Z':
		c := b[len(b)-len("Z07:00")]
		if ('0' <= c && c <= '9') || num2(b[len(b)-len("07:00"):]) >= 24 {
			return b, errors.New("Time.MarshalJSON: timezone hour outside of range [0,23]")
		}
	}
	return append(b, '"'), nil
}

// appendString appends s as a JSON string escaped as encoding/json does
// by default: '"', '\\', control characters, and '<', '>', '&' (HTML-safe)
// escaped; invalid UTF-8 replaced by U+FFFD; U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexLower[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexLower = "0123456789abcdef"

// jsonSafe tells the ASCII bytes a JSON string holds as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
