package engine_test

import (
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
)

// TestNewExchange: the act chain nests the subject token's, may_act is
// honoured (RFC 8693 §4.1, §4.4), and malformed or overlong chains are
// refused.
func TestNewExchange(t *testing.T) {
	chain := func(n int) any { // n nested actors
		var v any
		for i := n; i > 0; i-- {
			m := map[string]any{"sub": "a" + strings.Repeat("x", i)}
			if v != nil {
				m["act"] = v
			}
			v = m
		}
		return v
	}
	for _, tc := range []struct {
		name    string
		subject map[string]any
		rule    tenant.TokenExchange
		act     string // the new token's act claim
		err     string
	}{
		{name: "no prior actor", subject: map[string]any{"sub": "alice"}, act: `{"sub":"gw"}`},
		{name: "a prior actor nests", subject: map[string]any{"sub": "alice", "act": map[string]any{"sub": "web", "act": map[string]any{"sub": "edge"}}},
			act: `{"act":{"act":{"sub":"edge"},"sub":"web"},"sub":"gw"}`},
		{name: "may_act names the actor", subject: map[string]any{"sub": "alice", "may_act": map[string]any{"sub": "gw"}}, act: `{"sub":"gw"}`},
		{name: "may_act names another", subject: map[string]any{"sub": "alice", "may_act": map[string]any{"sub": "other"}}, err: "does not name the actor"},
		{name: "may_act malformed", subject: map[string]any{"sub": "alice", "may_act": "gw"}, err: "may_act claim is not an object"},
		{name: "may_act required and absent", subject: map[string]any{"sub": "alice"}, rule: tenant.TokenExchange{RequireMayAct: true}, err: "no may_act claim"},
		{name: "may_act required and present", subject: map[string]any{"sub": "alice", "may_act": map[string]any{"sub": "gw"}}, rule: tenant.TokenExchange{RequireMayAct: true}, act: `{"sub":"gw"}`},
		{name: "act without sub", subject: map[string]any{"sub": "alice", "act": map[string]any{"iss": "x"}}, err: "act claim is not a chain"},
		{name: "act not an object", subject: map[string]any{"sub": "alice", "act": []any{"web"}}, err: "act claim is not a chain"},
		{name: "chain at the limit", subject: map[string]any{"sub": "alice", "act": chain(engine.MaxActDepth - 1)}},
		{name: "chain past the limit", subject: map[string]any{"sub": "alice", "act": chain(engine.MaxActDepth)}, err: "at most 8 actors"},
		{name: "chain far past the limit", subject: map[string]any{"sub": "alice", "act": chain(100)}, err: "longer than 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := engine.NewExchange(&tc.rule, tc.subject, nil, nil, "gw", nil)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.act != "" && string(x.Act()) != tc.act:
				t.Errorf("act = %s, want %s", x.Act(), tc.act)
			case x.Chain[0] != "gw" || (tc.subject["act"] != nil && len(x.Chain) < 2):
				t.Errorf("chain = %v", x.Chain)
			}
		})
	}
}
