package engine_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
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

	"github.com/scopeline/scopeline/engine"
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
	tok := tokensFor(t, srv, spaConfig(srv, "offline_access", "read:users"), "alice", "alice-password")
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

// A code carried the scopes decided when the user signed in, and its
// exchange checked only that the client's grant still existed: an
// operator who narrowed the grant, took a role from the user, or removed
// the redirect URI between the sign-in and the exchange (up to the code's
// lifetime, and longer for a request waiting for consent) saw the old
// scopes issued anyway. The exchange now caps them again by the tenant
// that serves it, with the baseline's rules, traces each scope it drops
// with the reason, refuses as the pipeline does when nothing asked for is
// left, and refuses a redirect URI no longer registered.
func TestCodeExchangeRechecksTheTenant(t *testing.T) {
	const grant = "{client: demo-spa, api: https://api.example.com, scopes: [read:users, write:users], subjects: [user]}"
	narrowGrant := func(src string) string {
		return strings.Replace(src, grant, "{client: demo-spa, api: https://api.example.com, scopes: [read:users], subjects: [user]}", 1)
	}
	aliceReads := func(src string) string {
		return strings.Replace(src, "roles: [admin], metadata", "roles: [reader], metadata", 1)
	}
	aliceNobody := func(src string) string {
		return strings.Replace(src, "roles: [admin], metadata", "roles: [nobody], metadata", 1)
	}
	// start serves flowTenant, whose post-login pipeline ends with a hook
	// that gives bob write:users, which his role (reader) does not allow,
	// and one allowed to exceed the grant that gives carol delete:users.
	const hooks = "      - {name: bob-writes, plugin: bob-writes}\n      - {name: carol-deletes, plugin: carol-deletes, allow_exceed_grant: true}\n"
	add := func(user, scope string) func(v engine.View) (*engine.HookResult, error) {
		return func(v engine.View) (*engine.HookResult, error) {
			if v.User().ID != user {
				return nil, nil
			}
			return &engine.HookResult{Ops: []engine.HookOp{{Kind: engine.HookAddScope, Name: scope, Reason: "test"}}}, nil
		}
	}
	start := func(t *testing.T) (*enginetest.Server, *recorder) {
		t.Helper()
		loader := flowHooks(&sync.Map{})
		loader.hooks["bob-writes"], loader.hooks["carol-deletes"] = add("bob", "write:users"), add("carol", "delete:users")
		audit := &recorder{}
		srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(flowTenant(t) + hooks), Server: server.Config{Hooks: loader, Auditor: audit}})
		return srv, audit
	}
	reload := func(t *testing.T, srv *enginetest.Server, edits ...func(string) string) {
		t.Helper()
		src := flowTenant(t) + hooks
		for _, edit := range edits {
			if src2 := edit(src); src2 != src {
				src = src2
			} else {
				t.Fatal("the edit of the tenant changed nothing")
			}
		}
		reloadTenant(t, srv, src)
	}
	exchange := func(t *testing.T, srv *enginetest.Server, code, verifier string) (int, map[string]any) {
		t.Helper()
		return tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "client_id": {"demo-spa"},
			"code": {code}, "code_verifier": {verifier}, "redirect_uri": {spaCallback}})
	}
	// dropped returns the scopes the last decision's trace says were
	// removed by the baseline, each with its reason.
	dropped := func(audit *recorder) map[string]string {
		out := map[string]string{}
		for _, e := range audit.last().Tx.Trace {
			if e.Stage == engine.StageBaseline && e.Op == engine.OpRemove && !e.Refused {
				out[e.Scope] = e.Reason
			}
		}
		return out
	}
	issued := func(t *testing.T, srv *enginetest.Server, status int, body map[string]any, scope, permissions string) {
		t.Helper()
		if status != http.StatusOK || body["scope"] != scope {
			t.Fatalf("exchange: %d %v %v, want scope %q", status, body["error"], body["scope"], scope)
		}
		claims, _ := enginetest.Verify(t, srv.Issuer, body["access_token"].(string))
		if p, _ := json.Marshal(claims["permissions"]); string(p) != permissions {
			t.Errorf("permissions claim %s, want %s", p, permissions)
		}
	}
	// redeem signs user in to demo-spa, reloads the tenant with edits and
	// exchanges the code.
	redeem := func(t *testing.T, srv *enginetest.Server, user string, edits ...func(string) string) (int, map[string]any) {
		t.Helper()
		cfg := spaConfig(srv, "openid", "offline_access", "read:users", "write:users")
		code, verifier := codeFor(t, srv, cfg, user, user+"-password")
		reload(t, srv, edits...)
		return exchange(t, srv, code, verifier)
	}

	t.Run("unchanged tenant", func(t *testing.T) {
		srv, audit := start(t)
		status, body := redeem(t, srv, "alice") // the same tenant, reloaded
		issued(t, srv, status, body, "openid offline_access read:users write:users", `["read:users","write:users"]`)
		if d := dropped(audit); len(d) != 0 {
			t.Errorf("dropped %v from an unchanged tenant", d)
		}
		// A scope a hook added beyond the user's permissions, within the
		// ceiling, is the hook's decision: it stays.
		status, body = redeem(t, srv, "bob")
		issued(t, srv, status, body, "openid offline_access read:users write:users", `["read:users"]`)
		// So is one a hook allowed to exceed the grant added.
		status, body = redeem(t, srv, "carol")
		issued(t, srv, status, body, "openid offline_access delete:users", `[]`)
	})
	t.Run("hook no longer allowed to exceed the grant", func(t *testing.T) {
		srv, audit := start(t)
		status, body := redeem(t, srv, "carol", func(src string) string { return strings.Replace(src, ", allow_exceed_grant: true}", "}", 1) })
		wantOAuthError(t, "exchange", status, body, "access_denied")
		if d := dropped(audit); len(d) != 1 || !strings.Contains(d["delete:users"], "outside the grant ceiling") {
			t.Errorf("dropped %v, want delete:users outside the grant ceiling", d)
		}
	})
	t.Run("grant narrowed", func(t *testing.T) {
		srv, audit := start(t)
		for _, user := range []string{"alice", "bob"} { // bob's write:users is the hook's
			status, body := redeem(t, srv, user, narrowGrant)
			issued(t, srv, status, body, "openid offline_access read:users", `["read:users"]`)
			if d := dropped(audit); len(d) != 1 || !strings.Contains(d["write:users"], "outside the grant ceiling") {
				t.Errorf("%s: dropped %v, want write:users outside the grant ceiling", user, d)
			}
			reload(t, srv)
			if user != "alice" {
				continue // bob's hook adds write:users again at each refresh
			}
			// The refresh token of that exchange is for read:users only.
			status, body = tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-spa"},
				"refresh_token": {body["refresh_token"].(string)}})
			if status != http.StatusOK || body["scope"] != "openid offline_access read:users" {
				t.Errorf("%s: refresh after the grant was widened again: %d %v", user, status, body)
			}
		}
	})
	t.Run("role taken away", func(t *testing.T) {
		srv, audit := start(t)
		status, body := redeem(t, srv, "alice", aliceReads)
		issued(t, srv, status, body, "openid offline_access read:users", `["read:users"]`)
		if d := dropped(audit); len(d) != 1 || !strings.Contains(d["write:users"], "RBAC") {
			t.Errorf("dropped %v, want write:users as not in the user's permissions", d)
		}
	})
	t.Run("permissions claim no longer asked for", func(t *testing.T) {
		srv, _ := start(t)
		status, body := redeem(t, srv, "alice", func(src string) string { return strings.Replace(src, "    permissions_claim: true\n", "", 1) })
		issued(t, srv, status, body, "openid offline_access read:users write:users", "null")
	})
	t.Run("nothing left", func(t *testing.T) {
		srv, audit := start(t)
		status, body := redeem(t, srv, "alice", aliceNobody)
		wantOAuthError(t, "exchange", status, body, "access_denied")
		if d := audit.last(); d.Outcome != engine.OutcomeDenied || len(dropped(audit)) != 2 {
			t.Errorf("denial recorded as %v with trace %+v", d.Outcome, d.Tx.Trace)
		}
	})
	for name, edit := range map[string]func(string) string{
		"grant removed": func(src string) string { return strings.Replace(src, "  - "+grant+"\n", "", 1) },
		"redirect URI removed": func(src string) string {
			return strings.Replace(src, `"`+spaCallback+`"`, `"`+spaCallback+`-moved"`, 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv, _ := start(t)
			status, body := redeem(t, srv, "alice", edit)
			wantOAuthError(t, "exchange", status, body, "invalid_grant")
		})
	}
	t.Run("waiting for consent", func(t *testing.T) {
		srv, audit := start(t)
		web := &oauth2.Config{ClientID: "partner-web", ClientSecret: "demo-m2m-secret", RedirectURL: "https://partner.example.com/cb",
			Scopes:   []string{"read:users", "write:users"},
			Endpoint: oauth2.Endpoint{AuthURL: srv.URL + endpoint.PathAuthorize, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInHeader}}
		b := enginetest.NewBrowser(t, srv.URL)
		loc, page := b.SignInPage(web.AuthCodeURL("s"), "alice", "alice-password")
		if loc != nil || !strings.Contains(page, `name="decision"`) {
			t.Fatalf("no consent page: %v\n%s", loc, page)
		}
		reload(t, srv, func(src string) string {
			return strings.Replace(src, "{client: partner-web, api: https://api.example.com, scopes: [read:users, write:users]",
				"{client: partner-web, api: https://api.example.com, scopes: [read:users]", 1)
		})
		_, _, loc = b.Submit(page, url.Values{"decision": {"allow"}})
		code := callback(t, srv, loc, "https://partner.example.com/cb", "s").Get("code")
		tok, err := web.Exchange(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Extra("scope") != "read:users" {
			t.Errorf("scope %v, want read:users", tok.Extra("scope"))
		}
		if d := dropped(audit); len(d) != 1 || d["write:users"] == "" {
			t.Errorf("dropped %v, want write:users", d)
		}
	})
}

// A refresh runs the post-login pipeline again against the tenant that
// serves it, so what the operator narrows applies at the next refresh:
// the grant's ceiling, the user's roles, the grant itself.
func TestRefreshRechecksTheTenant(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		status         int
		scope          string
	}{
		{"grant narrowed", "scopes: [read:users, write:users], subjects: [user]}", "scopes: [read:users], subjects: [user]}", http.StatusOK, "offline_access read:users"},
		{"role taken away", "roles: [admin], metadata", "roles: [reader], metadata", http.StatusOK, "offline_access read:users"},
		{"no role left", "roles: [admin], metadata", "roles: [nobody], metadata", http.StatusForbidden, ""},
		{"grant removed", "  - {client: demo-spa, api: https://api.example.com, scopes: [read:users, write:users], subjects: [user]}\n", "", http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := startFlows(t)
			tok := tokensFor(t, srv, spaConfig(srv, "offline_access", "read:users", "write:users"), "alice", "alice-password")
			src := flowTenant(t)
			if !strings.Contains(src, tc.from) {
				t.Fatalf("the tenant has no %q", tc.from)
			}
			reloadTenant(t, srv, strings.Replace(src, tc.from, tc.to, 1))
			status, body := tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-spa"}, "refresh_token": {tok.RefreshToken}})
			if status != tc.status || (tc.scope != "" && body["scope"] != tc.scope) {
				t.Errorf("refresh: %d %v, want %d %q", status, body, tc.status, tc.scope)
			}
		})
	}
}
