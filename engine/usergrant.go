package engine

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"time"

	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
)

// extras adds to a token response before its decision is recorded (ID
// and refresh tokens) and commits their state once it is.
type extras interface {
	add(ctx context.Context, s *snapshot, now time.Time, resp *TokenResponse) error
	commit(ctx context.Context) error
}

// userExtras are the ID token and the refresh token of an end-user grant.
type userExtras struct {
	i        *Issuer
	tx       *Transaction
	nonce    string
	authTime time.Time
	// refresh, when set, is called with the new refresh token's hash once
	// the decision is recorded: it stores the family or rotates it.
	refresh func(ctx context.Context, hash string) error
	token   string
}

func (x *userExtras) add(_ context.Context, s *snapshot, now time.Time, resp *TokenResponse) error {
	if slices.Contains(x.tx.Identity, "openid") {
		id, err := s.mintIDToken(x.tx, resp.AccessToken, x.nonce, x.authTime, now)
		if err != nil {
			return ErrServerError.Wrap(err)
		}
		resp.IDToken = id
	}
	if x.refresh != nil {
		t, err := x.i.randomToken()
		if err != nil {
			return ErrServerError.Wrap(err)
		}
		x.token, resp.RefreshToken = t, t
	}
	return nil
}

func (x *userExtras) commit(ctx context.Context) error {
	if x.refresh == nil {
		return nil
	}
	return x.refresh(ctx, storage.Hash(x.token))
}

// A code_verifier (RFC 7636 §4.1).
var validVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// checkPKCE verifies a code_verifier against the code's S256 challenge
// (RFC 7636 §4.6), and refuses a verifier for a code issued without a
// challenge: the PKCE downgrade of RFC 9700 §2.1.1.
func checkPKCE(challenge, verifier string) error {
	switch {
	case challenge == "" && verifier != "":
		return ErrInvalidGrant.WithDescription("code_verifier sent, but the authorization request had no code_challenge (PKCE downgrade refused)")
	case challenge == "":
		return nil
	case verifier == "":
		return ErrInvalidGrant.WithDescription("code_verifier is required: the authorization request had a code_challenge")
	case !validVerifier.MatchString(verifier):
		return ErrInvalidGrant.WithDescription("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(b64.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return ErrInvalidGrant.WithDescription("code_verifier does not match the code_challenge")
	}
	return nil
}

// authorizationCode handles grant_type=authorization_code (RFC 6749
// §4.1.3): one use per code, bound to its client, redirect URI and PKCE
// challenge. The post-login pipeline already ran when the user signed in;
// its outcome, stored with the code, is what the token carries.
func (i *Issuer) authorizationCode(ctx context.Context, s *snapshot, r *TokenRequest, tx *Transaction) (*TokenResponse, error) {
	tx.Trigger = tenant.TriggerPostLogin
	c, err := i.authenticateUserClient(ctx, s.tenant, r, tx)
	if err != nil {
		return nil, err
	}
	tx.Client = c
	code := r.Params.Get("code")
	if code == "" {
		return nil, ErrInvalidRequest.WithDescription("code is required")
	}
	st, now, flows := i.flows.storage, i.now(), s.tenant.Flows
	familyID, err := i.randomToken()
	if err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	rec, err := st.ConsumeAuthCode(ctx, storage.Hash(code), familyID, now)
	switch {
	case errors.Is(err, storage.ErrConsumed):
		// RFC 6749 §4.1.2: a code used twice revokes what it gave.
		if rerr := st.RevokeRefreshFamily(ctx, rec.FamilyID, now.Add(flows.RefreshTokenLifetime)); rerr != nil {
			i.log.Error("revoking the refresh tokens of a reused code", "request_id", tx.RequestID, "err", rerr)
		}
		i.log.Warn("authorization code reused: its refresh tokens are revoked", "request_id", tx.RequestID, "client_id", c.ID)
		return nil, ErrInvalidGrant.WithDescription("the authorization code was already used; the refresh token issued with it is revoked")
	case errors.Is(err, storage.ErrNotFound):
		return nil, ErrInvalidGrant.WithDescription("the authorization code is invalid or expired")
	case err != nil:
		return nil, ErrServerError.Wrap(err)
	}
	var g codeGrant
	if err := json.Unmarshal(rec.Data, &g); err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	switch redirect := r.Params.Get("redirect_uri"); {
	case g.ClientID != c.ID:
		return nil, ErrInvalidGrant.WithDescription("the authorization code was issued to another client")
	case (g.RedirectGiven || redirect != "") && redirect != g.RedirectURI:
		return nil, ErrInvalidGrant.WithDescription("redirect_uri does not match the authorization request")
	}
	if err := checkPKCE(g.Challenge, r.Params.Get("code_verifier")); err != nil {
		return nil, err
	}
	if r.Audience != "" || len(r.Resource) > 0 {
		api, err := resolveAPI(s.tenant, r)
		if err != nil {
			return nil, err
		}
		if api.Identifier != g.API {
			return nil, ErrInvalidTarget.WithDescription("the authorization code is for %q", g.API)
		}
	}
	api, aok := s.tenant.API(g.API)
	u, uok := s.tenant.User(g.UserID)
	grant, gok := s.tenant.Grant(c.ID, g.API)
	if !aok || !uok || !gok || !grant.ForUser {
		return nil, ErrInvalidGrant.WithDescription("the user, the API or the client's grant changed since the code was issued")
	}
	tx.API, tx.Grant, tx.User, tx.Subject = api, grant, u, u.ID
	tx.Requested, tx.Scopes, tx.Identity = g.Requested, g.Outcome.Scopes, g.Outcome.Identity
	tx.Claims, tx.Logs, tx.Timings = g.Outcome.Claims, g.Outcome.Logs, g.Outcome.Timings
	tx.Trace = append(tx.Trace, g.Outcome.Trace...)

	x := &userExtras{i: i, tx: tx, nonce: g.Nonce, authTime: g.AuthTime}
	if slices.Contains(tx.Identity, "offline_access") {
		data, err := json.Marshal(&familyGrant{API: api.Identifier, Scopes: tx.Scopes, Identity: tx.Identity, AuthTime: g.AuthTime})
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		x.refresh = func(ctx context.Context, hash string) error {
			err := st.CreateRefreshFamily(ctx, &storage.RefreshFamily{
				ID: familyID, ClientID: c.ID, UserID: u.ID, Current: hash,
				CurrentExpires: now.Add(min(flows.RefreshTokenIdle, flows.RefreshTokenLifetime)),
				Created:        now, Expires: now.Add(flows.RefreshTokenLifetime), Data: data,
			})
			if errors.Is(err, storage.ErrExists) { // revoked by a reuse of the code meanwhile
				return ErrInvalidGrant.WithDescription("the authorization code was used twice")
			}
			if err != nil {
				return ErrServerError.Wrap(err)
			}
			return nil
		}
	}
	return i.issue(ctx, s, tx, x)
}

// refreshToken handles grant_type=refresh_token (RFC 6749 §6): every use
// rotates the token, and using a rotated-out token again revokes its whole
// family (RFC 9700 §4.14.2). The post-login pipeline runs again, so a
// change of roles, grants or hooks applies at the next refresh.
func (i *Issuer) refreshToken(ctx context.Context, s *snapshot, r *TokenRequest, tx *Transaction) (*TokenResponse, error) {
	tx.Trigger = tenant.TriggerPostLogin
	c, err := i.authenticateUserClient(ctx, s.tenant, r, tx)
	if err != nil {
		return nil, err
	}
	tx.Client = c
	token := r.Params.Get("refresh_token")
	if token == "" {
		return nil, ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	st, now := i.flows.storage, i.now()
	hash := storage.Hash(token)
	fam, err := st.GetRefreshToken(ctx, hash, now)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidGrant.WithDescription("the refresh token is invalid or expired")
	} else if err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	revoke := func(why string) {
		if err := st.RevokeRefreshFamily(ctx, fam.ID, fam.Expires); err != nil {
			i.log.Error("revoking a refresh-token family", "request_id", tx.RequestID, "err", err)
		}
		i.log.Warn("refresh-token family revoked", "request_id", tx.RequestID, "client_id", c.ID, "user_id", fam.UserID, "reason", why)
	}
	reused := ErrInvalidGrant.WithDescription("the refresh token was already used; every token of its family is now revoked")
	switch {
	case fam.Revoked:
		return nil, ErrInvalidGrant.WithDescription("the refresh token was revoked")
	case fam.ClientID != c.ID:
		revoke("presented by another client")
		return nil, ErrInvalidGrant.WithDescription("the refresh token was issued to another client")
	case fam.Current != hash:
		revoke("a rotated-out token was used again")
		return nil, reused
	case !now.Before(fam.CurrentExpires):
		return nil, ErrInvalidGrant.WithDescription("the refresh token expired unused")
	}
	var fg familyGrant
	if err := json.Unmarshal(fam.Data, &fg); err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	api, aok := s.tenant.API(fg.API)
	u, uok := s.tenant.User(fam.UserID)
	if !aok || !uok {
		revoke("the user or the API is gone")
		return nil, ErrInvalidGrant.WithDescription("the user or the API of this refresh token no longer exists")
	}
	requested, identity := fg.Scopes, fg.Identity
	all, err := requestedScope(r.Scope, r.ScopeSet)
	if err != nil {
		return nil, err
	}
	if all != nil {
		identity, requested = splitScopes(all)
		for _, sc := range all {
			if !slices.Contains(fg.Scopes, sc) && !slices.Contains(fg.Identity, sc) {
				return nil, ErrInvalidScope.WithDescription("scope %q was not granted with this refresh token", sc)
			}
		}
	}
	// A refresh always names its API scopes: those of the family (possibly
	// none), or the narrowed set asked for. Never nil, which the baseline
	// would read as "no scope asked" and answer with the whole ceiling.
	userTransaction(tx, c, api, u, append([]string{}, requested...), identity)
	if err := s.pipelines[tx.Trigger].Run(ctx, tx); err != nil {
		return nil, err
	}
	if err := checkUserResult(tx); err != nil {
		return nil, err
	}
	x := &userExtras{i: i, tx: tx, authTime: fg.AuthTime}
	x.refresh = func(ctx context.Context, newHash string) error {
		expires := now.Add(s.tenant.Flows.RefreshTokenIdle)
		if fam.Expires.Before(expires) {
			expires = fam.Expires
		}
		err := st.RotateRefreshToken(ctx, fam.ID, hash, newHash, expires, now)
		switch {
		case errors.Is(err, storage.ErrConflict): // a concurrent use of the same token won
			revoke("the same token was used twice at once")
			return reused
		case errors.Is(err, storage.ErrRevoked), errors.Is(err, storage.ErrNotFound):
			return ErrInvalidGrant.WithDescription("the refresh token was revoked")
		case err != nil:
			return ErrServerError.Wrap(err)
		}
		return nil
	}
	return i.issue(ctx, s, tx, x)
}
