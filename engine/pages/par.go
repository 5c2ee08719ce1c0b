package pages

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/internal/text"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/userflow"
	"github.com/scopeline/scopeline/sdk/resource/dpop"
)

// RequestURIPrefix starts every request_uri the PAR endpoint hands out
// (RFC 9126 §2.2).
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// pushedRequest is what a request_uri stands for: the authorization
// request's parameters, validated when they were pushed, for the client
// that pushed them.
type pushedRequest struct {
	ClientID string `json:"client_id"`
	Params   string `json:"params"` // form-encoded
}

// pushedKey is the storage key of a request_uri. Pushed requests are kept
// with the codes, whose single use is atomic on every backend (see
// docs/design.md, "Pushed authorization requests"); the prefix keeps them
// apart, for a code's key is always a bare storage.Hash.
func pushedKey(requestURI string) string { return "par:" + storage.Hash(requestURI) }

// handlePAR is the pushed authorization request endpoint (RFC 9126 §2): a
// client authenticates as at the token endpoint (a public client by its
// client_id) and posts the parameters of an authorization request, which
// are validated as /authorize would and kept for a short while under a
// request_uri; /authorize then takes the request_uri, once. A DPoP proof
// sent with the request binds the code to its key (RFC 9449 §10.1).
// Refusals are recorded like the token endpoint's.
func (pg *Pages) handlePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req := &engine.TokenRequest{
		RequestID: httpx.RequestID(ctx),
		IP:        pg.cfg.Proxies.ClientIP(r),
		UserAgent: text.Truncate(r.UserAgent(), 256),
		Endpoint:  endpoint.URL(pg.iss.IssuerURL(), endpoint.PathPAR),
	}
	tx := &engine.Transaction{RequestID: req.RequestID, IP: req.IP, UserAgent: req.UserAgent, Time: pg.cfg.Now(), Trace: make(engine.Trace, 0, 2)}
	refuse := func(err error) {
		e := engine.AsError(err)
		tx.Record(engine.TraceEntry{Stage: "par", Op: engine.OpDeny, Reason: "pushed authorization request refused: " + e.Description()})
		e = pg.iss.Deny(ctx, tx, e)
		if errors.Is(e, engine.ErrUseDPoPNonce) {
			if s := pg.iss.Acquire(); s != nil {
				w.Header().Set(dpop.HeaderNonce, s.DPoPNonce())
				s.Release()
			}
		}
		httpx.WriteError(w, e, req.AuthMethod == engine.AuthSecretBasic)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		refuse(engine.ErrInvalidRequest.WithDescription("the PAR endpoint accepts POST only").WithStatus(http.StatusMethodNotAllowed))
		return
	}
	if r.URL.RawQuery != "" {
		refuse(engine.ErrInvalidRequest.WithDescription("parameters must be sent in the request body, not the URL"))
		return
	}
	params, err := authorizeParams(r)
	if err != nil {
		e := engine.ErrInvalidRequest.WithDescription("%s", err.Error())
		if errors.Is(err, httpx.ErrFormTooLarge) {
			e = e.WithStatus(http.StatusRequestEntityTooLarge) // as the token endpoint's
		}
		refuse(e)
		return
	}
	err = endpoint.ReadClientAuth(r, params, req)
	tx.ClientID = req.ClientID
	if err != nil {
		refuse(err)
		return
	}
	if req.DPoP, err = dpop.ProofFrom(r.Header); err != nil {
		refuse(engine.ErrInvalidDPoPProof.WithDescription("the request has more than one DPoP header"))
		return
	}
	s := pg.iss.Acquire()
	if s == nil {
		httpx.WriteError(w, engine.ErrTemporarilyUnavailable, false)
		return
	}
	defer s.Release()
	uri, expiresIn, err := pg.push(ctx, s, req, params, tx)
	if err != nil {
		refuse(err)
		return
	}
	httpx.NoStore(w.Header())
	httpx.WriteJSON(w, http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": expiresIn})
}

// push authenticates the client, validates the request and stores it.
func (pg *Pages) push(ctx context.Context, s *engine.Snapshot, req *engine.TokenRequest, params url.Values, tx *engine.Transaction) (string, int64, error) {
	t := s.Tenant()
	c, err := pg.cfg.Clients.UserClient(ctx, t, req, tx)
	if err != nil {
		return "", 0, err
	}
	tx.Client = c
	// A public client's pushes (anybody can send them) count per network,
	// as /authorize's requests; an authenticated client's per client.
	var wait time.Duration
	var from string
	if tx.ClientAuth == engine.AuthNone {
		wait, from = pg.authorizeNetwork.Take(ctx, pg.cfg.Networks.Key(req.IP), tx.Time), "this network"
	} else {
		wait, from = pg.parClient.Take(ctx, c.ID, tx.Time), "this client"
	}
	if wait > 0 {
		return "", 0, engine.ErrTemporarilyUnavailable.WithDescription("too many authorization requests from %s", from).
			WithStatus(http.StatusTooManyRequests).WithRetryAfter(wait)
	}
	switch {
	case params.Has("request_uri"):
		return "", 0, engine.ErrInvalidRequest.WithDescription("request_uri cannot be pushed (RFC 9126 §2.1)")
	case params.Has("request"):
		return "", 0, engine.NewError("request_not_supported", http.StatusBadRequest).WithDescription("request objects are not supported")
	case params.Get("client_id") != "" && params.Get("client_id") != c.ID:
		return "", 0, engine.ErrInvalidRequest.WithDescription("client_id does not name the authenticated client")
	}
	// The client's own parameters, without its credentials.
	for _, k := range []string{"client_secret", "client_assertion", "client_assertion_type"} {
		params.Del(k)
	}
	params.Set("client_id", c.ID)
	if req.DPoP != "" { // RFC 9449 §10.1: the proof's key binds the code
		jkt, err := s.VerifyDPoP(ctx, req.DPoP, dpop.Request{Method: http.MethodPost, URL: req.Endpoint})
		if err != nil {
			return "", 0, err
		}
		if params.Has("dpop_jkt") && params.Get("dpop_jkt") != jkt {
			return "", 0, engine.ErrInvalidDPoPProof.WithDescription("dpop_jkt is not the thumbprint of the DPoP proof's key")
		}
		params.Set("dpop_jkt", jkt)
		tx.DPoPKey = jkt
	}
	if _, _, why := verifyClient(t, params); why != "" {
		return "", 0, engine.ErrInvalidRequest.WithDescription("%s", why)
	}
	if _, e := parseAuthorize(t, c, params); e != nil {
		return "", 0, e
	}
	token, err := userflow.RandomToken(pg.cfg.Rand)
	if err != nil {
		return "", 0, engine.ErrServerError.Wrap(err)
	}
	uri := RequestURIPrefix + token
	data, err := json.Marshal(&pushedRequest{ClientID: c.ID, Params: params.Encode()})
	if err != nil {
		return "", 0, engine.ErrServerError.Wrap(err)
	}
	life := t.Protocols.PAR.Lifetime
	err = pg.cfg.Storage.CreateAuthCode(ctx, &storage.AuthCode{Hash: pushedKey(uri), Expires: pg.cfg.Now().Add(life), Data: data})
	if err != nil {
		return "", 0, userflow.StorageError(err)
	}
	return uri, int64(life / time.Second), nil
}

// pushed takes up the request a request_uri stands for, once: the
// parameters /authorize works on instead of its own (RFC 9126 §4). why
// says, for the log, why there are none.
func (pg *Pages) pushed(ctx context.Context, clientID, requestURI string) (params url.Values, why string) {
	if !strings.HasPrefix(requestURI, RequestURIPrefix) || len(requestURI) > 256 {
		return nil, "request_uri is not one the PAR endpoint handed out"
	}
	rec, err := pg.cfg.Storage.ConsumeAuthCode(ctx, pushedKey(requestURI), "", pg.cfg.Now())
	switch {
	case errors.Is(err, storage.ErrConsumed):
		return nil, "request_uri was used before"
	case errors.Is(err, storage.ErrNotFound):
		return nil, "request_uri is unknown or expired"
	case err != nil:
		pg.cfg.Log.Error("reading a pushed authorization request", "request_id", httpx.RequestID(ctx), "err", err)
		return nil, "request_uri cannot be read"
	}
	var p pushedRequest
	if err := json.Unmarshal(rec.Data, &p); err != nil {
		return nil, "request_uri cannot be read"
	}
	if p.ClientID != clientID {
		return nil, "request_uri was pushed by another client"
	}
	params, err = url.ParseQuery(p.Params)
	if err != nil {
		return nil, "request_uri cannot be read"
	}
	return params, ""
}
