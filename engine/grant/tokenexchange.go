package grant

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
)

// TokenExchange is grant_type=urn:ietf:params:oauth:grant-type:token-exchange
// (RFC 8693): a confidential client presents an access token this issuer
// minted for one API (the subject token) and gets one for another API, on
// the same subject's behalf, as far as a token_exchange entry of the tenant
// allows. The token-exchange pipeline decides the scopes; its baseline
// takes the entry's ceiling, capped by the subject token's scopes unless
// the entry says otherwise. The new token's act claim records the actor
// chain (§4.1).
type TokenExchange struct {
	// Clients authenticates the client.
	Clients *engine.ClientAuthenticator
	// Denylist, when set, is consulted for subject and actor tokens of
	// APIs with access_token_denylist: a revoked token is refused.
	Denylist storage.Storage
	// Now defaults to time.Now.
	Now func() time.Time
}

// GrantType is "urn:ietf:params:oauth:grant-type:token-exchange".
func (*TokenExchange) GrantType() string { return engine.GrantTokenExchange }

// Exchange checks the subject token (and the actor token, if any), finds
// the tenant's rule for the client and the two APIs, describes the
// exchange on tx and runs the token-exchange pipeline.
//
// Errors follow RFC 8693 §2.2.2: a subject or actor token that is invalid
// or unacceptable by policy is invalid_request; an API the client may not
// exchange the subject token for is invalid_target.
func (g *TokenExchange) Exchange(ctx context.Context, s *engine.Snapshot, r *engine.TokenRequest, tx *engine.Transaction) (engine.Extension, error) {
	tx.Trigger = tenant.TriggerTokenExchange
	t := s.Tenant()
	c, err := g.Clients.Confidential(ctx, t, r, tx)
	if err != nil {
		return nil, err
	}
	tx.Client = c
	if !c.Type.Confidential() {
		return nil, engine.ErrUnauthorizedClient.WithDescription("a %s client cannot exchange tokens", c.Type)
	}
	p := r.Params
	switch typ := p.Get("requested_token_type"); typ {
	case "", engine.TokenTypeAccessToken:
	default:
		return nil, engine.ErrInvalidRequest.WithDescription("requested_token_type must be %s", engine.TokenTypeAccessToken)
	}
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}

	// The subject token: an access token of this issuer, still valid.
	subject, subjectAPI, err := g.verify(ctx, s, p.Get("subject_token"), p.Get("subject_token_type"), "subject", now)
	if err != nil {
		return nil, err
	}
	if r.Audience == "" && len(r.Resource) == 0 {
		return nil, engine.ErrInvalidRequest.WithDescription("audience or resource is required: the API of the new token")
	}
	if tx.API, err = engine.ResolveAPI(t, r.Audience, r.Resource); err != nil {
		return nil, err
	}
	rule, ok := t.TokenExchange(c.ID, subjectAPI.Identifier, tx.API.Identifier)
	if !ok {
		tx.Record(engine.TraceEntry{Stage: engine.StageBaseline, Op: engine.OpDeny,
			Reason: "no token_exchange entry lets this client exchange tokens of " + subjectAPI.Identifier + " for this API"})
		return nil, engine.ErrInvalidTarget.WithDescription("client %q may not exchange tokens of %q for tokens of %q", c.ID, subjectAPI.Identifier, tx.API.Identifier)
	}

	// Whose token it is: a user's, or a client's own.
	sub, _ := subject["sub"].(string)
	subjectClient, _ := subject["client_id"].(string)
	if sub == "" {
		return nil, engine.ErrInvalidRequest.WithDescription("the subject token has no sub")
	}
	tx.Subject = sub
	if u, ok := t.User(sub); ok && sub != subjectClient {
		tx.User = u
	} else if _, ok := t.Client(sub); !ok {
		return nil, engine.ErrInvalidRequest.WithDescription("the subject token's subject is no longer a user or a client of this tenant")
	}

	// The actor: the actor token's subject, or the client itself.
	actor, actorClaims := c.ID, map[string]any(nil)
	switch at := p.Get("actor_token"); {
	case at == "" && p.Get("actor_token_type") != "":
		return nil, engine.ErrInvalidRequest.WithDescription("actor_token_type without actor_token")
	case at == "" && rule.RequireActor:
		return nil, engine.ErrInvalidRequest.WithDescription("this exchange requires an actor_token")
	case at != "":
		if actorClaims, _, err = g.verify(ctx, s, at, p.Get("actor_token_type"), "actor", now); err != nil {
			return nil, err
		}
		actor, _ = actorClaims["sub"].(string)
		if !rule.MayAct(actor) {
			return nil, engine.ErrInvalidRequest.WithDescription("the actor token's subject %q may not act in this exchange", actor)
		}
	}

	subjectScopes := strings.Fields(claimString(subject, "scope"))
	x, err := engine.NewExchange(rule, subject, subjectAPI, subjectScopes, actor, actorClaims)
	if err != nil {
		return nil, engine.ErrInvalidRequest.WithDescription("%s", err.Error())
	}
	x.Grant = &tenant.Grant{Client: c, API: tx.API, ForClient: rule.ForClient, ForUser: rule.ForUser}
	for _, sc := range rule.Scopes {
		if !rule.CapBySubjectScopes || slices.Contains(subjectScopes, sc) {
			x.Grant.Scopes = append(x.Grant.Scopes, sc)
		}
	}
	tx.Exchange = x
	tx.Record(engine.TraceEntry{Stage: engine.StageBaseline, Op: engine.OpSetClaim, Claim: "act",
		Reason: "token exchange of a token of " + subjectAPI.Identifier + ": " + x.ChainString(sub)})
	if tx.Requested, err = engine.RequestedScopes(r.Scope, r.ScopeSet); err != nil {
		return nil, err
	}
	if err := s.Pipeline(tx.Trigger).Run(ctx, tx); err != nil {
		return nil, err
	}
	return exchanged{}, nil
}

// verify checks a subject or actor token (role) of type typ: an access
// token this issuer signed with a key of s, unexpired, for an API of the
// tenant, not on the denylist. It returns the token's claims and API.
func (g *TokenExchange) verify(ctx context.Context, s *engine.Snapshot, token, typ, role string, now time.Time) (jwt.MapClaims, *tenant.API, error) {
	switch {
	case token == "":
		return nil, nil, engine.ErrInvalidRequest.WithDescription("%s_token is required", role)
	case typ == "":
		return nil, nil, engine.ErrInvalidRequest.WithDescription("%s_token_type is required", role)
	case typ != engine.TokenTypeAccessToken && typ != engine.TokenTypeJWT:
		return nil, nil, engine.ErrInvalidRequest.WithDescription("%s_token_type must be %s (or %s)", role, engine.TokenTypeAccessToken, engine.TokenTypeJWT)
	}
	claims, api, err := s.ActiveAccessToken(token, now)
	if err != nil {
		return nil, nil, engine.ErrInvalidRequest.WithDescription("the %s token is invalid, expired or not an access token of this issuer", role).Wrap(err)
	}
	if api.AccessTokenDenylist && g.Denylist != nil {
		jti, _ := claims["jti"].(string)
		denied, err := g.Denylist.AccessTokenDenied(ctx, jti, now)
		switch {
		case err != nil:
			return nil, nil, engine.ErrServerError.Wrap(err)
		case denied:
			return nil, nil, engine.ErrInvalidRequest.WithDescription("the %s token was revoked", role)
		}
	}
	return claims, api, nil
}

func claimString(c jwt.MapClaims, name string) string {
	v, _ := c[name].(string)
	return v
}

// exchanged is the engine.Extension of a token exchange: it says what the
// token is (RFC 8693 §2.2.1).
type exchanged struct{}

func (exchanged) Extend(_ context.Context, _ *engine.Snapshot, _ time.Time, resp *engine.TokenResponse) error {
	resp.IssuedTokenType = engine.TokenTypeAccessToken
	return nil
}

func (exchanged) Commit(context.Context) error { return nil }

var (
	_ engine.Grant     = (*TokenExchange)(nil)
	_ engine.Extension = exchanged{}
)
