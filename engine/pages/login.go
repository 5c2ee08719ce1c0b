package pages

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/internal/text"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/userflow"
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
	p, err := httpx.ReadFormMax(r, MaxLoginFormBytes, maxSealedLen)
	switch {
	case errors.Is(err, httpx.ErrNotForm):
		return nil, errors.New("not a form")
	case errors.Is(err, httpx.ErrFormTooLarge), errors.Is(err, httpx.ErrFormUnreadable):
		return nil, errors.New("form too large")
	}
	return p, err
}

// handleLogin is the hosted login page.
func (pg *Pages) handleLogin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s := pg.acquirePage(w)
		if s == nil {
			return
		}
		defer s.Release()
		sealed := r.URL.Query().Get("request")
		ar, browser, ok := pg.openLoginRequest(w, r, s, sealed)
		if !ok {
			return
		}
		pg.loginPage(w, s, http.StatusOK, sealed, ar, browser, ar.LoginHint, "")
	case http.MethodPost:
		pg.postLogin(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		pg.errorPage(w, http.StatusMethodNotAllowed, "Request refused", "Use the sign-in form.")
	}
}

func (pg *Pages) loginPage(w http.ResponseWriter, s *engine.Snapshot, status int, sealed string, ar *authRequest, browser, username, msg string) {
	name := ar.ClientID
	if c, ok := s.Tenant().Client(ar.ClientID); ok && c.Name != "" {
		name = c.Name
	}
	pg.render(w, status, "login.html", &page{
		Title: "Sign in to " + name, ClientName: name, Action: pg.prefix + endpoint.PathLogin,
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
	return "name:" + text.Truncate(tenant.LoginKey(login), 255)
}

func (pg *Pages) postLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := pg.acquirePage(w)
	if s == nil {
		return
	}
	defer s.Release()
	f, err := postForm(r)
	if err != nil {
		pg.errorPage(w, http.StatusBadRequest, "Invalid form", "The sign-in form could not be read. Go back and try again.")
		return
	}
	sealed := f.Get("request")
	ar, browser, ok := pg.openLoginRequest(w, r, s, sealed)
	if !ok {
		return
	}
	if !validCSRF(browser, "login\x00"+sealed, f.Get("csrf_token")) {
		pg.errorPage(w, http.StatusForbidden, "Sign-in refused", "The form was not sent from this sign-in page, or it expired. Go back to the application and sign in again.")
		return
	}
	login, password := f.Get("username"), f.Get("password")
	ip := pg.cfg.Proxies.ClientIP(r)
	ev := &engine.Login{Issuer: s.Issuer(), RequestID: httpx.RequestID(ctx), ClientID: ar.ClientID, LoginName: text.Truncate(login, 255), IP: ip, UserAgent: text.Truncate(r.UserAgent(), 256)}
	if login == "" || password == "" {
		pg.loginPage(w, s, http.StatusOK, sealed, ar, browser, login, "Enter your username and your password.")
		return
	}
	userKey, network := loginThrottleKey(s.Tenant(), login), pg.cfg.Networks.Key(ip)
	throttled := func(wait time.Duration) {
		ev.Outcome = engine.LoginThrottled
		pg.recordLogin(ctx, ev)
		w.Header().Set("Retry-After", text.RetryAfter(wait))
		pg.loginPage(w, s, http.StatusTooManyRequests, sealed, ar, browser, login,
			fmt.Sprintf("Too many failed sign-ins. Wait %s and try again.", wait.Round(time.Second)))
	}
	// Refused at once, without waiting for a turn, when already throttled.
	if wait := pg.loginDelay(ctx, userKey, network); wait > 0 {
		throttled(wait)
		return
	}

	// Password hashing is memory-hard: bound how many run at once.
	gateCtx, cancel := context.WithTimeout(ctx, passwordChecksWaitSecs*time.Second)
	defer cancel()
	select {
	case pg.passwordGate <- struct{}{}:
	case <-gateCtx.Done():
		w.Header().Set("Retry-After", strconv.Itoa(passwordChecksWaitSecs))
		pg.loginPage(w, s, http.StatusServiceUnavailable, sealed, ar, browser, login, "The server is busy. Try again in a moment.")
		return
	}
	u, wait := pg.checkPassword(ctx, s.Tenant(), userKey, network, login, password)
	<-pg.passwordGate
	now := pg.cfg.Now()
	switch {
	case wait > 0:
		throttled(wait)
		return
	case u == nil:
		ev.Outcome = engine.LoginFailed
		pg.recordLogin(ctx, ev)
		pg.loginPage(w, s, http.StatusOK, sealed, ar, browser, login, badCredentials)
		return
	}
	ev.Outcome, ev.UserID = engine.LoginSucceeded, u.ID
	pg.recordLogin(ctx, ev)

	// A new session for every sign-in (no fixation); the old one ends.
	if old := pg.cookie(r, cookieSession); old != "" {
		pg.cfg.Storage.DeleteSession(ctx, storage.Hash(old))
	}
	value, err := userflow.RandomToken(pg.cfg.Rand)
	if err == nil {
		err = pg.cfg.Storage.CreateSession(ctx, &storage.Session{
			Hash: storage.Hash(value), UserID: u.ID, AuthTime: now, Expires: now.Add(s.Tenant().Flows.SessionLifetime),
			Credential: u.Credential(),
		})
	}
	if err != nil {
		pg.cfg.Log.Error("creating a session", "request_id", httpx.RequestID(ctx), "err", err)
		pg.redirectError(w, r, ar.RedirectURI, ar.State, userflow.StorageError(err))
		return
	}
	pg.setCookie(w, cookieSession, value, int(s.Tenant().Flows.SessionLifetime/time.Second))
	ar.UserID, ar.AuthTime, ar.Outcome = u.ID, now, nil
	pg.proceed(w, r, s, ar)
}

// loginDelay is how long a sign-in of the login name userKey from network
// must wait: the longer of the two throttles' delays.
func (pg *Pages) loginDelay(ctx context.Context, userKey, network string) time.Duration {
	now := pg.cfg.Now()
	return max(pg.loginUser.Delay(ctx, userKey, now), pg.loginNetwork.Delay(ctx, network, now))
}

// checkPassword checks a sign-in's password unless its login name or its
// network is throttled (then it returns the wait), and counts a failure
// against both. The throttle check, the password check and the count are
// one step for a login name and for a network (loginLocks): apart,
// guesses sent at once all passed the check before the first failure
// counted, and each was checked.
func (pg *Pages) checkPassword(ctx context.Context, t *tenant.Tenant, userKey, network, login, password string) (*tenant.User, time.Duration) {
	defer pg.loginLocks.lock(userKey, network)()
	if wait := pg.loginDelay(ctx, userKey, network); wait > 0 {
		return nil, wait
	}
	u, ok := t.Authenticate(login, password)
	if !ok {
		now := pg.cfg.Now()
		pg.loginUser.Fail(ctx, userKey, now)
		pg.loginNetwork.Fail(ctx, network, now)
		return nil, 0
	}
	return u, 0
}

// loginLocks serialize the password checks of one login name, and of one
// network (checkPassword), in this process: a lock of each of two sets
// of stripes, always the login name's first, so that no two sign-ins
// wait for each other in a cycle.
type loginLocks struct {
	seed           maphash.Seed
	users, network [64]sync.Mutex
}

// lock locks the stripes of userKey and network, and returns the unlock.
func (l *loginLocks) lock(userKey, network string) func() {
	u := &l.users[maphash.String(l.seed, userKey)%uint64(len(l.users))]
	n := &l.network[maphash.String(l.seed, network)%uint64(len(l.network))]
	u.Lock()
	n.Lock()
	return func() { n.Unlock(); u.Unlock() }
}

// recordLogin hands a sign-in attempt to the auditor, when it records
// them, and to the log.
func (pg *Pages) recordLogin(ctx context.Context, l *engine.Login) {
	l.Time = pg.cfg.Now()
	pg.cfg.Log.Info("sign-in", "request_id", l.RequestID, "client_id", l.ClientID, "outcome", string(l.Outcome), "user_id", l.UserID, "ip", l.IP)
	if pg.cfg.Logins != nil {
		if err := pg.cfg.Logins.RecordLogin(ctx, l); err != nil {
			pg.cfg.Log.Error("recording a sign-in failed", "request_id", l.RequestID, "err", err)
		}
	}
}

// session returns the browser's valid session, if any, whose user still
// exists.
func (pg *Pages) session(ctx context.Context, t *tenant.Tenant, r *http.Request, now time.Time) *storage.Session {
	v := pg.cookie(r, cookieSession)
	if v == "" {
		return nil
	}
	sess, err := pg.cfg.Storage.GetSession(ctx, storage.Hash(v), now)
	if err != nil {
		return nil
	}
	// A user removed, or whose password changed (or was removed) since
	// the session was made, signs in again. A session of an older
	// Scopeline has no Credential: it ends too.
	if u, ok := t.User(sess.UserID); !ok || sess.Credential == "" || sess.Credential != u.Credential() {
		return nil
	}
	return sess
}

// handleConsent is the consent page for third-party clients.
func (pg *Pages) handleConsent(w http.ResponseWriter, r *http.Request) {
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
			pg.errorPage(w, http.StatusBadRequest, "Invalid form", "The consent form could not be read. Go back and try again.")
			return
		}
		id = f.Get("request")
	default:
		w.Header().Set("Allow", "GET, POST")
		pg.errorPage(w, http.StatusMethodNotAllowed, "Request refused", "Use the consent form.")
		return
	}
	s := pg.acquirePage(w)
	if s == nil {
		return
	}
	defer s.Release()
	ar, browser, ok := pg.loadAuthRequest(w, r, id)
	if !ok || !pg.stillVerified(w, r, s, ar) {
		return
	}
	sess := pg.session(r.Context(), s.Tenant(), r, pg.cfg.Now())
	c, cok := s.Tenant().Client(ar.ClientID)
	api, aok := s.Tenant().API(ar.API)
	u, uok := s.Tenant().User(ar.UserID)
	if ar.Outcome == nil || sess == nil || sess.UserID != ar.UserID || !cok || !aok || !uok {
		pg.errorPage(w, http.StatusBadRequest, "Sign-in expired", "Sign in again before giving consent: go back to the application and start over.")
		return
	}
	if r.Method == http.MethodPost {
		if !validCSRF(browser, "consent\x00"+id, f.Get("csrf_token")) {
			pg.errorPage(w, http.StatusForbidden, "Consent refused", "The form was not sent from this consent page, or it expired. Go back to the application and start over.")
			return
		}
		switch f.Get("decision") {
		case "allow":
			err := pg.cfg.Storage.PutConsent(r.Context(), &storage.Consent{
				UserID: u.ID, ClientID: c.ID, API: api.Identifier,
				Scopes:  append(slices.Clone(ar.Outcome.Identity), ar.Outcome.Scopes...),
				Expires: pg.cfg.Now().Add(s.Tenant().Flows.ConsentLifetime),
			})
			if err != nil {
				pg.dropAuthRequest(r.Context(), id)
				pg.redirectError(w, r, ar.RedirectURI, ar.State, userflow.StorageError(err))
				return
			}
			pg.issueCode(w, r, s, id, ar)
		case "deny":
			tx := &engine.Transaction{RequestID: httpx.RequestID(r.Context()), GrantType: engine.GrantAuthorizationCode,
				IP: ar.IP, UserAgent: ar.UserAgent, Time: pg.cfg.Now(), Trace: ar.Outcome.Trace}
			userflow.Fill(tx, c, api, u, ar.Requested, nil)
			tx.Identity, tx.Scopes = ar.Outcome.Identity, ar.Outcome.Scopes
			tx.Record(engine.TraceEntry{Stage: "consent", Op: engine.OpDeny, Reason: "the user declined"})
			e := pg.iss.Deny(r.Context(), tx, engine.ErrAccessDenied.WithDescription("the user declined to give the client access"))
			pg.dropAuthRequest(r.Context(), id)
			pg.redirectError(w, r, ar.RedirectURI, ar.State, e)
		default:
			pg.errorPage(w, http.StatusBadRequest, "Invalid form", "Choose Allow or Deny.")
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
	pg.render(w, http.StatusOK, "consent.html", &page{
		Title: "Allow " + clientName + "?", ClientName: clientName, UserName: userName, APIName: apiName,
		Scopes: items, Action: pg.prefix + endpoint.PathConsent, RequestID: id, CSRF: csrfToken(browser, "consent\x00"+id),
	}, ar.RedirectURI)
}

// handleLogout ends the browser's session at the issuer: GET asks, POST
// (with a token only the page knows) does it.
func (pg *Pages) handleLogout(w http.ResponseWriter, r *http.Request) {
	value := pg.cookie(r, cookieSession)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if value == "" {
			pg.render(w, http.StatusOK, "message.html", &page{Title: "Signed out", Message: "You are not signed in."})
			return
		}
		pg.render(w, http.StatusOK, "message.html", &page{
			Title: "Sign out", Message: "Sign out of this server? Applications you used keep the tokens they already have until they expire.",
			Action: pg.prefix + endpoint.PathLogout, CSRF: csrfToken(value, "logout"), Button: "Sign out",
		})
	case http.MethodPost:
		f, err := postForm(r)
		if err != nil || !validCSRF(value, "logout", f.Get("csrf_token")) {
			pg.errorPage(w, http.StatusForbidden, "Sign-out refused", "The form was not sent from the sign-out page. Open the sign-out page again.")
			return
		}
		if err := pg.cfg.Storage.DeleteSession(r.Context(), storage.Hash(value)); err != nil {
			pg.cfg.Log.Error("ending a session", "request_id", httpx.RequestID(r.Context()), "err", err)
			pg.errorPage(w, http.StatusInternalServerError, "Server error", "Signing out failed. Try again.")
			return
		}
		pg.setCookie(w, cookieSession, "", -1)
		pg.render(w, http.StatusOK, "message.html", &page{Title: "Signed out", Message: "You are signed out."})
	default:
		w.Header().Set("Allow", "GET, POST")
		pg.errorPage(w, http.StatusMethodNotAllowed, "Request refused", "Use the sign-out form.")
	}
}
