package grant

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/userflow"
)

// EndUser is what the end-user grants (AuthorizationCode, RefreshToken)
// depend on.
type EndUser struct {
	// Clients authenticates the client.
	Clients *engine.ClientAuthenticator
	// Storage keeps codes and refresh-token families.
	Storage storage.Storage
	// Now, Rand and Log default to time.Now, crypto/rand and discard.
	Now  func() time.Time
	Rand io.Reader
	Log  *slog.Logger
}

// userDeps are an EndUser's clock, randomness and logger, defaults
// applied.
type userDeps struct {
	now  func() time.Time
	rand io.Reader
	log  *slog.Logger
}

func (e *EndUser) deps() userDeps {
	d := userDeps{e.Now, e.Rand, e.Log}
	if d.now == nil {
		d.now = time.Now
	}
	if d.rand == nil {
		d.rand = rand.Reader
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

// checkTarget refuses a request whose audience or resource (RFC 8707)
// names another API than api, the one the code or the refresh token
// (what) is for, with invalid_target (§2): a code or a refresh token
// never yields a token for another API. A request that names no API is
// for api.
func checkTarget(t *tenant.Tenant, r *engine.TokenRequest, api, what string) error {
	if r.Audience == "" && len(r.Resource) == 0 {
		return nil
	}
	named, err := engine.ResolveAPI(t, r.Audience, r.Resource)
	if err != nil {
		return err
	}
	if named.Identifier != api {
		return engine.ErrInvalidTarget.WithDescription("the %s is for %q", what, api)
	}
	return nil
}

// userTokens are the ID token and the refresh token of an end-user grant:
// the engine.Extension of AuthorizationCode and RefreshToken.
type userTokens struct {
	rand     io.Reader
	tx       *engine.Transaction
	nonce    string
	authTime time.Time
	// refresh, when set, is called with the new refresh token's hash once
	// the decision is recorded: it stores the family or rotates it.
	refresh func(ctx context.Context, hash string) error
	token   string
}

// Extend adds the ID token (when openid was granted) and the refresh
// token (when the grant keeps a family).
func (x *userTokens) Extend(_ context.Context, s *engine.Snapshot, now time.Time, resp *engine.TokenResponse) error {
	if slices.Contains(x.tx.Identity, "openid") {
		id, err := s.MintIDToken(x.tx, resp.AccessToken, x.nonce, x.authTime, now)
		if err != nil {
			return engine.ErrServerError.Wrap(err)
		}
		resp.IDToken = id
	}
	if x.refresh != nil {
		t, err := userflow.RandomToken(x.rand)
		if err != nil {
			return engine.ErrServerError.Wrap(err)
		}
		x.token, resp.RefreshToken = t, t
	}
	return nil
}

// Commit stores the refresh token's family, or rotates it.
func (x *userTokens) Commit(ctx context.Context) error {
	if x.refresh == nil {
		return nil
	}
	return x.refresh(ctx, storage.Hash(x.token))
}

var _ engine.Extension = (*userTokens)(nil)
