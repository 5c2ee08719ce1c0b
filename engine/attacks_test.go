package engine_test

// Regression tests of the attacks listed in docs/security.md, "Attacks
// tried and what stopped them": each fails on the code the attack broke.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/pages"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/memory"
	"github.com/scopeline/scopeline/engine/tenant"
)

// trustLoopback makes the issuer believe X-Forwarded-For from the test
// client, so that a test can speak from any address.
var trustLoopback option = func(c *server.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// forwardedFor sends every request as if a trusted proxy forwarded it
// from addr.
type forwardedFor struct {
	addr string
	base http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return f.base.RoundTrip(r)
}

// browserFrom is a browser at addr (behind a trusted proxy).
func browserFrom(t *testing.T, srv *enginetest.Server, addr string) *enginetest.Browser {
	b := enginetest.NewBrowser(t, srv.URL)
	b.Client.Transport = forwardedFor{addr, http.DefaultTransport}
	return b
}

// countingStore counts the authorization requests stored.
type countingStore struct {
	storage.Storage
	created atomic.Int64
}

func (c *countingStore) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest, now time.Time) error {
	c.created.Add(1)
	return c.Storage.CreateAuthRequest(ctx, r, now)
}

// authorizeFrom sends an authorization request from addr, without
// following the redirect, and says where it was sent: "login", "client"
// (an error redirect), or the status when it was not redirected.
func authorizeFrom(t *testing.T, authURL, addr string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, authURL, nil)
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return strconv.Itoa(resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Path == endpoint.PathLogin {
		return "login"
	}
	return "client"
}

// Item 3: one actor flooded /authorize from 1,010 addresses until the
// table of requests in flight was full, and nobody could sign in. Now an
// unauthenticated request is sealed into the browser's request parameter
// and nothing is stored; the flood of one IPv4 /24 or IPv6 /64 is cut off
// after its allowance; a sign-in from elsewhere goes through.
func TestSignInFloodFromOneNetwork(t *testing.T) {
	store := &countingStore{Storage: memory.New(memory.WithMaxAuthRequests(200))}
	t.Cleanup(func() { store.Close() })
	clock := &fakeClock{t: time.Now()}
	srv, _ := startFlows(t, withStorage(store), withClock(clock.Now), trustLoopback)
	cfg := spaConfig(srv, "openid", "read:users")
	authURL := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	flood := func(addrs func(i int) string, n int) map[string]int {
		got := map[string]int{}
		for i := range n {
			got[authorizeFrom(t, authURL, addrs(i))]++
		}
		return got
	}
	// Every address of one /24, twice: 512 requests.
	got := flood(func(i int) string { return fmt.Sprintf("10.9.8.%d", i%256) }, 512)
	if got["login"] != 100 || got["429"] != 412 {
		t.Errorf("flood from one /24: %v, want 100 to the login page and 412 refused", got)
	}
	// Addresses of one IPv6 /64.
	got = flood(func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) }, 150)
	if got["login"] != 100 || got["429"] != 50 {
		t.Errorf("flood from one /64: %v, want 100 to the login page and 50 refused", got)
	}
	if r := authorizeFrom(t, authURL, "2001:db8:1:3::1"); r != "login" {
		t.Errorf("the next /64 was refused too: %s", r)
	}
	// Many networks, one client id: more than the table holds.
	got = flood(func(i int) string { return fmt.Sprintf("10.%d.%d.1", 100+i/250, i%250) }, 300)
	if got["login"] != 300 {
		t.Errorf("300 networks, one request each: %v", got)
	}
	if n := store.created.Load(); n != 0 {
		t.Errorf("%d unauthenticated requests were stored (an fsync each with the file store)", n)
	}
	loc := browserFrom(t, srv, "192.0.2.7").SignIn(authURL, "alice", "alice-password")
	if q := callback(t, srv, loc, spaCallback, "st"); q.Get("code") == "" {
		t.Errorf("a sign-in from another network after the flood: %v", q)
	}
}

// requestField is the sealed request on a login page.
var requestField = regexp.MustCompile(`name="request" value="([^"]*)"`)

// The sealed request is the issuer's alone: tampered with, too old, or
// sealed by another key set, it is refused; any replica sharing the key
// file opens it, also across a key rotation.
func TestSealedRequest(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	srv, _ := startFlows(t, withClock(clock.Now))
	cfg := spaConfig(srv, "openid", "read:users")
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))
	loginPage := func(b *enginetest.Browser) (page, sealed string) {
		status, page, _ := b.Visit(authURL)
		m := requestField.FindStringSubmatch(page)
		if status != http.StatusOK || m == nil {
			t.Fatalf("no login page: %d", status)
		}
		return page, m[1]
	}
	open := func(b *enginetest.Browser, sealed string) (int, string) {
		status, page, _ := b.Visit(srv.URL + endpoint.PathLogin + "?request=" + url.QueryEscape(sealed))
		return status, page
	}

	// replica serves srv's tenant under srv's issuer URL, with keys ks.
	replica := func(t *testing.T, ks *keys.Set) *httptest.Server {
		iss, err := server.New(context.Background(), srv.Tenant, ks,
			server.Config{Issuer: srv.Issuer, Hooks: flowHooks(&sync.Map{}), Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(iss.Handler())
		t.Cleanup(func() { hs.Close(); iss.Close() })
		return hs
	}

	t.Run("another replica opens it", func(t *testing.T) {
		hs := replica(t, srv.Engine.Keys())
		a := enginetest.NewBrowser(t, srv.URL)
		page, _ := loginPage(a)
		b := enginetest.NewBrowser(t, hs.URL)
		b.Client.Jar = a.Client.Jar // the same browser
		_, _, loc := b.Submit(page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
		if loc == nil {
			t.Fatal("the other replica did not sign in")
		}
		code := callback(t, srv, loc, spaCallback, "st").Get("code")
		cfgB := spaConfig(srv, "openid", "read:users")
		cfgB.Endpoint.TokenURL = hs.URL + endpoint.PathToken
		if _, err := cfgB.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err != nil {
			t.Errorf("exchange at the replica that signed in: %v", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		b := enginetest.NewBrowser(t, srv.URL)
		_, sealed := loginPage(b)
		c := []byte(sealed)
		c[len(c)/2] ^= 1
		if status, page := open(b, string(c)); status != http.StatusBadRequest || !strings.Contains(page, "expired") {
			t.Errorf("tampered: %d", status)
		}
	})
	t.Run("another browser", func(t *testing.T) {
		_, sealed := loginPage(enginetest.NewBrowser(t, srv.URL))
		if status, _ := open(enginetest.NewBrowser(t, srv.URL), sealed); status != http.StatusForbidden {
			t.Errorf("opened in another browser: %d", status)
		}
	})
	t.Run("sealed by other keys", func(t *testing.T) {
		ks, err := keys.NewStore(t.TempDir()).Ensure(srv.Tenant.Algorithms(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		hs := replica(t, ks)
		a := enginetest.NewBrowser(t, hs.URL)
		_, page, _ := a.Visit(strings.Replace(authURL, srv.URL, hs.URL, 1))
		m := requestField.FindStringSubmatch(page)
		if m == nil {
			t.Fatal("no login page from the stranger")
		}
		b := enginetest.NewBrowser(t, srv.URL)
		b.Client.Jar = a.Client.Jar
		if status, _ := open(b, m[1]); status != http.StatusBadRequest {
			t.Errorf("opened what other keys sealed: %d", status)
		}
	})
	t.Run("survives a key rotation", func(t *testing.T) {
		b := enginetest.NewBrowser(t, srv.URL)
		page, _ := loginPage(b)
		srv.Rotate(t)
		if _, _, loc := b.Submit(page, url.Values{"username": {"alice"}, "password": {"alice-password"}}); loc == nil {
			t.Error("a sign-in in progress broke at a key rotation")
		}
	})
	t.Run("expired", func(t *testing.T) {
		b := enginetest.NewBrowser(t, srv.URL)
		_, sealed := loginPage(b)
		clock.Add(pages.AuthRequestLifetime)
		if status, page := open(b, sealed); status != http.StatusBadRequest || !strings.Contains(page, "expired") {
			t.Errorf("expired: %d", status)
		}
	})
}

// signInFrom signs in at addr and returns the status of the login post.
func signInFrom(t *testing.T, srv *enginetest.Server, authURL, addr, user, password string) int {
	t.Helper()
	b := browserFrom(t, srv, addr)
	status, page, loc := b.Visit(authURL)
	if loc != nil || status != http.StatusOK {
		t.Fatalf("no login page from %s: %d %v", addr, status, loc)
	}
	status, _, loc = b.Submit(page, url.Values{"username": {user}, "password": {password}})
	if loc != nil {
		return http.StatusSeeOther
	}
	return status
}

// Item 6: the sign-in throttles counted per name as typed and per exact
// address, so "alice" and "alice@example.com" each had the full allowance,
// and so had each address of a network. Now failures count per resolved
// user (per normalized name for unknown ones) and per network prefix.
func TestSignInThrottleKeysOnUserAndNetwork(t *testing.T) {
	srv, _ := startFlows(t, trustLoopback)
	cfg := spaConfig(srv, "read:users")
	authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	// Each failure from its own network, so only the per-user count grows.
	n := 0
	elsewhere := func() string { n++; return fmt.Sprintf("198.51.%d.1", n) }
	for i := range 5 {
		signInFrom(t, srv, authURL, elsewhere(), "alice", fmt.Sprint("guess", i))
	}
	for _, name := range []string{"alice@example.com", "ALICE@example.com ", "Alice"} {
		if status := signInFrom(t, srv, authURL, elsewhere(), name, "alice-password"); status != http.StatusTooManyRequests {
			t.Errorf("%q after 5 failures as alice: %d, want 429 (the same user)", name, status)
		}
	}
	for i := range 5 {
		signInFrom(t, srv, authURL, elsewhere(), "Ghost", fmt.Sprint("guess", i))
	}
	for _, name := range []string{" ghost", "GHOST", "gho\u017ft"} { // ſ folds to s
		if status := signInFrom(t, srv, authURL, elsewhere(), name, "x"); status != http.StatusTooManyRequests {
			t.Errorf("unknown %q after 5 failures as Ghost: %d, want 429", name, status)
		}
	}
	// 20 failures from 20 addresses of one /24, each for another name.
	for i := range 20 {
		signInFrom(t, srv, authURL, fmt.Sprintf("10.20.30.%d", i+1), fmt.Sprint("user", i), "x")
	}
	if status := signInFrom(t, srv, authURL, "10.20.30.250", "bob", "bob-password"); status != http.StatusTooManyRequests {
		t.Errorf("a new address of the same /24: %d, want 429", status)
	}
	if status := signInFrom(t, srv, authURL, "10.20.31.1", "bob", "bob-password"); status != http.StatusSeeOther {
		t.Errorf("the next /24: %d, want a sign-in", status)
	}
	for i := range 20 {
		signInFrom(t, srv, authURL, fmt.Sprintf("2001:db8:7:7::%x", i+1), fmt.Sprint("v6user", i), "x")
	}
	if status := signInFrom(t, srv, authURL, "2001:db8:7:7:ffff::1", "bob", "bob-password"); status != http.StatusTooManyRequests {
		t.Errorf("a new address of the same /64: %d, want 429", status)
	}

	t.Run("configured prefixes", func(t *testing.T) {
		srv, _ := startFlows(t, trustLoopback, withNetworks(16, 48))
		authURL := spaConfig(srv, "read:users").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		for i := range 20 {
			signInFrom(t, srv, authURL, fmt.Sprintf("10.21.%d.1", i), fmt.Sprint("user", i), "x")
		}
		if status := signInFrom(t, srv, authURL, "10.21.200.1", "bob", "bob-password"); status != http.StatusTooManyRequests {
			t.Errorf("the same /16: %d, want 429", status)
		}
	})
}

// Item 7: /authorize said "machine client" for an m2m client id and
// "unknown application" for an unknown one, letting anybody list client
// ids and types. Every request whose client is not verified now gets the
// same page.
func TestAuthorizeHidesWhichClientsExist(t *testing.T) {
	srv, _ := startFlows(t)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	page := func(clientID, redirect string) (int, string) {
		q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "scope": {"read:users"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		if redirect != "" {
			q.Set("redirect_uri", redirect)
		}
		status, body, loc := enginetest.NewBrowser(t, srv.URL).Visit(srv.URL + endpoint.PathAuthorize + "?" + q.Encode())
		if loc != nil {
			t.Fatalf("%s: redirected to %s", clientID, loc)
		}
		return status, body
	}
	wantStatus, want := page("no-such-client", "https://evil.example.com/cb")
	for _, tt := range []struct{ name, client, redirect string }{
		{"unknown, no redirect", "no-such-client", ""},
		{"machine client", "demo-m2m", ""},
		{"machine client with a redirect", "demo-m2m", "https://evil.example.com/cb"},
		{"unregistered redirect", "demo-spa", "https://evil.example.com/cb"},
		{"several redirects, none named", "partner-web", ""},
	} {
		status, body := page(tt.client, tt.redirect)
		if status != wantStatus || body != want {
			t.Errorf("%s: %d, the page differs from an unknown client's:\n%s", tt.name, status, body)
		}
	}
	if wantStatus != http.StatusBadRequest || strings.Contains(want, "machine") || strings.Contains(want, "does not know") {
		t.Errorf("the page tells too much: %d\n%s", wantStatus, want)
	}
}

// Also fixed: wrong client secrets were not throttled (40 in a row, then
// the right one worked). Failures now count per client id and per
// network; a throttled attempt is refused unchecked, audited, and the real
// client is not locked out from a network it authenticated from.
func TestClientAuthenticationThrottled(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	rec := &recorder{}
	srv := enginetest.Start(t, enginetest.Config{Server: configure(server.Config{Auditor: rec}, withClock(clock.Now), trustLoopback)})
	token := func(addr, id, secret string) (int, map[string]any, http.Header) {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read:users"}}
		req, _ := http.NewRequest(http.MethodPost, srv.TokenEndpoint(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", addr)
		req.SetBasicAuth(id, secret)
		return do(t, req)
	}
	const home = "192.0.2.10" // the real client's network
	if status, body, _ := token(home, "demo-m2m", "demo-m2m-secret"); status != 200 {
		t.Fatalf("the real client: %d %v", status, body)
	}
	// Guesses from many addresses of one network: 20 are checked.
	for i := range 20 {
		if status, body, _ := token(fmt.Sprintf("10.66.0.%d", i+1), "demo-m2m", fmt.Sprint("guess", i)); status != 401 {
			t.Fatalf("guess %d: %d %v", i, status, body)
		}
	}
	// Then none is, not even the right secret.
	status, body, h := token("10.66.0.99", "demo-m2m", "demo-m2m-secret")
	if status != http.StatusTooManyRequests || body["error"] != "invalid_client" || h.Get("Retry-After") == "" {
		t.Fatalf("the 21st attempt: %d %v Retry-After %q, want 429 invalid_client", status, body, h.Get("Retry-After"))
	}
	d := rec.last()
	if d.Outcome != engine.OutcomeDenied || d.Err.Status() != http.StatusTooManyRequests || len(d.Tx.Trace) == 0 || !strings.Contains(d.Tx.Trace[0].Reason, "throttled") {
		t.Errorf("the throttled attempt's audit record: %+v", d)
	}
	// The client id's allowance is spent too: a new network is refused.
	if status, _, _ := token("10.67.0.1", "demo-m2m", "guess"); status != http.StatusTooManyRequests {
		t.Errorf("a guess from another network: %d, want 429", status)
	}
	// The real client, from its own network, is not locked out.
	if status, body, _ := token(home, "demo-m2m", "demo-m2m-secret"); status != 200 {
		t.Errorf("the real client during the attack: %d %v", status, body)
	}
	// A new instance elsewhere waits a few seconds, not more.
	status, _, h = token("198.51.100.5", "demo-m2m", "demo-m2m-secret")
	wait, _ := strconv.Atoi(h.Get("Retry-After"))
	if status != http.StatusTooManyRequests || wait < 1 || wait > 5 {
		t.Fatalf("a new network during the attack: %d, Retry-After %d s", status, wait)
	}
	clock.Add(time.Duration(wait) * time.Second)
	if status, body, _ := token("198.51.100.5", "demo-m2m", "demo-m2m-secret"); status != 200 {
		t.Errorf("a new network after Retry-After: %d %v", status, body)
	}
	// An unknown client id is throttled alike: the answer does not tell.
	for i := range 20 {
		token(fmt.Sprintf("10.68.%d.1", i), "no-such-client", "x")
	}
	if status, _, _ := token("10.69.0.1", "no-such-client", "x"); status != http.StatusTooManyRequests {
		t.Errorf("an unknown client id: %d, want 429", status)
	}
}

// Also fixed: a native client's loopback redirect accepted port 0, 99999
// and an empty port, and matched the path after decoding it.
func TestLoopbackRedirectPorts(t *testing.T) {
	srv, _ := startFlows(t)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	visit := func(redirect string) int {
		q := url.Values{"response_type": {"code"}, "client_id": {"native-app"}, "redirect_uri": {redirect},
			"scope": {"read:users"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		status, _, _ := enginetest.NewBrowser(t, srv.URL).Visit(srv.URL + endpoint.PathAuthorize + "?" + q.Encode())
		return status
	}
	for _, ok := range []string{
		"http://127.0.0.1/callback", "http://127.0.0.1:1/callback", "http://127.0.0.1:51004/callback",
		"http://127.0.0.1:65535/callback", "http://[::1]:8080/callback",
	} {
		if status := visit(ok); status != http.StatusOK {
			t.Errorf("%s: %d, want the login page", ok, status)
		}
	}
	for _, bad := range []string{
		"http://127.0.0.1:0/callback", "http://127.0.0.1:99999/callback", "http://127.0.0.1:/callback",
		"http://127.0.0.1:65536/callback", "http://127.0.0.1:080/callback", "http://127.0.0.1:+80/callback",
		"http://127.0.0.1:51004/%63allback", "http://127.0.0.1:51004/callback/x", "http://127.0.0.1:51004/callback?x=1",
		"http://127.0.0.1:51004/callback#f", "http://user@127.0.0.1:51004/callback", "http://[::1]:0/callback",
	} {
		if status := visit(bad); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want refused", bad, status)
		}
	}
}

// Also fixed: "scope=" (empty) got the whole ceiling and "scope=%20%20"
// invalid_scope. One rule now, everywhere: a scope parameter with no scope
// token in it is treated as absent (RFC 6749 §3.1).
func TestEmptyScopeIsAbsent(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	raw := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.TokenEndpoint(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("demo-m2m", "demo-m2m-secret")
		status, b, _ := do(t, req)
		return status, b
	}
	_, absent := raw("grant_type=client_credentials")
	for _, body := range []string{"grant_type=client_credentials&scope=", "grant_type=client_credentials&scope=%20%20", "grant_type=client_credentials&scope=+"} {
		status, got := raw(body)
		if status != 200 || got["scope"] != absent["scope"] {
			t.Errorf("%s: %d %v, want what an absent scope gets (%v)", body, status, got, absent["scope"])
		}
	}
	// The authorization endpoint and the refresh grant follow the same rule.
	cfg := spaConfig(srv, "openid", "offline_access")
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)) + "&scope=%20%20"
	authURL = strings.Replace(authURL, "scope=openid+offline_access&", "", 1)
	loc := enginetest.NewBrowser(t, srv.URL).SignIn(authURL, "alice", "alice-password")
	q := callback(t, srv, loc, spaCallback, "st")
	if q.Get("error") != "" {
		t.Fatalf("authorize with scope=%%20%%20: %v", q)
	}
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "read:users write:users" { // demo-spa's ceiling
		t.Errorf("scope=%%20%%20 at /authorize got %q, want the whole ceiling as with no scope", tok.Extra("scope"))
	}
}

// Also fixed: a token request announcing a body larger than the limit
// was read (and waited for) until the server's read timeout. It is now
// refused at once, unread, with 413 and a JSON error; so are PAR,
// revocation and introspection requests, and /authorize shows a 413 page
// (PAR and /authorize answered 400).
func TestDeclaredBodyTooLarge(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	for _, path := range []string{endpoint.PathToken, endpoint.PathPAR, endpoint.PathRevoke, endpoint.PathIntrospect, endpoint.PathAuthorize} {
		t.Run(path, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second)) // the old code waits for the body until then
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\ngrant_type=client_credentials", path)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer before the body was sent: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("got %d, want 413", resp.StatusCode)
			}
			if path == endpoint.PathAuthorize { // a page, for the browser
				return
			}
			var body map[string]string
			json.NewDecoder(resp.Body).Decode(&body)
			if body["error"] != "invalid_request" || !strings.Contains(body["error_description"], "larger than") {
				t.Errorf("got %v, want invalid_request, larger than", body)
			}
		})
	}
}

// Also fixed: a client's X-Request-Id was echoed and became the audit
// record's request_id, so a client could name its requests, or pass for
// another's. Only a trusted proxy's is believed.
func TestRequestIDOnlyFromTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    []option
		trusted bool
	}{{"direct client", nil, false}, {"trusted proxy", []option{trustLoopback}, true}} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			srv := enginetest.Start(t, enginetest.Config{Server: configure(server.Config{Auditor: rec}, tt.opts...)})
			req, _ := http.NewRequest(http.MethodPost, srv.TokenEndpoint(), strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Request-Id", "chosen-by-the-client")
			req.SetBasicAuth("demo-m2m", "demo-m2m-secret")
			status, _, h := do(t, req)
			if status != 200 {
				t.Fatal(status)
			}
			echoed, recorded := h.Get("X-Request-Id"), rec.last().Tx.RequestID
			if echoed != recorded || echoed == "" {
				t.Errorf("response says %q, audit %q", echoed, recorded)
			}
			if (recorded == "chosen-by-the-client") != tt.trusted {
				t.Errorf("request id %q (trusted %v)", recorded, tt.trusted)
			}
		})
	}
}

// Also fixed: OpenID Connect Discovery requires RS256 among the ID token
// algorithms; a tenant signing with ES256 listed only ES256. A client may
// now ask for RS256 ID tokens (id_token_signed_response_alg), RS256 is
// always published, and so is request_uri_parameter_supported: false.
func TestIDTokenAlgorithmPerClient(t *testing.T) {
	src := "signing_algorithm: ES256\n" + strings.Replace(flowTenant(t),
		"  - id: other-spa\n    type: spa\n", "  - id: other-spa\n    type: spa\n    id_token_signed_response_alg: RS256\n", 1)
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(src), Server: server.Config{Hooks: flowHooks(&sync.Map{})}})
	var meta map[string]any
	enginetest.GetJSON(t, srv.URL+endpoint.PathOIDCMeta, &meta)
	if got := fmt.Sprint(meta["id_token_signing_alg_values_supported"]); got != "[RS256 ES256]" {
		t.Errorf("id_token_signing_alg_values_supported %s, want [RS256 ES256]", got)
	}
	if got := fmt.Sprint(meta["access_token_signing_alg_values_supported"]); got != "[ES256]" {
		t.Errorf("access_token_signing_alg_values_supported %s, want [ES256]", got)
	}
	if v, ok := meta["request_uri_parameter_supported"]; !ok || v != false {
		t.Errorf("request_uri_parameter_supported = %v (present %v), want false", v, ok)
	}
	for _, tt := range []struct{ client, redirect, alg string }{
		{"demo-spa", spaCallback, tenant.ES256},
		{"other-spa", "http://localhost:4000/callback", tenant.RS256},
	} {
		cfg := spaConfig(srv, "openid", "read:users")
		cfg.ClientID, cfg.RedirectURL = tt.client, tt.redirect
		code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
		tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		if alg := tokenAlg(t, raw); alg != tt.alg {
			t.Errorf("%s: ID token signed with %s, want %s", tt.client, alg, tt.alg)
		}
		if id := verifyIDToken(t, srv, raw, tt.client); id["at_hash"] != atHash(tok.AccessToken) {
			t.Errorf("%s: at_hash %v", tt.client, id["at_hash"])
		}
		if alg := tokenAlg(t, tok.AccessToken); alg != tenant.ES256 {
			t.Errorf("%s: access token signed with %s, want ES256", tt.client, alg)
		}
	}
}

// Near item 3: the only requests stored before their code are those
// waiting for a signed-in user's consent. A user (or whoever holds their
// session) cannot fill the table with them: 20 per user, then the
// client hears temporarily_unavailable; other users are not affected.
func TestConsentPendingRequestsPerUser(t *testing.T) {
	store := &countingStore{Storage: memory.New()}
	t.Cleanup(func() { store.Close() })
	srv, _ := startFlows(t, withStorage(store))
	web := &oauth2.Config{ClientID: "partner-web", RedirectURL: "https://partner.example.com/cb", Scopes: []string{"read:users"},
		Endpoint: oauth2.Endpoint{AuthURL: srv.URL + endpoint.PathAuthorize, TokenURL: srv.TokenEndpoint()}}
	pending := func(b *enginetest.Browser, user, password string) {
		if _, page := b.SignInPage(web.AuthCodeURL("s"), user, password); !strings.Contains(page, "decision") {
			t.Fatalf("%s: want the consent page", user)
		}
	}
	alice := enginetest.NewBrowser(t, srv.URL)
	pending(alice, "alice", "alice-password")
	for i := 1; i < 20; i++ { // signed in: straight to the consent page
		if status, page, _ := alice.Visit(web.AuthCodeURL("s")); status != 200 || !strings.Contains(page, "decision") {
			t.Fatalf("request %d: %d", i+1, status)
		}
	}
	_, _, loc := alice.Visit(web.AuthCodeURL("s"))
	if loc == nil {
		t.Fatal("the 21st pending request of one user: no redirect to the client")
	}
	if q := callback(t, srv, loc, "https://partner.example.com/cb", "s"); q.Get("error") != "temporarily_unavailable" {
		t.Errorf("the 21st pending request of one user: %v", q)
	}
	if n := store.created.Load(); n != 20 {
		t.Errorf("%d requests stored, want 20", n)
	}
	pending(enginetest.NewBrowser(t, srv.URL), "bob", "bob-password")
}

// Near item 3: a request too large to seal (state and nonce of control
// characters, which JSON escapes sixfold) goes back to the client as
// invalid_request instead of a URL no proxy would pass.
func TestRequestTooLargeToSeal(t *testing.T) {
	srv, _ := startFlows(t)
	cfg := spaConfig(srv, "read:users")
	big := strings.Repeat("\x01", pages.MaxStateLen)
	authURL := cfg.AuthCodeURL(big, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("nonce", big))
	_, _, loc := enginetest.NewBrowser(t, srv.URL).Visit(authURL)
	if loc == nil {
		t.Fatal("no redirect to the client")
	}
	if q := loc.Query(); q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "too large") {
		t.Errorf("got %v", q)
	}
}
