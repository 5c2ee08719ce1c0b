package engine_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
)

// The tests of the standard endpoints: token exchange (RFC 8693),
// revocation (RFC 7009) and introspection (RFC 7662, RFC 9701), through
// HTTP.

const (
	usersAPI   = "https://users.example.com"
	billingAPI = "https://billing.example.com"
	auditAPI   = "https://audit.example.com"
	secret     = "demo-m2m-secret" // every m2m client's secret in stdTenant
)

// stdTenant: alice signs in at demo-spa for the users API; gateway may
// exchange users tokens for billing tokens (with robot as an actor), and
// billing tokens for audit tokens; gateway and auditor may introspect.
func stdTenant(t testing.TB) string {
	t.Helper()
	h, err := tenant.HashPassword("alice-password", tenant.Argon2Params{Memory: 64, Time: 1, Threads: 1}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const digest = "sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"
	return `
default_audience: ` + usersAPI + `
apis:
  - identifier: ` + usersAPI + `
    rbac: true
    access_token_denylist: true
    scopes: [{name: read:users}, {name: write:users}]
  - identifier: ` + billingAPI + `
    access_token_denylist: true
    scopes: [{name: read:invoices}, {name: read:users}]
  - identifier: ` + auditAPI + `
    scopes: [{name: read:audit}]
clients:
  - {id: demo-spa, type: spa, redirect_uris: ["http://localhost:3000/callback"]}
  - {id: gateway, type: m2m, secrets: [` + digest + `], introspect: [` + usersAPI + `, ` + billingAPI + `], introspection_signed_response_alg: ES256}
  - {id: worker, type: m2m, secrets: [` + digest + `]}
  - {id: robot, type: m2m, secrets: [` + digest + `]}
  - {id: intruder, type: m2m, secrets: [` + digest + `]}
  - {id: revoker, type: m2m, secrets: [` + digest + `], revoke: [` + usersAPI + `]}
grants:
  - {client: demo-spa, api: ` + usersAPI + `, scopes: [read:users, write:users], subjects: [user]}
  - {client: worker, api: ` + usersAPI + `, scopes: [read:users]}
  - {client: worker, api: ` + auditAPI + `, scopes: [read:audit]}
  - {client: robot, api: ` + auditAPI + `, scopes: [read:audit]}
  - {client: intruder, api: ` + usersAPI + `, scopes: [read:users]}
token_exchange:
  - client: gateway
    from: [` + usersAPI + `]
    to: ` + billingAPI + `
    scopes: [read:invoices, read:users]
    subjects: [user, client]
    actors: [robot]
  - client: gateway
    from: [` + billingAPI + `]
    to: ` + auditAPI + `
    scopes: [read:audit]
    cap_by_subject_scopes: false
roles:
  - name: admin
    permissions: [{api: ` + usersAPI + `, scopes: [read:users, write:users]}]
users:
  - {id: alice, username: alice, password_hash: "` + h + `", roles: [admin]}
pipelines:
  token-exchange:
    hooks:
      - {name: see, plugin: see}
`
}

// startStd starts an issuer serving stdTenant whose token-exchange hook
// records the subject token's audience and the actor chain it sees in a
// claim, and whose auditor keeps every decision and revocation.
func startStd(t *testing.T, opts ...option) (*enginetest.Server, *stdAuditor) {
	t.Helper()
	loader := &goLoader{hooks: map[string]func(v engine.View) (*engine.HookResult, error){
		"see": func(v engine.View) (*engine.HookResult, error) {
			x, ok := v.Exchange()
			if !ok {
				return nil, nil
			}
			var subject map[string]any
			if err := json.Unmarshal(x.SubjectClaims, &subject); err != nil {
				return nil, err
			}
			seen, _ := json.Marshal(map[string]any{"subject_aud": subject["aud"], "actor": x.Actor, "chain": x.Chain, "actor_token": x.ActorClaims != nil})
			return &engine.HookResult{Ops: []engine.HookOp{{Kind: engine.HookSetClaim, Name: "seen", Value: seen, Reason: "test"}}}, nil
		},
	}}
	a := &stdAuditor{}
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(stdTenant(t)), Server: configure(server.Config{Hooks: loader, Auditor: a}, opts...)})
	return srv, a
}

type stdAuditor struct {
	recorder
	mu             sync.Mutex
	revocations    []*engine.Revocation
	introspections []*engine.Introspection
	// failing makes RecordRevocation and RecordIntrospection fail, as an
	// audit stream that cannot take events does.
	failing bool
}

func (a *stdAuditor) RecordIntrospection(_ context.Context, r *engine.Introspection) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.introspections = append(a.introspections, r)
	if a.failing {
		return errors.New("audit stream down")
	}
	return nil
}

func (a *stdAuditor) lastIntrospection() *engine.Introspection {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.introspections[len(a.introspections)-1]
}

func (a *stdAuditor) fail(fail bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failing = fail
}

func (a *stdAuditor) RecordRevocation(_ context.Context, r *engine.Revocation) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revocations = append(a.revocations, r)
	if a.failing {
		return errors.New("audit stream down")
	}
	return nil
}

func (a *stdAuditor) lastRevocation() *engine.Revocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.revocations[len(a.revocations)-1]
}

// userToken signs alice in at demo-spa and returns her users-API tokens.
func userToken(t *testing.T, srv *enginetest.Server) (access, refresh string) {
	t.Helper()
	cfg := spaConfig(srv, "offline_access", "read:users", "write:users")
	code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
	status, body := tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "client_id": {"demo-spa"},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {spaCallback}})
	if status != 200 {
		t.Fatalf("code exchange: %d %v", status, body)
	}
	return body["access_token"].(string), body["refresh_token"].(string)
}

// clientToken gets a client-credentials token.
func clientToken(t *testing.T, srv *enginetest.Server, client, audience string) string {
	t.Helper()
	status, body, _ := post(t, srv.TokenEndpoint(), url.Values{"grant_type": {"client_credentials"}, "audience": {audience}}, client, secret)
	if status != 200 {
		t.Fatalf("client credentials for %s: %d %v", client, status, body)
	}
	return body["access_token"].(string)
}

// exchange posts a token exchange by client.
func exchange(t *testing.T, srv *enginetest.Server, client, subjectToken string, params ...string) (int, map[string]any) {
	t.Helper()
	form := url.Values{
		"grant_type":         {engine.GrantTokenExchange},
		"subject_token":      {subjectToken},
		"subject_token_type": {engine.TokenTypeAccessToken},
	}
	for i := 0; i+1 < len(params); i += 2 {
		form.Set(params[i], params[i+1])
	}
	status, body, _ := post(t, srv.TokenEndpoint(), form, client, secret)
	return status, body
}

func TestTokenExchange(t *testing.T) {
	srv, audit := startStd(t)
	access, _ := userToken(t, srv)

	// The gateway exchanges alice's users token for a billing token: the
	// ceiling is read:invoices and read:users, capped by her token's
	// scopes, so read:users only.
	status, body := exchange(t, srv, "gateway", access, "audience", billingAPI)
	if status != 200 || body["issued_token_type"] != engine.TokenTypeAccessToken || body["token_type"] != "Bearer" || body["scope"] != "read:users" {
		t.Fatalf("exchange: %d %v", status, body)
	}
	billing := body["access_token"].(string)
	claims, _ := enginetest.Verify(t, srv.Issuer, billing)
	if claims["sub"] != "alice" || claims["aud"] != billingAPI || claims["client_id"] != "gateway" {
		t.Errorf("exchanged token claims = %v", claims)
	}
	if act, _ := json.Marshal(claims["act"]); string(act) != `{"sub":"gateway"}` {
		t.Errorf("act = %s, want the gateway as actor", act)
	}
	if seen, _ := json.Marshal(claims["seen"]); string(seen) != `{"actor":"gateway","actor_token":false,"chain":["gateway"],"subject_aud":"https://users.example.com"}` {
		t.Errorf("the hook saw %s", seen)
	}
	d := audit.last()
	if d.Tx.Trigger != tenant.TriggerTokenExchange || d.Tx.Exchange == nil || d.Tx.Exchange.SubjectAPI.Identifier != usersAPI {
		t.Errorf("decision: trigger %q exchange %+v", d.Tx.Trigger, d.Tx.Exchange)
	}
	traced := false
	for _, e := range d.Tx.Trace {
		if e.Claim == "act" && strings.Contains(e.Reason, "gateway for alice") {
			traced = true
		}
		if e.Scope == "read:invoices" && e.Refused && !strings.Contains(e.Reason, "subject token's scopes") {
			t.Errorf("read:invoices refused for %q", e.Reason)
		}
	}
	if !traced {
		t.Errorf("the trace does not show the actor chain: %+v", d.Tx.Trace)
	}

	// The billing token is exchanged again for an audit token: the chain
	// nests (RFC 8693 §4.1), and this rule is not capped by the subject's
	// scopes.
	status, body = exchange(t, srv, "gateway", billing, "resource", auditAPI)
	if status != 200 || body["scope"] != "read:audit" {
		t.Fatalf("second exchange: %d %v", status, body)
	}
	claims, _ = enginetest.Verify(t, srv.Issuer, body["access_token"].(string))
	if act, _ := json.Marshal(claims["act"]); string(act) != `{"act":{"sub":"gateway"},"sub":"gateway"}` {
		t.Errorf("nested act = %s", act)
	}

	// With an actor token: robot acts, and its claims reach the hook.
	robot := clientToken(t, srv, "robot", auditAPI)
	status, body = exchange(t, srv, "gateway", access, "audience", billingAPI,
		"actor_token", robot, "actor_token_type", engine.TokenTypeAccessToken, "scope", "read:users")
	if status != 200 {
		t.Fatalf("exchange with an actor: %d %v", status, body)
	}
	claims, _ = enginetest.Verify(t, srv.Issuer, body["access_token"].(string))
	if act, _ := json.Marshal(claims["act"]); string(act) != `{"sub":"robot"}` {
		t.Errorf("act with an actor token = %s", act)
	}
	if seen, _ := claims["seen"].(map[string]any); seen["actor_token"] != true {
		t.Errorf("the hook did not see the actor token: %v", claims["seen"])
	}

	// A client's own token may be exchanged too (subjects: [user, client]).
	status, body = exchange(t, srv, "gateway", clientToken(t, srv, "worker", usersAPI), "audience", billingAPI)
	if status != 200 || body["scope"] != "read:users" {
		t.Fatalf("exchange of a client token: %d %v", status, body)
	}
}

func TestTokenExchangeRefusals(t *testing.T) {
	srv, audit := startStd(t)
	access, _ := userToken(t, srv)
	worker := clientToken(t, srv, "worker", auditAPI)
	intruderToken := clientToken(t, srv, "intruder", usersAPI)
	for _, tc := range []struct {
		name   string
		client string
		token  string
		params []string
		code   string
	}{
		{"client without an exchange", "intruder", access, []string{"audience", billingAPI}, "invalid_target"},
		{"pair of APIs without an exchange", "gateway", access, []string{"audience", auditAPI}, "invalid_target"},
		{"subject token of an API it may not exchange", "gateway", worker, []string{"audience", billingAPI}, "invalid_target"},
		{"no target", "gateway", access, nil, "invalid_request"},
		{"unknown target", "gateway", access, []string{"audience", "https://nowhere.example.com"}, "invalid_target"},
		{"scope outside the subject token's", "gateway", access, []string{"audience", billingAPI, "scope", "read:invoices"}, "invalid_scope"},
		{"malformed subject token", "gateway", "not-a-token", []string{"audience", billingAPI}, "invalid_request"},
		{"forged subject token", "gateway", forge(t, srv.Issuer), []string{"audience", billingAPI}, "invalid_request"},
		{"no subject_token_type", "gateway", access, []string{"audience", billingAPI, "subject_token_type", ""}, "invalid_request"},
		{"other requested_token_type", "gateway", access, []string{"audience", billingAPI, "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"}, "invalid_request"},
		{"actor not allowed to act", "gateway", access, []string{"audience", billingAPI, "actor_token", intruderToken, "actor_token_type", engine.TokenTypeAccessToken}, "invalid_request"},
		{"actor token without its type", "gateway", access, []string{"audience", billingAPI, "actor_token", intruderToken}, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := exchange(t, srv, tc.client, tc.token, tc.params...)
			wantOAuthError(t, tc.name, status, body, tc.code)
			if d := audit.last(); d.Outcome != engine.OutcomeDenied || d.Tx.GrantType != engine.GrantTokenExchange {
				t.Errorf("recorded %s for %s", d.Outcome, d.Tx.GrantType)
			}
		})
	}
	// A wrong secret is invalid_client.
	form := url.Values{"grant_type": {engine.GrantTokenExchange}, "subject_token": {access}, "subject_token_type": {engine.TokenTypeAccessToken}, "audience": {billingAPI}}
	status, body, _ := post(t, srv.TokenEndpoint(), form, "gateway", "wrong")
	wantOAuthError(t, "wrong secret", status, body, "invalid_client")
	// A public client cannot exchange.
	form.Set("client_id", "demo-spa")
	status, body, _ = post(t, srv.TokenEndpoint(), form, "", "")
	wantOAuthError(t, "public client", status, body, "invalid_client")
}

// forge signs a token that looks like the issuer's with another key.
func forge(t *testing.T, issuer string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": issuer, "sub": "alice", "aud": usersAPI, "client_id": "demo-spa",
		"exp": 4102444800, "iat": 1700000000, "jti": "forged", "scope": "read:users write:users"})
	tok.Header["typ"], tok.Header["kid"] = "at+jwt", "forged"
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// introspect posts an introspection request by client.
func introspect(t *testing.T, srv *enginetest.Server, client, clientSecret, token, accept string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+endpoint.PathIntrospect, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.SetBasicAuth(client, clientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

// revoke posts a revocation request; secret "" sends client_id alone.
func revoke(t *testing.T, srv *enginetest.Server, client, clientSecret, token, hint string) int {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	if clientSecret == "" {
		form.Set("client_id", client)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+endpoint.PathRevoke, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientSecret != "" {
		req.SetBasicAuth(client, clientSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func active(t *testing.T, srv *enginetest.Server, token string) map[string]any {
	t.Helper()
	status, raw, _ := introspect(t, srv, "gateway", secret, token, "")
	var answer map[string]any
	if status != 200 || json.Unmarshal(raw, &answer) != nil {
		t.Fatalf("introspection: %d %s", status, raw)
	}
	return answer
}

func TestIntrospection(t *testing.T) {
	srv, _ := startStd(t)
	access, refresh := userToken(t, srv)

	answer := active(t, srv, access)
	if answer["active"] != true || answer["sub"] != "alice" || answer["aud"] != usersAPI || answer["client_id"] != "demo-spa" ||
		answer["token_type"] != "Bearer" || answer["scope"] != "offline_access read:users write:users" || answer["exp"] == nil {
		t.Errorf("active answer = %v", answer)
	}
	// Inactive, and nothing more said: foreign (an API gateway may not
	// introspect), malformed, forged, a refresh token.
	for name, tok := range map[string]string{
		"foreign":   clientToken(t, srv, "robot", auditAPI),
		"malformed": "a.b.c",
		"forged":    forge(t, srv.Issuer),
		"refresh":   refresh,
	} {
		if a := active(t, srv, tok); len(a) != 1 || a["active"] != false {
			t.Errorf("%s: %v", name, a)
		}
	}

	// A signed answer (RFC 9701), with the client's algorithm.
	status, raw, h := introspect(t, srv, "gateway", secret, access, endpoint.IntrospectionJWTMedia)
	if status != 200 || h.Get("Content-Type") != endpoint.IntrospectionJWTMedia {
		t.Fatalf("signed introspection: %d %s %q", status, raw, h.Get("Content-Type"))
	}
	claims, header := enginetest.VerifyJWT(t, srv.Issuer, string(raw))
	ti, _ := claims["token_introspection"].(map[string]any)
	if header["typ"] != engine.IntrospectionType || header["alg"] != "ES256" || claims["aud"] != "gateway" || claims["iss"] != srv.Issuer || ti["active"] != true || ti["sub"] != "alice" {
		t.Errorf("signed answer: header %v claims %v", header, claims)
	}

	// Refusals: a client the tenant does not allow, a wrong secret, no token.
	if status, raw, _ := introspect(t, srv, "intruder", secret, access, ""); status != http.StatusForbidden || !strings.Contains(string(raw), "unauthorized_client") {
		t.Errorf("unauthorized client: %d %s", status, raw)
	}
	if status, raw, h := introspect(t, srv, "gateway", "wrong", access, ""); status != http.StatusUnauthorized || !strings.Contains(string(raw), "invalid_client") || h.Get("WWW-Authenticate") == "" {
		t.Errorf("wrong secret: %d %s", status, raw)
	}
	if status, _, _ := introspect(t, srv, "gateway", secret, "", ""); status != http.StatusBadRequest {
		t.Errorf("no token: %d", status)
	}
}

// TestIntrospectionIsAudited: every introspection request is recorded,
// with who asked, about which token and what they were told, and for an
// inactive token why (which the client is never told); never the token.
func TestIntrospectionIsAudited(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	srv, audit := startStd(t, withClock(clock.Now))
	access, refresh := userToken(t, srv)
	claims, _ := enginetest.Verify(t, srv.Issuer, access)
	exp, _ := claims.GetExpirationTime()

	// checked returns the introspection recorded last, failing when it
	// holds the token.
	checked := func(name, token string) *engine.Introspection {
		t.Helper()
		r := audit.lastIntrospection()
		rendered := fmt.Sprintf("%+v", *r)
		if r.Err != nil {
			rendered += " " + r.Err.Description()
		}
		if token != "" && strings.Contains(rendered, token) {
			t.Errorf("%s: the record holds the token: %+v", name, r)
		}
		if r.RequestID == "" || r.IP == "" || r.UserAgent == "" || r.Issuer != srv.Issuer || r.Time.IsZero() {
			t.Errorf("%s: request fields %+v", name, r)
		}
		return r
	}

	// Active: the token's identity, no reason.
	active(t, srv, access)
	r := checked("active", access)
	if r.Outcome != engine.IntrospectionActive || r.ClientID != "gateway" || r.TokenType != "access_token" || r.Owner != "demo-spa" ||
		r.Subject != "alice" || r.Audience != usersAPI || r.JTI != claims["jti"] || r.JTI == "" || !r.Expires.Equal(exp.Time) || r.Reason != "" || r.Err != nil {
		t.Errorf("active: recorded %+v", r)
	}

	// Inactive, each for its reason; the client is told {"active": false}
	// alone.
	robot := clientToken(t, srv, "robot", auditAPI)
	worker := clientToken(t, srv, "worker", usersAPI)
	for _, c := range []struct {
		name, token, reason string
		owner, audience     string // "" when the token is not this issuer's
	}{
		{"an API the client may not introspect", robot, "an access token of an API the client may not introspect", "robot", auditAPI},
		{"malformed", "a.b.c", "malformed, or not an access token of this issuer", "", ""},
		{"forged", forge(t, srv.Issuer), "malformed, or not an access token of this issuer", "", ""},
		{"not a JWT", "garbage", "malformed, or not a token of this issuer", "", ""},
		{"refresh", refresh, "a refresh token: introspection answers access tokens only", "demo-spa", ""},
	} {
		if a := active(t, srv, c.token); len(a) != 1 || a["active"] != false {
			t.Errorf("%s: answered %v", c.name, a)
		}
		r := checked(c.name, c.token)
		if r.Outcome != engine.IntrospectionInactive || r.ClientID != "gateway" || !strings.HasPrefix(r.Reason, c.reason) ||
			r.Owner != c.owner || r.Audience != c.audience || r.Err != nil {
			t.Errorf("%s: recorded %+v", c.name, r)
		}
		if c.owner == "" && (r.JTI != "" || r.Subject != "" || r.TokenType != "") {
			t.Errorf("%s: a token not this issuer's is described: %+v", c.name, r)
		}
	}
	if r := audit.lastIntrospection(); r.TokenType != "refresh_token" || r.Subject != "alice" || r.Expires.IsZero() {
		t.Errorf("refresh: recorded %+v", r)
	}

	// Revoked: on the denylist.
	if status := revoke(t, srv, "demo-spa", "", access, ""); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if a := active(t, srv, access); len(a) != 1 || a["active"] != false {
		t.Errorf("revoked: answered %v", a)
	}
	if r := checked("revoked", access); r.Outcome != engine.IntrospectionInactive || r.Reason != "revoked: on the access-token denylist" || r.JTI != claims["jti"] || r.Owner != "demo-spa" {
		t.Errorf("revoked: recorded %+v", r)
	}

	// Expired: at its exp (within the leeway resource servers get), and
	// long after; still named by its jti.
	wclaims, _ := enginetest.Verify(t, srv.Issuer, worker)
	for _, after := range []time.Duration{time.Hour, 3 * time.Hour} {
		clock.Add(after)
		if a := active(t, srv, worker); len(a) != 1 || a["active"] != false {
			t.Errorf("expired: answered %v", a)
		}
		if r := checked("expired", worker); r.Outcome != engine.IntrospectionInactive || r.Reason != "expired" || r.JTI != wclaims["jti"] || r.Owner != "worker" || r.Audience != usersAPI || r.Expires.IsZero() {
			t.Errorf("expired %s later: recorded %+v", after, r)
		}
	}

	// Refused: the OAuth error answered.
	for _, c := range []struct {
		name, client, secret, token, code string
		status                            int
	}{
		{"a client that may introspect nothing", "intruder", secret, worker, "unauthorized_client", http.StatusForbidden},
		{"a wrong secret", "gateway", "wrong", worker, "invalid_client", http.StatusUnauthorized},
		{"no token", "gateway", secret, "", "invalid_request", http.StatusBadRequest},
	} {
		if status, raw, _ := introspect(t, srv, c.client, c.secret, c.token, ""); status != c.status || !strings.Contains(string(raw), c.code) {
			t.Errorf("%s: %d %s", c.name, status, raw)
		}
		r := checked(c.name, c.token)
		if r.Outcome != engine.IntrospectionRefused || r.ClientID != c.client || r.Err == nil || r.Err.Code() != c.code || r.Reason == "" || r.JTI != "" {
			t.Errorf("%s: recorded %+v", c.name, r)
		}
	}

	// An introspection (or revocation) the audit stream cannot record is
	// not answered: the client asks again; a refusal is answered all the
	// same.
	audit.fail(true)
	fresh := clientToken(t, srv, "worker", usersAPI)
	status, raw, h := introspect(t, srv, "gateway", secret, fresh, "")
	if status != http.StatusServiceUnavailable || !strings.Contains(string(raw), "temporarily_unavailable") || h.Get("Retry-After") == "" || strings.Contains(string(raw), "active") {
		t.Errorf("audit stream down: %d %s Retry-After %q", status, raw, h.Get("Retry-After"))
	}
	if status, _, _ := introspect(t, srv, "intruder", secret, fresh, ""); status != http.StatusForbidden {
		t.Errorf("audit stream down, refused: %d", status)
	}
	other := clientToken(t, srv, "worker", usersAPI)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+endpoint.PathRevoke, strings.NewReader(url.Values{"token": {other}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("worker", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("audit stream down, revocation: %s Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	audit.fail(false)
	if a := active(t, srv, fresh); a["active"] != true {
		t.Errorf("asked again: %v", a)
	}
}

// TestExpiredTokens: an expired token is inactive, cannot be exchanged,
// and revoking it does nothing.
func TestExpiredTokens(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	srv, audit := startStd(t, withClock(clock.Now))
	worker := clientToken(t, srv, "worker", usersAPI)
	if a := active(t, srv, worker); a["active"] != true {
		t.Fatalf("fresh token: %v", a)
	}
	clock.Add(time.Hour) // the default token lifetime
	if a := active(t, srv, worker); len(a) != 1 || a["active"] != false {
		t.Errorf("expired token: %v", a)
	}
	status, body := exchange(t, srv, "gateway", worker, "audience", billingAPI)
	wantOAuthError(t, "exchange of an expired token", status, body, "invalid_request")
	if status := revoke(t, srv, "worker", secret, worker, ""); status != 200 || audit.lastRevocation().Outcome != engine.RevocationIgnored {
		t.Errorf("revoking an expired token: %d %+v", status, audit.lastRevocation())
	}
}

func TestRevocation(t *testing.T) {
	srv, audit := startStd(t)
	access, refresh := userToken(t, srv)

	// Another client's refresh token: 200, nothing revoked, recorded.
	if status := revoke(t, srv, "intruder", secret, refresh, "refresh_token"); status != 200 {
		t.Fatalf("revoking another client's token: %d", status)
	}
	if r := audit.lastRevocation(); r.Outcome != engine.RevocationNotOwner || r.ClientID != "intruder" || r.Owner != "demo-spa" {
		t.Errorf("recorded %+v", r)
	}
	status, body := tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-spa"}, "refresh_token": {refresh}})
	if status != 200 {
		t.Fatalf("the refresh token was revoked by another client: %d %v", status, body)
	}
	rotated := body["refresh_token"].(string)
	// Another client's access token: 200, still active.
	if status := revoke(t, srv, "intruder", secret, access, ""); status != 200 || active(t, srv, access)["active"] != true {
		t.Errorf("another client revoked an access token: %d", status)
	}

	// The owner (a public client, by its client_id) revokes the refresh
	// token it holds now: the whole family goes, the rotated-out token too.
	if status := revoke(t, srv, "demo-spa", "", rotated, "refresh_token"); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if r := audit.lastRevocation(); r.Outcome != engine.RevocationRevoked || r.TokenType != "refresh_token" || r.FamilyID == "" || r.Subject != "alice" {
		t.Errorf("recorded %+v", r)
	}
	for _, rt := range []string{rotated, refresh} {
		status, body := tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-spa"}, "refresh_token": {rt}})
		wantOAuthError(t, "revoked family", status, body, "invalid_grant")
	}
	// Revoking again, or revoking garbage: 200, nothing to do.
	if status := revoke(t, srv, "demo-spa", "", rotated, ""); status != 200 || audit.lastRevocation().Outcome != engine.RevocationIgnored {
		t.Errorf("second revocation: %d %+v", status, audit.lastRevocation())
	}
	if status := revoke(t, srv, "demo-spa", "", "garbage", ""); status != 200 {
		t.Errorf("garbage: %d", status)
	}

	// The owner revokes its access token: on the denylist, introspection
	// says inactive, and it cannot be exchanged any more.
	if status := revoke(t, srv, "demo-spa", "", access, "access_token"); status != 200 {
		t.Fatalf("revoke access token: %d", status)
	}
	if r := audit.lastRevocation(); r.Outcome != engine.RevocationRevoked || r.JTI == "" || r.Audience != usersAPI || r.Expires.IsZero() {
		t.Errorf("recorded %+v", r)
	}
	if a := active(t, srv, access); a["active"] != false {
		t.Errorf("a denylisted token is active: %v", a)
	}
	status, body = exchange(t, srv, "gateway", access, "audience", billingAPI)
	wantOAuthError(t, "exchange of a revoked token", status, body, "invalid_request")

	// A client whose `revoke` lists the API may revoke others' tokens.
	worker := clientToken(t, srv, "worker", usersAPI)
	if status := revoke(t, srv, "revoker", secret, worker, ""); status != 200 || active(t, srv, worker)["active"] != false {
		t.Errorf("revoker: %d", status)
	}
	// An API without a denylist: unsupported_token_type.
	robot := clientToken(t, srv, "robot", auditAPI)
	if status := revoke(t, srv, "robot", secret, robot, ""); status != http.StatusBadRequest || audit.lastRevocation().Err.Code() != "unsupported_token_type" {
		t.Errorf("API without a denylist: %d", status)
	}
	// Client authentication is required.
	if status := revoke(t, srv, "gateway", "wrong", access, ""); status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", status)
	}
	if status := revoke(t, srv, "gateway", "", access, ""); status != http.StatusUnauthorized {
		t.Errorf("confidential client without its secret: %d", status)
	}
}

func TestDiscoveryAdvertisesRevocationAndIntrospection(t *testing.T) {
	srv, _ := startStd(t)
	resp, err := http.Get(srv.URL + endpoint.PathOIDCMeta)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m["revocation_endpoint"] != srv.Issuer+"oauth/revoke" || m["introspection_endpoint"] != srv.Issuer+"oauth/introspect" {
		t.Errorf("endpoints: %v %v", m["revocation_endpoint"], m["introspection_endpoint"])
	}
	methods, _ := json.Marshal(m["introspection_endpoint_auth_methods_supported"])
	if strings.Contains(string(methods), `"none"`) || m["revocation_endpoint_auth_methods_supported"] == nil {
		t.Errorf("auth methods: %s %v", methods, m["revocation_endpoint_auth_methods_supported"])
	}
	grants, _ := json.Marshal(m["grant_types_supported"])
	if !strings.Contains(string(grants), engine.GrantTokenExchange) {
		t.Errorf("grant types %s", grants)
	}
}

func TestRevocationAndIntrospectionAcceptPOSTOnly(t *testing.T) {
	srv, _ := startStd(t)
	for _, path := range []string{endpoint.PathRevoke, endpoint.PathIntrospect} {
		resp, err := http.Get(srv.URL + path + "?token=x")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost || !strings.Contains(string(raw), "POST only") {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, raw)
		}
	}
}
