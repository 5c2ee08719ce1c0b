package endpoint

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
)

// IntrospectionJWTMedia is the media type of signed introspection answers
// (RFC 9701 §5), asked for with Accept.
const IntrospectionJWTMedia = "application/" + engine.IntrospectionType

// handleIntrospect is the introspection endpoint (RFC 7662): a
// confidential client whose `introspect` lists an API asks whether an
// access token of that API is active. A token that is revoked (on the
// denylist), expired, malformed, not this issuer's, a refresh token, or
// of an API the client may not introspect is answered {"active": false}
// alike, so the answer tells nothing more. A client that may introspect
// nothing is refused. With Accept: application/token-introspection+jwt
// the answer is a JWT signed by the issuer (RFC 9701), with the client's
// introspection_signed_response_alg. Every request is recorded
// (engine.Issuer.RecordIntrospection), with why a token is inactive.
func (e *Endpoints) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	s := e.acquire(w)
	if s == nil {
		return
	}
	defer s.Release()
	ctx := r.Context()
	req, c, err := e.authenticate(r, s, false)
	rec := &engine.Introspection{RequestID: req.RequestID, ClientID: req.ClientID, IP: req.IP, UserAgent: req.UserAgent}
	if err == nil && len(c.Introspection.Introspect) == 0 {
		rec.Reason = "the client may introspect no API"
		err = engine.ErrUnauthorizedClient.WithDescription("client %q may not introspect tokens (the tenant lists no API in its introspect)", c.ID).WithStatus(http.StatusForbidden)
	}
	now := e.cfg.Now()
	var answer map[string]any
	if err == nil {
		answer, err = e.introspect(ctx, s, req, c, now, rec)
	}
	var refused *engine.Error
	if err != nil {
		refused = engine.AsError(err)
		rec.Outcome, rec.Err = engine.IntrospectionRefused, refused
		if rec.Reason == "" {
			rec.Reason = refused.Description()
		}
	}
	// Introspection changes nothing: a client answered 503 may ask again.
	if !e.recorded(ctx, w, req, "introspection", refused, func(ctx context.Context) error { return e.iss.RecordIntrospection(ctx, rec) }) {
		return
	}
	httpx.NoStore(w.Header())
	if !acceptsJWT(r.Header.Get("Accept")) {
		httpx.WriteJSON(w, http.StatusOK, answer)
		return
	}
	signed, err := s.SignIntrospection(c.Introspection.SignedResponseAlg, c.ID, answer, now)
	if err != nil {
		httpx.WriteError(w, engine.ErrServerError.Wrap(err), false)
		return
	}
	w.Header().Set("Content-Type", IntrospectionJWTMedia)
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(signed))
}

// introspect answers for the token of req (RFC 7662 §2.2): the token's
// claims with active true, or active false alone, filling rec with the
// outcome and, for auditors, why a token is inactive. It returns an error
// only for a request to refuse.
func (e *Endpoints) introspect(ctx context.Context, s *engine.Snapshot, req *engine.TokenRequest, c *tenant.Client, now time.Time, rec *engine.Introspection) (map[string]any, error) {
	rec.ClientID = c.ID
	token := req.Params.Get("token")
	if token == "" {
		return nil, engine.ErrInvalidRequest.WithDescription("token is required")
	}
	inactive := map[string]any{"active": false}
	rec.Outcome = engine.IntrospectionInactive
	if !isJWT(token) { // refresh tokens are not introspected: only their client uses them
		e.introspectRefreshToken(ctx, token, now, rec)
		return inactive, nil
	}
	claims, api, err := s.ActiveAccessToken(token, now)
	if claims != nil { // this issuer's, active or expired
		rec.TokenType = hintAccessToken
		rec.Owner, _ = claims["client_id"].(string)
		rec.Subject, _ = claims["sub"].(string)
		rec.JTI, _ = claims["jti"].(string)
		rec.Audience, _ = claims["aud"].(string)
		if exp, _ := claims.GetExpirationTime(); exp != nil {
			rec.Expires = exp.Time
		}
	}
	switch {
	case errors.Is(err, engine.ErrAccessTokenExpired):
		rec.Reason = "expired"
		return inactive, nil
	case err != nil:
		rec.Reason = "malformed, or not an access token of this issuer"
		return inactive, nil
	case !c.Introspection.MayIntrospect(api.Identifier):
		rec.Reason = "an access token of an API the client may not introspect"
		return inactive, nil
	}
	if api.AccessTokenDenylist {
		denied, err := e.cfg.Storage.AccessTokenDenied(ctx, rec.JTI, now)
		if err != nil {
			return nil, engine.ErrServerError.Wrap(err)
		}
		if denied {
			rec.Reason = "revoked: on the access-token denylist"
			return inactive, nil
		}
	}
	answer := make(map[string]any, len(claims)+2)
	for k, v := range claims {
		answer[k] = v
	}
	answer["active"] = true
	answer["token_type"] = "Bearer"
	if cnf, ok := claims["cnf"].(map[string]any); ok && cnf["jkt"] != nil {
		answer["token_type"] = "DPoP" // RFC 9449 §6.2
	}
	rec.Outcome = engine.IntrospectionActive
	return answer, nil
}

// introspectRefreshToken sets rec's reason for a token that is not a JWT,
// answered inactive whatever it is: a refresh token of this issuer
// (introspection answers access tokens only), or nothing this issuer
// knows. The look-up is for the record alone, so a failed one changes
// only the reason.
func (e *Endpoints) introspectRefreshToken(ctx context.Context, token string, now time.Time, rec *engine.Introspection) {
	fam, err := e.cfg.Storage.GetRefreshToken(ctx, storage.Hash(token), now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		rec.Reason = "malformed, or not a token of this issuer (or an expired refresh token)"
		return
	case err != nil:
		rec.Reason = "not an access token (whether it is a refresh token is unknown: the look-up failed)"
		e.cfg.Log.Warn("introspection: looking up a refresh token failed", "request_id", rec.RequestID, "err", err)
		return
	}
	rec.TokenType, rec.Owner, rec.Subject, rec.Expires = hintRefreshToken, fam.ClientID, fam.UserID, fam.Expires
	rec.Reason = "a refresh token: introspection answers access tokens only"
}

// acceptsJWT reports whether an Accept header asks for a signed answer.
func acceptsJWT(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == IntrospectionJWTMedia {
			return true
		}
	}
	return false
}
