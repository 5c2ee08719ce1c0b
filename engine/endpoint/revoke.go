package endpoint

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Token type hints (RFC 7009 §2.1, RFC 7662 §2.1).
const (
	hintAccessToken  = "access_token"
	hintRefreshToken = "refresh_token"
)

// errUnsupportedTokenType answers the revocation of a token the server
// cannot revoke (RFC 7009 §2.2.1): an access token of an API that keeps no
// denylist.
var errUnsupportedTokenType = engine.NewError("unsupported_token_type", http.StatusBadRequest)

// errAuditUnavailable answers a request the audit stream could not record
// (revocation, introspection): the client sends it again.
var errAuditUnavailable = engine.ErrTemporarilyUnavailable.WithDescription("the audit stream is unavailable; try again").WithRetryAfter(engine.RetryUnavailable)

// recorded records a request of an endpoint that audits every one it
// answers (revocation, introspection), before the answer, and reports
// whether the caller goes on to write its answer. A request refused with
// refused is answered that error here, recorded or not (a refusal changes
// nothing; a failure to record it is logged); any other request that
// cannot be recorded is answered 503 with Retry-After.
func (e *Endpoints) recorded(ctx context.Context, w http.ResponseWriter, req *engine.TokenRequest, what string, refused *engine.Error, record func(context.Context) error) bool {
	err := record(ctx)
	if refused != nil {
		if err != nil {
			e.cfg.Log.Error("recording a refused "+what+" failed", "request_id", req.RequestID, "err", err)
		}
		httpx.WriteError(w, refused, req.AuthMethod == engine.AuthSecretBasic)
		return false
	}
	if err != nil {
		httpx.WriteError(w, errAuditUnavailable.Wrap(err), false)
		return false
	}
	return true
}

// authenticate reads a request to an endpoint that authenticates clients
// the way the token endpoint reads its own (parseTokenRequest, so that
// every client authentication method of the token endpoint is accepted
// here too) and authenticates the client. A public client is accepted by
// its client_id alone when public is set (revocation, RFC 7009 §2.1).
func (e *Endpoints) authenticate(r *http.Request, s *engine.Snapshot, public bool) (*engine.TokenRequest, *tenant.Client, error) {
	req, err := e.parseTokenRequest(r)
	if err != nil && r.Method != http.MethodPost {
		err = engine.ErrInvalidRequest.WithDescription("this endpoint accepts POST only").WithStatus(http.StatusMethodNotAllowed)
	}
	if err != nil {
		return req, nil, err
	}
	t := s.Tenant()
	if c, ok := t.Client(req.ClientID); public && ok && !c.Type.Confidential() && req.AuthMethod == engine.AuthNone && req.ClientSecret == "" {
		return req, c, nil
	}
	tx := &engine.Transaction{RequestID: req.RequestID, ClientID: req.ClientID, IP: req.IP, UserAgent: req.UserAgent}
	c, err := e.cfg.Clients.Confidential(r.Context(), t, req, tx)
	return req, c, err
}

// handleRevoke is the revocation endpoint (RFC 7009): a client revokes a
// refresh token (its whole family) or an access token (its jti goes on
// the denylist until the token expires, for APIs that keep one). Only the
// client a token was issued to may revoke it, or a client whose `revoke`
// lists the token's API; another client's token is answered 200, as an
// unknown one is (§2.2), and nothing is revoked. Every request is
// recorded (engine.Issuer.RecordRevocation).
func (e *Endpoints) handleRevoke(w http.ResponseWriter, r *http.Request) {
	s := e.acquire(w)
	if s == nil {
		return
	}
	defer s.Release()
	ctx := r.Context()
	req, c, err := e.authenticate(r, s, true)
	rec := &engine.Revocation{RequestID: req.RequestID, ClientID: req.ClientID, IP: req.IP, UserAgent: req.UserAgent}
	if err == nil {
		err = e.revoke(ctx, s, req, c, rec)
	}
	var refused *engine.Error
	if err != nil {
		refused = engine.AsError(err)
		rec.Outcome, rec.Err = engine.RevocationRefused, refused
		if rec.Reason == "" {
			rec.Reason = refused.Description()
		}
	}
	// The revocation is done and idempotent: a client answered 503 may
	// send it again.
	if !e.recorded(ctx, w, req, "revocation", refused, func(ctx context.Context) error { return e.iss.RecordRevocation(ctx, rec) }) {
		return
	}
	httpx.NoStore(w.Header())
	w.WriteHeader(http.StatusOK)
}

// revoke revokes the token of req for client c, filling rec. It returns
// an error only for a request to refuse; a token that is unknown, expired
// or another client's is not one.
func (e *Endpoints) revoke(ctx context.Context, s *engine.Snapshot, req *engine.TokenRequest, c *tenant.Client, rec *engine.Revocation) error {
	rec.ClientID = c.ID
	token := req.Params.Get("token")
	if token == "" {
		return engine.ErrInvalidRequest.WithDescription("token is required")
	}
	// The hint only orders the look-ups (RFC 7009 §2.1); access tokens are
	// JWTs and refresh tokens are not, so the form of the token decides.
	now := e.cfg.Now()
	if isJWT(token) {
		return e.revokeAccessToken(ctx, s, c, token, now, rec)
	}
	return e.revokeRefreshToken(ctx, c, token, now, rec)
}

func (e *Endpoints) revokeAccessToken(ctx context.Context, s *engine.Snapshot, c *tenant.Client, token string, now time.Time, rec *engine.Revocation) error {
	rec.TokenType = hintAccessToken
	claims, api, err := s.ActiveAccessToken(token, now)
	if err != nil {
		rec.Outcome, rec.Reason = engine.RevocationIgnored, "not an unexpired access token of this issuer"
		return nil
	}
	rec.Owner, _ = claims["client_id"].(string)
	rec.Subject, _ = claims["sub"].(string)
	rec.JTI, _ = claims["jti"].(string)
	rec.Audience = api.Identifier
	exp, _ := claims.GetExpirationTime()
	rec.Expires = exp.Time
	switch {
	case rec.Owner != c.ID && !c.Introspection.MayRevoke(api.Identifier):
		rec.Outcome, rec.Reason = engine.RevocationNotOwner, "the access token was issued to another client"
		return nil
	case !api.AccessTokenDenylist:
		rec.Reason = "the API keeps no access-token denylist"
		return errUnsupportedTokenType.WithDescription("access tokens of %q cannot be revoked: they are valid until they expire (the API has no access_token_denylist)", api.Identifier)
	case rec.JTI == "":
		rec.Outcome, rec.Reason = engine.RevocationIgnored, "the access token has no jti"
		return nil
	}
	if err := e.cfg.Storage.DenyAccessToken(ctx, rec.JTI, rec.Expires); err != nil {
		return engine.ErrServerError.Wrap(err)
	}
	rec.Outcome, rec.Reason = engine.RevocationRevoked, "listed on the access-token denylist until it expires"
	return nil
}

func (e *Endpoints) revokeRefreshToken(ctx context.Context, c *tenant.Client, token string, now time.Time, rec *engine.Revocation) error {
	rec.TokenType = hintRefreshToken
	st := e.cfg.Storage
	fam, err := st.GetRefreshToken(ctx, storage.Hash(token), now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		rec.Outcome, rec.Reason = engine.RevocationIgnored, "not a refresh token of this issuer, or expired"
		return nil
	case err != nil:
		return engine.ErrServerError.Wrap(err)
	}
	rec.FamilyID, rec.Owner, rec.Subject, rec.Expires = fam.ID, fam.ClientID, fam.UserID, fam.Expires
	switch {
	case fam.ClientID != c.ID:
		rec.Outcome, rec.Reason = engine.RevocationNotOwner, "the refresh token was issued to another client"
		return nil
	case fam.Revoked:
		rec.Outcome, rec.Reason = engine.RevocationIgnored, "the refresh token's family was already revoked"
		return nil
	}
	if err := st.RevokeRefreshFamily(ctx, fam.ID, fam.Expires); err != nil {
		return engine.ErrServerError.Wrap(err)
	}
	rec.Outcome, rec.Reason = engine.RevocationRevoked, "the refresh token's whole family is revoked"
	return nil
}

// isJWT reports whether token has the form of a compact JWS.
func isJWT(token string) bool { return strings.Count(token, ".") == 2 }
