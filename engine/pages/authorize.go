package pages

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/internal/form"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/internal/text"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/userflow"
)

// authorizeErrorCodes are the error codes an authorization response may
// carry (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6, RFC 8707 §2);
// any other refusal is answered as access_denied.
var authorizeErrorCodes = []string{
	"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
	"invalid_scope", "server_error", "temporarily_unavailable", "invalid_target",
	"interaction_required", "login_required", "consent_required", "account_selection_required",
	"request_not_supported", "request_uri_not_supported",
}

var (
	errLoginRequired   = engine.NewError("login_required", http.StatusBadRequest)
	errConsentRequired = engine.NewError("consent_required", http.StatusBadRequest)
	// A code_challenge is BASE64URL(SHA-256(verifier)): 43 characters.
	validChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	// A JWK thumbprint (RFC 7638) is BASE64URL(SHA-256(...)): 43 characters.
	validThumbprint = validChallenge
)

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, §4.1.1):
// GET, or POST as OpenID Connect allows. Nothing is stored for a request
// until somebody signs in: it goes to the login page sealed (see seal, and docs/design.md, "Sealed sign-in requests").
func (pg *Pages) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		pg.errorPage(w, http.StatusMethodNotAllowed, "Request refused", "The authorization endpoint accepts GET and POST only.")
		return
	}
	s := pg.acquirePage(w)
	if s == nil {
		return
	}
	defer s.Release()
	ctx, now := r.Context(), pg.cfg.Now()
	if wait := pg.authorizeNetwork.Take(ctx, pg.cfg.Networks.Key(pg.cfg.Proxies.ClientIP(r)), now); wait > 0 {
		w.Header().Set("Retry-After", text.RetryAfter(wait))
		pg.errorPage(w, http.StatusTooManyRequests, "Too many requests", "Too many sign-in requests from your network. Wait a moment and try again.")
		return
	}

	params, err := authorizeParams(r)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, httpx.ErrFormTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		pg.errorPage(w, status, "Invalid sign-in request", "The application sent a malformed request: "+err.Error()+".")
		return
	}
	if params.Get("client_id") == "" {
		pg.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", "The application did not say who it is (client_id is missing).")
		return
	}
	isPushed := params.Has("request_uri")
	if isPushed { // a pushed request (RFC 9126 §4): its parameters, not the URL's
		pushed, why := pg.pushed(ctx, params.Get("client_id"), params.Get("request_uri"))
		if pushed == nil {
			pg.cfg.Log.Info("authorization request refused: its request_uri", "request_id", httpx.RequestID(ctx),
				"client_id", text.Truncate(params.Get("client_id"), 255), "reason", why)
			pg.errorPage(w, http.StatusBadRequest, "Sign-in expired", signInExpired)
			return
		}
		params = pushed
	}
	c, redirectURI, why := verifyClient(s.Tenant(), params)
	if c == nil {
		pg.cfg.Log.Info("authorization request refused before its client was verified", "request_id", httpx.RequestID(ctx),
			"client_id", text.Truncate(params.Get("client_id"), 255), "redirect_uri", text.Truncate(params.Get("redirect_uri"), 512), "reason", why)
		pg.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", clientNotVerified)
		return
	}
	state := params.Get("state")
	if len(state) > MaxStateLen {
		state = "" // not echoed: too long to be trusted
	}
	fail := func(e *engine.Error) { pg.redirectError(w, r, redirectURI, state, e) }
	if !isPushed && (c.RequirePAR || s.Tenant().Protocols.PAR.Required) {
		fail(engine.ErrInvalidRequest.WithDescription("this client must push its authorization requests (RFC 9126): send a request_uri from the PAR endpoint"))
		return
	}
	ar, e := parseAuthorize(s.Tenant(), c, params)
	if e != nil {
		fail(e)
		return
	}
	ar.RedirectURI, ar.State = redirectURI, state

	browser := pg.cookie(r, cookieBrowser)
	if browser == "" {
		if browser, err = userflow.RandomToken(pg.cfg.Rand); err != nil {
			fail(engine.ErrServerError.Wrap(err))
			return
		}
		pg.setCookie(w, cookieBrowser, browser, 0)
	}
	ar.Binding = storage.Hash(browser)
	ar.Created = now

	if sess := pg.session(ctx, s.Tenant(), r, now); sess != nil && !ar.forcesLogin(sess.AuthTime, now) {
		ar.UserID, ar.AuthTime = sess.UserID, sess.AuthTime
	} else if slices.Contains(ar.Prompt, "none") {
		fail(errLoginRequired.WithDescription("the user is not signed in"))
		return
	}
	if ar.UserID != "" { // signed in: stored only if consent is asked
		pg.proceed(w, r, s, ar)
		return
	}
	pg.toLogin(w, r, s, ar)
}

// toLogin sends the browser to the login page with the request sealed.
func (pg *Pages) toLogin(w http.ResponseWriter, r *http.Request, s *engine.Snapshot, ar *authRequest) {
	sealed, err := pg.seal(s, ar)
	if err != nil {
		e := engine.ErrServerError.Wrap(err)
		if errors.Is(err, errSealedTooLarge) {
			e = engine.ErrInvalidRequest.WithDescription("the authorization request is too large (state, nonce, scope and redirect_uri together)")
		}
		pg.redirectError(w, r, ar.RedirectURI, ar.State, e)
		return
	}
	http.Redirect(w, r, pg.prefix+endpoint.PathLogin+"?request="+url.QueryEscape(sealed), http.StatusSeeOther)
}

// clientNotVerified is the one answer to every authorization request whose
// client or redirect URI is not verified: an unknown client id, a machine
// client, an unregistered redirect URI. One message, so that nobody can
// learn without credentials which client ids exist or what type they are.
const clientNotVerified = "The application that sent you here, or the address it asked to return to (redirect_uri), is not registered with this server. Nothing was sent to that address."

// authorizeParams reads the request's parameters: the query for GET, the
// form body for POST. Each may appear once (RFC 6749 §3.1).
func authorizeParams(r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return form.Parse(r.URL.RawQuery, "resource")
	}
	p, err := httpx.ReadForm(r, endpoint.MaxTokenRequestBytes, "resource")
	switch {
	case errors.Is(err, httpx.ErrNotForm):
		return nil, errors.New("Content-Type must be application/x-www-form-urlencoded")
	case errors.Is(err, httpx.ErrFormTooLarge):
		return nil, bodyTooLarge{}
	case errors.Is(err, httpx.ErrFormUnreadable):
		return nil, errors.New("the request body is unreadable")
	}
	return p, err
}

// bodyTooLarge is a form body past its limit (an httpx.ErrFormTooLarge).
type bodyTooLarge struct{}

func (bodyTooLarge) Error() string {
	return fmt.Sprintf("the request body is larger than %d bytes", endpoint.MaxTokenRequestBytes)
}
func (bodyTooLarge) Unwrap() error { return httpx.ErrFormTooLarge }

// verifyClient checks client_id and redirect_uri: until both are known
// good, errors are shown to the user and never redirected (RFC 6749
// §4.1.2.1; no open redirector, RFC 9700 §4.11). Every refusal shows the
// same message (clientNotVerified); why says which it was, for the log.
func verifyClient(t *tenant.Tenant, p url.Values) (c *tenant.Client, redirectURI, why string) {
	id := p.Get("client_id")
	if id == "" {
		return nil, "", "client_id is missing"
	}
	c, ok := t.Client(id)
	switch {
	case !ok:
		return nil, "", "unknown client"
	case c.Type == tenant.ClientM2M:
		return nil, "", "a machine client cannot sign users in"
	}
	redirectURI = p.Get("redirect_uri")
	switch {
	case redirectURI != "":
		if !c.RedirectRegistered(redirectURI) {
			return nil, "", "redirect_uri is not registered for the client"
		}
	case len(c.RedirectURIs) == 1:
		redirectURI = c.RedirectURIs[0]
	case len(c.RedirectURIs) == 0:
		return nil, "", "the client has no registered redirect URI"
	default:
		return nil, "", "the client has several redirect URIs and the request names none"
	}
	return c, redirectURI, ""
}

// parseAuthorize validates the rest of an authorization request, whose
// errors go back to the client's redirect URI.
func parseAuthorize(t *tenant.Tenant, c *tenant.Client, p url.Values) (*authRequest, *engine.Error) {
	ar := &authRequest{ClientID: c.ID, RedirectGiven: p.Has("redirect_uri"), MaxAge: -1}
	switch {
	case p.Has("request"):
		return nil, engine.NewError("request_not_supported", http.StatusBadRequest).WithDescription("request objects are not supported")
	case p.Has("request_uri"):
		return nil, engine.ErrInvalidRequest.WithDescription("request_uri must be the only parameter besides client_id")
	case !p.Has("response_type"):
		return nil, engine.ErrInvalidRequest.WithDescription("response_type is required")
	case p.Get("response_type") != "code":
		return nil, engine.NewError("unsupported_response_type", http.StatusBadRequest).WithDescription("only response_type=code is supported")
	case p.Has("response_mode") && p.Get("response_mode") != "query":
		return nil, engine.ErrInvalidRequest.WithDescription("only response_mode=query is supported")
	case len(p.Get("state")) > MaxStateLen:
		return nil, engine.ErrInvalidRequest.WithDescription("state is longer than %d bytes", MaxStateLen)
	}

	challenge, method := p.Get("code_challenge"), p.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return nil, engine.ErrInvalidRequest.WithDescription("code_challenge_method without code_challenge")
	case challenge == "" && !c.Type.Confidential():
		return nil, engine.ErrInvalidRequest.WithDescription("PKCE is required for public clients: send code_challenge with code_challenge_method=S256")
	case challenge != "" && method != "S256":
		return nil, engine.ErrInvalidRequest.WithDescription("code_challenge_method must be S256 (plain is not supported)")
	case challenge != "" && !validChallenge.MatchString(challenge):
		return nil, engine.ErrInvalidRequest.WithDescription("code_challenge must be the 43-character base64url SHA-256 of the code_verifier")
	}
	ar.Challenge = challenge

	all, err := engine.RequestedScopes(p.Get("scope"), p.Has("scope"))
	if err != nil {
		return nil, engine.AsError(err)
	}
	if all != nil {
		ar.Identity, ar.Requested = userflow.SplitScopes(all)
	}
	if ar.Nonce = p.Get("nonce"); len(ar.Nonce) > MaxStateLen {
		return nil, engine.ErrInvalidRequest.WithDescription("nonce is longer than %d bytes", MaxStateLen)
	}
	if prompt := p.Get("prompt"); prompt != "" {
		for _, v := range strings.Fields(prompt) {
			if !slices.Contains([]string{"none", "login", "consent", "select_account"}, v) {
				return nil, engine.ErrInvalidRequest.WithDescription("unknown prompt value %q", text.Truncate(v, 32))
			}
			ar.Prompt = append(ar.Prompt, v)
		}
		if slices.Contains(ar.Prompt, "none") && len(ar.Prompt) > 1 {
			return nil, engine.ErrInvalidRequest.WithDescription("prompt=none cannot be combined with other values")
		}
	}
	if v := p.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, engine.ErrInvalidRequest.WithDescription("max_age must be a non-negative number of seconds")
		}
		ar.MaxAge = n
	}
	if ar.LoginHint = p.Get("login_hint"); len(ar.LoginHint) > 255 {
		ar.LoginHint = ""
	}
	if p.Has("dpop_jkt") { // RFC 9449 §10: the thumbprint of the key that will redeem the code
		if ar.DPoPKey = p.Get("dpop_jkt"); !validThumbprint.MatchString(ar.DPoPKey) {
			return nil, engine.ErrInvalidRequest.WithDescription("dpop_jkt must be the base64url SHA-256 JWK thumbprint (RFC 7638) of a DPoP key")
		}
	}

	api, err := engine.ResolveAPI(t, p.Get("audience"), p["resource"])
	if err != nil {
		return nil, engine.AsError(err)
	}
	ar.API = api.Identifier
	if g, ok := t.Grant(c.ID, api.Identifier); !ok || !g.ForUser {
		return nil, engine.ErrAccessDenied.WithDescription("client %q is not granted user access to %q", c.ID, api.Identifier)
	}
	for _, s := range ar.Requested {
		if !api.Defines(s) {
			return nil, engine.ErrInvalidScope.WithDescription("scope %q is not defined by %q", s, api.Identifier)
		}
	}
	return ar, nil
}

// forcesLogin reports whether the request wants a fresh sign-in despite a
// session that started at authTime.
func (ar *authRequest) forcesLogin(authTime, now time.Time) bool {
	if slices.Contains(ar.Prompt, "login") || slices.Contains(ar.Prompt, "select_account") {
		return true
	}
	return ar.MaxAge >= 0 && now.Sub(authTime) > time.Duration(ar.MaxAge)*time.Second
}

// redirectError sends an error back to the client's verified redirect URI.
func (pg *Pages) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e *engine.Error) {
	if e.Status() >= 500 {
		pg.cfg.Log.Error("authorization request failed", "request_id", httpx.RequestID(r.Context()), "error", e.Code(), "cause", fmt.Sprint(e.Unwrap()))
	}
	code := e.Code()
	if !slices.Contains(authorizeErrorCodes, code) {
		code = engine.ErrAccessDenied.Code()
	}
	q := url.Values{"error": {code}}
	if e.Description() != "" {
		q.Set("error_description", e.Description())
	}
	if state != "" {
		q.Set("state", state)
	}
	httpx.NoStore(w.Header())
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, pg.redirectTo(redirectURI, q), http.StatusSeeOther)
}

// storeAuthRequest stores a request waiting for the user's consent: the
// only requests kept on the server before their code, made by signed-in
// users only, at most rulePendingUser's allowance per user. It returns the
// request's id.
func (pg *Pages) storeAuthRequest(ctx context.Context, ar *authRequest) (string, error) {
	if wait := pg.pendingUser.Take(ctx, "user:"+ar.UserID, pg.cfg.Now()); wait > 0 {
		return "", engine.ErrTemporarilyUnavailable.WithDescription("too many sign-ins of this user are waiting for consent; try again later").WithRetryAfter(wait)
	}
	data, err := json.Marshal(ar)
	if err != nil {
		return "", err
	}
	id, err := userflow.RandomToken(pg.cfg.Rand)
	if err != nil {
		return "", err
	}
	rec := &storage.AuthRequest{ID: id, Expires: ar.Created.Add(AuthRequestLifetime), Data: data}
	return id, pg.cfg.Storage.CreateAuthRequest(ctx, rec, pg.cfg.Now())
}

// dropAuthRequest deletes a stored request once done with.
func (pg *Pages) dropAuthRequest(ctx context.Context, id string) {
	if id == "" {
		return
	}
	if err := pg.cfg.Storage.DeleteAuthRequest(ctx, id); err != nil {
		pg.cfg.Log.Warn("deleting an authorization request", "request_id", httpx.RequestID(ctx), "err", err)
	}
}

// openLoginRequest opens the sealed request of the login page and checks
// that it is recent and that this browser started it. It returns the
// browser cookie for CSRF tokens.
func (pg *Pages) openLoginRequest(w http.ResponseWriter, r *http.Request, s *engine.Snapshot, sealed string) (*authRequest, string, bool) {
	if sealed == "" {
		pg.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", "The sign-in request is missing. Go back to the application and sign in again.")
		return nil, "", false
	}
	ar, err := pg.open(s, sealed)
	if err != nil || !pg.cfg.Now().Before(ar.Created.Add(AuthRequestLifetime)) {
		pg.errorPage(w, http.StatusBadRequest, "Sign-in expired", signInExpired)
		return nil, "", false
	}
	// Only a request nobody has signed in to yet is ever sealed.
	ar.UserID, ar.AuthTime, ar.Outcome = "", time.Time{}, nil
	if !pg.stillVerified(w, r, s, ar) {
		return nil, "", false
	}
	browser, ok := pg.checkBinding(w, r, ar)
	return ar, browser, ok
}

// stillVerified checks the client and the redirect URI of a request
// verified under an older snapshot (sealed, or waiting for consent)
// against s, which serves this request: a reload may have removed either.
// A request that no longer passes is shown clientNotVerified, never
// redirected.
func (pg *Pages) stillVerified(w http.ResponseWriter, r *http.Request, s *engine.Snapshot, ar *authRequest) bool {
	if c, ok := s.Tenant().Client(ar.ClientID); ok && c.Type != tenant.ClientM2M && c.RedirectRegistered(ar.RedirectURI) {
		return true
	}
	pg.cfg.Log.Info("sign-in refused: its client or redirect URI is no longer registered", "request_id", httpx.RequestID(r.Context()),
		"client_id", ar.ClientID, "redirect_uri", text.Truncate(ar.RedirectURI, 512))
	pg.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", clientNotVerified)
	return false
}

// loadAuthRequest finds a stored request (waiting for consent) and checks
// that this browser started it. It returns the browser cookie for CSRF
// tokens.
func (pg *Pages) loadAuthRequest(w http.ResponseWriter, r *http.Request, id string) (*authRequest, string, bool) {
	if id == "" || len(id) > 128 {
		pg.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", "The sign-in request is missing. Go back to the application and sign in again.")
		return nil, "", false
	}
	rec, err := pg.cfg.Storage.GetAuthRequest(r.Context(), id, pg.cfg.Now())
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			pg.cfg.Log.Error("reading an authorization request", "request_id", httpx.RequestID(r.Context()), "err", err)
		}
		pg.errorPage(w, http.StatusBadRequest, "Sign-in expired", signInExpired)
		return nil, "", false
	}
	var ar authRequest
	if err := json.Unmarshal(rec.Data, &ar); err != nil {
		pg.errorPage(w, http.StatusInternalServerError, "Server error", "The sign-in request cannot be read.")
		return nil, "", false
	}
	browser, ok := pg.checkBinding(w, r, &ar)
	return &ar, browser, ok
}

const signInExpired = "This sign-in request has expired or was already used. Go back to the application and sign in again."

// checkBinding checks that the browser of r started ar, and returns its
// cookie.
func (pg *Pages) checkBinding(w http.ResponseWriter, r *http.Request, ar *authRequest) (string, bool) {
	browser := pg.cookie(r, cookieBrowser)
	if browser == "" || subtle.ConstantTimeCompare([]byte(storage.Hash(browser)), []byte(ar.Binding)) != 1 {
		pg.errorPage(w, http.StatusForbidden, "Sign-in refused",
			"This sign-in was started in another browser, or this browser does not keep cookies. Go back to the application and sign in again here, with cookies allowed for this site.")
		return "", false
	}
	return browser, true
}

// proceed takes a signed-in request on: the post-login pipeline, then
// consent when the client is third-party, then the code.
func (pg *Pages) proceed(w http.ResponseWriter, r *http.Request, s *engine.Snapshot, ar *authRequest) {
	ctx := r.Context()
	fail := func(e *engine.Error) { pg.redirectError(w, r, ar.RedirectURI, ar.State, e) }
	c, cok := s.Tenant().Client(ar.ClientID)
	api, aok := s.Tenant().API(ar.API)
	u, uok := s.Tenant().User(ar.UserID)
	switch {
	case !cok || !aok:
		fail(engine.ErrAccessDenied.WithDescription("the client or API changed during sign-in; try again"))
		return
	case !uok: // removed from the tenant since signing in
		ar.UserID, ar.AuthTime, ar.Outcome = "", time.Time{}, nil
		pg.toLogin(w, r, s, ar)
		return
	}
	if ar.Outcome == nil {
		ar.IP, ar.UserAgent = pg.cfg.Proxies.ClientIP(r), text.Truncate(r.UserAgent(), 256)
		tx := &engine.Transaction{
			RequestID: httpx.RequestID(ctx), GrantType: engine.GrantAuthorizationCode,
			IP: ar.IP, UserAgent: ar.UserAgent, Time: pg.cfg.Now(), Trace: make(engine.Trace, 0, 8),
		}
		userflow.Fill(tx, c, api, u, ar.Requested, ar.Identity)
		err := s.Pipeline(tenant.TriggerPostLogin).Run(ctx, tx)
		if err == nil {
			err = userflow.CheckResult(tx)
		}
		if err != nil {
			fail(postLoginDenial(pg.iss.Deny(ctx, tx, err)))
			return
		}
		res := tx.Result()
		ar.Outcome = &res
	}
	if !c.FirstParty && (slices.Contains(ar.Prompt, "consent") || !pg.consented(ctx, ar)) {
		if slices.Contains(ar.Prompt, "none") {
			fail(errConsentRequired.WithDescription("the user has not consented to this client"))
			return
		}
		id, err := pg.storeAuthRequest(ctx, ar)
		if err != nil {
			fail(userflow.StorageError(err))
			return
		}
		http.Redirect(w, r, pg.prefix+endpoint.PathConsent+"?request="+url.QueryEscape(id), http.StatusSeeOther)
		return
	}
	pg.issueCode(w, r, s, "", ar)
}

// consented reports whether the user already consented to everything the
// outcome grants the client.
func (pg *Pages) consented(ctx context.Context, ar *authRequest) bool {
	c, err := pg.cfg.Storage.GetConsent(ctx, ar.UserID, ar.ClientID, ar.API, pg.cfg.Now())
	if err != nil {
		return false
	}
	for _, s := range append(slices.Clone(ar.Outcome.Identity), ar.Outcome.Scopes...) {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// issueCode makes the authorization code and sends the user back to the
// client with it (RFC 6749 §4.1.2).
func (pg *Pages) issueCode(w http.ResponseWriter, r *http.Request, s *engine.Snapshot, id string, ar *authRequest) {
	ctx := r.Context()
	code, err := userflow.RandomToken(pg.cfg.Rand)
	if err != nil {
		pg.redirectError(w, r, ar.RedirectURI, ar.State, engine.ErrServerError.Wrap(err))
		return
	}
	g := userflow.Code{
		ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, RedirectGiven: ar.RedirectGiven,
		Challenge: ar.Challenge, Nonce: ar.Nonce, UserID: ar.UserID, AuthTime: ar.AuthTime,
		API: ar.API, Requested: ar.Requested, Result: *ar.Outcome, DPoPKey: ar.DPoPKey,
	}
	data, err := json.Marshal(&g)
	if err == nil {
		err = pg.cfg.Storage.CreateAuthCode(ctx, &storage.AuthCode{
			Hash: storage.Hash(code), Expires: pg.cfg.Now().Add(s.Tenant().Flows.CodeLifetime), Data: data,
		})
	}
	pg.dropAuthRequest(ctx, id)
	if err != nil {
		pg.redirectError(w, r, ar.RedirectURI, ar.State, userflow.StorageError(err))
		return
	}
	q := url.Values{"code": {code}}
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	httpx.NoStore(w.Header())
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, pg.redirectTo(ar.RedirectURI, q), http.StatusSeeOther)
}

// postLoginDenial is what the client hears of a post-login hook's deny:
// access_denied with the hook's reason (the hook's own code goes to the
// trace and the audit record), except the OpenID Connect interaction codes,
// which tell the client what to do next.
func postLoginDenial(e *engine.Error) *engine.Error {
	var d *engine.HookDenied
	if !errors.As(e, &d) {
		return e
	}
	switch e.Code() {
	case "login_required", "consent_required", "interaction_required", engine.ErrAccessDenied.Code():
		return e
	}
	return engine.ErrAccessDenied.WithDescription("%s", e.Description()).Wrap(e)
}
