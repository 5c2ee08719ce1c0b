package enginetest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser is a user agent for end-user flow tests: it keeps cookies and
// follows redirects within the issuer, stopping at the first one that
// leaves it (the redirect back to the client).
type Browser struct {
	tb     testing.TB
	base   string
	Client *http.Client
}

// NewBrowser returns a browser with no cookies for the issuer at baseURL
// (the test server's URL).
func NewBrowser(tb testing.TB, baseURL string) *Browser {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	issuer, err := url.Parse(baseURL)
	if err != nil {
		tb.Fatal(err)
	}
	return &Browser{tb: tb, base: strings.TrimSuffix(baseURL, "/"), Client: &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != issuer.Host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// Visit GETs u and returns the last response's status and body, and where
// it redirects to when that leaves the issuer.
func (b *Browser) Visit(u string) (int, string, *url.URL) {
	b.tb.Helper()
	resp, err := b.Client.Get(u)
	if err != nil {
		b.tb.Fatal(err)
	}
	return b.Read(resp)
}

// Read reads a response as Visit does.
func (b *Browser) Read(resp *http.Response) (int, string, *url.URL) {
	b.tb.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.tb.Fatal(err)
	}
	var loc *url.URL
	if l := resp.Header.Get("Location"); l != "" {
		loc, _ = resp.Request.URL.Parse(l)
	}
	return resp.StatusCode, string(body), loc
}

var (
	formAction   = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenFields = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

// Submit posts the form of an issuer page: its hidden fields, overridden
// or completed by fields.
func (b *Browser) Submit(page string, fields url.Values) (int, string, *url.URL) {
	b.tb.Helper()
	action := formAction.FindStringSubmatch(page)
	if action == nil {
		b.tb.Fatalf("no form on the page:\n%s", page)
	}
	form := url.Values{}
	for _, m := range hiddenFields.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	for k, v := range fields {
		form[k] = v
	}
	resp, err := b.Client.PostForm(b.base+action[1], form)
	if err != nil {
		b.tb.Fatal(err)
	}
	return b.Read(resp)
}

// SignIn opens an authorization URL, signs in on the login page and
// returns the redirect back to the client (with a code or an error).
func (b *Browser) SignIn(authURL, user, password string) *url.URL {
	b.tb.Helper()
	loc, page := b.SignInPage(authURL, user, password)
	if loc == nil {
		b.tb.Fatalf("no redirect after sign-in:\n%s", page)
	}
	return loc
}

// SignInPage is SignIn for flows that may stop at a page (consent): it
// returns the redirect to the client, or else the page shown.
func (b *Browser) SignInPage(authURL, user, password string) (*url.URL, string) {
	b.tb.Helper()
	status, page, loc := b.Visit(authURL)
	if loc != nil {
		return loc, "" // already signed in, or an error redirect
	}
	if status != http.StatusOK || !strings.Contains(page, `<h1>Sign in</h1>`) {
		b.tb.Fatalf("want the login page, got %d:\n%s", status, page)
	}
	_, page, loc = b.Submit(page, url.Values{"username": {user}, "password": {password}})
	return loc, page
}
