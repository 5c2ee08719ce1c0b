package engine_test

// Tests of the standard endpoints and client authentication methods
// through the HTTP surface: private_key_jwt and client_secret_jwt (RFC
// 7523), DPoP (RFC 9449), pushed authorization requests (RFC 9126), and
// what discovery says of them.

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/sdk/resource/dpop/dpoptest"
)

// jwtSecret is the client_secret_jwt client's secret (read from the
// environment variable STD_TEST_JWT_SECRET).
const jwtSecret = "0123456789abcdef0123456789abcdef-std-test"

// standardsTenant is a tenant with a client of each kind these tests
// need; %s is the private_key_jwt clients' inline JWK Set.
const standardsTenant = `
default_audience: https://api.example.com
apis:
  - identifier: https://api.example.com
    scopes: [{name: read:users}, {name: write:users}]
clients:
  - id: key-m2m
    name: Key machine client
    type: m2m
    token_endpoint_auth_method: private_key_jwt
    jwks: %[1]s
  - id: hmac-m2m
    type: m2m
    token_endpoint_auth_method: client_secret_jwt
    secret_env: [STD_TEST_JWT_SECRET]
  - id: secret-m2m
    type: m2m
    secrets: [sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2]   # demo-m2m-secret
  - id: dpop-m2m
    type: m2m
    token_endpoint_auth_method: private_key_jwt
    jwks: %[1]s
    require_dpop: true
  - id: spa
    type: spa
    redirect_uris: [http://localhost:3000/callback]
  - id: dpop-spa
    type: spa
    redirect_uris: [http://localhost:3000/callback]
    require_dpop: true
  - id: par-web
    type: web
    redirect_uris: [http://localhost:3000/callback]
    token_endpoint_auth_method: private_key_jwt
    jwks: %[1]s
    require_pushed_authorization_requests: true
users:
  - id: alice
    username: alice
    password_hash: $argon2id$v=19$m=19456,t=2,p=1$RxKVvyXWCwLIVILErZ1g+Q$+GHDJm0/6xRjEV60X9C//TqFKoK8SZy8M6DnjktQphY
grants:
  - {client: key-m2m, api: https://api.example.com, scopes: [read:users], subjects: [client]}
  - {client: hmac-m2m, api: https://api.example.com, scopes: [read:users], subjects: [client]}
  - {client: secret-m2m, api: https://api.example.com, scopes: [read:users], subjects: [client]}
  - {client: dpop-m2m, api: https://api.example.com, scopes: [read:users], subjects: [client]}
  - {client: spa, api: https://api.example.com, scopes: [read:users], subjects: [user]}
  - {client: dpop-spa, api: https://api.example.com, scopes: [read:users], subjects: [user]}
  - {client: par-web, api: https://api.example.com, scopes: [read:users], subjects: [user]}
%[2]s`

// standards is a running issuer of standardsTenant with the client key
// of its private_key_jwt clients.
type standards struct {
	*enginetest.Server
	key *dpoptest.Key // the private_key_jwt clients' key
	rec *recorder
}

// startStandards starts an issuer of standardsTenant with extra
// top-level YAML appended.
func startStandards(t *testing.T, extra string, opts ...option) *standards {
	t.Setenv("STD_TEST_JWT_SECRET", jwtSecret)
	key := dpoptest.NewKey(t, "ES256")
	jwk, err := json.Marshal(map[string]any{"keys": []any{key.JWK}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	src := fmt.Sprintf(standardsTenant, jwk, extra)
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(src), Server: configure(server.Config{Auditor: rec}, opts...)})
	return &standards{Server: srv, key: key, rec: rec}
}

// assertion signs a client assertion for client with the fixture's key,
// changed by claims (a nil value removes a claim).
func (s *standards) assertion(t *testing.T, client string, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": client, "sub": client, "aud": s.Issuer, "jti": randomID(), "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return s.key.Sign(t, map[string]any{"alg": "ES256", "typ": "JWT"}, c)
}

func randomID() string { return rand.Text() }

// response is an endpoint's answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (r response) error() string { s, _ := r.body["error"].(string); return s }

// post sends form to the endpoint at path with the headers given (pairs).
func (s *standards) post(t *testing.T, path string, form url.Values, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("%s answered %d %q", path, resp.StatusCode, raw)
	}
	return out
}

// assertionForm is a client-credentials request authenticated by
// assertion.
func assertionForm(assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {"read:users"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	s := startStandards(t, "")
	a := s.assertion(t, "key-m2m", nil)
	ok := s.post(t, endpoint.PathToken, assertionForm(a))
	if ok.status != 200 || ok.body["token_type"] != "Bearer" {
		t.Fatalf("private_key_jwt: %d %v", ok.status, ok.body)
	}
	claims, _ := enginetest.Verify(t, s.Issuer, ok.body["access_token"].(string))
	if claims["sub"] != "key-m2m" || claims["client_id"] != "key-m2m" {
		t.Errorf("claims %v", claims)
	}
	if d := s.rec.last(); d.Tx.ClientAuth != "private_key_jwt" || d.Outcome != engine.OutcomeIssued {
		t.Errorf("audit: method %q outcome %s", d.Tx.ClientAuth, d.Outcome)
	}

	// aud may be the token endpoint's URL, and client_id may be sent.
	form := assertionForm(s.assertion(t, "key-m2m", map[string]any{"aud": []string{s.Issuer + "oauth/token"}}))
	form.Set("client_id", "key-m2m")
	if r := s.post(t, endpoint.PathToken, form); r.status != 200 {
		t.Errorf("aud = token endpoint: %d %v", r.status, r.body)
	}

	refusals := []struct {
		name string
		form url.Values
	}{
		{"replayed assertion", assertionForm(a)},
		{"wrong aud", assertionForm(s.assertion(t, "key-m2m", map[string]any{"aud": "https://other.example.com/"}))},
		{"another endpoint of another issuer", assertionForm(s.assertion(t, "key-m2m", map[string]any{"aud": "https://other.example.com/oauth/token"}))},
		{"several audiences", assertionForm(s.assertion(t, "key-m2m", map[string]any{"aud": []string{s.Issuer, "https://other.example.com/"}}))},
		{"expired assertion", assertionForm(s.assertion(t, "key-m2m", map[string]any{"iat": time.Now().Add(-10 * time.Minute).Unix(), "exp": time.Now().Add(-5 * time.Minute).Unix()}))},
		{"lives too long", assertionForm(s.assertion(t, "key-m2m", map[string]any{"exp": time.Now().Add(2 * time.Hour).Unix()}))},
		{"no jti", assertionForm(s.assertion(t, "key-m2m", map[string]any{"jti": nil}))},
		{"iss is another client", assertionForm(s.assertion(t, "key-m2m", map[string]any{"iss": "secret-m2m", "sub": "secret-m2m"}))},
		{"signed by another key", assertionForm(dpoptest.NewKey(t, "ES256").Sign(t, map[string]any{"alg": "ES256"},
			map[string]any{"iss": "key-m2m", "sub": "key-m2m", "aud": s.Issuer, "jti": randomID(), "exp": time.Now().Add(time.Minute).Unix()}))},
		{"client_id names another client", func() url.Values {
			f := assertionForm(s.assertion(t, "key-m2m", nil))
			f.Set("client_id", "hmac-m2m")
			return f
		}()},
		{"a secret client's assertion", assertionForm(s.assertion(t, "secret-m2m", nil))},
		{"wrong assertion type", func() url.Values {
			f := assertionForm(s.assertion(t, "key-m2m", nil))
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			return f
		}()},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := s.post(t, endpoint.PathToken, tt.form)
			if r.status != 401 || r.error() != "invalid_client" {
				t.Errorf("%d %v, want 401 invalid_client", r.status, r.body)
			}
			if d := s.rec.last(); d.Outcome != engine.OutcomeDenied || d.Err.Code() != "invalid_client" {
				t.Errorf("audit: %s %v", d.Outcome, d.Err)
			}
		})
	}

	// Two methods at once are refused before anything is checked.
	both := assertionForm(s.assertion(t, "key-m2m", nil))
	if r := s.post(t, endpoint.PathToken, both, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("secret-m2m:demo-m2m-secret"))); r.error() != "invalid_request" {
		t.Errorf("Basic and an assertion: %d %v", r.status, r.body)
	}
	// A private_key_jwt client cannot fall back to a secret.
	if r := s.post(t, endpoint.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"key-m2m"}, "client_secret": {"anything"}}); r.error() != "invalid_client" {
		t.Errorf("secret for a private_key_jwt client: %d %v", r.status, r.body)
	}
}

func TestClientSecretJWT(t *testing.T) {
	s := startStandards(t, "")
	sign := func(secret string) string {
		return hs256(t, secret, map[string]any{"iss": "hmac-m2m", "sub": "hmac-m2m", "aud": s.Issuer, "jti": randomID(), "exp": time.Now().Add(time.Minute).Unix()})
	}
	a := sign(jwtSecret)
	if r := s.post(t, endpoint.PathToken, assertionForm(a)); r.status != 200 {
		t.Fatalf("client_secret_jwt: %d %v", r.status, r.body)
	}
	if d := s.rec.last(); d.Tx.ClientAuth != "client_secret_jwt" {
		t.Errorf("audit: method %q", d.Tx.ClientAuth)
	}
	if r := s.post(t, endpoint.PathToken, assertionForm(a)); r.error() != "invalid_client" {
		t.Errorf("replayed: %d %v", r.status, r.body)
	}
	if r := s.post(t, endpoint.PathToken, assertionForm(sign(jwtSecret+"x"))); r.error() != "invalid_client" {
		t.Errorf("wrong secret: %d %v", r.status, r.body)
	}
	// The secret itself is not accepted in the clear.
	if r := s.post(t, endpoint.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"hmac-m2m"}, "client_secret": {jwtSecret}}); r.error() != "invalid_client" {
		t.Errorf("secret in the clear: %d %v", r.status, r.body)
	}
}

// TestAssertionFailuresThrottled: failed assertions count against the
// client like wrong secrets do.
func TestAssertionFailuresThrottled(t *testing.T) {
	s := startStandards(t, "")
	bad := func() response {
		return s.post(t, endpoint.PathToken, assertionForm(s.assertion(t, "key-m2m", map[string]any{"aud": "https://other.example.com/"})))
	}
	var r response
	for range 40 {
		if r = bad(); r.status == http.StatusTooManyRequests {
			break
		}
	}
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 40 failures: %d %v", r.status, r.body)
	}
	// Throttled before the assertion is looked at: a good one waits too.
	if r := s.post(t, endpoint.PathToken, assertionForm(s.assertion(t, "key-m2m", nil))); r.status != http.StatusTooManyRequests {
		t.Errorf("a good assertion while throttled: %d %v", r.status, r.body)
	}
}

// hs256 signs claims with HMAC-SHA256 under secret.
func hs256(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// proof signs a DPoP proof by key for a POST to the endpoint at path.
func (s *standards) proof(t *testing.T, key *dpoptest.Key, path string, p dpoptest.Proof) string {
	t.Helper()
	if p.Method == "" {
		p.Method = http.MethodPost
	}
	if p.URL == "" {
		p.URL = s.Issuer + strings.TrimPrefix(path, "/")
	}
	return key.Proof(t, p)
}

func TestDPoPAtTheTokenEndpoint(t *testing.T) {
	s := startStandards(t, "")
	client := dpoptest.NewKey(t, "ES256")
	token := func(proofs ...string) response {
		h := []string{}
		for _, p := range proofs {
			h = append(h, "DPoP", p)
		}
		return s.post(t, endpoint.PathToken, assertionForm(s.assertion(t, "key-m2m", nil)), h...)
	}
	p := s.proof(t, client, endpoint.PathToken, dpoptest.Proof{})
	ok := token(p)
	if ok.status != 200 || ok.body["token_type"] != "DPoP" {
		t.Fatalf("with a proof: %d %v", ok.status, ok.body)
	}
	claims, _ := enginetest.Verify(t, s.Issuer, ok.body["access_token"].(string))
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != client.Thumbprint() {
		t.Errorf("cnf = %v, want jkt %s", claims["cnf"], client.Thumbprint())
	}
	if d := s.rec.last(); d.Tx.DPoPKey != client.Thumbprint() {
		t.Errorf("audit: dpop_jkt %q", d.Tx.DPoPKey)
	}
	// Without a proof, a Bearer token with no cnf.
	plain := token()
	claims, _ = enginetest.Verify(t, s.Issuer, plain.body["access_token"].(string))
	if plain.body["token_type"] != "Bearer" || claims["cnf"] != nil {
		t.Errorf("without a proof: %v, cnf %v", plain.body["token_type"], claims["cnf"])
	}

	refusals := []struct {
		name   string
		proofs []string
	}{
		{"replayed DPoP proof", []string{p}},
		{"wrong htu", []string{s.proof(t, client, endpoint.PathToken, dpoptest.Proof{URL: s.Issuer + "oauth/other"})}},
		{"htu of another host", []string{s.proof(t, client, endpoint.PathToken, dpoptest.Proof{URL: "https://other.example.com/oauth/token"})}},
		{"wrong htm", []string{s.proof(t, client, endpoint.PathToken, dpoptest.Proof{Method: http.MethodGet})}},
		{"too old", []string{s.proof(t, client, endpoint.PathToken, dpoptest.Proof{IssuedAt: time.Now().Add(-5 * time.Minute)})}},
		{"in the future", []string{s.proof(t, client, endpoint.PathToken, dpoptest.Proof{IssuedAt: time.Now().Add(5 * time.Minute)})}},
		{"not a proof", []string{"garbage"}},
		{"wrong typ", []string{s.proof(t, client, endpoint.PathToken, dpoptest.Proof{Header: map[string]any{"typ": "JWT"}})}},
		{"two proofs", []string{s.proof(t, client, endpoint.PathToken, dpoptest.Proof{}), s.proof(t, client, endpoint.PathToken, dpoptest.Proof{})}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := token(tt.proofs...)
			if r.status != 400 || r.error() != "invalid_dpop_proof" {
				t.Errorf("%d %v, want 400 invalid_dpop_proof", r.status, r.body)
			}
		})
	}
}

func TestRequireDPoP(t *testing.T) {
	s := startStandards(t, "")
	r := s.post(t, endpoint.PathToken, assertionForm(s.assertion(t, "dpop-m2m", nil)))
	if r.status != 400 || r.error() != "invalid_dpop_proof" {
		t.Errorf("require_dpop without a proof: %d %v", r.status, r.body)
	}
	if d := s.rec.last(); d.Outcome != engine.OutcomeDenied || d.Tx.ClientAuth != "private_key_jwt" {
		t.Errorf("audit: %s %q", d.Outcome, d.Tx.ClientAuth)
	}
	key := dpoptest.NewKey(t, "EdDSA")
	r = s.post(t, endpoint.PathToken, assertionForm(s.assertion(t, "dpop-m2m", nil)), "DPoP", s.proof(t, key, endpoint.PathToken, dpoptest.Proof{}))
	if r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Errorf("require_dpop with a proof: %d %v", r.status, r.body)
	}
}

func TestDPoPNonce(t *testing.T) {
	s := startStandards(t, "dpop: {nonce: true}\n")
	key := dpoptest.NewKey(t, "ES256")
	r := s.post(t, endpoint.PathToken, assertionForm(s.assertion(t, "key-m2m", nil)), "DPoP", s.proof(t, key, endpoint.PathToken, dpoptest.Proof{}))
	nonce := r.header.Get("DPoP-Nonce")
	if r.status != 400 || r.error() != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce: %d %v, DPoP-Nonce %q", r.status, r.body, nonce)
	}
	r = s.post(t, endpoint.PathToken, assertionForm(s.assertion(t, "key-m2m", nil)), "DPoP", s.proof(t, key, endpoint.PathToken, dpoptest.Proof{Nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))
	if r.error() != "use_dpop_nonce" {
		t.Errorf("with a forged nonce: %d %v", r.status, r.body)
	}
	r = s.post(t, endpoint.PathToken, assertionForm(s.assertion(t, "key-m2m", nil)), "DPoP", s.proof(t, key, endpoint.PathToken, dpoptest.Proof{Nonce: nonce}))
	if r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Errorf("with the nonce: %d %v", r.status, r.body)
	}
	if m := enginetest.Discover(t, s.Issuer); !slices.Equal(m.DPoPSigningAlgValuesSupported, []string{"ES256", "EdDSA", "PS256", "RS256"}) {
		t.Errorf("dpop_signing_alg_values_supported = %v", m.DPoPSigningAlgValuesSupported)
	}
}

// signInCode signs alice in through /authorize with params and returns
// the code and its PKCE verifier.
func (s *standards) signInCode(t *testing.T, params url.Values) (string, string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "redirect_uri": {"http://localhost:3000/callback"}, "scope": {"offline_access read:users"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	for k, v := range params {
		q[k] = v
	}
	loc := enginetest.NewBrowser(t, s.URL).SignIn(s.URL+endpoint.PathAuthorize+"?"+q.Encode(), "alice", "alice-password")
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	return code, verifier
}

func TestDPoPBoundCodesAndRefreshTokens(t *testing.T) {
	s := startStandards(t, "")
	key, thief := dpoptest.NewKey(t, "ES256"), dpoptest.NewKey(t, "ES256")
	proof := func(k *dpoptest.Key) string { return s.proof(t, k, endpoint.PathToken, dpoptest.Proof{}) }

	code, verifier := s.signInCode(t, url.Values{"client_id": {"spa"}})
	redeem := url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {"http://localhost:3000/callback"}}
	r := s.post(t, endpoint.PathToken, redeem, "DPoP", proof(key))
	if r.status != 200 || r.body["token_type"] != "DPoP" || r.body["refresh_token"] == nil {
		t.Fatalf("code with a proof: %d %v", r.status, r.body)
	}
	refresh := func(token string, proofs ...string) response {
		h := []string{}
		for _, p := range proofs {
			h = append(h, "DPoP", p)
		}
		return s.post(t, endpoint.PathToken, url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {token}}, h...)
	}
	rt := r.body["refresh_token"].(string)
	if r := refresh(rt, proof(thief)); r.status != 400 || r.error() != "invalid_dpop_proof" {
		t.Errorf("refresh with a different DPoP key: %d %v", r.status, r.body)
	}
	if r := refresh(rt); r.error() != "invalid_dpop_proof" {
		t.Errorf("refresh without a proof: %d %v", r.status, r.body)
	}
	r = refresh(rt, proof(key)) // the refusals did not use the token up
	if r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", r.status, r.body)
	}
	claims, _ := enginetest.Verify(t, s.Issuer, r.body["access_token"].(string))
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != key.Thumbprint() {
		t.Errorf("refreshed cnf = %v", claims["cnf"])
	}
	if r := refresh(r.body["refresh_token"].(string), proof(thief)); r.error() != "invalid_dpop_proof" {
		t.Errorf("the rotated token is bound too: %d %v", r.status, r.body)
	}

	// dpop_jkt binds the code: another key cannot redeem it.
	code, verifier = s.signInCode(t, url.Values{"client_id": {"spa"}, "dpop_jkt": {key.Thumbprint()}})
	redeem = url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {"http://localhost:3000/callback"}}
	if r := s.post(t, endpoint.PathToken, redeem, "DPoP", proof(thief)); r.error() != "invalid_dpop_proof" {
		t.Errorf("code bound by dpop_jkt, another key: %d %v", r.status, r.body)
	}

	// require_dpop for a public client.
	code, verifier = s.signInCode(t, url.Values{"client_id": {"dpop-spa"}})
	redeem = url.Values{"grant_type": {"authorization_code"}, "client_id": {"dpop-spa"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {"http://localhost:3000/callback"}}
	if r := s.post(t, endpoint.PathToken, redeem); r.error() != "invalid_dpop_proof" {
		t.Errorf("require_dpop, code without a proof: %d %v", r.status, r.body)
	}
}

func TestUserinfoWithDPoPBoundTokens(t *testing.T) {
	s := startStandards(t, "")
	key := dpoptest.NewKey(t, "ES256")
	code, verifier := s.signInCode(t, url.Values{"client_id": {"spa"}, "scope": {"openid read:users"}})
	r := s.post(t, endpoint.PathToken, url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {"http://localhost:3000/callback"}},
		"DPoP", s.proof(t, key, endpoint.PathToken, dpoptest.Proof{}))
	at, _ := r.body["access_token"].(string)
	get := func(scheme string, proof string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL+endpoint.PathUserinfo, nil)
		req.Header.Set("Authorization", scheme+" "+at)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			body, _ := io.ReadAll(resp.Body)
			t.Logf("userinfo %s: %d %s %s", scheme, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
		return resp.StatusCode
	}
	ui := func(k *dpoptest.Key) string {
		return k.Proof(t, dpoptest.Proof{Method: http.MethodGet, URL: s.Issuer + "userinfo", AccessToken: at})
	}
	if got := get("Bearer", ""); got != 401 {
		t.Errorf("a DPoP-bound token as a bearer token: %d", got)
	}
	if got := get("DPoP", ui(dpoptest.NewKey(t, "ES256"))); got != 401 {
		t.Errorf("a proof by another key: %d", got)
	}
	if got := get("DPoP", ui(key)); got != 200 {
		t.Errorf("with its proof: %d", got)
	}
}

// authorizeURL is the /authorize URL of a pushed request.
func (s *standards) authorizeURL(client, requestURI string) string {
	return s.URL + endpoint.PathAuthorize + "?" + url.Values{"client_id": {client}, "request_uri": {requestURI}}.Encode()
}

// pushForm is a PAR request of client's, authenticated by assertion when
// signed, with its PKCE verifier.
func (s *standards) pushForm(t *testing.T, client string, signed bool) (url.Values, string) {
	verifier := oauth2.GenerateVerifier()
	f := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {"http://localhost:3000/callback"},
		"scope": {"offline_access read:users"}, "state": {"st"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	if signed {
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		f.Set("client_assertion", s.assertion(t, client, map[string]any{"aud": s.Issuer + "oauth/par"}))
	}
	return f, verifier
}

func TestPushedAuthorizationRequests(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s := startStandards(t, "", withClock(clock.Now))
	key, thief := dpoptest.NewKey(t, "ES256"), dpoptest.NewKey(t, "ES256")

	// par-web pushes its request with a DPoP proof, then signs alice in.
	form, verifier := s.pushForm(t, "par-web", true)
	r := s.post(t, endpoint.PathPAR, form, "DPoP", s.proof(t, key, endpoint.PathPAR, dpoptest.Proof{}))
	uri, _ := r.body["request_uri"].(string)
	if r.status != 201 || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || r.body["expires_in"] != 60.0 {
		t.Fatalf("push: %d %v", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	loc := enginetest.NewBrowser(t, s.URL).SignIn(s.authorizeURL("par-web", uri), "alice", "alice-password")
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("state") != "st" {
		t.Fatalf("sign-in with a request_uri: %s", loc)
	}
	redeem := func(proof string) response {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {"http://localhost:3000/callback"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {s.assertion(t, "par-web", nil)}}
		return s.post(t, endpoint.PathToken, f, "DPoP", proof)
	}
	// The PAR request's proof bound the code to its key (RFC 9449 §10.1).
	if r := redeem(s.proof(t, thief, endpoint.PathToken, dpoptest.Proof{})); r.error() != "invalid_dpop_proof" {
		t.Errorf("code pushed with a DPoP proof, redeemed with another key: %d %v", r.status, r.body)
	}

	// request_uri reuse: single use.
	if status, _, _ := enginetest.NewBrowser(t, s.URL).Visit(s.authorizeURL("par-web", uri)); status != 400 {
		t.Errorf("request_uri used twice: %d", status)
	}
	// request_uri expiry.
	form, _ = s.pushForm(t, "par-web", true)
	r = s.post(t, endpoint.PathPAR, form)
	clock.Add(61 * time.Second)
	if status, _, _ := enginetest.NewBrowser(t, s.URL).Visit(s.authorizeURL("par-web", r.body["request_uri"].(string))); status != 400 {
		t.Errorf("expired request_uri: %d", status)
	}
	// A request_uri is its client's only. (The public client pushes
	// from its browser origin, as a single-page app does: CORS.)
	form, _ = s.pushForm(t, "spa", false)
	r = s.post(t, endpoint.PathPAR, form, "Origin", "http://localhost:3000")
	if r.status != 201 {
		t.Fatalf("a public client's push: %d %v", r.status, r.body)
	}
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Errorf("a push from the spa's origin: Access-Control-Allow-Origin %q", got)
	}
	if status, _, _ := enginetest.NewBrowser(t, s.URL).Visit(s.authorizeURL("par-web", r.body["request_uri"].(string))); status != 400 {
		t.Errorf("another client's request_uri: %d", status)
	}
	// require_pushed_authorization_requests: par-web cannot skip PAR.
	q := url.Values{"client_id": {"par-web"}, "response_type": {"code"}, "redirect_uri": {"http://localhost:3000/callback"}, "scope": {"read:users"}}
	_, _, loc = enginetest.NewBrowser(t, s.URL).Visit(s.URL + endpoint.PathAuthorize + "?" + q.Encode())
	if loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("par-web without PAR: %v", loc)
	}

	refusals := []struct {
		name   string
		change func(url.Values)
		status int
		code   string
	}{
		{"no client authentication", func(f url.Values) { f.Del("client_assertion"); f.Del("client_assertion_type") }, 401, "invalid_client"},
		{"replayed assertion", func(f url.Values) { f.Set("client_assertion", form.Get("client_assertion")) }, 401, "invalid_client"},
		{"unregistered redirect_uri", func(f url.Values) { f.Set("redirect_uri", "https://evil.example.com/cb") }, 400, "invalid_request"},
		{"request_uri pushed", func(f url.Values) { f.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") }, 400, "invalid_request"},
		{"no PKCE for a public client", nil, 400, "invalid_request"},
		{"unknown scope", func(f url.Values) { f.Set("scope", "delete:everything") }, 400, "invalid_scope"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := s.pushForm(t, "par-web", true)
			if tt.change == nil {
				f, _ = s.pushForm(t, "spa", false)
				f.Del("code_challenge")
				f.Del("code_challenge_method")
			} else {
				tt.change(f)
			}
			r := s.post(t, endpoint.PathPAR, f)
			if r.status != tt.status || r.error() != tt.code {
				t.Errorf("%d %v, want %d %s", r.status, r.body, tt.status, tt.code)
			}
			if d := s.rec.last(); d.Outcome != engine.OutcomeDenied || d.Err.Code() != tt.code {
				t.Errorf("audit: %s %v", d.Outcome, d.Err)
			}
		})
	}
	// A machine client makes no authorization requests.
	f := url.Values{"client_id": {"key-m2m"}, "response_type": {"code"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {s.assertion(t, "key-m2m", map[string]any{"aud": s.Issuer + "oauth/par"})}}
	if r := s.post(t, endpoint.PathPAR, f); r.error() != "unauthorized_client" || r.body["error_description"] != "an m2m client has no users; it cannot use pushed authorization requests" {
		t.Errorf("an m2m client's push: %d %v", r.status, r.body)
	}
	m := enginetest.Discover(t, s.Issuer)
	if m.PushedAuthorizationRequestEndpoint != s.Issuer+"oauth/par" || m.RequirePushedAuthorizationRequests {
		t.Errorf("discovery: %q %v", m.PushedAuthorizationRequestEndpoint, m.RequirePushedAuthorizationRequests)
	}
}

func TestPARRequiredForEveryClient(t *testing.T) {
	s := startStandards(t, "par: {required: true}\n")
	q := url.Values{"client_id": {"spa"}, "response_type": {"code"}, "redirect_uri": {"http://localhost:3000/callback"}, "scope": {"read:users"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	_, _, loc := enginetest.NewBrowser(t, s.URL).Visit(s.URL + endpoint.PathAuthorize + "?" + q.Encode())
	if loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("spa without PAR: %v", loc)
	}
	if m := enginetest.Discover(t, s.Issuer); !m.RequirePushedAuthorizationRequests {
		t.Error("require_pushed_authorization_requests not published")
	}
}

// TestJWKSURIAcrossReloads: a client's fetched key set is kept across a
// reload that keeps its jwks_uri, and forgotten by one that drops it.
func TestJWKSURIAcrossReloads(t *testing.T) {
	key := dpoptest.NewKey(t, "ES256")
	var fetches atomic.Int64
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{key.JWK}})
	}))
	defer keys.Close()
	tenantWith := func(client string) []byte {
		return []byte(`
default_audience: https://api.example.com
apis: [{identifier: https://api.example.com, scopes: [{name: read:users}]}]
clients:
` + client + `
grants: [{client: svc, api: https://api.example.com, scopes: [read:users], subjects: [client]}]
`)
	}
	withURI := tenantWith("  - {id: svc, type: m2m, token_endpoint_auth_method: private_key_jwt, jwks_uri: " + keys.URL + "}")
	withJWKS := tenantWith(fmt.Sprintf("  - {id: svc, type: m2m, token_endpoint_auth_method: private_key_jwt, jwks: %s}", must(json.Marshal(map[string]any{"keys": []any{key.JWK}}))))
	srv := enginetest.Start(t, enginetest.Config{Tenant: withURI})
	s := &standards{Server: srv, key: key}
	token := func() {
		t.Helper()
		if r := s.post(t, endpoint.PathToken, assertionForm(s.assertion(t, "svc", nil))); r.status != 200 {
			t.Fatalf("token: %d %v", r.status, r.body)
		}
	}
	reload := func(src []byte) { t.Helper(); reloadTenant(t, srv, string(src)) }
	token()
	reload(withURI)
	token()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches across a reload that keeps the jwks_uri, want 1", n)
	}
	reload(withJWKS)
	reload(withURI)
	token()
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches after the jwks_uri was dropped and registered again, want 2", n)
	}
}

// A web app pushes the requests of all its users from its own servers:
// an authenticated client's pushes count per client, not against the
// network allowance of /authorize (100, then 5 a second), which a public
// client's pushes, anybody's to send, still use.
func TestPushThrottles(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s := startStandards(t, "", withClock(clock.Now))
	for i := range 150 {
		form, _ := s.pushForm(t, "par-web", true)
		if r := s.post(t, endpoint.PathPAR, form); r.status != http.StatusCreated {
			t.Fatalf("par-web's push %d: %d %v", i+1, r.status, r.body)
		}
	}
	for i := range 101 {
		form, _ := s.pushForm(t, "spa", false)
		r := s.post(t, endpoint.PathPAR, form)
		switch {
		case i < 100 && r.status != http.StatusCreated:
			t.Fatalf("spa's push %d: %d %v", i+1, r.status, r.body)
		case i == 100 && (r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" ||
			r.body["error_description"] != "too many authorization requests from this network"):
			t.Fatalf("spa's push past the network's allowance: %d %v %v", r.status, r.header, r.body)
		}
	}
	// The authenticated client has an allowance of its own, 1,000 then
	// 100 a second.
	for i := 150; i <= 1000; i++ {
		form, _ := s.pushForm(t, "par-web", true)
		r := s.post(t, endpoint.PathPAR, form)
		switch {
		case i < 1000 && r.status != http.StatusCreated:
			t.Fatalf("par-web's push %d: %d %v", i+1, r.status, r.body)
		case i == 1000 && (r.status != http.StatusTooManyRequests || r.body["error_description"] != "too many authorization requests from this client"):
			t.Fatalf("par-web's push past its allowance: %d %v", r.status, r.body)
		}
	}
}
