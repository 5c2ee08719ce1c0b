package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
)

// MaxLoginFormBytes bounds the body of the login, consent and logout forms
// (the login form carries its sealed request).
const MaxLoginFormBytes = 32 << 10

// The sign-in error: the same whether the user exists or not.
const badCredentials = "Wrong username or password."

// identityScopeText describes the OpenID Connect scopes on the consent page.
var identityScopeText = map[string]string{
	"openid":         "Sign you in and know who you are",
	"profile":        "See your name and profile",
	"email":          "See your email address",
	"offline_access": "Keep access while you are not using it",
}

// postForm reads a page's form body.
func postForm(r *http.Request) (url.Values, error) {
	p, err := readFormMax(r, MaxLoginFormBytes, maxSealedLen)
	switch {
	case errors.Is(err, errNotForm):
		return nil, errors.New("not a form")
	case errors.Is(err, errFormTooLarge), errors.Is(err, errFormUnreadable):
		return nil, errors.New("form too large")
	}
	return p, err
}

// handleLogin is the hosted login page.
func (i *Issuer) handleLogin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s := i.acquirePage(w)
		if s == nil {
			return
		}
		defer s.release()
		sealed := r.URL.Query().Get("request")
		ar, browser, ok := i.openLoginRequest(w, r, s, sealed)
		if !ok {
			return
		}
		i.loginPage(w, s, http.StatusOK, sealed, ar, browser, ar.LoginHint, "")
	case http.MethodPost:
		i.postLogin(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		i.errorPage(w, http.StatusMethodNotAllowed, "Request refused", "Use the sign-in form.")
	}
}

func (i *Issuer) loginPage(w http.ResponseWriter, s *snapshot, status int, sealed string, ar *authRequest, browser, username, msg string) {
	name := ar.ClientID
	if c, ok := s.tenant.Client(ar.ClientID); ok && c.Name != "" {
		name = c.Name
	}
	i.render(w, status, "login.html", &page{
		Title: "Sign in to " + name, ClientName: name, Action: i.pathPrefix() + PathLogin,
		RequestID: sealed, CSRF: csrfToken(browser, "login\x00"+sealed), Username: username, Error: msg,
	}, ar.RedirectURI)
}

// loginThrottleKey is what sign-in failures of a login name count
// against: the user it names, however it is written (username or email,
// any case), or else the name in the form users are looked up by, so that
// an unknown name is limited the same way and variants of it share one
// allowance.
func loginThrottleKey(t *tenant.Tenant, login string) string {
	if u, ok := t.UserByLogin(login); ok {
		return "user:" + u.ID
	}
	return "name:" + truncate(tenant.LoginKey(login), 255)
}

func (i *Issuer) postLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := i.acquirePage(w)
	if s == nil {
		return
	}
	defer s.release()
	f, err := postForm(r)
	if err != nil {
		i.errorPage(w, http.StatusBadRequest, "Invalid form", "The sign-in form could not be read. Go back and try again.")
		return
	}
	sealed := f.Get("request")
	ar, browser, ok := i.openLoginRequest(w, r, s, sealed)
	if !ok {
		return
	}
	if !validCSRF(browser, "login\x00"+sealed, f.Get("csrf_token")) {
		i.errorPage(w, http.StatusForbidden, "Sign-in refused", "The form was not sent from this sign-in page, or it expired. Go back to the application and sign in again.")
		return
	}
	login, password := f.Get("username"), f.Get("password")
	ip := i.clientIP(r)
	ev := &Login{Issuer: s.issuer, RequestID: RequestID(ctx), ClientID: ar.ClientID, LoginName: truncate(login, 255), IP: ip, UserAgent: truncate(r.UserAgent(), 256)}
	if login == "" || password == "" {
		i.loginPage(w, s, http.StatusOK, sealed, ar, browser, login, "Enter your username and your password.")
		return
	}
	th, now := i.throttles, i.now()
	userKey, network := loginThrottleKey(s.tenant, login), i.networkKey(ip)
	if wait := max(th.loginUser.Delay(ctx, userKey, now), th.loginNetwork.Delay(ctx, network, now)); wait > 0 {
		ev.Outcome = LoginThrottled
		i.recordLogin(ctx, ev)
		w.Header().Set("Retry-After", retryAfter(wait))
		i.loginPage(w, s, http.StatusTooManyRequests, sealed, ar, browser, login,
			fmt.Sprintf("Too many failed sign-ins. Wait %s and try again.", wait.Round(time.Second)))
		return
	}

	// Password hashing is memory-hard: bound how many run at once.
	gateCtx, cancel := context.WithTimeout(ctx, passwordChecksWaitSecs*time.Second)
	defer cancel()
	select {
	case i.flows.passwordGate <- struct{}{}:
	case <-gateCtx.Done():
		w.Header().Set("Retry-After", strconv.Itoa(passwordChecksWaitSecs))
		i.loginPage(w, s, http.StatusServiceUnavailable, sealed, ar, browser, login, "The server is busy. Try again in a moment.")
		return
	}
	u, ok := s.tenant.Authenticate(login, password)
	<-i.flows.passwordGate
	now = i.now()
	if !ok {
		th.loginUser.Fail(ctx, userKey, now)
		th.loginNetwork.Fail(ctx, network, now)
		ev.Outcome = LoginFailed
		i.recordLogin(ctx, ev)
		i.loginPage(w, s, http.StatusOK, sealed, ar, browser, login, badCredentials)
		return
	}
	ev.Outcome, ev.UserID = LoginSucceeded, u.ID
	i.recordLogin(ctx, ev)

	// A new session for every sign-in (no fixation); the old one ends.
	if old := i.cookie(r, cookieSession); old != "" {
		i.flows.storage.DeleteSession(ctx, storage.Hash(old))
	}
	value, err := i.randomToken()
	if err == nil {
		err = i.flows.storage.CreateSession(ctx, &storage.Session{
			Hash: storage.Hash(value), UserID: u.ID, AuthTime: now, Expires: now.Add(s.tenant.Flows.SessionLifetime),
		})
	}
	if err != nil {
		i.log.Error("creating a session", "request_id", RequestID(ctx), "err", err)
		i.redirectError(w, r, ar.RedirectURI, ar.State, storageError(err))
		return
	}
	i.setCookie(w, cookieSession, value, int(s.tenant.Flows.SessionLifetime/time.Second))
	ar.UserID, ar.AuthTime, ar.Outcome = u.ID, now, nil
	i.proceed(w, r, s, ar)
}

// recordLogin hands a sign-in attempt to the auditor, when it records
// them, and to the log.
func (i *Issuer) recordLogin(ctx context.Context, l *Login) {
	l.Time = i.now()
	i.log.Info("sign-in", "request_id", l.RequestID, "client_id", l.ClientID, "outcome", string(l.Outcome), "user_id", l.UserID, "ip", l.IP)
	if la, ok := i.auditor.(LoginAuditor); ok {
		if err := la.RecordLogin(ctx, l); err != nil {
			i.log.Error("recording a sign-in failed", "request_id", l.RequestID, "err", err)
		}
	}
}

// session returns the browser's valid session, if any, whose user still
// exists.
func (i *Issuer) session(ctx context.Context, t *tenant.Tenant, r *http.Request, now time.Time) *storage.Session {
	v := i.cookie(r, cookieSession)
	if v == "" {
		return nil
	}
	sess, err := i.flows.storage.GetSession(ctx, storage.Hash(v), now)
	if err != nil {
		return nil
	}
	if _, ok := t.User(sess.UserID); !ok {
		return nil
	}
	return sess
}

// handleConsent is the consent page for third-party clients.
func (i *Issuer) handleConsent(w http.ResponseWriter, r *http.Request) {
	var (
		id string
		f  url.Values
	)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		id = r.URL.Query().Get("request")
	case http.MethodPost:
		var err error
		if f, err = postForm(r); err != nil {
			i.errorPage(w, http.StatusBadRequest, "Invalid form", "The consent form could not be read. Go back and try again.")
			return
		}
		id = f.Get("request")
	default:
		w.Header().Set("Allow", "GET, POST")
		i.errorPage(w, http.StatusMethodNotAllowed, "Request refused", "Use the consent form.")
		return
	}
	s := i.acquirePage(w)
	if s == nil {
		return
	}
	defer s.release()
	ar, browser, ok := i.loadAuthRequest(w, r, id)
	if !ok {
		return
	}
	sess := i.session(r.Context(), s.tenant, r, i.now())
	c, cok := s.tenant.Client(ar.ClientID)
	api, aok := s.tenant.API(ar.API)
	u, uok := s.tenant.User(ar.UserID)
	if ar.Outcome == nil || sess == nil || sess.UserID != ar.UserID || !cok || !aok || !uok {
		i.errorPage(w, http.StatusBadRequest, "Sign-in expired", "Sign in again before giving consent: go back to the application and start over.")
		return
	}
	if r.Method == http.MethodPost {
		if !validCSRF(browser, "consent\x00"+id, f.Get("csrf_token")) {
			i.errorPage(w, http.StatusForbidden, "Consent refused", "The form was not sent from this consent page, or it expired. Go back to the application and start over.")
			return
		}
		switch f.Get("decision") {
		case "allow":
			err := i.flows.storage.PutConsent(r.Context(), &storage.Consent{
				UserID: u.ID, ClientID: c.ID, API: api.Identifier,
				Scopes:  append(slices.Clone(ar.Outcome.Identity), ar.Outcome.Scopes...),
				Expires: i.now().Add(s.tenant.Flows.ConsentLifetime),
			})
			if err != nil {
				i.dropAuthRequest(r.Context(), id)
				i.redirectError(w, r, ar.RedirectURI, ar.State, storageError(err))
				return
			}
			i.issueCode(w, r, s, id, ar)
		case "deny":
			tx := &Transaction{RequestID: RequestID(r.Context()), GrantType: GrantAuthorizationCode,
				IP: ar.IP, UserAgent: ar.UserAgent, Time: i.now(), Trace: ar.Outcome.Trace}
			userTransaction(tx, c, api, u, ar.Requested, nil)
			tx.Identity, tx.Scopes = ar.Outcome.Identity, ar.Outcome.Scopes
			tx.record(TraceEntry{Stage: "consent", Op: OpDeny, Reason: "the user declined"})
			e := ErrAccessDenied.WithDescription("the user declined to give the client access")
			i.denied(r.Context(), tx, e)
			i.dropAuthRequest(r.Context(), id)
			i.redirectError(w, r, ar.RedirectURI, ar.State, e)
		default:
			i.errorPage(w, http.StatusBadRequest, "Invalid form", "Choose Allow or Deny.")
		}
		return
	}
	var items []scopeItem
	for _, sc := range ar.Outcome.Identity {
		items = append(items, scopeItem{Name: sc, Description: identityScopeText[sc]})
	}
	for _, sc := range ar.Outcome.Scopes {
		d, _ := api.Scope(sc)
		item := scopeItem{Name: sc}
		if d != nil {
			item.Description = d.Description
		}
		items = append(items, item)
	}
	clientName, userName, apiName := c.ID, u.ID, api.Name
	if c.Name != "" {
		clientName = c.Name
	}
	if n, ok := u.Profile["name"].(string); ok && n != "" {
		userName = n
	} else if u.Username != "" {
		userName = u.Username
	}
	if apiName == "" {
		apiName = api.Identifier
	}
	i.render(w, http.StatusOK, "consent.html", &page{
		Title: "Allow " + clientName + "?", ClientName: clientName, UserName: userName, APIName: apiName,
		Scopes: items, Action: i.pathPrefix() + PathConsent, RequestID: id, CSRF: csrfToken(browser, "consent\x00"+id),
	}, ar.RedirectURI)
}

// handleLogout ends the browser's session at the issuer: GET asks, POST
// (with a token only the page knows) does it.
func (i *Issuer) handleLogout(w http.ResponseWriter, r *http.Request) {
	value := i.cookie(r, cookieSession)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if value == "" {
			i.render(w, http.StatusOK, "message.html", &page{Title: "Signed out", Message: "You are not signed in."})
			return
		}
		i.render(w, http.StatusOK, "message.html", &page{
			Title: "Sign out", Message: "Sign out of this server? Applications you used keep the tokens they already have until they expire.",
			Action: i.pathPrefix() + PathLogout, CSRF: csrfToken(value, "logout"), Button: "Sign out",
		})
	case http.MethodPost:
		f, err := postForm(r)
		if err != nil || !validCSRF(value, "logout", f.Get("csrf_token")) {
			i.errorPage(w, http.StatusForbidden, "Sign-out refused", "The form was not sent from the sign-out page. Open the sign-out page again.")
			return
		}
		if err := i.flows.storage.DeleteSession(r.Context(), storage.Hash(value)); err != nil {
			i.log.Error("ending a session", "request_id", RequestID(r.Context()), "err", err)
			i.errorPage(w, http.StatusInternalServerError, "Server error", "Signing out failed. Try again.")
			return
		}
		i.setCookie(w, cookieSession, "", -1)
		i.render(w, http.StatusOK, "message.html", &page{Title: "Signed out", Message: "You are signed out."})
	default:
		w.Header().Set("Allow", "GET, POST")
		i.errorPage(w, http.StatusMethodNotAllowed, "Request refused", "Use the sign-out form.")
	}
}
