package browsertest_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/tenant"
)

// clientApp is the application a browser is sent back to: it shows the
// code it received.
type clientApp struct {
	*httptest.Server
	mu       sync.Mutex
	callback url.Values
}

func startClientApp(t *testing.T) *clientApp {
	app := &clientApp{}
	app.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			http.NotFound(w, r)
			return
		}
		app.mu.Lock()
		app.callback = r.URL.Query()
		app.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Client app</title><p id="done">Back in the app.</p>`)
	}))
	t.Cleanup(app.Close)
	return app
}

func (a *clientApp) lastCallback() url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.callback
}

// TestRealBrowserSignIn drives headless Chromium through the hosted login
// and consent pages with the keyboard alone, and exchanges the code it
// lands with for tokens.
func TestRealBrowserSignIn(t *testing.T) {
	ctx := headlessChromium(t, 1000, 800, 2*time.Minute)
	app := startClientApp(t)
	hash, err := tenant.HashPassword("alice-password", tenant.DefaultArgon2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(`
default_audience: https://api.example.com
apis:
  - identifier: https://api.example.com
    name: Example users API
    rbac: true
    scopes:
      - {name: read:users, description: Read user profiles}
      - {name: write:users, description: Create and update users}
      - {name: delete:users, description: Delete users}
clients:
  - id: demo-spa
    name: Demo single-page app
    type: spa
    redirect_uris: ["` + app.URL + `/callback"]
  - id: partner
    name: Partner app
    type: spa
    first_party: false
    redirect_uris: ["` + app.URL + `/partner"]
grants:
  - {client: demo-spa, api: https://api.example.com, scopes: [read:users, write:users], subjects: [user]}
  - {client: partner, api: https://api.example.com, scopes: [read:users], subjects: [user]}
roles:
  - name: user-admin
    permissions: [{api: https://api.example.com, scopes: [read:users, write:users, delete:users]}]
users:
  - {id: alice, username: alice, email: alice@example.com, password_hash: "` + hash + `", roles: [user-admin], profile: {name: Alice Example}}
`)})

	cfg := &oauth2.Config{
		ClientID:    "demo-spa",
		Endpoint:    oauth2.Endpoint{AuthURL: srv.URL + endpoint.PathAuthorize, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: app.URL + "/callback",
		Scopes:      []string{"openid", "profile", "read:users", "write:users", "delete:users"},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier))
	if err := chromedp.Do(ctx, chromedp.Navigate(authURL), chromedp.WaitVisible("#username")); err != nil {
		t.Fatalf("opening the login page: %v", err)
	}

	// Screenshot of the login page (PNG), for people to look at; the temp
	// dir goes with the test, SCOPELINE_SCREENSHOT=path keeps a copy.
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "login-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the login page: %s", path)
	if keep := os.Getenv("SCOPELINE_SCREENSHOT"); keep != "" {
		os.WriteFile(keep, shot, 0o644)
	}

	// Accessible: every field has a label, and the cursor starts in the first.
	check, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const fields = [...document.querySelectorAll('input:not([type=hidden]), button')];
		const unlabelled = fields.filter(f => f.tagName === 'INPUT' && f.labels.length === 0).map(f => f.name);
		return JSON.stringify({lang: document.documentElement.lang, focus: document.activeElement.id, unlabelled});
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if check != `{"lang":"en","focus":"username","unlabelled":[]}` {
		t.Errorf("accessibility check: %s", check)
	}

	// Keyboard only: type the user name, Tab, the password, Enter.
	err = chromedp.Do(ctx,
		chromedp.KeyEvent("alice"),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent("alice-password"),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible("#done"),
	)
	if err != nil {
		t.Fatalf("signing in with the keyboard: %v", err)
	}
	q := app.lastCallback()
	if q.Get("state") != "browser-state" || q.Get("iss") != srv.Issuer || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	// demo-spa's grant caps alice's delete:users.
	if tok.Extra("scope") != "openid profile read:users write:users" {
		t.Errorf("scope %v", tok.Extra("scope"))
	}
	claims, _ := enginetest.Verify(t, srv.Issuer, tok.AccessToken)
	if claims["sub"] != "alice" || claims["aud"] != "https://api.example.com" {
		t.Errorf("claims %v", claims)
	}

	// A third-party client: signed in already, alice sees the consent page
	// and allows with the keyboard (Allow has the focus).
	partner := *cfg
	partner.ClientID, partner.RedirectURL, partner.Scopes = "partner", app.URL+"/partner", []string{"read:users"}
	verifier = oauth2.GenerateVerifier()
	if err := chromedp.Do(ctx, chromedp.Navigate(partner.AuthCodeURL("p", oauth2.S256ChallengeOption(verifier)))); err != nil {
		t.Fatalf("opening the consent page: %v", err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, endpoint.PathConsent) {
		body, _ := chromedp.Run(ctx, chromedp.Text("body"))
		t.Fatalf("want the consent page, at %s:\n%s", loc, body)
	}
	listed, err := chromedp.Run(ctx, chromedp.Text("ul.scopes"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(listed, "read:users: Read user profiles") {
		t.Errorf("consent page lists %q", listed)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r"), chromedp.WaitVisible("#done")); err != nil {
		t.Fatalf("allowing with the keyboard: %v", err)
	}
	q = app.lastCallback()
	tok, err = partner.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("partner exchange (callback %v): %v", q, err)
	}
	if tok.Extra("scope") != "read:users" {
		t.Errorf("partner scope %v", tok.Extra("scope"))
	}
}
