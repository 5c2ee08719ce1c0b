package engine

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine/internal/form"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
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
	errLoginRequired   = &Error{Code: "login_required", Status: http.StatusBadRequest}
	errConsentRequired = &Error{Code: "consent_required", Status: http.StatusBadRequest}
	// A code_challenge is BASE64URL(SHA-256(verifier)): 43 characters.
	validChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, §4.1.1):
// GET, or POST as OpenID Connect allows. Nothing is stored for a request
// until somebody signs in: it goes to the login page sealed (sealed.go).
func (i *Issuer) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		i.errorPage(w, http.StatusMethodNotAllowed, "Request refused", "The authorization endpoint accepts GET and POST only.")
		return
	}
	s := i.acquirePage(w)
	if s == nil {
		return
	}
	defer s.release()
	ctx, now := r.Context(), i.now()
	if wait := i.throttles.authorizeNetwork.Take(ctx, i.networkKey(i.clientIP(r)), now); wait > 0 {
		w.Header().Set("Retry-After", retryAfter(wait))
		i.errorPage(w, http.StatusTooManyRequests, "Too many requests", "Too many sign-in requests from your network. Wait a moment and try again.")
		return
	}

	params, err := authorizeParams(r)
	if err != nil {
		i.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", "The application sent a malformed request: "+err.Error()+".")
		return
	}
	if params.Get("client_id") == "" {
		i.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", "The application did not say who it is (client_id is missing).")
		return
	}
	c, redirectURI, why := verifyClient(s.tenant, params)
	if c == nil {
		i.log.Info("authorization request refused before its client was verified", "request_id", RequestID(ctx),
			"client_id", truncate(params.Get("client_id"), 255), "redirect_uri", truncate(params.Get("redirect_uri"), 512), "reason", why)
		i.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", clientNotVerified)
		return
	}
	state := params.Get("state")
	if len(state) > MaxStateLen {
		state = "" // not echoed: too long to be trusted
	}
	fail := func(e *Error) { i.redirectError(w, r, redirectURI, state, e) }
	ar, e := parseAuthorize(s.tenant, c, params)
	if e != nil {
		fail(e)
		return
	}
	ar.RedirectURI, ar.State = redirectURI, state

	browser := i.cookie(r, cookieBrowser)
	if browser == "" {
		if browser, err = i.randomToken(); err != nil {
			fail(ErrServerError.Wrap(err))
			return
		}
		i.setCookie(w, cookieBrowser, browser, 0)
	}
	ar.Binding = storage.Hash(browser)
	ar.Created = now

	if sess := i.session(ctx, s.tenant, r, now); sess != nil && !ar.forcesLogin(sess.AuthTime, now) {
		ar.UserID, ar.AuthTime = sess.UserID, sess.AuthTime
	} else if slices.Contains(ar.Prompt, "none") {
		fail(errLoginRequired.WithDescription("the user is not signed in"))
		return
	}
	if ar.UserID != "" { // signed in: stored only if consent is asked
		i.proceed(w, r, s, ar)
		return
	}
	i.toLogin(w, r, s, ar)
}

// toLogin sends the browser to the login page with the request sealed.
func (i *Issuer) toLogin(w http.ResponseWriter, r *http.Request, s *snapshot, ar *authRequest) {
	sealed, err := s.sealRequest(ar, i.rand)
	if err != nil {
		e := ErrServerError.Wrap(err)
		if errors.Is(err, errSealedTooLarge) {
			e = ErrInvalidRequest.WithDescription("the authorization request is too large (state, nonce, scope and redirect_uri together)")
		}
		i.redirectError(w, r, ar.RedirectURI, ar.State, e)
		return
	}
	http.Redirect(w, r, i.pathPrefix()+PathLogin+"?request="+url.QueryEscape(sealed), http.StatusSeeOther)
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
	p, err := readForm(r, MaxTokenRequestBytes, "resource")
	switch {
	case errors.Is(err, errNotForm):
		return nil, errors.New("Content-Type must be application/x-www-form-urlencoded")
	case errors.Is(err, errFormTooLarge), errors.Is(err, errFormUnreadable):
		return nil, errors.New("the request body is too large or unreadable")
	}
	return p, err
}

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
		if !redirectRegistered(c, redirectURI) {
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

// redirectRegistered compares a redirect URI with the client's by exact
// string match (RFC 9700 §2.1), except that a native app's loopback IP
// redirect may use any port (RFC 8252 §7.3): any port from 1 to 65535,
// written in digits without a leading zero, with the rest of the URI
// exactly as registered.
func redirectRegistered(c *tenant.Client, uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if c.Type != tenant.ClientNative {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || !isLoopbackIP(u.Hostname()) || !validPort(u.Port()) {
		return false
	}
	for _, reg := range c.RedirectURIs {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || ru.Hostname() != u.Hostname() || !isLoopbackIP(ru.Hostname()) {
			continue
		}
		// The registered URI with the request's port in place of its own.
		rest := strings.TrimPrefix(reg, "http://"+ru.Host)
		if uri == "http://"+net.JoinHostPort(ru.Hostname(), u.Port())+rest {
			return true
		}
	}
	return false
}

// validPort reports whether p is a TCP port number from 1 to 65535, in
// digits without a leading zero.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseAuthorize validates the rest of an authorization request, whose
// errors go back to the client's redirect URI.
func parseAuthorize(t *tenant.Tenant, c *tenant.Client, p url.Values) (*authRequest, *Error) {
	ar := &authRequest{ClientID: c.ID, RedirectGiven: p.Has("redirect_uri"), MaxAge: -1}
	switch {
	case p.Has("request"):
		return nil, &Error{Code: "request_not_supported", Description: "request objects are not supported", Status: 400}
	case p.Has("request_uri"):
		return nil, &Error{Code: "request_uri_not_supported", Description: "request_uri is not supported", Status: 400}
	case !p.Has("response_type"):
		return nil, ErrInvalidRequest.WithDescription("response_type is required")
	case p.Get("response_type") != "code":
		return nil, (&Error{Code: "unsupported_response_type", Status: 400}).WithDescription("only response_type=code is supported")
	case p.Has("response_mode") && p.Get("response_mode") != "query":
		return nil, ErrInvalidRequest.WithDescription("only response_mode=query is supported")
	case len(p.Get("state")) > MaxStateLen:
		return nil, ErrInvalidRequest.WithDescription("state is longer than %d bytes", MaxStateLen)
	}

	challenge, method := p.Get("code_challenge"), p.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return nil, ErrInvalidRequest.WithDescription("code_challenge_method without code_challenge")
	case challenge == "" && !c.Type.Confidential():
		return nil, ErrInvalidRequest.WithDescription("PKCE is required for public clients: send code_challenge with code_challenge_method=S256")
	case challenge != "" && method != "S256":
		return nil, ErrInvalidRequest.WithDescription("code_challenge_method must be S256 (plain is not supported)")
	case challenge != "" && !validChallenge.MatchString(challenge):
		return nil, ErrInvalidRequest.WithDescription("code_challenge must be the 43-character base64url SHA-256 of the code_verifier")
	}
	ar.Challenge = challenge

	all, err := requestedScope(p.Get("scope"), p.Has("scope"))
	if err != nil {
		return nil, AsError(err)
	}
	if all != nil {
		ar.Identity, ar.Requested = splitScopes(all)
	}
	if ar.Nonce = p.Get("nonce"); len(ar.Nonce) > MaxStateLen {
		return nil, ErrInvalidRequest.WithDescription("nonce is longer than %d bytes", MaxStateLen)
	}
	if prompt := p.Get("prompt"); prompt != "" {
		for _, v := range strings.Fields(prompt) {
			if !slices.Contains([]string{"none", "login", "consent", "select_account"}, v) {
				return nil, ErrInvalidRequest.WithDescription("unknown prompt value %q", truncate(v, 32))
			}
			ar.Prompt = append(ar.Prompt, v)
		}
		if slices.Contains(ar.Prompt, "none") && len(ar.Prompt) > 1 {
			return nil, ErrInvalidRequest.WithDescription("prompt=none cannot be combined with other values")
		}
	}
	if v := p.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, ErrInvalidRequest.WithDescription("max_age must be a non-negative number of seconds")
		}
		ar.MaxAge = n
	}
	if ar.LoginHint = p.Get("login_hint"); len(ar.LoginHint) > 255 {
		ar.LoginHint = ""
	}

	api, err := resolveAPI(t, &TokenRequest{Audience: p.Get("audience"), Resource: p["resource"]})
	if err != nil {
		return nil, AsError(err)
	}
	ar.API = api.Identifier
	if g, ok := t.Grant(c.ID, api.Identifier); !ok || !g.ForUser {
		return nil, ErrAccessDenied.WithDescription("client %q is not granted user access to %q", c.ID, api.Identifier)
	}
	for _, s := range ar.Requested {
		if !api.Defines(s) {
			return nil, ErrInvalidScope.WithDescription("scope %q is not defined by %q", s, api.Identifier)
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
func (i *Issuer) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e *Error) {
	if e.Status >= 500 {
		i.log.Error("authorization request failed", "request_id", RequestID(r.Context()), "error", e.Code, "cause", errString(e.Unwrap()))
	}
	code := e.Code
	if !slices.Contains(authorizeErrorCodes, code) {
		code = ErrAccessDenied.Code
	}
	q := url.Values{"error": {code}}
	if e.Description != "" {
		q.Set("error_description", e.Description)
	}
	if state != "" {
		q.Set("state", state)
	}
	noStore(w.Header())
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, i.redirectTo(redirectURI, q), http.StatusSeeOther)
}

// storeAuthRequest stores a request waiting for the user's consent: the
// only requests kept on the server before their code, made by signed-in
// users only, at most rulePendingUser's allowance per user. It returns the
// request's id.
func (i *Issuer) storeAuthRequest(ctx context.Context, ar *authRequest) (string, error) {
	if wait := i.throttles.pendingUser.Take(ctx, "user:"+ar.UserID, i.now()); wait > 0 {
		return "", ErrTemporarilyUnavailable.WithDescription("too many sign-ins of this user are waiting for consent; try again later").WithRetryAfter(wait)
	}
	data, err := json.Marshal(ar)
	if err != nil {
		return "", err
	}
	id, err := i.randomToken()
	if err != nil {
		return "", err
	}
	rec := &storage.AuthRequest{ID: id, Expires: ar.Created.Add(AuthRequestLifetime), Data: data}
	return id, i.flows.storage.CreateAuthRequest(ctx, rec, i.now())
}

// dropAuthRequest deletes a stored request once done with.
func (i *Issuer) dropAuthRequest(ctx context.Context, id string) {
	if id == "" {
		return
	}
	if err := i.flows.storage.DeleteAuthRequest(ctx, id); err != nil {
		i.log.Warn("deleting an authorization request", "request_id", RequestID(ctx), "err", err)
	}
}

// openLoginRequest opens the sealed request of the login page and checks
// that it is recent and that this browser started it. It returns the
// browser cookie for CSRF tokens.
func (i *Issuer) openLoginRequest(w http.ResponseWriter, r *http.Request, s *snapshot, sealed string) (*authRequest, string, bool) {
	if sealed == "" {
		i.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", "The sign-in request is missing. Go back to the application and sign in again.")
		return nil, "", false
	}
	ar, err := s.openRequest(sealed)
	if err != nil || !i.now().Before(ar.Created.Add(AuthRequestLifetime)) {
		i.errorPage(w, http.StatusBadRequest, "Sign-in expired", signInExpired)
		return nil, "", false
	}
	// Only a request nobody has signed in to yet is ever sealed.
	ar.UserID, ar.AuthTime, ar.Outcome = "", time.Time{}, nil
	browser, ok := i.checkBinding(w, r, ar)
	return ar, browser, ok
}

// loadAuthRequest finds a stored request (waiting for consent) and checks
// that this browser started it. It returns the browser cookie for CSRF
// tokens.
func (i *Issuer) loadAuthRequest(w http.ResponseWriter, r *http.Request, id string) (*authRequest, string, bool) {
	if id == "" || len(id) > 128 {
		i.errorPage(w, http.StatusBadRequest, "Invalid sign-in request", "The sign-in request is missing. Go back to the application and sign in again.")
		return nil, "", false
	}
	rec, err := i.flows.storage.GetAuthRequest(r.Context(), id, i.now())
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			i.log.Error("reading an authorization request", "request_id", RequestID(r.Context()), "err", err)
		}
		i.errorPage(w, http.StatusBadRequest, "Sign-in expired", signInExpired)
		return nil, "", false
	}
	var ar authRequest
	if err := json.Unmarshal(rec.Data, &ar); err != nil {
		i.errorPage(w, http.StatusInternalServerError, "Server error", "The sign-in request cannot be read.")
		return nil, "", false
	}
	browser, ok := i.checkBinding(w, r, &ar)
	return &ar, browser, ok
}

const signInExpired = "This sign-in request has expired or was already used. Go back to the application and sign in again."

// checkBinding checks that the browser of r started ar, and returns its
// cookie.
func (i *Issuer) checkBinding(w http.ResponseWriter, r *http.Request, ar *authRequest) (string, bool) {
	browser := i.cookie(r, cookieBrowser)
	if browser == "" || subtle.ConstantTimeCompare([]byte(storage.Hash(browser)), []byte(ar.Binding)) != 1 {
		i.errorPage(w, http.StatusForbidden, "Sign-in refused",
			"This sign-in was started in another browser, or this browser does not keep cookies. Go back to the application and sign in again here, with cookies allowed for this site.")
		return "", false
	}
	return browser, true
}

// proceed takes a signed-in request on: the post-login pipeline, then
// consent when the client is third-party, then the code.
func (i *Issuer) proceed(w http.ResponseWriter, r *http.Request, s *snapshot, ar *authRequest) {
	ctx := r.Context()
	fail := func(e *Error) { i.redirectError(w, r, ar.RedirectURI, ar.State, e) }
	c, cok := s.tenant.Client(ar.ClientID)
	api, aok := s.tenant.API(ar.API)
	u, uok := s.tenant.User(ar.UserID)
	switch {
	case !cok || !aok:
		fail(ErrAccessDenied.WithDescription("the client or API changed during sign-in; try again"))
		return
	case !uok: // removed from the tenant since signing in
		ar.UserID, ar.AuthTime, ar.Outcome = "", time.Time{}, nil
		i.toLogin(w, r, s, ar)
		return
	}
	if ar.Outcome == nil {
		ar.IP, ar.UserAgent = i.clientIP(r), truncate(r.UserAgent(), 256)
		tx := &Transaction{
			RequestID: RequestID(ctx), GrantType: GrantAuthorizationCode,
			IP: ar.IP, UserAgent: ar.UserAgent, Time: i.now(), Trace: make(Trace, 0, 8),
		}
		userTransaction(tx, c, api, u, ar.Requested, ar.Identity)
		err := s.pipelines[tenant.TriggerPostLogin].Run(ctx, tx)
		if err == nil {
			err = checkUserResult(tx)
		}
		if err != nil {
			e := AsError(err)
			i.denied(ctx, tx, e)
			fail(postLoginDenial(e))
			return
		}
		ar.Outcome = &authOutcome{Scopes: tx.Scopes, Identity: tx.Identity, Claims: tx.Claims, Trace: tx.Trace, Logs: tx.Logs, Timings: tx.Timings}
	}
	if !c.FirstParty && (slices.Contains(ar.Prompt, "consent") || !i.consented(ctx, ar)) {
		if slices.Contains(ar.Prompt, "none") {
			fail(errConsentRequired.WithDescription("the user has not consented to this client"))
			return
		}
		id, err := i.storeAuthRequest(ctx, ar)
		if err != nil {
			fail(storageError(err))
			return
		}
		http.Redirect(w, r, i.pathPrefix()+PathConsent+"?request="+url.QueryEscape(id), http.StatusSeeOther)
		return
	}
	i.issueCode(w, r, s, "", ar)
}

// consented reports whether the user already consented to everything the
// outcome grants the client.
func (i *Issuer) consented(ctx context.Context, ar *authRequest) bool {
	c, err := i.flows.storage.GetConsent(ctx, ar.UserID, ar.ClientID, ar.API, i.now())
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
func (i *Issuer) issueCode(w http.ResponseWriter, r *http.Request, s *snapshot, id string, ar *authRequest) {
	ctx := r.Context()
	code, err := i.randomToken()
	if err != nil {
		i.redirectError(w, r, ar.RedirectURI, ar.State, ErrServerError.Wrap(err))
		return
	}
	g := codeGrant{
		ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, RedirectGiven: ar.RedirectGiven,
		Challenge: ar.Challenge, Nonce: ar.Nonce, UserID: ar.UserID, AuthTime: ar.AuthTime,
		API: ar.API, Requested: ar.Requested, Outcome: *ar.Outcome,
	}
	data, err := json.Marshal(&g)
	if err == nil {
		err = i.flows.storage.CreateAuthCode(ctx, &storage.AuthCode{
			Hash: storage.Hash(code), Expires: i.now().Add(s.tenant.Flows.CodeLifetime), Data: data,
		})
	}
	i.dropAuthRequest(ctx, id)
	if err != nil {
		i.redirectError(w, r, ar.RedirectURI, ar.State, storageError(err))
		return
	}
	q := url.Values{"code": {code}}
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	noStore(w.Header())
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, i.redirectTo(ar.RedirectURI, q), http.StatusSeeOther)
}

// postLoginDenial is what the client hears of a post-login hook's deny:
// access_denied with the hook's reason (the hook's own code goes to the
// trace and the audit record), except the OpenID Connect interaction codes,
// which tell the client what to do next.
func postLoginDenial(e *Error) *Error {
	var d *HookDenied
	if !errors.As(e, &d) {
		return e
	}
	switch e.Code {
	case "login_required", "consent_required", "interaction_required", ErrAccessDenied.Code:
		return e
	}
	return ErrAccessDenied.WithDescription("%s", e.Description).Wrap(e)
}
