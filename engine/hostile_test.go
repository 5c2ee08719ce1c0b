package engine_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Hostile requests to the HTTP endpoints and pages, each the regression
// test of a defect an adversarial review found.

// Sign-in failures were checked against the throttle before the password
// and counted after it: guesses sent at once all passed the check before
// the first was counted, and waited for their turn at the password gate,
// so 40 guesses for one user sent together were all checked instead of 5.
// Now the check and the count of one login name are made together.
func TestSignInThrottleHoldsForConcurrentGuesses(t *testing.T) {
	// A password hash of real cost: the guesses overlap as they would.
	h, err := tenant.HashPassword("alice-password", tenant.Argon2Params{Memory: 8 << 10, Time: 2, Threads: 1}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	src := `
default_audience: https://api.example.com
apis:
  - identifier: https://api.example.com
    scopes: [{name: read:users}]
clients:
  - {id: demo-spa, type: spa, redirect_uris: ["http://localhost:3000/callback"]}
grants:
  - {client: demo-spa, api: https://api.example.com, scopes: [read:users], subjects: [user]}
users:
  - {id: alice, username: alice, password_hash: "` + h + `"}
`
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(src), Server: configure(server.Config{}, trustLoopback)})
	authURL := spaConfig(srv, "read:users").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	// Every guess for alice from its own network, so only the per-user
	// count holds them back; then guesses for as many unknown names from
	// one network, held back by the per-network count alone.
	checked, others := guessTogether(t, srv, authURL, 40, func(i int) (string, string) { return fmt.Sprintf("198.51.%d.1", i+1), "alice" })
	if checked > 5 {
		t.Errorf("%d of 40 concurrent guesses for one user were checked, want at most 5 (other answers: %v)", checked, others)
	}
	checked, others = guessTogether(t, srv, authURL, 40, func(i int) (string, string) { return fmt.Sprintf("203.0.113.%d", i+1), fmt.Sprint("user", i) })
	if checked > 20 {
		t.Errorf("%d of 40 concurrent guesses from one network were checked, want at most 20 (other answers: %v)", checked, others)
	}
}

// guessTogether opens n login pages, the i-th from the address and for
// the login name of who(i), then posts a wrong password on all of them at
// once. It returns how many were checked (answered "wrong password") and
// the other answers' statuses, which must be 429 (throttled) or 503
// (busy).
func guessTogether(t *testing.T, srv *enginetest.Server, authURL string, n int, who func(i int) (addr, login string)) (int, map[int]int) {
	t.Helper()
	type attempt struct {
		b           *enginetest.Browser
		page, login string
	}
	attempts := make([]attempt, n)
	for i := range attempts {
		addr, login := who(i)
		b := browserFrom(t, srv, addr)
		status, page, loc := b.Visit(authURL)
		if status != http.StatusOK || loc != nil {
			t.Fatalf("no login page: %d %v", status, loc)
		}
		attempts[i] = attempt{b, page, login}
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		checked int
		others  = map[int]int{}
	)
	for i, a := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, page, _ := a.b.Submit(a.page, url.Values{"username": {a.login}, "password": {fmt.Sprint("guess", i)}})
			mu.Lock()
			defer mu.Unlock()
			if status == http.StatusOK && strings.Contains(page, "Wrong username or password") {
				checked++
			} else {
				others[status]++
			}
		}()
	}
	wg.Wait()
	for status := range others {
		if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
			t.Errorf("answers %v: want only 429 (throttled) or 503 (busy) besides the checked ones", others)
		}
	}
	return checked, others
}

// /userinfo took a revoked access token: the denylist that introspection
// and token exchange consult was not consulted, so a client (or whoever
// stole the token) kept reading the user's claims after revoking it.
func TestUserinfoRefusesRevokedAccessTokens(t *testing.T) {
	srv, _ := startStd(t)
	cfg := spaConfig(srv, "openid", "read:users")
	code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
	status, body := tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "client_id": {"demo-spa"},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {spaCallback}})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, body)
	}
	access := body["access_token"].(string)
	userinfo := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+endpoint.PathUserinfo, nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if status, _ := userinfo(); status != http.StatusOK {
		t.Fatalf("userinfo before revocation: %d", status)
	}
	if status := revoke(t, srv, "demo-spa", "", access, "access_token"); status != http.StatusOK {
		t.Fatalf("revoke: %d", status)
	}
	if status, challenge := userinfo(); status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Errorf("userinfo with a revoked token: %d %q, want 401 invalid_token", status, challenge)
	}
}

// A request that declared a body larger than its endpoint reads (but
// within the 256 KiB net/http reads for a handler that did not) and sent
// none went unanswered until the read timeout at every endpoint but the
// token endpoint, which alone closed the connection: net/http waited for
// the body before answering. So did any refusal made before the body was
// read. Every endpoint now answers at once and closes the connection.
func TestUnreadBodiesAreNotWaitedFor(t *testing.T) {
	srv, _ := startStd(t)
	paths := []string{endpoint.PathToken, endpoint.PathToken + "?x=1", endpoint.PathPAR, endpoint.PathRevoke, endpoint.PathIntrospect,
		endpoint.PathUserinfo, endpoint.PathJWKS, endpoint.PathAuthorize, endpoint.PathLogin, endpoint.PathConsent, endpoint.PathLogout}
	var wg sync.WaitGroup
	for _, path := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second)) // the old code waits for the body until then
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nx=y",
				path, srv.Listener.Addr())
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Errorf("%s: no answer before the body was sent: %v", path, err)
				return
			}
			resp.Body.Close()
			if !resp.Close {
				t.Errorf("%s: %d, and the connection is kept waiting for the body", path, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
}

// Requests whose bodies are read, answered or refused, keep their
// connection: closing it is for bodies left unread.
func TestReadBodiesKeepTheConnection(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for _, tc := range []struct {
		user, body string
		status     int
	}{
		{"demo-m2m:demo-m2m-secret", "grant_type=client_credentials&scope=read%3Ausers", http.StatusOK},
		{"demo-m2m:demo-m2m-secret", "grant_type=client_credentials&scope=nope", http.StatusBadRequest},
		{"demo-m2m:wrong", "grant_type=client_credentials", http.StatusUnauthorized},
		{"demo-m2m:demo-m2m-secret", "grant_type=client_credentials&scope=read%3Ausers", http.StatusOK},
	} {
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
			endpoint.PathToken, srv.Listener.Addr(), base64.StdEncoding.EncodeToString([]byte(tc.user)), len(tc.body), tc.body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Close {
			t.Fatalf("%s: %d (close %v), want %d on a connection kept open", tc.body, resp.StatusCode, resp.Close, tc.status)
		}
	}
}

// A sign-in started before a tenant reload was finished against the
// redirect URI verified then: once the operator had removed the URI (a
// domain given up, say), the login post, or the consent of a third-party
// client, still sent the code there. The client and its redirect URI are
// now verified again against the snapshot that serves the request, and a
// request they no longer pass is shown an error page, never redirected.
func TestRedirectURIRemovedMidSignIn(t *testing.T) {
	reloadWithout := func(t *testing.T, srv *enginetest.Server, uri string) {
		t.Helper()
		reloadTenant(t, srv, strings.Replace(flowTenant(t), `"`+uri+`"`, `"`+uri+`-moved"`, 1))
	}
	refused := func(t *testing.T, status int, page string, loc *url.URL) {
		t.Helper()
		if loc != nil {
			t.Fatalf("redirected to %s, a URI no longer registered", loc)
		}
		if status != http.StatusBadRequest || !strings.Contains(page, "is not registered") {
			t.Errorf("%d, want the page of an unverified client:\n%s", status, page)
		}
	}
	t.Run("login", func(t *testing.T) {
		srv, _ := startFlows(t)
		b := enginetest.NewBrowser(t, srv.URL)
		authURL := spaConfig(srv, "read:users").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		status, page, loc := b.Visit(authURL)
		if status != http.StatusOK || loc != nil {
			t.Fatalf("no login page: %d %v", status, loc)
		}
		reloadWithout(t, srv, spaCallback)
		status, page, loc = b.Submit(page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
		refused(t, status, page, loc)
	})
	t.Run("consent", func(t *testing.T) {
		srv, _ := startFlows(t)
		b := enginetest.NewBrowser(t, srv.URL)
		web := &oauth2.Config{ClientID: "partner-web", RedirectURL: "https://partner.example.com/cb", Scopes: []string{"read:users"},
			Endpoint: oauth2.Endpoint{AuthURL: srv.URL + endpoint.PathAuthorize}}
		loc, page := b.SignInPage(web.AuthCodeURL("s"), "alice", "alice-password")
		if loc != nil || !strings.Contains(page, `name="decision"`) {
			t.Fatalf("no consent page: %v\n%s", loc, page)
		}
		reloadWithout(t, srv, "https://partner.example.com/cb")
		status, page, loc := b.Submit(page, url.Values{"decision": {"allow"}})
		refused(t, status, page, loc)
	})
}

// reloadTenant swaps srv's tenant for the one src describes, as the
// tenant watcher does when the operator edits the file.
func reloadTenant(t *testing.T, srv *enginetest.Server, src string) {
	t.Helper()
	tn, err := tenant.Parse([]byte(src), "tenant.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Engine.Reload(context.Background(), tn, nil); err != nil {
		t.Fatal(err)
	}
}

// A refresh request naming another API (audience or resource, RFC 8707)
// was answered with a token for the refresh token's own API, as if the
// parameter had not been sent, while the code exchange refuses one. A
// refresh now refuses a target that is not its token's API with
// invalid_target (RFC 8707 §2), and rotates nothing.
func TestRefreshRefusesAnotherAPI(t *testing.T) {
	srv, _ := startStd(t)
	cfg := spaConfig(srv, "offline_access", "read:users")
	code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-spa"}, "refresh_token": {rt}}
		for k, v := range extra {
			form[k] = v
		}
		return tokenRequest(t, srv, form)
	}
	rt := tok.RefreshToken
	for _, target := range []url.Values{
		{"audience": {billingAPI}},
		{"resource": {billingAPI}},
		{"audience": {"https://nope.example.com"}},
		{"resource": {usersAPI, billingAPI}},
	} {
		status, body := refresh(rt, target)
		wantOAuthError(t, fmt.Sprint("refresh for ", target), status, body, "invalid_target")
	}
	// Naming the token's own API, or none, is fine, and the refused
	// requests above rotated nothing.
	for _, target := range []url.Values{{"audience": {usersAPI}}, {"resource": {usersAPI}}, nil} {
		status, body := refresh(rt, target)
		if status != http.StatusOK || body["scope"] != "offline_access read:users" {
			t.Fatalf("refresh for %v: %d %v", target, status, body)
		}
		rt = body["refresh_token"].(string)
	}
}
