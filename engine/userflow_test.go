package engine_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/throttle"
)

const spaCallback = "http://localhost:3000/callback"

func spaConfig(srv *enginetest.Server, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: "demo-spa",
		Endpoint: oauth2.Endpoint{
			AuthURL:   srv.URL + endpoint.PathAuthorize,
			TokenURL:  srv.TokenEndpoint(),
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: spaCallback,
		Scopes:      scopes,
	}
}

// callback checks a redirect to the client and returns its query.
func callback(t *testing.T, srv *enginetest.Server, loc *url.URL, redirect, state string) url.Values {
	t.Helper()
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect {
		t.Fatalf("redirected to %s, want %s", loc, redirect)
	}
	if q.Get("iss") != srv.Issuer {
		t.Errorf("iss = %q, want %q (RFC 9207)", q.Get("iss"), srv.Issuer)
	}
	if q.Get("state") != state {
		t.Errorf("state = %q, want %q", q.Get("state"), state)
	}
	return q
}

// verifyIDToken checks an ID token against the issuer's JWKS.
func verifyIDToken(t *testing.T, srv *enginetest.Server, raw, clientID string) jwt.MapClaims {
	t.Helper()
	var set struct{ Keys []keys.JWK }
	enginetest.GetJSON(t, srv.URL+endpoint.PathJWKS, &set)
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == tok.Header["kid"] {
				return k.PublicKey()
			}
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithIssuer(srv.Issuer), jwt.WithAudience(clientID), jwt.WithExpirationRequired(), jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}))
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	if tok.Header["typ"] != "JWT" {
		t.Errorf("ID token typ %v", tok.Header["typ"])
	}
	return claims
}

func atHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func TestAuthorizationCodeFlowWithOAuth2Client(t *testing.T) {
	audit := &recorder{}
	srv := enginetest.Start(t, enginetest.Config{Server: server.Config{Auditor: audit}})
	ctx := context.Background()
	tests := []struct {
		user, password string
		wantScope      string
		wantName       string
	}{
		{"alice", "alice-password", "openid profile email offline_access read:users write:users", "Alice Example"},
		// RBAC: bob may only read, whatever demo-spa asks for.
		{"bob", "bob-password", "openid profile email offline_access read:users", "Bob Example"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			cfg := spaConfig(srv, "openid", "profile", "email", "offline_access", "read:users", "write:users")
			verifier := oauth2.GenerateVerifier()
			state, nonce := rand.Text(), rand.Text()
			authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))
			loc := enginetest.NewBrowser(t, srv.URL).SignIn(authURL, tt.user, tt.password)
			q := callback(t, srv, loc, spaCallback, state)
			tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if tok.Extra("scope") != tt.wantScope || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
				t.Errorf("scope %q refresh %q type %q", tok.Extra("scope"), tok.RefreshToken, tok.TokenType)
			}
			claims, header := enginetest.Verify(t, srv.Issuer, tok.AccessToken)
			want := map[string]any{"sub": tt.user, "aud": demoAPI, "client_id": "demo-spa", "scope": tt.wantScope}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("access token %s = %v, want %v", k, claims[k], v)
				}
			}
			if header["typ"] != "at+jwt" {
				t.Errorf("access token typ %v", header["typ"])
			}
			raw, _ := tok.Extra("id_token").(string)
			id := verifyIDToken(t, srv, raw, "demo-spa")
			if id["sub"] != tt.user || id["nonce"] != nonce || id["at_hash"] != atHash(tok.AccessToken) ||
				id["name"] != tt.wantName || id["preferred_username"] != tt.user || id["auth_time"] == nil {
				t.Errorf("ID token claims %v", id)
			}
			if d := audit.last(); d.Outcome != engine.OutcomeIssued || d.Tx.GrantType != "authorization_code" || d.Tx.User.ID != tt.user || len(d.Tx.Trace) == 0 {
				t.Errorf("audit decision %+v", d)
			}

			// userinfo with the access token, as an OIDC client would.
			info := userinfo(t, srv, tok.AccessToken, 200)
			if info["sub"] != tt.user || info["name"] != tt.wantName || info["email"] != tt.user+"@example.com" {
				t.Errorf("userinfo = %v", info)
			}

			// x/oauth2 refreshes on its own once the token expired.
			old := *tok
			expired := *tok
			expired.Expiry = time.Now().Add(-time.Minute)
			fresh, err := cfg.TokenSource(ctx, &expired).Token()
			if err != nil {
				t.Fatal(err)
			}
			if fresh.AccessToken == old.AccessToken || fresh.RefreshToken == old.RefreshToken || fresh.Extra("scope") != tt.wantScope {
				t.Errorf("refresh did not rotate: scope %v", fresh.Extra("scope"))
			}
			if raw, _ := fresh.Extra("id_token").(string); raw == "" {
				t.Error("no ID token on refresh")
			} else if c := verifyIDToken(t, srv, raw, "demo-spa"); c["nonce"] != nil || c["auth_time"] != id["auth_time"] {
				t.Errorf("refreshed ID token %v", c)
			}
			if d := audit.last(); d.Tx.GrantType != "refresh_token" || d.Outcome != engine.OutcomeIssued {
				t.Errorf("refresh audit %+v", d)
			}
		})
	}
	// bob's trace says why write:users was dropped.
	for _, d := range audit.decisions {
		if d.Tx.User != nil && d.Tx.User.ID == "bob" && d.Tx.GrantType == "authorization_code" {
			if !slices.ContainsFunc(d.Tx.Trace, func(e engine.TraceEntry) bool {
				return e.Scope == "write:users" && e.Refused && strings.Contains(e.Reason, "RBAC")
			}) {
				t.Errorf("bob's trace does not show the RBAC cap: %+v", d.Tx.Trace)
			}
		}
	}
}

func userinfo(t *testing.T, srv *enginetest.Server, token string, wantStatus int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+endpoint.PathUserinfo, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != wantStatus {
		t.Fatalf("userinfo: %d %v, want %d", resp.StatusCode, out, wantStatus)
	}
	if wantStatus != 200 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("userinfo %d without WWW-Authenticate", wantStatus)
	}
	return out
}

// flowTenant has more clients than the demo, for the negative tests. Its
// users' hashes are made with small parameters, so tests stay fast.
// flowHashes are flowTenant's password hashes, by password.
var flowHashes sync.Map

func flowTenant(t testing.TB) string {
	t.Helper()
	// The same hash for a password every time: a test that reloads the
	// tenant keeps its users' sessions, as a reload of an unchanged file
	// does (a changed hash ends them).
	hash := func(pw string) string {
		if h, ok := flowHashes.Load(pw); ok {
			return h.(string)
		}
		h, err := tenant.HashPassword(pw, tenant.Argon2Params{Memory: 64, Time: 1, Threads: 1}, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		h2, _ := flowHashes.LoadOrStore(pw, h)
		return h2.(string)
	}
	return `
default_audience: https://api.example.com
apis:
  - identifier: https://api.example.com
    name: Example users API
    rbac: true
    permissions_claim: true
    scopes:
      - {name: read:users, description: Read user profiles}
      - {name: write:users, description: Create and update users}
      - {name: delete:users, description: Delete users}
clients:
  - id: demo-spa
    type: spa
    redirect_uris: ["http://localhost:3000/callback"]
  - id: other-spa
    type: spa
    redirect_uris: ["http://localhost:4000/callback"]
  - id: nogrant-spa
    type: spa
    redirect_uris: ["http://localhost:5000/callback"]
  - id: partner-web
    name: Partner Web App
    type: web
    first_party: false
    redirect_uris: ["https://partner.example.com/cb", "https://partner.example.com/other"]
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
  - id: demo-m2m
    type: m2m
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
  - id: native-app
    type: native
    redirect_uris: ["http://127.0.0.1/callback", "http://[::1]/callback"]
grants:
  - {client: demo-spa, api: https://api.example.com, scopes: [read:users, write:users], subjects: [user]}
  - {client: native-app, api: https://api.example.com, scopes: [read:users], subjects: [user]}
  - {client: other-spa, api: https://api.example.com, scopes: [read:users], subjects: [user]}
  - {client: partner-web, api: https://api.example.com, scopes: [read:users, write:users], subjects: [user]}
roles:
  - name: admin
    permissions: [{api: https://api.example.com, scopes: [read:users, write:users, delete:users]}]
  - name: reader
    permissions: [{api: https://api.example.com, scopes: [read:users]}]
  - name: nobody
users:
  - {id: alice, username: alice, email: alice@example.com, password_hash: "` + hash("alice-password") + `", roles: [admin], metadata: {department: engineering}}
  - {id: bob, username: bob, password_hash: "` + hash("bob-password") + `", roles: [reader]}
  - {id: carol, username: carol, password_hash: "` + hash("carol-password") + `", roles: [nobody]}
pipelines:
  post-login:
    hooks:
      - {name: deny-bob, plugin: deny-bob}
      - {name: tag, plugin: tag}
`
}

// flowHooks are the post-login hooks of flowTenant, written in Go.
func flowHooks(calls *sync.Map) *goLoader {
	count := func(name string) {
		n, _ := calls.LoadOrStore(name, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	return &goLoader{hooks: map[string]func(v engine.View) (*engine.HookResult, error){
		"deny-bob": func(v engine.View) (*engine.HookResult, error) {
			count("deny-bob:" + v.GrantType())
			if v.User() != nil && v.User().ID == "bob" && v.Client().ID == "other-spa" {
				return &engine.HookResult{Deny: &engine.HookDenial{Code: "access_denied", Reason: "bob may not use other-spa"}}, nil
			}
			return nil, nil
		},
		"tag": func(v engine.View) (*engine.HookResult, error) {
			// The event carries the user, the client, requested and current scopes.
			dept, _ := v.User().Metadata["department"].(string)
			ctx, _ := json.Marshal(map[string]any{
				"client": v.Client().ID, "roles": v.User().Roles, "department": dept,
				"requested": v.Requested(), "current": v.Scopes(),
			})
			return &engine.HookResult{Ops: []engine.HookOp{{Kind: engine.HookSetClaim, Name: "login_context", Value: ctx, Reason: "test"}}}, nil
		},
	}}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func startFlows(t *testing.T, opts ...option) (*enginetest.Server, *sync.Map) {
	t.Helper()
	calls := &sync.Map{}
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(flowTenant(t)), Server: configure(server.Config{Hooks: flowHooks(calls)}, opts...)})
	return srv, calls
}

// option changes the configuration of a test's server.
type option func(*server.Config)

// configure applies opts to c.
func configure(c server.Config, opts ...option) server.Config {
	for _, o := range opts {
		o(&c)
	}
	return c
}

func withStorage(s storage.Storage) option  { return func(c *server.Config) { c.Storage = s } }
func withClock(now func() time.Time) option { return func(c *server.Config) { c.Now = now } }
func withAuditor(a engine.Auditor) option   { return func(c *server.Config) { c.Auditor = a } }
func withNetworks(ipv4, ipv6 int) option {
	return func(c *server.Config) { c.Networks = throttle.Networks{IPv4: ipv4, IPv6: ipv6} }
}

// codeFor runs the authorization part of the flow for a client and
// returns the code (with its verifier).
func codeFor(t *testing.T, srv *enginetest.Server, cfg *oauth2.Config, user, password string, opts ...oauth2.AuthCodeOption) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	loc := enginetest.NewBrowser(t, srv.URL).SignIn(cfg.AuthCodeURL("st", append(opts, oauth2.S256ChallengeOption(verifier))...), user, password)
	q := callback(t, srv, loc, cfg.RedirectURL, "st")
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	return q.Get("code"), verifier
}

// tokensFor signs user in through cfg's client and exchanges the code.
func tokensFor(t *testing.T, srv *enginetest.Server, cfg *oauth2.Config, user, password string) *oauth2.Token {
	t.Helper()
	code, verifier := codeFor(t, srv, cfg, user, password)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenRequest posts a token request for a public client.
func tokenRequest(t *testing.T, srv *enginetest.Server, form url.Values) (int, map[string]any) {
	t.Helper()
	status, body, _ := post(t, srv.TokenEndpoint(), form, "", "")
	return status, body
}

func wantOAuthError(t *testing.T, what string, status int, body map[string]any, code string) {
	t.Helper()
	if body["error"] != code || status < 400 {
		t.Errorf("%s: got %d %v, want %s", what, status, body, code)
	}
}

func TestCodeExchangeRefusals(t *testing.T) {
	srv, _ := startFlows(t)
	cfg := spaConfig(srv, "openid", "offline_access", "read:users")
	exchange := func(code string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "client_id": {"demo-spa"}, "code": {code}, "redirect_uri": {spaCallback}}
		for k, v := range extra {
			form[k] = v
		}
		return tokenRequest(t, srv, form)
	}

	t.Run("wrong verifier", func(t *testing.T) {
		code, _ := codeFor(t, srv, cfg, "alice", "alice-password")
		status, body := exchange(code, url.Values{"code_verifier": {oauth2.GenerateVerifier()}})
		wantOAuthError(t, "wrong verifier", status, body, "invalid_grant")
	})
	t.Run("missing verifier", func(t *testing.T) {
		code, _ := codeFor(t, srv, cfg, "alice", "alice-password")
		status, body := exchange(code, nil)
		wantOAuthError(t, "missing verifier", status, body, "invalid_grant")
	})
	t.Run("malformed verifier", func(t *testing.T) {
		code, _ := codeFor(t, srv, cfg, "alice", "alice-password")
		status, body := exchange(code, url.Values{"code_verifier": {"short"}})
		wantOAuthError(t, "short verifier", status, body, "invalid_grant")
	})
	t.Run("reused code revokes its refresh token", func(t *testing.T) {
		code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
		status, first := exchange(code, url.Values{"code_verifier": {verifier}})
		if status != 200 {
			t.Fatalf("first exchange: %d %v", status, first)
		}
		status, body := exchange(code, url.Values{"code_verifier": {verifier}})
		wantOAuthError(t, "second exchange", status, body, "invalid_grant")
		status, body = tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-spa"}, "refresh_token": {first["refresh_token"].(string)}})
		wantOAuthError(t, "refresh after the code was reused", status, body, "invalid_grant")
	})
	t.Run("code from another client", func(t *testing.T) {
		code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
		form := url.Values{"grant_type": {"authorization_code"}, "client_id": {"other-spa"}, "code": {code},
			"redirect_uri": {"http://localhost:4000/callback"}, "code_verifier": {verifier}}
		status, body := tokenRequest(t, srv, form)
		wantOAuthError(t, "other client", status, body, "invalid_grant")
	})
	t.Run("redirect URI mismatch", func(t *testing.T) {
		code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
		status, body := exchange(code, url.Values{"code_verifier": {verifier}, "redirect_uri": {"http://localhost:3000/elsewhere"}})
		wantOAuthError(t, "redirect mismatch", status, body, "invalid_grant")
	})
	t.Run("redirect URI omitted", func(t *testing.T) {
		code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
		form := url.Values{"grant_type": {"authorization_code"}, "client_id": {"demo-spa"}, "code": {code}, "code_verifier": {verifier}}
		status, body := tokenRequest(t, srv, form)
		wantOAuthError(t, "redirect omitted", status, body, "invalid_grant")
	})
	t.Run("unknown code", func(t *testing.T) {
		status, body := exchange("not-a-code", url.Values{"code_verifier": {oauth2.GenerateVerifier()}})
		wantOAuthError(t, "unknown code", status, body, "invalid_grant")
	})
	t.Run("public client with a secret", func(t *testing.T) {
		code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
		status, body := exchange(code, url.Values{"code_verifier": {verifier}, "client_secret": {"guess"}})
		wantOAuthError(t, "secret", status, body, "invalid_client")
		// The answer of any wrong secret: it does not say the client is public.
		if body["error_description"] != "client authentication failed" {
			t.Errorf("public client with a secret: %q", body["error_description"])
		}
	})
	t.Run("audience of another API", func(t *testing.T) {
		code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
		status, body := exchange(code, url.Values{"code_verifier": {verifier}, "audience": {"https://nope.example.com"}})
		wantOAuthError(t, "audience", status, body, "invalid_target")
	})
}

func TestPKCEDowngradeRefused(t *testing.T) {
	srv, _ := startFlows(t)
	// A confidential client may skip PKCE; a verifier then sent with its
	// code is a downgrade attempt (RFC 9700 §2.1.1).
	web := &oauth2.Config{
		ClientID: "partner-web", ClientSecret: "demo-m2m-secret",
		Endpoint:    oauth2.Endpoint{AuthURL: srv.URL + endpoint.PathAuthorize, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL: "https://partner.example.com/cb", Scopes: []string{"read:users"},
	}
	b := enginetest.NewBrowser(t, srv.URL)
	_, page := b.SignInPage(web.AuthCodeURL("s1"), "alice", "alice-password") // then consent: a third-party client
	_, _, loc := b.Submit(page, url.Values{"decision": {"allow"}})
	code := callback(t, srv, loc, "https://partner.example.com/cb", "s1").Get("code")
	_, err := web.Exchange(context.Background(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(re.ErrorDescription, "downgrade") {
		t.Errorf("downgrade: %v", err)
	}
	// Without a verifier the same kind of code works.
	status, _, loc := b.Visit(web.AuthCodeURL("s2"))
	if loc == nil {
		t.Fatalf("want a redirect (signed in, consent remembered), got %d", status)
	}
	code = callback(t, srv, loc, "https://partner.example.com/cb", "s2").Get("code")
	if _, err := web.Exchange(context.Background(), code); err != nil {
		t.Errorf("confidential client without PKCE: %v", err)
	}
}

func TestAuthorizeRequestErrors(t *testing.T) {
	srv, _ := startFlows(t)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := func(kv ...string) string {
		q := url.Values{"response_type": {"code"}, "client_id": {"demo-spa"}, "redirect_uri": {spaCallback},
			"state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "scope": {"openid read:users"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				q.Del(kv[i])
			} else {
				q.Set(kv[i], kv[i+1])
			}
		}
		return srv.URL + endpoint.PathAuthorize + "?" + q.Encode()
	}
	// Before the client and its redirect URI are verified: an error page,
	// never a redirect (no open redirector).
	pages := []struct{ name, url string }{
		{"unregistered redirect URI", base("redirect_uri", "https://evil.example.com/cb")},
		{"redirect URI differs by a slash", base("redirect_uri", spaCallback+"/")},
		{"unknown client", base("client_id", "nobody")},
		{"no client", base("client_id", "")},
		{"machine client", base("client_id", "demo-m2m")},
		{"repeated parameter", base() + "&state=again"},
	}
	for _, tt := range pages {
		t.Run(tt.name, func(t *testing.T) {
			status, page, loc := enginetest.NewBrowser(t, srv.URL).Visit(tt.url)
			if loc != nil || status != http.StatusBadRequest || !strings.Contains(page, "<h1>") {
				t.Errorf("got %d, redirect %v", status, loc)
			}
		})
	}
	// After: the error goes back to the client, with state and iss.
	redirects := []struct{ name, url, code string }{
		{"no PKCE from a public client", base("code_challenge", "", "code_challenge_method", ""), "invalid_request"},
		{"plain PKCE", base("code_challenge_method", "plain"), "invalid_request"},
		{"PKCE method missing", base("code_challenge_method", ""), "invalid_request"},
		{"malformed challenge", base("code_challenge", "abc"), "invalid_request"},
		{"token response type", base("response_type", "token"), "unsupported_response_type"},
		{"no response type", base("response_type", ""), "invalid_request"},
		{"fragment response mode", base("response_mode", "fragment"), "invalid_request"},
		{"undefined scope", base("scope", "openid admin:all"), "invalid_scope"},
		{"unknown API", base("audience", "https://nope.example.com"), "invalid_target"},
		{"client without a user grant", base("client_id", "nogrant-spa", "redirect_uri", "http://localhost:5000/callback"), "access_denied"},
		{"prompt=none without a session", base("prompt", "none"), "login_required"},
		{"bad prompt", base("prompt", "none login"), "invalid_request"},
		{"request object", base("request", "eyJ.x.y"), "request_not_supported"},
	}
	for _, tt := range redirects {
		t.Run(tt.name, func(t *testing.T) {
			_, _, loc := enginetest.NewBrowser(t, srv.URL).Visit(tt.url)
			if loc == nil {
				t.Fatal("want a redirect to the client")
			}
			redirect := spaCallback
			if strings.Contains(tt.url, "nogrant-spa") {
				redirect = "http://localhost:5000/callback"
			}
			q := callback(t, srv, loc, redirect, "xyz")
			if q.Get("error") != tt.code || q.Get("error_description") == "" || q.Get("code") != "" {
				t.Errorf("got %v, want error %s", q, tt.code)
			}
		})
	}
}

func TestLoginPage(t *testing.T) {
	srv, _ := startFlows(t)
	cfg := spaConfig(srv, "read:users")
	authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	t.Run("accessible, no script, strict headers", func(t *testing.T) {
		resp, err := enginetest.NewBrowser(t, srv.URL).Client.Get(authURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(body)
		for _, want := range []string{`<html lang="en">`, `<label for="username">`, `id="username"`, `<label for="password">`, `id="password"`,
			`autocomplete="current-password"`, `type="password"`, `<button type="submit">Sign in</button>`, `name="csrf_token"`} {
			if !strings.Contains(page, want) {
				t.Errorf("login page lacks %s", want)
			}
		}
		if strings.Contains(page, "<script") {
			t.Error("the login page must work without JavaScript")
		}
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self' http://localhost:3000"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("headers %v", h)
		}
	})

	t.Run("same answer for unknown user and wrong password", func(t *testing.T) {
		answer := func(user, pw string) (int, string) {
			b := enginetest.NewBrowser(t, srv.URL)
			_, page, _ := b.Visit(authURL)
			status, page, loc := b.Submit(page, url.Values{"username": {user}, "password": {pw}})
			if loc != nil {
				t.Fatalf("signed in as %s", user)
			}
			m := regexp.MustCompile(`role="alert">([^<]*)<`).FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no error shown:\n%s", page)
			}
			return status, m[1]
		}
		s1, m1 := answer("alice", "wrong-password")
		s2, m2 := answer("mallory", "wrong-password")
		if s1 != s2 || m1 != m2 || !strings.Contains(m1, "Wrong username or password") {
			t.Errorf("wrong password: %d %q; unknown user: %d %q", s1, m1, s2, m2)
		}
	})

	t.Run("CSRF token missing or wrong", func(t *testing.T) {
		for name, token := range map[string]string{"missing": "", "wrong": "AAAA"} {
			b := enginetest.NewBrowser(t, srv.URL)
			_, page, _ := b.Visit(authURL)
			page = regexp.MustCompile(`<input type="hidden" name="csrf_token" value="[^"]*">`).ReplaceAllString(page, "")
			status, body, loc := b.Submit(page, url.Values{"username": {"alice"}, "password": {"alice-password"}, "csrf_token": {token}})
			if status != http.StatusForbidden || loc != nil || !strings.Contains(body, "Sign-in refused") {
				t.Errorf("%s token: %d, redirect %v", name, status, loc)
			}
		}
	})

	t.Run("a request started in another browser", func(t *testing.T) {
		_, page, _ := enginetest.NewBrowser(t, srv.URL).Visit(authURL)
		status, _, loc := enginetest.NewBrowser(t, srv.URL).Submit(page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
		if status != http.StatusForbidden || loc != nil {
			t.Errorf("login CSRF: %d, redirect %v", status, loc)
		}
	})

	t.Run("a post from another site", func(t *testing.T) {
		b := enginetest.NewBrowser(t, srv.URL)
		_, page, _ := b.Visit(authURL)
		form := url.Values{"username": {"alice"}, "password": {"alice-password"}}
		for _, m := range regexp.MustCompile(`name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
			form.Set(m[1], m[2])
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+endpoint.PathLogin, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		status, _, loc := b.Read(must(b.Client.Do(req)))
		if status != http.StatusForbidden || loc != nil {
			t.Errorf("cross-site post: %d, redirect %v", status, loc)
		}
	})

	t.Run("expired request", func(t *testing.T) {
		status, page, _ := enginetest.NewBrowser(t, srv.URL).Visit(srv.URL + endpoint.PathLogin + "?request=nope")
		if status != http.StatusBadRequest || !strings.Contains(page, "expired") {
			t.Errorf("got %d", status)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLoginThrottling(t *testing.T) {
	srv, _ := startFlows(t)
	cfg := spaConfig(srv, "read:users")
	authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	try := func(user, pw string) (int, string, *url.URL) {
		b := enginetest.NewBrowser(t, srv.URL)
		_, page, _ := b.Visit(authURL)
		return b.Submit(page, url.Values{"username": {user}, "password": {pw}})
	}
	for i := range 5 {
		if status, _, _ := try("alice", fmt.Sprint("guess", i)); status != http.StatusOK {
			t.Fatalf("failure %d: %d", i, status)
		}
	}
	// Now alice is throttled, even with the right password, and so is
	// "ALICE" (the same login); an unknown user is throttled the same way.
	for _, u := range []string{"alice", "ALICE"} {
		status, page, loc := try(u, "alice-password")
		if status != http.StatusTooManyRequests || loc != nil || !strings.Contains(page, "Too many failed sign-ins") {
			t.Errorf("%s after 5 failures: %d, redirect %v", u, status, loc)
		}
	}
	for i := range 5 {
		try("ghost", fmt.Sprint("guess", i))
	}
	if status, _, _ := try("ghost", "x"); status != http.StatusTooManyRequests {
		t.Errorf("unknown user not throttled alike: %d", status)
	}
	// Others still sign in... until the IP has failed 20 times.
	if _, _, loc := try("bob", "bob-password"); loc == nil {
		t.Error("bob throttled by alice's failures")
	}
	for i := range 12 {
		try(fmt.Sprint("user", i), "x")
	}
	if status, _, _ := try("carol", "carol-password"); status != http.StatusTooManyRequests {
		t.Errorf("per-IP limit not applied: %d", status)
	}
}

func TestPostLoginHooks(t *testing.T) {
	srv, calls := startFlows(t)
	// A hook denies bob on other-spa: he lands back there with the reason.
	other := spaConfig(srv, "read:users")
	other.ClientID, other.RedirectURL = "other-spa", "http://localhost:4000/callback"
	loc := enginetest.NewBrowser(t, srv.URL).SignIn(other.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "bob", "bob-password")
	q := callback(t, srv, loc, other.RedirectURL, "st")
	if q.Get("error") != "access_denied" || q.Get("error_description") != "bob may not use other-spa" {
		t.Errorf("hook deny: %v", q)
	}

	// A hook sets a claim from what the event carries.
	cfg := spaConfig(srv, "offline_access", "read:users", "write:users", "delete:users")
	code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := enginetest.Verify(t, srv.Issuer, tok.AccessToken)
	lc, _ := json.Marshal(claims["login_context"])
	want := `{"client":"demo-spa","current":["read:users","write:users"],"department":"engineering","requested":["read:users","write:users","delete:users"],"roles":["admin"]}`
	if string(lc) != want {
		t.Errorf("login_context = %s\nwant %s", lc, want)
	}
	// permissions_claim: alice's permissions within demo-spa's grant.
	if p, _ := json.Marshal(claims["permissions"]); string(p) != `["read:users","write:users"]` {
		t.Errorf("permissions = %s", p)
	}
	// Refresh runs the pipeline again.
	before := callCount(calls, "deny-bob:refresh_token")
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	if _, err := cfg.TokenSource(context.Background(), &expired).Token(); err != nil {
		t.Fatal(err)
	}
	if callCount(calls, "deny-bob:refresh_token") != before+1 {
		t.Error("post-login hooks did not run on refresh")
	}
}

func callCount(calls *sync.Map, key string) int {
	n, ok := calls.Load(key)
	if !ok {
		return 0
	}
	return int(n.(*atomic.Int64).Load())
}

func TestEmptyResultForUsers(t *testing.T) {
	srv, _ := startFlows(t)
	// carol has no permission on the RBAC API: asking for API scopes gets
	// access_denied rather than a token that can do nothing...
	cfg := spaConfig(srv, "read:users")
	loc := enginetest.NewBrowser(t, srv.URL).SignIn(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "carol", "carol-password")
	if q := callback(t, srv, loc, spaCallback, "st"); q.Get("error") != "access_denied" {
		t.Errorf("carol with API scopes: %v", q)
	}
	// ...while signing in only (OpenID Connect scopes) works.
	cfg = spaConfig(srv, "openid")
	code, verifier := codeFor(t, srv, cfg, "carol", "carol-password")
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "openid" || tok.Extra("id_token") == nil || tok.RefreshToken != "" {
		t.Errorf("sign-in only: scope %v, refresh %q", tok.Extra("scope"), tok.RefreshToken)
	}
}

func TestRefreshTokenRotationAndReuse(t *testing.T) {
	srv, _ := startFlows(t)
	cfg := spaConfig(srv, "offline_access", "read:users", "write:users")
	code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string, extra ...string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-spa"}, "refresh_token": {rt}}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		return tokenRequest(t, srv, form)
	}
	rt1 := tok.RefreshToken
	status, body := refresh(rt1, "scope", "read:users")
	if status != 200 || body["scope"] != "read:users" || body["refresh_token"] == rt1 {
		t.Fatalf("narrowed refresh: %d %v", status, body)
	}
	rt2 := body["refresh_token"].(string)
	// The ceiling stays what was first granted.
	status, body = refresh(rt2, "scope", "read:users delete:users")
	wantOAuthError(t, "widening", status, body, "invalid_scope")
	status, body = refresh(rt2)
	if status != 200 || body["scope"] != "offline_access read:users write:users" {
		t.Fatalf("full refresh: %d %v", status, body)
	}
	rt3 := body["refresh_token"].(string)
	// Another client cannot use it (and that revokes it).
	other := url.Values{"grant_type": {"refresh_token"}, "client_id": {"other-spa"}, "refresh_token": {rt3}}
	status, body = tokenRequest(t, srv, other)
	wantOAuthError(t, "other client", status, body, "invalid_grant")
	status, body = refresh(rt3)
	wantOAuthError(t, "after another client used it", status, body, "invalid_grant")

	// A fresh family: reuse of a rotated-out token revokes the whole family.
	code, verifier = codeFor(t, srv, cfg, "alice", "alice-password")
	tok, err = cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	status, body = refresh(tok.RefreshToken)
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, body)
	}
	current := body["refresh_token"].(string)
	status, body = refresh(tok.RefreshToken) // stolen and replayed
	wantOAuthError(t, "reuse", status, body, "invalid_grant")
	status, body = refresh(current) // the legitimate holder is cut off too
	wantOAuthError(t, "family revoked", status, body, "invalid_grant")
	status, body = refresh("garbage")
	wantOAuthError(t, "unknown", status, body, "invalid_grant")
}

func TestConcurrentRefreshOnlyOneWins(t *testing.T) {
	srv, _ := startFlows(t)
	tok := tokensFor(t, srv, spaConfig(srv, "offline_access", "read:users"), "alice", "alice-password")
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-spa"}, "refresh_token": {tok.RefreshToken}}
			req, _ := http.NewRequest(http.MethodPost, srv.TokenEndpoint(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if ok := slices.Index(statuses, 200); ok < 0 || slices.Contains(statuses[ok+1:], 200) {
		t.Errorf("statuses %v: want exactly one 200", statuses)
	}
}

func TestSessionsAndPrompts(t *testing.T) {
	srv, _ := startFlows(t)
	cfg := spaConfig(srv, "openid", "read:users")
	b := enginetest.NewBrowser(t, srv.URL)
	authURL := func(opts ...oauth2.AuthCodeOption) string {
		return cfg.AuthCodeURL("st", append(opts, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))...)
	}
	loc := b.SignIn(authURL(), "alice", "alice-password")
	if callback(t, srv, loc, spaCallback, "st").Get("code") == "" {
		t.Fatal("no code")
	}
	// Signed in: the next authorization needs no password, prompt=none works.
	for _, opts := range [][]oauth2.AuthCodeOption{nil, {oauth2.SetAuthURLParam("prompt", "none")}} {
		_, _, loc := b.Visit(authURL(opts...))
		if loc == nil || callback(t, srv, loc, spaCallback, "st").Get("code") == "" {
			t.Errorf("SSO with %v: %v", opts, loc)
		}
	}
	// prompt=login and max_age=0 ask again.
	for _, p := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
		status, page, loc := b.Visit(authURL(p))
		if loc != nil || status != 200 || !strings.Contains(page, "<h1>Sign in</h1>") {
			t.Errorf("forced login: %d %v", status, loc)
		}
	}
	// Sign out: GET asks, POST does it; then prompt=none fails.
	_, page, _ := b.Visit(srv.URL + endpoint.PathLogout)
	if _, page, _ = b.Submit(page, nil); !strings.Contains(page, "You are signed out") {
		t.Errorf("logout page:\n%s", page)
	}
	_, _, loc = b.Visit(authURL(oauth2.SetAuthURLParam("prompt", "none")))
	if q := callback(t, srv, loc, spaCallback, "st"); q.Get("error") != "login_required" {
		t.Errorf("after logout: %v", q)
	}
}

// A session ends when its user's password changes in the tenant (or the
// user goes): whoever changed it meant to shut out whoever knew the old
// one. A reload that leaves the password as it was keeps it.
func TestPasswordChangeEndsSessions(t *testing.T) {
	src := flowTenant(t)
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(src), Server: server.Config{Hooks: flowHooks(&sync.Map{})}})
	cfg := spaConfig(srv, "openid", "read:users")
	authURL := func(opts ...oauth2.AuthCodeOption) string {
		return cfg.AuthCodeURL("st", append(opts, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))...)
	}
	b := enginetest.NewBrowser(t, srv.URL)
	silent := func() url.Values {
		t.Helper()
		_, _, loc := b.Visit(authURL(oauth2.SetAuthURLParam("prompt", "none")))
		return callback(t, srv, loc, spaCallback, "st")
	}
	if callback(t, srv, b.SignIn(authURL(), "alice", "alice-password"), spaCallback, "st").Get("code") == "" {
		t.Fatal("no code")
	}
	reloadTenant(t, srv, src)
	if q := silent(); q.Get("code") == "" {
		t.Fatalf("after a reload of the same tenant: %v", q)
	}
	old := regexp.MustCompile(`password_hash: "([^"]+)"`).FindStringSubmatch(src)[1] // alice's, the first user
	fresh, err := tenant.HashPassword("alice-new-password", tenant.Argon2Params{Memory: 64, Time: 1, Threads: 1}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	reloadTenant(t, srv, strings.Replace(src, old, fresh, 1))
	if q := silent(); q.Get("error") != "login_required" {
		t.Fatalf("after alice's password changed: %v, want login_required", q)
	}
	if callback(t, srv, b.SignIn(authURL(), "alice", "alice-new-password"), spaCallback, "st").Get("code") == "" {
		t.Fatal("no code with the new password")
	}
}

func TestConsentPage(t *testing.T) {
	audit := &recorder{}
	srv, _ := startFlows(t, withAuditor(audit))
	web := func(state string, scopes ...string) string {
		q := url.Values{"response_type": {"code"}, "client_id": {"partner-web"}, "redirect_uri": {"https://partner.example.com/cb"},
			"state": {state}, "scope": {strings.Join(scopes, " ")}}
		return srv.URL + endpoint.PathAuthorize + "?" + q.Encode()
	}
	b := enginetest.NewBrowser(t, srv.URL)
	loc, page := b.SignInPage(web("s1", "openid", "read:users", "write:users"), "bob", "bob-password")
	if loc != nil || !strings.Contains(page, "Partner Web App") {
		t.Fatalf("want the consent page, got %v\n%s", loc, page)
	}
	// The page lists what will be granted (RBAC already applied), described.
	for _, want := range []string{"<code>openid</code>: Sign you in", "<code>read:users</code>: Read user profiles", `value="allow"`, `value="deny"`} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(page, "write:users") {
		t.Error("the consent page lists a scope bob cannot grant")
	}
	_, _, loc = b.Submit(page, url.Values{"decision": {"deny"}})
	q := callback(t, srv, loc, "https://partner.example.com/cb", "s1")
	if q.Get("error") != "access_denied" {
		t.Errorf("denied consent: %v", q)
	}
	if d := audit.last(); d.Outcome != engine.OutcomeDenied || d.Tx.Trace[len(d.Tx.Trace)-1].Stage != "consent" {
		t.Errorf("consent denial not audited: %+v", d)
	}
	// Allow, and the next time it is not asked again.
	_, page, _ = b.Visit(web("s2", "openid", "read:users"))
	_, _, loc = b.Submit(page, url.Values{"decision": {"allow"}})
	if callback(t, srv, loc, "https://partner.example.com/cb", "s2").Get("code") == "" {
		t.Fatal("no code after consent")
	}
	_, _, loc = b.Visit(web("s3", "read:users"))
	if loc == nil || callback(t, srv, loc, "https://partner.example.com/cb", "s3").Get("code") == "" {
		t.Error("consent asked again for a subset")
	}
	// Asking for more than consented asks again.
	status, page, _ := b.Visit(web("s4", "openid", "email", "read:users"))
	if status != 200 || !strings.Contains(page, "<code>email</code>") {
		t.Errorf("new scope did not ask for consent: %d", status)
	}
}

func TestCodeExpires(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	srv, _ := startFlows(t, withClock(clock.Now))
	cfg := spaConfig(srv, "read:users")
	code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
	clock.Add(61 * time.Second)
	_, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("expired code: %v", err)
	}
}

func TestUserinfoRefusals(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	userinfo(t, srv, "", http.StatusUnauthorized)
	userinfo(t, srv, "not.a.token", http.StatusUnauthorized)
	// A client-credentials token is no user's.
	_, body, _ := post(t, srv.TokenEndpoint(), url.Values{"grant_type": {"client_credentials"}}, "demo-m2m", "demo-m2m-secret")
	userinfo(t, srv, body["access_token"].(string), http.StatusForbidden)
}

func TestCORSForPublicClients(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	for _, target := range []string{srv.TokenEndpoint(), srv.URL + endpoint.PathPAR, srv.URL + endpoint.PathRevoke, srv.URL + endpoint.PathUserinfo} {
		t.Run(strings.TrimPrefix(target, srv.URL), func(t *testing.T) { testCORS(t, target) })
	}
}

// testCORS checks the preflight of a request to target from the demo
// spa's origin, and from another.
func testCORS(t *testing.T, target string) {
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, target, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := preflight("http://localhost:3000"); r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "DPoP") || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Errorf("demo-spa origin: %d %v", r.StatusCode, r.Header)
	}
	if r := preflight("https://evil.example.com"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", r.Header)
	}
}

func TestSecureCookiesForHTTPSIssuer(t *testing.T) {
	tn, err := tenant.Parse(demo.Tenant, "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.NewStore(t.TempDir()).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	iss, err := server.New(context.Background(), tn, ks, server.Config{Issuer: "https://id.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	q := url.Values{"response_type": {"code"}, "client_id": {"demo-spa"}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}}
	req, _ := http.NewRequest(http.MethodGet, "https://id.example.com/authorize?"+q.Encode(), nil)
	rec := httptest.NewRecorder()
	iss.Handler().ServeHTTP(rec, req)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != "__Host-scopeline-browser" || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v", c)
	}
}

// loginRecorder is an auditor that also records sign-ins.
type loginRecorder struct {
	recorder
	mu     sync.Mutex
	logins []engine.Login
}

func (l *loginRecorder) RecordLogin(_ context.Context, e *engine.Login) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logins = append(l.logins, *e)
	return nil
}

func TestLoginEvents(t *testing.T) {
	audit := &loginRecorder{}
	srv, _ := startFlows(t, withAuditor(audit))
	cfg := spaConfig(srv, "read:users")
	authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	b := enginetest.NewBrowser(t, srv.URL)
	_, page, _ := b.Visit(authURL)
	b.Submit(page, url.Values{"username": {"alice"}, "password": {"not-her-password"}})
	b.SignIn(authURL, "alice", "alice-password")

	audit.mu.Lock()
	defer audit.mu.Unlock()
	if len(audit.logins) != 2 {
		t.Fatalf("logins %+v", audit.logins)
	}
	failed, ok := audit.logins[0], audit.logins[1]
	if failed.Outcome != engine.LoginFailed || failed.UserID != "" || failed.LoginName != "alice" || failed.ClientID != "demo-spa" || failed.IP == "" {
		t.Errorf("failed sign-in %+v", failed)
	}
	if ok.Outcome != engine.LoginSucceeded || ok.UserID != "alice" || ok.Issuer != srv.Issuer {
		t.Errorf("sign-in %+v", ok)
	}
	if strings.Contains(fmt.Sprintf("%+v", audit.logins), "password") {
		t.Error("a password reached the auditor")
	}
}

// A token granted no API scope must not gain the grant's ceiling on
// refresh: the family's empty scope set is a set, not "no scope asked".
func TestRefreshKeepsAnEmptyAPIScopeSet(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	ctx := context.Background()
	cfg := spaConfig(srv, "openid", "offline_access")
	verifier := oauth2.GenerateVerifier()
	loc := enginetest.NewBrowser(t, srv.URL).SignIn(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice", "alice-password")
	q := callback(t, srv, loc, spaCallback, "st")
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "openid offline_access" || tok.RefreshToken == "" {
		t.Fatalf("first token: scope %q, refresh %q", tok.Extra("scope"), tok.RefreshToken)
	}
	tok.Expiry = time.Now().Add(-time.Minute) // make the client refresh
	refreshed, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.AccessToken == tok.AccessToken {
		t.Fatal("no refresh happened")
	}
	if refreshed.Extra("scope") != "openid offline_access" {
		t.Errorf("refreshed scope %q, want %q", refreshed.Extra("scope"), "openid offline_access")
	}
}
