package endpoint

import (
	"context"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/tenant"
)

// IntrospectionJWTMedia is the media type of signed introspection answers
// (RFC 9701 §5), asked for with Accept.
const IntrospectionJWTMedia = "application/" + engine.IntrospectionType

// handleIntrospect is the introspection endpoint (RFC 7662): a
// confidential client whose `introspect` lists an API asks whether an
// access token of that API is active. A token that is revoked (on the
// denylist), expired, malformed, not this issuer's, or of an API the
// client may not introspect is answered {"active": false} alike, so the
// answer tells nothing more. A client that may introspect nothing is
// refused. With Accept: application/token-introspection+jwt the answer is
// a JWT signed by the issuer (RFC 9701), with the client's
// introspection_signed_response_alg.
func (e *Endpoints) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	s := e.acquire(w)
	if s == nil {
		return
	}
	defer s.Release()
	req, c, err := e.authenticate(r, s, false)
	if err == nil && len(c.Introspection.Introspect) == 0 {
		err = engine.ErrUnauthorizedClient.WithDescription("client %q may not introspect tokens (the tenant lists no API in its introspect)", c.ID).WithStatus(http.StatusForbidden)
	}
	if err != nil {
		refused := engine.AsError(err)
		e.cfg.Log.Info("introspection refused", "request_id", req.RequestID, "client_id", req.ClientID, "error", refused.Code(), "description", refused.Description())
		httpx.WriteError(w, refused, req.AuthMethod == engine.AuthSecretBasic)
		return
	}
	token := req.Params.Get("token")
	if token == "" {
		httpx.WriteError(w, engine.ErrInvalidRequest.WithDescription("token is required"), false)
		return
	}
	now := e.cfg.Now()
	answer, err := e.introspect(r.Context(), s, c, token, now)
	if err != nil {
		httpx.WriteError(w, err, false)
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

// introspect answers for token (RFC 7662 §2.2): the token's claims with
// active true, or active false alone.
func (e *Endpoints) introspect(ctx context.Context, s *engine.Snapshot, c *tenant.Client, token string, now time.Time) (map[string]any, error) {
	inactive := map[string]any{"active": false}
	if !isJWT(token) { // refresh tokens are not introspected: only their client uses them
		return inactive, nil
	}
	claims, api, err := s.ActiveAccessToken(token, now)
	if err != nil || !c.Introspection.MayIntrospect(api.Identifier) {
		return inactive, nil
	}
	if api.AccessTokenDenylist {
		jti, _ := claims["jti"].(string)
		denied, err := e.cfg.Storage.AccessTokenDenied(ctx, jti, now)
		if err != nil {
			return nil, engine.ErrServerError.Wrap(err)
		}
		if denied {
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
	return answer, nil
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
