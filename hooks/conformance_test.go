package hooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
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
