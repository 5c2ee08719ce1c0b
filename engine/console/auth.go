package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource"
)

// user is who is signed in to the console.
type user struct {
	ID   string
	Name string
	// Manage is set when the token carries ScopeManage.
	Manage  bool
	Scopes  []string
	Expires time.Time
	// token is the session's access token, from which the CSRF tokens
	// of its forms are derived.
	token string
}

// Role names the user's role, for people.
func (u *user) Role() string {
	if u.Manage {
		return "operator"
	}
	return "auditor (read only)"
}

// CSRF returns the token of the user's form for purpose.
func (u *user) CSRF(purpose string) string { return csrfToken(u.token, purpose) }

type userKey struct{}

func userOf(ctx context.Context) *user {
	u, _ := ctx.Value(userKey{}).(*user)
	return u
}

// Cookies: the session (the console's access token) and a sign-in in
// flight (its state and PKCE verifier). With an https issuer they are
// Secure and carry the __Host- prefix: host-only, path /, so no other
// host of the domain can set or read them.
const (
	cookieSession = "scopeline-console"
	cookieSignIn  = "scopeline-console-signin"
)

func (c *Console) cookieName(base string) string {
	if c.secure {
		return "__Host-" + base
	}
	return base
}

func (c *Console) setCookie(w http.ResponseWriter, base, value string, maxAge int, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName(base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: site,
	})
}

func (c *Console) cookie(r *http.Request, base string) string {
	ck, err := r.Cookie(c.cookieName(base))
	if err != nil || len(ck.Value) > resource.MaxTokenBytes {
		return ""
	}
	return ck.Value
}

// csrfToken derives a form's token from the session's access token, which
// only this browser holds (in an HttpOnly cookie), and what the form is
// for: another site can neither read the one nor compute the other.
func csrfToken(session, purpose string) string {
	sum := sha256.Sum256([]byte("scopeline console csrf\x00" + purpose + "\x00" + session))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func validCSRF(u *user, purpose, token string) bool {
	return u != nil && token != "" && subtle.ConstantTimeCompare([]byte(u.CSRF(purpose)), []byte(token)) == 1
}

// errCSRF refuses a form whose token does not match the session.
var errCSRF = &pageError{Status: http.StatusForbidden, Title: "Request refused",
	Msg: "This form is out of date or was not sent from the console. Reload the page and try again."}

// checkForm reads a posted form and checks its CSRF token for purpose.
func checkForm(r *http.Request, purpose string) error {
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return &pageError{Status: http.StatusBadRequest, Title: "Bad request", Msg: "The form could not be read."}
	}
	if !validCSRF(userOf(r.Context()), purpose, r.PostForm.Get("csrf")) {
		return errCSRF
	}
	return nil
}

// require wraps a handler that needs a session whose token carries
// scope. Without a session a page sends the browser to sign in; the live
// stream answers 401.
func (c *Console) require(scope string) func(http.HandlerFunc) http.HandlerFunc {
	return func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			u, err := c.session(r)
			switch {
			case errors.Is(err, errNoSession) && r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/stream"):
				http.Redirect(w, r, c.url("signin", url.Values{"return": {r.URL.RequestURI()}}), http.StatusSeeOther)
				return
			case errors.Is(err, errNoSession):
				c.fail(w, r, &pageError{Status: http.StatusUnauthorized, Title: "Signed out", Msg: "Your console session has ended. Sign in again."})
				return
			case err != nil:
				c.fail(w, r, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
			if !slices.Contains(u.Scopes, scope) {
				if scope == ScopeManage {
					c.log.Warn("console: a write refused", "user", u.ID, "path", r.URL.Path)
					c.fail(w, r, errForbidden)
				} else {
					c.fail(w, r, errNoAccess)
				}
				return
			}
			h(w, r)
		}
	}
}

var (
	errNoSession = errors.New("console: no session")
	errNoAccess  = &pageError{Status: http.StatusForbidden, Title: "No console access",
		Msg: "You are signed in, but your account has no console:read permission on the console's API. Ask an operator for the auditor or operator role."}
)

// session reads the browser's session: the console's access token,
// validated on every request (signature, issuer, audience, expiry).
func (c *Console) session(r *http.Request) (*user, error) {
	token := c.cookie(r, cookieSession)
	if token == "" {
		return nil, errNoSession
	}
	cl, err := c.validator.Validate(r.Context(), token)
	if errors.Is(err, resource.ErrUnavailable) {
		return nil, fmt.Errorf("console: validating the session: %w", err)
	}
	if err != nil || cl.ClientID != c.cfg.ClientID {
		return nil, errNoSession
	}
	u := &user{ID: cl.Subject, Name: cl.Subject, Scopes: cl.Scopes, Manage: cl.HasScope(ScopeManage), Expires: cl.ExpiresAt, token: token}
	if t := c.src.Tenant().Tenant; t != nil {
		if tu, ok := t.User(cl.Subject); ok {
			u.Name = displayName(tu)
		}
	}
	return u, nil
}

func displayName(u *tenant.User) string {
	if n, ok := u.Profile["name"].(string); ok && n != "" {
		return n
	}
	if u.Username != "" {
		return u.Username
	}
	return u.ID
}

// Check reports what t lacks for people to sign in to the console: its
// client, with the console's redirect URI, a user grant on its API, and
// the API, defining ScopeRead and enforcing RBAC (else any user of the
// tenant would get every console scope).
func (c *Console) Check(t *tenant.Tenant) error {
	var errs []error
	cl, ok := t.Client(c.cfg.ClientID)
	switch {
	case !ok:
		errs = append(errs, fmt.Errorf("no client %q (the console's)", c.cfg.ClientID))
	case cl.Type == tenant.ClientM2M:
		errs = append(errs, fmt.Errorf("client %q is an m2m client; the console signs users in (type spa or web)", cl.ID))
	case !slices.Contains(cl.RedirectURIs, c.redirectURI()):
		errs = append(errs, fmt.Errorf("client %q does not list the redirect URI %s", cl.ID, c.redirectURI()))
	case cl.Type.Confidential() && c.cfg.ClientSecret == "":
		errs = append(errs, fmt.Errorf("client %q is confidential, and the console was given no secret for it", cl.ID))
	}
	api, ok := t.API(c.cfg.Audience)
	switch {
	case !ok:
		errs = append(errs, fmt.Errorf("no API %q (the console's)", c.cfg.Audience))
	case !api.Defines(ScopeRead):
		errs = append(errs, fmt.Errorf("API %q does not define the scope %s", api.Identifier, ScopeRead))
	case !api.RBAC:
		errs = append(errs, fmt.Errorf("API %q must have rbac: true, or every user of the tenant would get every console scope", api.Identifier))
	}
	if ok && cl != nil {
		if g, gok := t.Grant(c.cfg.ClientID, c.cfg.Audience); !gok || !g.ForUser || !g.Allows(ScopeRead) {
			errs = append(errs, fmt.Errorf("no user grant of %s on %q to client %q", ScopeRead, c.cfg.Audience, c.cfg.ClientID))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("console: the tenant is not set up for console sign-in: %w", errors.Join(errs...))
	}
	return nil
}

func (c *Console) redirectURI() string {
	return strings.TrimSuffix(c.cfg.Issuer, "/") + PathConsole + "callback"
}

// oauth is the console's OAuth client for t: it asks for the console
// scopes t's API defines.
func (c *Console) oauth(t *tenant.Tenant) *oauth2.Config {
	issuer := strings.TrimSuffix(c.cfg.Issuer, "/")
	scopes := []string{ScopeRead}
	if api, ok := t.API(c.cfg.Audience); ok && api.Defines(ScopeManage) {
		scopes = append(scopes, ScopeManage)
	}
	style := oauth2.AuthStyleInParams
	if c.cfg.ClientSecret != "" {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: issuer + endpoint.PathAuthorize, TokenURL: issuer + endpoint.PathToken, AuthStyle: style},
		RedirectURL:  c.redirectURI(),
		Scopes:       scopes,
	}
}

// signInLifetime bounds a sign-in in flight.
const signInLifetime = 15 * time.Minute

// handleSignIn starts a sign-in at the issuer's hosted login: an
// authorization request with PKCE (S256) for the console's API, its
// state and verifier kept in an HttpOnly cookie until the callback.
func (c *Console) handleSignIn(w http.ResponseWriter, r *http.Request) {
	ts := c.src.Tenant()
	if err := c.Check(ts.Tenant); err != nil {
		c.log.Error("console: sign-in is not possible", "err", err)
		c.fail(w, r, &pageError{Status: http.StatusServiceUnavailable, Title: "Console sign-in is not set up",
			Msg: "The tenant lacks what the console needs to sign people in. The server's log says what; docs/console.md says how to set it up."})
		return
	}
	var b [24]byte
	rand.Read(b[:])
	state, verifier := base64.RawURLEncoding.EncodeToString(b[:]), oauth2.GenerateVerifier()
	ret := safeReturn(r.URL.Query().Get("return"), c.Path())
	c.setCookie(w, cookieSignIn, state+"."+verifier+"."+base64.RawURLEncoding.EncodeToString([]byte(ret)),
		int(signInLifetime/time.Second), http.SameSiteLaxMode)
	http.Redirect(w, r, c.oauth(ts.Tenant).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("audience", c.cfg.Audience)), http.StatusSeeOther)
}

// safeReturn keeps a return path within the console, else home.
func safeReturn(ret, home string) string {
	u, err := url.Parse(ret)
	if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, home) || strings.Contains(u.Path, "..") ||
		strings.HasPrefix(ret, "//") || strings.ContainsAny(ret, "\\\r\n") || len(ret) > 2048 {
		return home
	}
	return ret
}

var errSignInExpired = &pageError{Status: http.StatusBadRequest, Title: "Sign-in expired",
	Msg: "This sign-in was started too long ago, in another tab, or in another browser. Sign in again."}

// handleCallback finishes a sign-in: it checks the state and the issuer
// (RFC 9207), exchanges the code with the PKCE verifier at the token
// endpoint (in process), validates the token as any API would, and keeps
// it as the session.
func (c *Console) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	stored := c.cookie(r, cookieSignIn)
	c.setCookie(w, cookieSignIn, "", -1, http.SameSiteLaxMode)
	state, rest, _ := strings.Cut(stored, ".")
	verifier, retB64, _ := strings.Cut(rest, ".")
	if stored == "" || q.Get("state") == "" || subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		c.fail(w, r, errSignInExpired)
		return
	}
	// Scopeline names itself in every answer (RFC 9207): one that does
	// not came from elsewhere.
	if q.Get("iss") != c.cfg.Issuer {
		c.fail(w, r, &pageError{Status: http.StatusBadRequest, Title: "Sign-in refused", Msg: "The answer came from another issuer."})
		return
	}
	if e := q.Get("error"); e != "" {
		msg := "The issuer refused the sign-in (" + clip(e, 64) + ")"
		if d := q.Get("error_description"); d != "" {
			msg += ": " + clip(d, 512)
		}
		c.fail(w, r, &pageError{Status: http.StatusForbidden, Title: "Sign-in refused", Msg: msg + "."})
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, c.inproc)
	tok, err := c.oauth(c.src.Tenant().Tenant).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		c.log.Warn("console: code exchange failed", "err", err)
		c.fail(w, r, &pageError{Status: http.StatusBadGateway, Title: "Sign-in failed", Msg: "The issuer did not exchange the sign-in code. Sign in again."})
		return
	}
	cl, err := c.validator.Validate(r.Context(), tok.AccessToken)
	if err != nil || cl.ClientID != c.cfg.ClientID {
		c.log.Error("console: the issuer's token does not validate", "err", err)
		c.fail(w, r, &pageError{Status: http.StatusBadGateway, Title: "Sign-in failed", Msg: "The issuer's token could not be validated."})
		return
	}
	if !cl.HasScope(ScopeRead) {
		c.log.Info("console: sign-in without console access", "user", cl.Subject)
		c.fail(w, r, errNoAccess)
		return
	}
	c.log.Info("console: signed in", "user", cl.Subject, "scopes", strings.Join(cl.Scopes, " "))
	c.setCookie(w, cookieSession, tok.AccessToken, max(1, int(cl.ExpiresAt.Sub(c.now())/time.Second)), http.SameSiteStrictMode)
	ret, _ := base64.RawURLEncoding.DecodeString(retB64)
	http.Redirect(w, r, safeReturn(string(ret), c.Path()), http.StatusSeeOther)
}

// handleSignOut ends the console session, then shows the issuer's sign-out
// page, which ends the session of the hosted login too.
func (c *Console) handleSignOut(w http.ResponseWriter, r *http.Request) {
	if err := checkForm(r, "signout"); err != nil {
		c.fail(w, r, err)
		return
	}
	c.setCookie(w, cookieSession, "", -1, http.SameSiteStrictMode)
	http.Redirect(w, r, c.prefix+endpoint.PathLogout, http.StatusSeeOther)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// inProcess is an http.RoundTripper that serves requests with a handler
// in this process: the console reaches the issuer's token endpoint and
// JWKS without a route to its own public URL.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	in.Host = req.URL.Host
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.Header.Set("User-Agent", "scopeline-console")
	w := &bufferedResponse{header: http.Header{}}
	t.h.ServeHTTP(w, in)
	if req.Body != nil {
		req.Body.Close()
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// bufferedResponse is the response an in-process handler writes.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	if b.body.Len()+len(p) > 1<<20 {
		return 0, errors.New("console: in-process response larger than 1 MiB")
	}
	return b.body.Write(p)
}
