package grant

import (
	"context"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/text"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/userflow"
)

// DryRun runs a client-credentials request of r.ClientID through the
// credentials-exchange pipeline as Exchange would once the client had
// authenticated (engine.Issuer.DryRun).
func (g *ClientCredentials) DryRun(ctx context.Context, s *engine.Snapshot, r *engine.DryRunRequest, tx *engine.Transaction) error {
	tx.Trigger = tenant.TriggerCredentialsExchange
	c, err := dryRunClient(s, r, tx)
	if err != nil {
		return err
	}
	return g.run(ctx, s, c, &engine.TokenRequest{Audience: r.Audience, Scope: r.Scope, ScopeSet: r.ScopeSet}, tx)
}

// DryRun runs the sign-in of user r.UserID through client r.ClientID
// through the post-login pipeline, as the hosted pages run it before they
// issue an authorization code (whose exchange takes up that result).
func (g *AuthorizationCode) DryRun(ctx context.Context, s *engine.Snapshot, r *engine.DryRunRequest, tx *engine.Transaction) error {
	tx.Trigger = tenant.TriggerPostLogin
	c, err := dryRunClient(s, r, tx)
	if err != nil {
		return err
	}
	tx.Client = c
	api, err := engine.ResolveAPI(s.Tenant(), r.Audience, nil)
	if err != nil {
		return err
	}
	tx.API = api
	if c.Type == tenant.ClientM2M {
		return engine.ErrUnauthorizedClient.WithDescription("an m2m client has no users")
	}
	u, ok := s.Tenant().User(r.UserID)
	if !ok {
		tx.Record(engine.TraceEntry{Stage: engine.StageBaseline, Op: engine.OpDeny, Reason: "no such user"})
		return engine.ErrInvalidRequest.WithDescription("no user has the id %q", text.Truncate(r.UserID, 64))
	}
	all, err := engine.RequestedScopes(r.Scope, r.ScopeSet)
	if err != nil {
		return err
	}
	var identity, requested []string
	if all != nil {
		identity, requested = userflow.SplitScopes(all)
	}
	userflow.Fill(tx, c, api, u, requested, identity)
	if err := s.Pipeline(tx.Trigger).Run(ctx, tx); err != nil {
		return err
	}
	return userflow.CheckResult(tx)
}

// dryRunClient finds the client a dry run names.
func dryRunClient(s *engine.Snapshot, r *engine.DryRunRequest, tx *engine.Transaction) (*tenant.Client, error) {
	c, ok := s.Tenant().Client(r.ClientID)
	if !ok {
		tx.Record(engine.TraceEntry{Stage: engine.StageBaseline, Op: engine.OpDeny, Reason: "no such client"})
		return nil, engine.ErrInvalidClient.WithDescription("no client has the id %q", text.Truncate(r.ClientID, 64))
	}
	tx.ClientID = c.ID
	return c, nil
}

var (
	_ engine.DryRunner = (*ClientCredentials)(nil)
	_ engine.DryRunner = (*AuthorizationCode)(nil)
)
