package grant

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/userflow"
)

// AuthorizationCode is grant_type=authorization_code (RFC 6749 §4.1.3):
// one use per code, bound to its client, redirect URI and PKCE challenge
// (RFC 7636). The post-login pipeline already ran when the user signed
// in, at the hosted pages; its result, kept with the code
// (userflow.Code), is what the token carries, capped again by the tenant
// serving the exchange (engine.Snapshot.Recheck). With offline_access the
// token comes with a refresh token, the first of a new family.
type AuthorizationCode struct{ EndUser }

// GrantType is "authorization_code".
func (*AuthorizationCode) GrantType() string { return engine.GrantAuthorizationCode }

// Exchange redeems the code: one use, by the client it was issued to,
// with its redirect URI and PKCE verifier.
func (g *AuthorizationCode) Exchange(ctx context.Context, s *engine.Snapshot, r *engine.TokenRequest, tx *engine.Transaction) (engine.Extension, error) {
	d := g.deps()
	tx.Trigger = tenant.TriggerPostLogin
	c, err := g.Clients.UserClient(ctx, s.Tenant(), r, tx)
	if err != nil {
		return nil, err
	}
	tx.Client = c
	raw := r.Params.Get("code")
	if raw == "" {
		return nil, engine.ErrInvalidRequest.WithDescription("code is required")
	}
	st, now, flows := g.Storage, d.now(), s.Tenant().Flows
	familyID, err := userflow.RandomToken(d.rand)
	if err != nil {
		return nil, engine.ErrServerError.Wrap(err)
	}
	rec, err := st.ConsumeAuthCode(ctx, storage.Hash(raw), familyID, now)
	switch {
	case errors.Is(err, storage.ErrConsumed):
		// RFC 6749 §4.1.2: a code used twice revokes what it gave.
		if rerr := st.RevokeRefreshFamily(ctx, rec.FamilyID, now.Add(flows.RefreshTokenLifetime)); rerr != nil {
			d.log.Error("revoking the refresh tokens of a reused code", "request_id", tx.RequestID, "err", rerr)
		}
		d.log.Warn("authorization code reused: its refresh tokens are revoked", "request_id", tx.RequestID, "client_id", c.ID)
		return nil, engine.ErrInvalidGrant.WithDescription("the authorization code was already used; the refresh token issued with it is revoked")
	case errors.Is(err, storage.ErrNotFound):
		return nil, engine.ErrInvalidGrant.WithDescription("the authorization code is invalid or expired")
	case err != nil:
		return nil, engine.ErrServerError.Wrap(err)
	}
	var code userflow.Code
	if err := json.Unmarshal(rec.Data, &code); err != nil {
		return nil, engine.ErrServerError.Wrap(err)
	}
	switch redirect := r.Params.Get("redirect_uri"); {
	case code.ClientID != c.ID:
		return nil, engine.ErrInvalidGrant.WithDescription("the authorization code was issued to another client")
	case (code.RedirectGiven || redirect != "") && redirect != code.RedirectURI:
		return nil, engine.ErrInvalidGrant.WithDescription("redirect_uri does not match the authorization request")
	case !c.RedirectRegistered(code.RedirectURI): // removed by a reload since
		return nil, engine.ErrInvalidGrant.WithDescription("the redirect URI of the authorization request is no longer registered for this client")
	}
	if err := checkPKCE(code.Challenge, r.Params.Get("code_verifier")); err != nil {
		return nil, err
	}
	if err := userflow.CheckDPoPKey(tx, code.DPoPKey, "authorization code"); err != nil {
		return nil, err
	}
	if err := checkTarget(s.Tenant(), r, code.API, "authorization code"); err != nil {
		return nil, err
	}
	api, aok := s.Tenant().API(code.API)
	u, uok := s.Tenant().User(code.UserID)
	grant, gok := s.Tenant().Grant(c.ID, code.API)
	if !aok || !uok || !gok || !grant.ForUser {
		return nil, engine.ErrInvalidGrant.WithDescription("the user, the API or the client's grant changed since the code was issued")
	}
	tx.API, tx.Grant, tx.User, tx.Subject = api, grant, u, u.ID
	tx.Requested = code.Requested
	tx.Restore(code.Result)
	// The tenant may have been reloaded since the sign-in: what the code
	// grants is capped again by the grant and the user's permissions of
	// the snapshot serving the exchange.
	s.Recheck(tx)
	if err := userflow.CheckResult(tx); err != nil {
		return nil, err
	}

	x := &userTokens{rand: d.rand, tx: tx, nonce: code.Nonce, authTime: code.AuthTime}
	if slices.Contains(tx.Identity, "offline_access") {
		fam := &userflow.Family{API: api.Identifier, Scopes: tx.Scopes, Identity: tx.Identity, AuthTime: code.AuthTime}
		if !c.Type.Confidential() { // a public client's refresh tokens are bound to its DPoP key, if any (RFC 9449 §5)
			fam.DPoPKey = tx.DPoPKey
		}
		data, err := json.Marshal(fam)
		if err != nil {
			return nil, engine.ErrServerError.Wrap(err)
		}
		x.refresh = func(ctx context.Context, hash string) error {
			err := st.CreateRefreshFamily(ctx, &storage.RefreshFamily{
				ID: familyID, ClientID: c.ID, UserID: u.ID, Current: hash,
				CurrentExpires: now.Add(min(flows.RefreshTokenIdle, flows.RefreshTokenLifetime)),
				Created:        now, Expires: now.Add(flows.RefreshTokenLifetime), Data: data,
			})
			if errors.Is(err, storage.ErrExists) { // revoked by a reuse of the code meanwhile
				return engine.ErrInvalidGrant.WithDescription("the authorization code was used twice")
			}
			if err != nil {
				return engine.ErrServerError.Wrap(err)
			}
			return nil
		}
	}
	return x, nil
}

var _ engine.Grant = (*AuthorizationCode)(nil)
