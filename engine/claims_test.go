package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
)

// escalate is a post-login hook that tries to give every user the three
// permissions of the API: by removing the claim and by setting it, or a
// name that folds to it.
func escalate(engine.View) (*engine.HookResult, error) {
	all := []byte(`["read:users","write:users","delete:users"]`)
	return &engine.HookResult{Ops: []engine.HookOp{
		{Kind: engine.HookRemoveClaim, Name: "permissions", Reason: "escalate"},
		{Kind: engine.HookSetClaim, Name: "permissions", Value: all, Reason: "escalate"},
		{Kind: engine.HookSetClaim, Name: "Permissions", Value: all, Reason: "escalate"},
		{Kind: engine.HookSetClaim, Name: "PERMISSIONS", Value: all, Reason: "escalate"},
	}}, nil
}

// TestHooksCannotReplaceThePermissionsClaim: with permissions_claim on, the
// permissions claim is the issuer's word on what the user may do; a
// post-login hook cannot replace bob's read-only permissions, at sign-in or
// at a refresh. Where permissions_claim is off, the issuer writes no such
// claim and the name is an ordinary custom claim (which no other name may
// fold to).
func TestHooksCannotReplaceThePermissionsClaim(t *testing.T) {
	for _, on := range []bool{true, false} {
		src := strings.Replace(flowTenant(t), "      - {name: tag, plugin: tag}\n", "      - {name: tag, plugin: tag}\n      - {name: escalate, plugin: escalate}\n", 1)
		if !on {
			src = strings.Replace(src, "    permissions_claim: true\n", "", 1)
		}
		loader := flowHooks(&sync.Map{})
		loader.hooks["escalate"] = escalate
		rec := &recorder{}
		srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(src), Server: server.Config{Hooks: loader, Auditor: rec}})
		cfg := spaConfig(srv, "offline_access", "read:users")
		code, verifier := codeFor(t, srv, cfg, "bob", "bob-password")
		tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		refreshed := *tok
		refreshed.Expiry = time.Now().Add(-time.Minute)
		again, err := cfg.TokenSource(context.Background(), &refreshed).Token()
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range []*oauth2.Token{tok, again} {
			claims, _ := enginetest.Verify(t, srv.Issuer, tk.AccessToken)
			perms, _ := json.Marshal(claims["permissions"])
			switch {
			case on && string(perms) != `["read:users"]`:
				t.Errorf("permissions_claim on: bob's permissions are %s, want [\"read:users\"]", perms)
			case !on && string(perms) != `["read:users","write:users","delete:users"]`:
				t.Errorf("permissions_claim off: the hook's permissions claim is %s", perms)
			}
			for _, forged := range []string{"Permissions", "PERMISSIONS"} {
				if _, ok := claims[forged]; ok {
					t.Errorf("permissions_claim %v: the token has a %s claim", on, forged)
				}
			}
		}
		if !on {
			continue
		}
		// The refusals are in the audited decision of the refresh.
		refused := 0
		for _, e := range rec.last().Tx.Trace {
			if e.Stage == "escalate" && e.Refused && e.Reason == `claim "permissions" is set by the issuer on this request` {
				refused++
			}
		}
		if refused != 4 {
			t.Errorf("%d ops of the hook refused as the issuer's claim, want 4: %+v", refused, rec.last().Tx.Trace)
		}
	}
}

// TestTraceShowsOddNamesEscaped: what a hook names goes into the trace, the
// audit event and terminals; a scope or claim name that is not well formed
// is refused and shown Go-quoted, its invisible characters escaped and its
// length cut, so that it can neither pass for another name nor flood the
// trace.
func TestTraceShowsOddNamesEscaped(t *testing.T) {
	long := strings.Repeat("x", 16<<10)
	loader := &goLoader{hooks: map[string]func(engine.View) (*engine.HookResult, error){
		"odd": func(engine.View) (*engine.HookResult, error) {
			return &engine.HookResult{Ops: []engine.HookOp{
				{Kind: engine.HookAddScope, Name: "read\u200b"},
				{Kind: engine.HookRemoveScope, Name: "read\x1b[2J"},
				{Kind: engine.HookAddScope, Name: long},
				{Kind: engine.HookSetClaim, Name: "tier\u202e", Value: []byte(`1`)},
				{Kind: engine.HookRemoveClaim, Name: long},
			}}, nil
		},
	}}
	rec := &recorder{}
	iss := newIssuer(t, hookTenant+"      - {name: odd, plugin: odd}\n", loader, engine.WithAuditor(rec))
	if _, err := iss.Token(context.Background(), ccRequest("read")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rec.last().Tx.Trace {
		if e.Stage == "odd" {
			if !e.Refused {
				t.Errorf("applied: %+v", e)
			}
			got = append(got, e.Scope+e.Claim)
		}
	}
	quotedLong := `"` + strings.Repeat("x", 128) + `"`
	want := []string{`"read\u200b"`, `"read\x1b[2J"`, quotedLong, `"tier\u202e"`, quotedLong}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("trace names %q, want %q", got, want)
	}
}

// BenchmarkSetClaim: a hook's three claims checked and applied, as the
// tier-gate example hooks set them.
func BenchmarkSetClaim(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		tx := &engine.Transaction{}
		tx.SetClaim("h", "tier", []byte(`"gold"`), "client tier")
		tx.SetClaim("h", "region", []byte(`"eu-west-1"`), "from metadata")
		tx.SetClaim("h", "limits", []byte(`{"rps":100,"burst":20}`), "plan")
	}
}
