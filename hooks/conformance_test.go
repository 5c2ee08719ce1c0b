package hooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

// exampleHooks are the tier-gate examples: one hook, one set of rules, in
// every language of examples/hooks.
var exampleHooks = []string{
	"../examples/hooks/go/tier-gate.wasm",
	"../examples/hooks/wat/tier-gate.wasm",
	"../examples/hooks/c/tier-gate.wasm",
	"../examples/hooks/cpp/tier-gate.wasm",
	"../examples/hooks/rust/tier-gate.wasm",
	"../examples/hooks/zig/tier-gate.wasm",
	"../examples/hooks/assemblyscript/tier-gate.wasm",
}

// outcome is what a hook decided, as the engine applied it.
type outcome struct {
	Err    string // OAuth error code, "" when the request goes on
	Desc   string
	Scopes []string
	Claims map[string]string
	Logs   []string
	Trace  []string
}

// runEvent runs one loaded hook on an event through the engine's rules.
func runEvent(t *testing.T, hk engine.Hook, sp *tenant.HookSpec, event string) outcome {
	t.Helper()
	ev, err := hooks.ReadEvent(strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	tx := ev.Transaction()
	err = engine.RunHook(context.Background(), sp, hk, tx)
	var o outcome
	if err != nil {
		var e *engine.Error
		if !errors.As(err, &e) {
			t.Fatalf("not an OAuth error: %v", err)
		}
		o.Err, o.Desc = e.Code(), e.Description()
	}
	o.Scopes = tx.Scopes
	o.Claims = map[string]string{}
	for k, v := range tx.Claims {
		o.Claims[k] = string(v)
	}
	for _, l := range tx.Logs {
		o.Logs = append(o.Logs, l.Message)
	}
	for _, e := range tx.Trace {
		s := string(e.Op) + " " + e.Scope + e.Claim
		if e.Refused {
			s += " refused: " + e.Reason
		}
		o.Trace = append(o.Trace, s)
	}
	return o
}

// event makes a test event with the given client metadata and scopes.
func event(trigger string, metadata map[string]string, scopes, ceiling []string) string {
	ev := map[string]any{
		"trigger": trigger,
		"hook":    map[string]any{"name": "tier-gate"},
		"request": map[string]any{"grant_type": "client_credentials", "requested_scopes": scopes, "ip": "203.0.113.9", "time": "2026-03-04T10:00:00Z"},
		"client":  map[string]any{"id": "m2m", "name": "Machine", "type": "m2m", "metadata": metadata},
		"api":     map[string]any{"identifier": "https://api.test", "scopes": []string{"read:users", "write:users", "delete:users"}},
		"grant":   map[string]any{"scopes": ceiling},
		"subject": "m2m",
		"scopes":  scopes,
	}
	if trigger == string(tenant.TriggerPostLogin) {
		ev["user"] = map[string]any{"id": "u-1", "email": "ada@example.com", "roles": []string{"admin"}}
		ev["subject"] = "u-1"
		ev["request"].(map[string]any)["grant_type"] = "authorization_code"
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

var all = []string{"read:users", "write:users", "delete:users"}

// tierGateCases is the conformance table of the tier-gate examples.
var tierGateCases = []struct {
	name  string
	event string
	want  outcome
}{
	{"gold gets read:users", event("credentials-exchange", map[string]string{"tier": "gold"}, []string{"write:users"}, all),
		outcome{Scopes: []string{"read:users", "write:users"}, Claims: map[string]string{"tier": `"gold"`}, Logs: []string{"tier=gold"},
			Trace: []string{"add read:users", "set-claim tier"}}},
	{"silver loses delete:users", event("credentials-exchange", map[string]string{"tier": "silver"}, []string{"read:users", "delete:users"}, all),
		outcome{Scopes: []string{"read:users"}, Claims: map[string]string{"tier": `"silver"`}, Logs: []string{"tier=silver"},
			Trace: []string{"remove delete:users", "set-claim tier"}}},
	{"no tier is free", event("credentials-exchange", nil, []string{"delete:users"}, all),
		outcome{Scopes: []string{}, Claims: map[string]string{"tier": `"free"`}, Logs: []string{"tier=free"},
			Trace: []string{"remove delete:users", "set-claim tier"}}},
	{"suspended is denied", event("credentials-exchange", map[string]string{"tier": "gold", "suspended": "true"}, []string{"read:users"}, all),
		outcome{Err: "access_denied", Desc: "client is suspended", Scopes: []string{"read:users"}, Claims: map[string]string{}, Trace: []string{"deny "}}},
	{"suspended only when true", event("credentials-exchange", map[string]string{"suspended": "yes"}, []string{"read:users"}, all),
		outcome{Scopes: []string{"read:users"}, Claims: map[string]string{"tier": `"free"`}, Logs: []string{"tier=free"}, Trace: []string{"set-claim tier"}}},
	{"gold outside the ceiling is refused", event("credentials-exchange", map[string]string{"tier": "gold"}, []string{"write:users"}, []string{"write:users"}),
		outcome{Scopes: []string{"write:users"}, Claims: map[string]string{"tier": `"gold"`}, Logs: []string{"tier=gold"},
			Trace: []string{"add read:users refused: outside the grant ceiling", "set-claim tier"}}},
	{"gold already holding read:users", event("credentials-exchange", map[string]string{"tier": "gold"}, []string{"read:users"}, all),
		outcome{Scopes: []string{"read:users"}, Claims: map[string]string{"tier": `"gold"`}, Logs: []string{"tier=gold"},
			Trace: []string{"add read:users refused: already granted", "set-claim tier"}}},
	{"overlong tier is free", event("credentials-exchange", map[string]string{"tier": strings.Repeat("x", 63)}, []string{"delete:users"}, all),
		outcome{Scopes: []string{}, Claims: map[string]string{"tier": `"free"`}, Logs: []string{"tier=free"},
			Trace: []string{"remove delete:users", "set-claim tier"}}},
	{"post-login with a user", event("post-login", map[string]string{"tier": "gold"}, []string{"write:users"}, all),
		outcome{Scopes: []string{"read:users", "write:users"}, Claims: map[string]string{"tier": `"gold"`}, Logs: []string{"tier=gold"},
			Trace: []string{"add read:users", "set-claim tier"}}},
}

// TestConformanceExamples runs every example hook on the same table: the
// same inputs must give the same decisions, whatever the language.
// It runs them twice: with memory reserved up to the cap, and with Go
// memory that grows by copying (systems without mmap).
func TestConformanceExamples(t *testing.T) {
	hosts := map[string]*hooks.Host{"reserved": newHost(t), "go-memory": newHost(t, hooks.WithGoMemory())}
	for _, mem := range []string{"reserved", "go-memory"} {
		for _, module := range exampleHooks {
			testConformance(t, hosts[mem], mem, module)
		}
	}
}

func testConformance(t *testing.T, h *hooks.Host, mem, module string) {
	t.Run(mem+"/"+module, func(t *testing.T) {
		sp := &tenant.HookSpec{Name: "tier-gate", Module: module, Timeout: 100 * time.Millisecond, Memory: 16 << 20, Failure: tenant.FailDeny}
		hk, err := h.Load(context.Background(), sp)
		if err != nil {
			t.Fatal(err)
		}
		defer hk.Close()
		for _, tc := range tierGateCases {
			t.Run(tc.name, func(t *testing.T) {
				got := runEvent(t, hk, sp, tc.event)
				if !equalOutcome(got, tc.want) {
					t.Errorf("got  %+v\nwant %+v", got, tc.want)
				}
			})
		}
	})
}

func equalOutcome(a, b outcome) bool {
	return a.Err == b.Err && a.Desc == b.Desc && slices.Equal(a.Scopes, b.Scopes) && maps.Equal(a.Claims, b.Claims) &&
		slices.Equal(a.Logs, b.Logs) && slices.Equal(a.Trace, b.Trace)
}

// sdkLanguages are the languages of the SDK conformance hooks: each
// sdk/conformance/LANG/conformance.wasm is built from the source beside it
// (sdk/build.sh; .ci/run rebuilds them and checks they match).
var sdkLanguages = []string{"go", "rust", "c", "zig", "assemblyscript", "wat"}

// conformanceCase is one row of sdk/conformance/table.json.
type conformanceCase struct {
	Name    string            `json:"name"`
	Config  json.RawMessage   `json:"config"`
	Secrets map[string]string `json:"secrets"`
	// Event is a JSON merge patch (RFC 7396) on the table's base event.
	Event json.RawMessage `json:"event"`
	Want  conformanceWant `json:"want"`
}

// conformanceWant is what a hook must decide. Claims are compared as
// compact JSON text, so SDKs must encode them alike (docs/hook-abi.md).
type conformanceWant struct {
	// LoadError is a text the load error must contain; the case then
	// runs nothing.
	LoadError   string            `json:"load_error,omitempty"`
	Error       string            `json:"error,omitempty"`
	Description string            `json:"description,omitempty"`
	Fault       string            `json:"fault,omitempty"`
	Scopes      []string          `json:"scopes,omitempty"`
	Claims      map[string]string `json:"claims,omitempty"`
	Logs        []string          `json:"logs,omitempty"`
	Trace       []string          `json:"trace,omitempty"`
}

func readConformanceTable(t testing.TB) (base json.RawMessage, cases []conformanceCase) {
	t.Helper()
	raw, err := os.ReadFile("../sdk/conformance/table.json")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		About string            `json:"about"`
		Base  json.RawMessage   `json:"base"`
		Cases []conformanceCase `json:"cases"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&table); err != nil {
		t.Fatalf("sdk/conformance/table.json: %v", err)
	}
	return table.Base, table.Cases
}

// mergePatch applies an RFC 7396 JSON merge patch.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// runConformance loads the hook at module with the case's config and
// secrets, runs it on the case's event, and returns what it decided.
func runConformance(t *testing.T, h *hooks.Host, module string, base json.RawMessage, tc conformanceCase) conformanceWant {
	t.Helper()
	sp := &tenant.HookSpec{Name: "conformance", Module: module, Timeout: time.Second, Memory: 16 << 20, Failure: tenant.FailDeny}
	if len(tc.Config) > 0 {
		sp.Config = tc.Config
	}
	for k, v := range tc.Secrets {
		if sp.Secrets == nil {
			sp.Secrets = map[string]tenant.Secret{}
		}
		sp.Secrets[k] = tenant.Secret(v)
	}
	var got conformanceWant
	hk, err := h.Load(context.Background(), sp)
	if err != nil {
		got.LoadError = err.Error()
		return got
	}
	defer hk.Close()
	var ev, patch any
	if err := json.Unmarshal(base, &ev); err != nil {
		t.Fatal(err)
	}
	if len(tc.Event) > 0 {
		if err := json.Unmarshal(tc.Event, &patch); err != nil {
			t.Fatal(err)
		}
		ev = mergePatch(ev, patch)
	}
	evJSON, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	e, err := hooks.ReadEvent(bytes.NewReader(evJSON))
	if err != nil {
		t.Fatal(err)
	}
	tx := e.Transaction()
	if err := engine.RunHook(context.Background(), sp, hk, tx); err != nil {
		oe := engine.AsError(err)
		got.Error, got.Description = oe.Code(), oe.Description()
	}
	if len(tx.Failures) > 0 {
		got.Fault = tx.Failures[0].Kind
	}
	got.Scopes = tx.Scopes
	for k, v := range tx.Claims {
		if got.Claims == nil {
			got.Claims = map[string]string{}
		}
		got.Claims[k] = string(v)
	}
	for _, l := range tx.Logs {
		got.Logs = append(got.Logs, l.Message)
	}
	for _, e := range tx.Trace {
		s := string(e.Op) + " " + e.Scope + e.Claim
		if e.Refused {
			s += " REFUSED"
		}
		got.Trace = append(got.Trace, s+": "+e.Reason)
	}
	return got
}

func (w conformanceWant) matches(got conformanceWant) bool {
	if w.LoadError != "" || got.LoadError != "" {
		return w.LoadError != "" && strings.Contains(got.LoadError, w.LoadError)
	}
	return w.Error == got.Error && w.Description == got.Description && w.Fault == got.Fault &&
		slices.Equal(w.Scopes, got.Scopes) && maps.Equal(w.Claims, got.Claims) &&
		slices.Equal(w.Logs, got.Logs) && slices.Equal(w.Trace, got.Trace)
}

// TestConformanceSDKs runs the conformance hook of every SDK on the one
// table of sdk/conformance/table.json: every language must decide every
// case alike, through the real host. A change of the ABI that one SDK
// misses fails here.
func TestConformanceSDKs(t *testing.T) {
	base, cases := readConformanceTable(t)
	h := newHost(t)
	for _, lang := range sdkLanguages {
		t.Run(lang, func(t *testing.T) {
			module := "../sdk/conformance/" + lang + "/conformance.wasm"
			if _, err := os.Stat(module); err != nil {
				t.Fatal(err)
			}
			for _, tc := range cases {
				t.Run(tc.Name, func(t *testing.T) {
					got := runConformance(t, h, module, base, tc)
					if !tc.Want.matches(got) {
						g, _ := json.MarshalIndent(got, "", "  ")
						w, _ := json.MarshalIndent(tc.Want, "", "  ")
						t.Errorf("got  %s\nwant %s", g, w)
					}
				})
			}
		})
	}
}
