package endpoint

import (
	"errors"
	"net/http"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/clientauth"
	"github.com/scopeline/scopeline/engine/internal/form"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/internal/text"
	"github.com/scopeline/scopeline/sdk/resource/dpop"
)

// MaxTokenRequestBytes bounds a token request body.
const MaxTokenRequestBytes = 64 << 10

// handleToken is the token endpoint (RFC 6749 §3.2): it reads the
// request and hands it to the issuer; a request that cannot be read is
// refused through the issuer too, so that it is recorded like any other.
func (e *Endpoints) handleToken(w http.ResponseWriter, r *http.Request) {
	req, err := e.parseTokenRequest(r)
	if err != nil {
		refused := e.iss.Refuse(r.Context(), req, err)
		httpx.WriteError(w, refused, req.AuthMethod == engine.AuthSecretBasic)
		return
	}
	resp, err := e.iss.Token(r.Context(), req)
	if err != nil {
		if errors.Is(err, engine.ErrUseDPoPNonce) {
			e.setDPoPNonce(w)
		}
		httpx.WriteError(w, err, req.AuthMethod == engine.AuthSecretBasic)
		return
	}
	httpx.NoStore(w.Header())
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// parseTokenRequest reads a token request. It always returns a request
// (partly filled on error) so that refusals can be recorded.
func (e *Endpoints) parseTokenRequest(r *http.Request) (*engine.TokenRequest, error) {
	req := &engine.TokenRequest{
		RequestID:  httpx.RequestID(r.Context()),
		IP:         e.cfg.Proxies.ClientIP(r),
		UserAgent:  text.Truncate(r.UserAgent(), 256),
		AuthMethod: engine.AuthNone,
	}
	if r.Method != http.MethodPost {
		return req, engine.ErrInvalidRequest.WithDescription("the token endpoint accepts POST only").WithStatus(http.StatusMethodNotAllowed)
	}
	if r.URL.RawQuery != "" {
		return req, engine.ErrInvalidRequest.WithDescription("parameters must be sent in the request body, not the URL")
	}
	params, err := httpx.ReadFormLong(r, MaxTokenRequestBytes, form.MaxValueLen, longParams, "resource")
	switch {
	case errors.Is(err, httpx.ErrNotForm):
		return req, engine.ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded")
	case errors.Is(err, httpx.ErrFormTooLarge):
		return req, engine.ErrInvalidRequest.WithDescription("request body larger than %d bytes", MaxTokenRequestBytes).WithStatus(http.StatusRequestEntityTooLarge)
	case errors.Is(err, httpx.ErrFormUnreadable):
		return req, engine.ErrInvalidRequest.WithDescription("cannot read the request body")
	case err != nil:
		return req, engine.ErrInvalidRequest.WithDescription("%s", err.Error())
	}
	req.Params = params
	req.GrantType = params.Get("grant_type")
	req.Scope, req.ScopeSet = params.Get("scope"), params.Has("scope")
	req.Audience = params.Get("audience")
	req.Resource = params["resource"]

	req.Endpoint = e.tokenURL
	if req.DPoP, err = dpop.ProofFrom(r.Header); err != nil {
		return req, engine.ErrInvalidDPoPProof.WithDescription("the request has more than one DPoP header")
	}
	return req, ReadClientAuth(r, params, req)
}

// setDPoPNonce sets the DPoP-Nonce header (RFC 9449 §8) to the nonce
// proofs must carry now.
func (e *Endpoints) setDPoPNonce(w http.ResponseWriter) {
	if s := e.iss.Acquire(); s != nil {
		defer s.Release()
		if n := s.DPoPNonce(); n != "" {
			w.Header().Set(dpop.HeaderNonce, n)
		}
	}
}

// longParams may be longer than form.MaxValueLen: the access tokens a
// token exchange presents (RFC 8693 §2.1) and a client's assertion (RFC
// 7523), each to its own bound.
var longParams = map[string]int{
	"subject_token":    engine.MaxBearerTokenLen,
	"actor_token":      engine.MaxBearerTokenLen,
	"client_assertion": clientauth.MaxAssertionBytes,
}
