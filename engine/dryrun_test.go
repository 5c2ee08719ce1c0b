package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/grant"
)

const dryRunTenant = `
default_audience: https://api
apis:
  - identifier: https://api
    rbac: true
    scopes: [{name: read}, {name: write}, {name: admin}]
clients:
  - id: m2m
    type: m2m
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
  - id: spa
    type: spa
    redirect_uris: [http://localhost/cb]
grants:
  - {client: m2m, api: https://api, scopes: [read, write]}
  - {client: spa, api: https://api, scopes: [read, write, admin]}
roles:
  - {name: reader, permissions: [{api: https://api, scopes: [read]}]}
users:
  - {id: bob, username: bob, roles: [reader]}
pipelines:
  credentials-exchange:
    hooks:
      - {name: drop-write, plugin: drop-write}
  post-login:
    hooks:
      - {name: drop-write, plugin: drop-write}
`

// TestDryRun runs requests through the pipeline without a secret: the
// decision says what would have been granted and why, stage by stage,
// with each stage's time, and is recorded marked as a dry run, with no
// token.
func TestDryRun(t *testing.T) {
	loader := &goLoader{hooks: map[string]func(engine.View) (*engine.HookResult, error){
		"drop-write": func(engine.View) (*engine.HookResult, error) {
			return &engine.HookResult{Ops: []engine.HookOp{{Kind: engine.HookRemoveScope, Name: "write", Reason: "no writes today"}}, Logs: []string{"ran"}}, nil
		},
	}}
	rec := &recorder{}
	iss := newIssuer(t, dryRunTenant, loader, engine.WithAuditor(rec), engine.WithGrants(&grant.AuthorizationCode{}))
	ctx := context.Background()

	d, err := iss.DryRun(ctx, &engine.DryRunRequest{ClientID: "m2m", Scope: "read write", ScopeSet: true, By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if !d.DryRun || d.DryRunBy != "alice" || d.Outcome != engine.OutcomeIssued || d.JTI != "" || d.Err != nil {
		t.Fatalf("decision %+v", d)
	}
	tx := d.Tx
	if !slices.Equal(tx.Scopes, []string{"read"}) || tx.Trigger != "credentials-exchange" || tx.GrantType != engine.GrantClientCredentials || tx.Subject != "m2m" {
		t.Errorf("transaction %+v", tx)
	}
	if len(tx.Trace) != 3 || tx.Trace[2].Stage != "drop-write" || tx.Trace[2].Op != engine.OpRemove || len(tx.Logs) != 1 {
		t.Errorf("trace %+v logs %+v", tx.Trace, tx.Logs)
	}
	if len(tx.Timings) != 2 || tx.Timings[0].Stage != engine.StageBaseline || tx.Timings[1].Stage != "drop-write" || tx.Timings[1].Duration <= 0 {
		t.Errorf("timings %+v", tx.Timings)
	}

	// A user through a public client: RBAC caps bob to read.
	d, err = iss.DryRun(ctx, &engine.DryRunRequest{ClientID: "spa", UserID: "bob", Scope: "openid read write admin", ScopeSet: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != engine.OutcomeIssued || !slices.Equal(d.Tx.Scopes, []string{"read"}) || !slices.Equal(d.Tx.Identity, []string{"openid"}) || d.Tx.Trigger != "post-login" {
		t.Errorf("user dry run %+v", d.Tx)
	}
	refused := 0
	for _, e := range d.Tx.Trace {
		if e.Refused && e.Reason == "not in the user's permissions (RBAC)" {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("trace %+v", d.Tx.Trace)
	}

	// What would be refused is a denied decision, not an error.
	for _, c := range []struct {
		req  engine.DryRunRequest
		code string
	}{
		{engine.DryRunRequest{ClientID: "nobody"}, "invalid_client"},
		{engine.DryRunRequest{ClientID: "spa"}, "unauthorized_client"},
		{engine.DryRunRequest{ClientID: "m2m", UserID: "bob"}, "unauthorized_client"},
		{engine.DryRunRequest{ClientID: "spa", UserID: "nobody"}, "invalid_request"},
		{engine.DryRunRequest{ClientID: "m2m", Audience: "https://other"}, "invalid_target"},
		{engine.DryRunRequest{ClientID: "m2m", Scope: "admin", ScopeSet: true}, "invalid_scope"},
		{engine.DryRunRequest{ClientID: "spa", UserID: "bob", Scope: "admin", ScopeSet: true}, "access_denied"},
	} {
		d, err := iss.DryRun(ctx, &c.req)
		if err != nil {
			t.Fatal(err)
		}
		if d.Outcome != engine.OutcomeDenied || d.Err == nil || d.Err.Code() != c.code || !d.DryRun {
			t.Errorf("%+v: %+v (err %v)", c.req, d, d.Err)
		}
	}
	if len(rec.decisions) != 9 || !rec.decisions[8].DryRun {
		t.Errorf("%d decisions recorded", len(rec.decisions))
	}

	// A grant the issuer lacks, or one that cannot be dry-run, is a
	// refusal too.
	ccOnly := newIssuer(t, dryRunTenant, loader, engine.WithAuditor(rec))
	d, err = ccOnly.DryRun(ctx, &engine.DryRunRequest{ClientID: "spa", UserID: "bob"})
	if err != nil || d.Outcome != engine.OutcomeDenied || d.Err.Code() != "unsupported_grant_type" || d.Tx.GrantType != engine.GrantAuthorizationCode {
		t.Errorf("a user dry run without the authorization-code grant: %+v, %v", d, err)
	}

	// Not recorded, not shown.
	rec.mu.Lock()
	rec.fail = errors.New("stream down")
	rec.mu.Unlock()
	if _, err := iss.DryRun(ctx, &engine.DryRunRequest{ClientID: "m2m"}); !errors.Is(err, engine.ErrDryRunNotRecorded) {
		t.Errorf("err %v", err)
	}
}
