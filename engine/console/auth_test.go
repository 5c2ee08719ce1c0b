package console_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/keys"
)

var csrfField = regexp.MustCompile(`<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)">`)

// forms returns the post forms of a page: action → CSRF token.
func forms(page string) map[string]string {
	out := map[string]string{}
	for _, m := range csrfField.FindAllStringSubmatch(page, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// post sends a form from browser b and returns the status and body.
func post(t *testing.T, b *enginetest.Browser, u string, form url.Values, origin string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestSignIn signs people in through the issuer's hosted login: the
// console is a client of the tenant, and the session is the console's
// access token in an HttpOnly, SameSite=Strict cookie.
func TestSignIn(t *testing.T) {
	h := newHarness(t)
	b := enginetest.NewBrowser(t, h.URL)
	rec := &cookieRecorder{next: http.DefaultTransport}
	b.Client.Transport = rec
	h.signInWith(b, "alice")
	u, _ := url.Parse(h.URL)
	set := rec.get("scopeline-console")
	if set == nil || !set.HttpOnly || set.SameSite != http.SameSiteStrictMode || set.Path != "/" || set.MaxAge < 3500 || set.MaxAge > 3600 {
		t.Errorf("session cookie %+v", set)
	}
	var session *http.Cookie
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == "scopeline-console" {
			session = c
		}
	}
	if session == nil || strings.Count(session.Value, ".") != 2 {
		t.Fatalf("no session cookie holding a JWT: %v", b.Client.Jar.Cookies(u))
	}
	status, page, _ := b.Visit(h.URL + "console/grants")
	if status != http.StatusOK || !strings.Contains(page, "Alice Example") || !strings.Contains(page, `id="role">operator`) {
		t.Fatalf("grants page as alice: %d\n%s", status, page)
	}

	// Without a session, pages send the browser to sign in; forms and the
	// live stream are refused.
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := anon.Get(h.URL + "console/decisions?kind=denied")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/console/signin?return=%2Fconsole%2Fdecisions%3Fkind%3Ddenied" {
		t.Errorf("anonymous page: %d to %q", resp.StatusCode, loc)
	}
	resp, err = anon.Get(h.URL + "console/signin?return=/console/hooks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if resp.StatusCode != http.StatusSeeOther || loc.Path != "/authorize" || q.Get("client_id") != "scopeline-console" ||
		q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("audience") != "urn:scopeline:console" ||
		q.Get("scope") != "console:read console:manage" || q.Get("redirect_uri") != h.URL+"console/callback" {
		t.Errorf("sign-in redirect %d %s", resp.StatusCode, loc)
	}
	var signin *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "scopeline-console-signin" {
			signin = c
		}
	}
	if signin == nil || !signin.HttpOnly || signin.SameSite != http.SameSiteLaxMode || signin.Path != "/" || signin.Secure {
		t.Errorf("sign-in cookie %+v", signin)
	}
	for _, u := range []string{"console/decisions/stream", "console/signout", "console/tenant/reload"} {
		method := http.MethodPost
		if strings.HasSuffix(u, "stream") {
			method = http.MethodGet
		}
		req, _ := http.NewRequest(method, h.URL+u, nil)
		resp, err := anon.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %d", method, u, resp.StatusCode)
		}
	}

	// A forged or tampered session is no session.
	forged := enginetest.NewBrowser(t, h.URL)
	forged.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "scopeline-console", Value: session.Value[:len(session.Value)-4] + "AAAA", Path: "/"}})
	if status, page, _ := forged.Visit(h.URL + "console/keys"); status != http.StatusOK || !strings.Contains(page, "<h1>Sign in</h1>") {
		t.Errorf("a tampered session: %d\n%s", status, page)
	}

	// Signing out ends the console session and shows the issuer's.
	_, home, _ := b.Visit(h.URL + "console/")
	status, body := post(t, b, h.URL+"console/signout", url.Values{"csrf": {forms(home)["/console/signout"]}}, "")
	if status != http.StatusOK || !strings.Contains(body, "Sign out") {
		t.Errorf("sign out: %d\n%s", status, body)
	}
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == "scopeline-console" {
			t.Error("the session cookie outlived the sign-out")
		}
	}
	b.Submit(body, nil) // the issuer's own sign-out, ending the hosted login's session
	if status, page, _ := b.Visit(h.URL + "console/keys"); status != http.StatusOK || !strings.Contains(page, "<h1>Sign in</h1>") {
		t.Errorf("still signed in after signing out: %d", status)
	}
}

// TestReturnStaysInTheConsole: the page a sign-in returns to is a console
// path, never another site.
func TestReturnStaysInTheConsole(t *testing.T) {
	h := newHarness(t)
	for ret, want := range map[string]string{
		"/console/hooks":            "<h1>Hooks</h1>",
		"https://evil.example/":     "<h1>Overview</h1>",
		"//evil.example/console/":   "<h1>Overview</h1>",
		"/console/../oauth/token":   "<h1>Overview</h1>",
		"/elsewhere":                "<h1>Overview</h1>",
		"/console/grants?flow=user": "<h1>Grants</h1>",
	} {
		b := enginetest.NewBrowser(t, h.URL)
		_, page, _ := b.Visit(h.URL + "console/signin?return=" + url.QueryEscape(ret))
		status, page, loc := b.Submit(page, url.Values{"username": {"bob"}, "password": {password}})
		if loc != nil || status != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("return %q: %d, left for %v:\n%s", ret, status, loc, page)
		}
	}
}

// TestNoConsoleAccess: a user without a console role is refused at the
// issuer (RBAC leaves no console scope), and gets no session.
func TestNoConsoleAccess(t *testing.T) {
	h := newHarness(t)
	b := enginetest.NewBrowser(t, h.URL)
	_, page, _ := b.Visit(h.URL + "console/")
	status, page, _ := b.Submit(page, url.Values{"username": {"carol"}, "password": {password}})
	if status != http.StatusForbidden || !strings.Contains(page, "Sign-in refused") || !strings.Contains(page, "access_denied") {
		t.Fatalf("carol: %d\n%s", status, page)
	}
	u, _ := url.Parse(h.URL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == "scopeline-console" {
			t.Errorf("carol got a session")
		}
	}
}

// TestAuditorHasNoWriteControl: an auditor (console:read) sees every page
// but no write control, and the write endpoints refuse them with 403 even
// with a valid CSRF token of their own; an operator sees and uses them.
func TestAuditorHasNoWriteControl(t *testing.T) {
	h := newHarness(t)
	bob := h.signIn("bob")
	for _, page := range []string{"", "grants", "decisions", "hooks", "try", "keys", "tenant", "grant?client=demo-m2m&api=https://api.example.com"} {
		status, body, _ := bob.Visit(h.URL + "console/" + page)
		if status != http.StatusOK {
			t.Errorf("bob, %q: %d", page, status)
		}
		for action := range forms(body) {
			if action != "/console/signout" && action != "/console/try" {
				t.Errorf("bob, %q: a write control posting to %s", page, action)
			}
		}
		if strings.Contains(body, "Rotate the signing keys") || strings.Contains(body, "Reload the tenant") {
			t.Errorf("bob, %q: a write control is shown", page)
		}
		if page == "" && !strings.Contains(body, `id="role">auditor (read only)`) {
			t.Errorf("bob's role is not shown")
		}
	}
	// Bob's own CSRF token (from his dry-run form) does not make him an
	// operator.
	_, tryPage, _ := bob.Visit(h.URL + "console/try")
	token := forms(tryPage)["/console/try"]
	before := h.issuer.Keys()
	for _, u := range []string{"console/keys/rotate", "console/tenant/reload"} {
		status, body := post(t, bob, h.URL+u, url.Values{"csrf": {token}}, "")
		if status != http.StatusForbidden || !strings.Contains(body, "console:manage") {
			t.Errorf("bob posting %s: %d\n%s", u, status, body)
		}
	}
	if h.issuer.Keys() != before || h.src.reloads.Load() != 0 {
		t.Fatal("an auditor changed something")
	}

	// Alice, an operator, has the controls; they need their CSRF token
	// and the console's origin.
	alice := h.signIn("alice")
	_, keysPage, _ := alice.Visit(h.URL + "console/keys")
	_, tenantPage, _ := alice.Visit(h.URL + "console/tenant")
	rotate, reload := forms(keysPage)["/console/keys/rotate"], forms(tenantPage)["/console/tenant/reload"]
	if rotate == "" || reload == "" {
		t.Fatalf("alice has no write controls:\n%s", keysPage)
	}
	if status, _ := post(t, alice, h.URL+"console/keys/rotate", url.Values{"csrf": {reload}}, ""); status != http.StatusForbidden {
		t.Errorf("rotate with the reload form's token: %d", status)
	}
	if status, _ := post(t, alice, h.URL+"console/keys/rotate", url.Values{"csrf": {rotate}}, "https://evil.example"); status != http.StatusForbidden {
		t.Errorf("rotate from another origin: %d", status)
	}
	if h.issuer.Keys() != before {
		t.Fatal("a refused rotation rotated")
	}
	status, body := post(t, alice, h.URL+"console/keys/rotate", url.Values{"csrf": {rotate}}, "")
	if status != http.StatusOK || !strings.Contains(body, "The signing keys were rotated") {
		t.Errorf("alice rotating: %d\n%s", status, body)
	}
	cur, _ := h.issuer.Keys().Signing("RS256")
	old, _ := before.Signing("RS256")
	if cur.ID == old.ID || cur.Status != keys.StatusCurrent {
		t.Error("the keys did not rotate")
	}
	status, body = post(t, alice, h.URL+"console/tenant/reload", url.Values{"csrf": {reload}}, "")
	if status != http.StatusOK || !strings.Contains(body, "The tenant was reloaded") || h.src.reloads.Load() != 1 {
		t.Errorf("alice reloading: %d\n%s", status, body)
	}
}

// cookieRecorder keeps the last Set-Cookie of each name, attributes and all.
type cookieRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	set  map[string]*http.Cookie
}

func (c *cookieRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		if c.set == nil {
			c.set = map[string]*http.Cookie{}
		}
		for _, ck := range resp.Cookies() {
			c.set[ck.Name] = ck
		}
		c.mu.Unlock()
	}
	return resp, err
}

func (c *cookieRecorder) get(name string) *http.Cookie {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set[name]
}

// TestCallbackChecks: the callback takes only the answer to the sign-in
// this browser started (state), from this issuer (iss), once.
func TestCallbackChecks(t *testing.T) {
	h := newHarness(t)
	b := enginetest.NewBrowser(t, h.URL)
	b.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	start := func() string {
		t.Helper()
		resp, err := b.Client.Get(h.URL + "console/signin")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return loc.Query().Get("state")
	}
	callback := func(q url.Values) (int, string) {
		t.Helper()
		status, body, _ := b.Visit(h.URL + "console/callback?" + q.Encode())
		return status, body
	}
	state := start()
	if status, body := callback(url.Values{"state": {"forged"}, "code": {"c"}, "iss": {h.URL}}); status != http.StatusBadRequest || !strings.Contains(body, "Sign-in expired") {
		t.Errorf("another state: %d", status)
	}
	if status, _ := callback(url.Values{"state": {state}, "code": {"c"}, "iss": {h.URL}}); status != http.StatusBadRequest {
		t.Errorf("the state used twice: %d", status) // the first try spent the sign-in cookie
	}
	state = start()
	if status, body := callback(url.Values{"state": {state}, "code": {"c"}}); status != http.StatusBadRequest || !strings.Contains(body, "another issuer") {
		t.Errorf("no iss: %d", status)
	}
	state = start()
	if status, body := callback(url.Values{"state": {state}, "error": {"access_denied"}, "error_description": {"<b>nope</b>"}, "iss": {h.URL}}); status != http.StatusForbidden ||
		!strings.Contains(body, "(access_denied): &lt;b&gt;nope&lt;/b&gt;") {
		t.Errorf("an error answer: %d\n%s", status, body)
	}
	state = start()
	if status, body := callback(url.Values{"state": {state}, "code": {"not-a-code"}, "iss": {h.URL}}); status != http.StatusBadGateway || !strings.Contains(body, "did not exchange") {
		t.Errorf("a bad code: %d", status)
	}
}
