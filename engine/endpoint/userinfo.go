package endpoint

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/sdk/resource/dpop"
)

// handleUserinfo is the OpenID Connect userinfo endpoint (OIDC Core §5.3):
// it takes an access token of this issuer that carries `openid` in the
// Authorization header (RFC 6750 §2.1), and is not revoked (the
// access-token denylist of its API).
func (e *Endpoints) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	httpx.NoStore(h)
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	bound := strings.EqualFold(scheme, "DPoP")
	bearerError := func(status int, code, desc string) {
		v := `Bearer realm="scopeline"`
		if bound {
			v = `DPoP realm="scopeline"`
		}
		if code != "" {
			v += `, error="` + code + `", error_description="` + desc + `"`
		}
		h.Set("WWW-Authenticate", v)
		body := map[string]string{}
		if code != "" {
			body["error"], body["error_description"] = code, desc
		}
		httpx.WriteJSON(w, status, body)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		h.Set("Allow", "GET, POST")
		httpx.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "use GET or POST"})
		return
	}
	if (!bound && !strings.EqualFold(scheme, "Bearer")) || token == "" {
		bearerError(http.StatusUnauthorized, "", "")
		return
	}
	s := e.acquire(w)
	if s == nil {
		return
	}
	defer s.Release()
	claims, err := s.VerifyAccessToken(token, e.cfg.Now())
	if err != nil {
		bearerError(http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired")
		return
	}
	// A revoked token of an API that keeps a denylist is refused here as
	// introspection and token exchange refuse it.
	aud, _ := claims["aud"].(string)
	if api, ok := s.Tenant().API(aud); ok && api.AccessTokenDenylist && e.cfg.Storage != nil {
		jti, _ := claims["jti"].(string)
		denied, err := e.cfg.Storage.AccessTokenDenied(r.Context(), jti, e.cfg.Now())
		switch {
		case err != nil:
			httpx.WriteError(w, engine.ErrServerError.Wrap(err), false)
			return
		case denied:
			bearerError(http.StatusUnauthorized, "invalid_token", "the access token was revoked")
			return
		}
	}
	// A DPoP-bound token (RFC 9449 §7) comes with the DPoP scheme and a
	// proof by its key, and never as a bearer token.
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	switch {
	case jkt != "" && !bound:
		bearerError(http.StatusUnauthorized, "invalid_token", "the access token is DPoP-bound: present it with the DPoP scheme and a DPoP proof")
		return
	case bound && jkt == "":
		bearerError(http.StatusUnauthorized, "invalid_token", "the access token is not DPoP-bound: present it with the Bearer scheme")
		return
	case bound:
		proof, err := dpop.ProofFrom(r.Header)
		if err == nil {
			_, err = s.VerifyDPoP(r.Context(), proof, dpop.Request{
				Method: r.Method, URL: URL(s.Issuer(), PathUserinfo), AccessToken: token, Thumbprint: jkt,
			})
		}
		if err != nil {
			e := engine.AsError(err)
			if e.Code() == engine.ErrUseDPoPNonce.Code() {
				h.Set(dpop.HeaderNonce, s.DPoPNonce())
			}
			code := e.Code()
			if code == engine.ErrServerError.Code() {
				httpx.WriteError(w, e, false)
				return
			}
			bearerError(http.StatusUnauthorized, code, e.Description())
			return
		}
	}
	scopes := strings.Fields(fmt.Sprint(claims["scope"]))
	if !slices.Contains(scopes, "openid") {
		bearerError(http.StatusForbidden, "insufficient_scope", "the access token was not issued with the openid scope")
		return
	}
	sub, _ := claims["sub"].(string)
	u, ok := s.Tenant().User(sub)
	if !ok {
		bearerError(http.StatusUnauthorized, "invalid_token", "the user of this access token no longer exists")
		return
	}
	out := engine.UserClaims(u, scopes)
	out["sub"] = u.ID
	httpx.WriteJSON(w, http.StatusOK, out)
}
