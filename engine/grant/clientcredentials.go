package grant

import (
	"context"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
)

// ClientCredentials is grant_type=client_credentials (RFC 6749 §4.4): a
// confidential client asks for a token of its own, for one API, within
// its grant's ceiling; the credentials-exchange pipeline decides the
// scopes.
type ClientCredentials struct {
	// Clients authenticates the client.
	Clients *engine.ClientAuthenticator
}

// GrantType is "client_credentials".
func (*ClientCredentials) GrantType() string { return engine.GrantClientCredentials }

// Exchange authenticates the client, resolves the API and runs the
// credentials-exchange pipeline.
func (g *ClientCredentials) Exchange(ctx context.Context, s *engine.Snapshot, r *engine.TokenRequest, tx *engine.Transaction) (engine.Extension, error) {
	tx.Trigger = tenant.TriggerCredentialsExchange
	c, err := g.Clients.Confidential(ctx, s.Tenant(), r, tx)
	if err != nil {
		return nil, err
	}
	return nil, g.run(ctx, s, c, r, tx)
}

// run is the exchange past the client's authentication: the client's
// type, the API, the scopes, the pipeline. DryRun shares it.
func (g *ClientCredentials) run(ctx context.Context, s *engine.Snapshot, c *tenant.Client, r *engine.TokenRequest, tx *engine.Transaction) error {
	tx.Client, tx.Subject = c, c.ID
	if !c.Type.Confidential() {
		return engine.ErrUnauthorizedClient.WithDescription("a %s client cannot use client_credentials", c.Type)
	}
	var err error
	if tx.API, err = engine.ResolveAPI(s.Tenant(), r.Audience, r.Resource); err != nil {
		return err
	}
	if tx.Requested, err = engine.RequestedScopes(r.Scope, r.ScopeSet); err != nil {
		return err
	}
	return s.Pipeline(tx.Trigger).Run(ctx, tx)
}

var _ engine.Grant = (*ClientCredentials)(nil)
