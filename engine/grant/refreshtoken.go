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

// RefreshToken is grant_type=refresh_token (RFC 6749 §6): every use
// rotates the token, and using a rotated-out token again revokes its
// whole family (RFC 9700 §4.14.2). The post-login pipeline runs again, so
// a change of roles, grants or hooks applies at the next refresh; the
// scopes first granted are the ceiling.
type RefreshToken struct{ EndUser }

// GrantType is "refresh_token".
func (*RefreshToken) GrantType() string { return engine.GrantRefreshToken }

// Exchange rotates the refresh token and runs the post-login pipeline
// again.
func (g *RefreshToken) Exchange(ctx context.Context, s *engine.Snapshot, r *engine.TokenRequest, tx *engine.Transaction) (engine.Extension, error) {
	d := g.deps()
	tx.Trigger = tenant.TriggerPostLogin
	c, err := g.Clients.UserClient(ctx, s.Tenant(), r, tx)
	if err != nil {
		return nil, err
	}
	tx.Client = c
	token := r.Params.Get("refresh_token")
	if token == "" {
		return nil, engine.ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	st, now := g.Storage, d.now()
	hash := storage.Hash(token)
	fam, err := st.GetRefreshToken(ctx, hash, now)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, engine.ErrInvalidGrant.WithDescription("the refresh token is invalid or expired")
	} else if err != nil {
		return nil, engine.ErrServerError.Wrap(err)
	}
	revoke := func(why string) {
		if err := st.RevokeRefreshFamily(ctx, fam.ID, fam.Expires); err != nil {
			d.log.Error("revoking a refresh-token family", "request_id", tx.RequestID, "err", err)
		}
		d.log.Warn("refresh-token family revoked", "request_id", tx.RequestID, "client_id", c.ID, "user_id", fam.UserID, "reason", why)
	}
	reused := engine.ErrInvalidGrant.WithDescription("the refresh token was already used; every token of its family is now revoked")
	switch {
	case fam.Revoked:
		return nil, engine.ErrInvalidGrant.WithDescription("the refresh token was revoked")
	case fam.ClientID != c.ID:
		revoke("presented by another client")
		return nil, engine.ErrInvalidGrant.WithDescription("the refresh token was issued to another client")
	case fam.Current != hash:
		revoke("a rotated-out token was used again")
		return nil, reused
	case !now.Before(fam.CurrentExpires):
		return nil, engine.ErrInvalidGrant.WithDescription("the refresh token expired unused")
	}
	var fg userflow.Family
	if err := json.Unmarshal(fam.Data, &fg); err != nil {
		return nil, engine.ErrServerError.Wrap(err)
	}
	if err := userflow.CheckDPoPKey(tx, fg.DPoPKey, "refresh token"); err != nil {
		return nil, err
	}
	if err := checkTarget(s.Tenant(), r, fg.API, "refresh token"); err != nil {
		return nil, err
	}
	api, aok := s.Tenant().API(fg.API)
	u, uok := s.Tenant().User(fam.UserID)
	if !aok || !uok {
		revoke("the user or the API is gone")
		return nil, engine.ErrInvalidGrant.WithDescription("the user or the API of this refresh token no longer exists")
	}
	requested, identity := fg.Scopes, fg.Identity
	all, err := engine.RequestedScopes(r.Scope, r.ScopeSet)
	if err != nil {
		return nil, err
	}
	if all != nil {
		identity, requested = userflow.SplitScopes(all)
		for _, sc := range all {
			if !slices.Contains(fg.Scopes, sc) && !slices.Contains(fg.Identity, sc) {
				return nil, engine.ErrInvalidScope.WithDescription("scope %q was not granted with this refresh token", sc)
			}
		}
	}
	// A refresh always names its API scopes: those of the family (possibly
	// none), or the narrowed set asked for. Never nil, which the baseline
	// would read as "no scope asked" and answer with the whole ceiling.
	userflow.Fill(tx, c, api, u, append([]string{}, requested...), identity)
	if err := s.Pipeline(tx.Trigger).Run(ctx, tx); err != nil {
		return nil, err
	}
	if err := userflow.CheckResult(tx); err != nil {
		return nil, err
	}
	x := &userTokens{rand: d.rand, tx: tx, authTime: fg.AuthTime}
	x.refresh = func(ctx context.Context, newHash string) error {
		expires := now.Add(s.Tenant().Flows.RefreshTokenIdle)
		if fam.Expires.Before(expires) {
			expires = fam.Expires
		}
		err := st.RotateRefreshToken(ctx, fam.ID, hash, newHash, expires, now)
		switch {
		case errors.Is(err, storage.ErrConflict): // a concurrent use of the same token won
			revoke("the same token was used twice at once")
			return reused
		case errors.Is(err, storage.ErrRevoked), errors.Is(err, storage.ErrNotFound):
			return engine.ErrInvalidGrant.WithDescription("the refresh token was revoked")
		case err != nil:
			return engine.ErrServerError.Wrap(err)
		}
		return nil
	}
	return x, nil
}

var _ engine.Grant = (*RefreshToken)(nil)
