// Package hooktest runs a Go hook natively, without WebAssembly, against a
// fake host: for unit tests of hooks written with package hook. It feeds
// the handler registered with hook.Handle (and the function registered with
// hook.Setup) an event in the format of `scopeline hook test` and returns
// what the hook staged.
//
// The fake host stages ops like the real one but does not apply them: the
// issuer's rules (scopes defined by the API, grant ceiling, reserved
// claims) are enforced by the issuer, so check those with
// `scopeline hook test` on the built module.
package hooktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scopeline/scopeline/sdk/hook/internal/abi"
)

// Op is one staged change.
type Op struct {
	// Kind is add-scope, remove-scope, set-claim or remove-claim.
	Kind   string
	Name   string
	Value  string
	Reason string
}

// Denial is a staged denial.
type Denial struct {
	Code, Reason string
}

// Result is what one run staged.
type Result struct {
	// Code is what scopeline_run returned: 0, or 1 when the handler failed.
	Code int32
	Ops  []Op
	Deny *Denial
	Logs []string
}

// Option tunes Run.
type Option func(*fake)

// WithConfig sets the hook's config (JSON), replacing the event's.
func WithConfig(config string) Option {
	return func(f *fake) { f.config, f.hasConfig = config, true }
}

// WithSecret gives the hook a secret.
func WithSecret(name, value string) Option {
	return func(f *fake) { f.secrets[name] = value }
}

// Run runs the registered hook once on event (JSON, the format of
// `scopeline hook test`): hook.Setup's function first, then the handler.
// A setup failure is returned as an error.
func Run(event string, opts ...Option) (*Result, error) {
	f := &fake{secrets: map[string]string{}}
	if err := json.Unmarshal([]byte(event), &f.ev); err != nil {
		return nil, fmt.Errorf("hooktest: event: %w", err)
	}
	f.config, f.hasConfig = string(f.ev.Hook.Config), len(f.ev.Hook.Config) > 0
	for _, o := range opts {
		o(f)
	}
	f.doc = event
	prev := abi.Current
	defer func() { abi.Current = prev }()
	abi.Current = f
	if abi.Init != nil {
		if code := abi.Init(); code != abi.ReturnOK {
			return nil, fmt.Errorf("hooktest: setup failed (code %d): %s", code, strings.Join(f.res.Logs, " | "))
		}
		f.res.Logs = nil
	}
	if abi.Run == nil {
		return nil, errors.New("hooktest: no handler: call hook.Handle first")
	}
	f.inRun = true
	f.res.Code = abi.Run()
	return &f.res, nil
}

type event struct {
	Trigger string `json:"trigger"`
	Hook    struct {
		Name   string          `json:"name"`
		Config json.RawMessage `json:"config"`
	} `json:"hook"`
	Request struct {
		ID              string    `json:"id"`
		GrantType       string    `json:"grant_type"`
		RequestedScopes []string  `json:"requested_scopes"`
		IP              string    `json:"ip"`
		UserAgent       string    `json:"user_agent"`
		Time            time.Time `json:"time"`
	} `json:"request"`
	Client struct {
		ID       string            `json:"id"`
		Name     string            `json:"name"`
		Type     string            `json:"type"`
		Metadata map[string]string `json:"metadata"`
	} `json:"client"`
	API struct {
		Identifier string `json:"identifier"`
	} `json:"api"`
	Grant struct {
		Scopes []string `json:"scopes"`
	} `json:"grant"`
	Subject string `json:"subject"`
	User    *struct {
		ID string `json:"id"`
	} `json:"user"`
	Scopes []string `json:"scopes"`
}

// fake implements the host functions over a parsed event.
type fake struct {
	ev        event
	doc       string
	config    string
	hasConfig bool
	secrets   map[string]string
	inRun     bool
	res       Result
}

func (f *fake) Input() (string, bool) { return f.doc, f.inRun }

func (f *fake) Field(id int32) (string, bool) {
	e := &f.ev
	switch id {
	case abi.FieldConfig:
		return f.config, f.hasConfig
	case abi.FieldHookName:
		return e.Hook.Name, true
	}
	if !f.inRun {
		return "", false
	}
	switch id {
	case abi.FieldTrigger:
		return e.Trigger, true
	case abi.FieldGrantType:
		return e.Request.GrantType, true
	case abi.FieldClientID:
		return e.Client.ID, true
	case abi.FieldClientName:
		return e.Client.Name, true
	case abi.FieldClientType:
		return e.Client.Type, true
	case abi.FieldAudience:
		return e.API.Identifier, true
	case abi.FieldRequestedScopes:
		return strings.Join(e.Request.RequestedScopes, " "), e.Request.RequestedScopes != nil
	case abi.FieldScopes:
		return strings.Join(e.Scopes, " "), true
	case abi.FieldGrantScopes:
		return strings.Join(e.Grant.Scopes, " "), true
	case abi.FieldSubject:
		return e.Subject, e.Subject != ""
	case abi.FieldUserID:
		if e.User == nil {
			return "", false
		}
		return e.User.ID, true
	case abi.FieldIP:
		return e.Request.IP, e.Request.IP != ""
	case abi.FieldUserAgent:
		return e.Request.UserAgent, e.Request.UserAgent != ""
	case abi.FieldRequestID:
		return e.Request.ID, e.Request.ID != ""
	case abi.FieldTime:
		return e.Request.Time.UTC().Format(time.RFC3339Nano), !e.Request.Time.IsZero()
	case abi.FieldTimeUnix:
		return strconv.FormatInt(e.Request.Time.Unix(), 10), !e.Request.Time.IsZero()
	}
	return "", false
}

func (f *fake) ClientMetadata(key string) (string, bool) {
	if !f.inRun {
		return "", false
	}
	v, ok := f.ev.Client.Metadata[key]
	return v, ok
}

func (f *fake) Secret(name string) (string, bool) {
	v, ok := f.secrets[name]
	return v, ok
}

func (f *fake) HasScope(scope string) bool {
	for _, s := range f.ev.Scopes {
		if s == scope {
			return f.inRun
		}
	}
	return false
}

func (f *fake) stage(op Op) int32 {
	if !f.inRun {
		return abi.StatusNotInRun
	}
	f.res.Ops = append(f.res.Ops, op)
	return abi.StatusOK
}

func (f *fake) AddScope(scope, reason string) int32 {
	return f.stage(Op{Kind: "add-scope", Name: scope, Reason: reason})
}

func (f *fake) RemoveScope(scope, reason string) int32 {
	return f.stage(Op{Kind: "remove-scope", Name: scope, Reason: reason})
}

func (f *fake) SetClaim(name string, value []byte, reason string) int32 {
	return f.stage(Op{Kind: "set-claim", Name: name, Value: string(value), Reason: reason})
}

func (f *fake) RemoveClaim(name, reason string) int32 {
	return f.stage(Op{Kind: "remove-claim", Name: name, Reason: reason})
}

func (f *fake) Deny(code, reason string) int32 {
	if !f.inRun {
		return abi.StatusNotInRun
	}
	if f.res.Deny == nil {
		f.res.Deny = &Denial{Code: code, Reason: reason}
	}
	return abi.StatusOK
}

func (f *fake) Log(level int32, msg string) int32 {
	switch level {
	case abi.LevelDebug:
		msg = "[debug] " + msg
	case abi.LevelWarn:
		msg = "[warn] " + msg
	case abi.LevelError:
		msg = "[error] " + msg
	}
	f.res.Logs = append(f.res.Logs, msg)
	return abi.StatusOK
}

// Reset forgets the handler and the setup function registered with package
// hook, for tests that register several hooks in one binary.
func Reset() { abi.Run, abi.Init = nil, nil }
