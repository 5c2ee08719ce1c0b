package engine_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/keys"
)

const demoAPI = "https://api.example.com"

func TestClientCredentialsWithOAuth2Client(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	meta := enginetest.Discover(t, srv.Issuer)
	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"client_secret_basic", oauth2.AuthStyleInHeader}, {"client_secret_post", oauth2.AuthStyleInParams}} {
		t.Run(style.name, func(t *testing.T) {
			cc := clientcredentials.Config{
				ClientID:       "demo-m2m",
				ClientSecret:   "demo-m2m-secret",
				TokenURL:       meta.TokenEndpoint,
				Scopes:         []string{"read:users"},
				EndpointParams: url.Values{"audience": {demoAPI}},
				AuthStyle:      style.style,
			}
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.Extra("scope") != "read:users" {
				t.Errorf("token type %q scope %v", tok.TokenType, tok.Extra("scope"))
			}
			if d := time.Until(tok.Expiry); d < 59*time.Minute || d > time.Hour+time.Second {
				t.Errorf("expiry in %s, want 1h", d)
			}
			claims, header := enginetest.Verify(t, srv.Issuer, tok.AccessToken)
			if header["typ"] != "at+jwt" || header["kid"] == "" || header["alg"] != "RS256" {
				t.Errorf("header = %v", header)
			}
			want := map[string]any{"iss": srv.Issuer, "sub": "demo-m2m", "aud": demoAPI, "client_id": "demo-m2m", "scope": "read:users"}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			for _, k := range []string{"iat", "exp", "jti"} {
				if claims[k] == nil {
					t.Errorf("claim %s missing", k)
				}
			}
		})
	}
	// An x/oauth2 client gets a precise error for a client without a grant.
	cc := clientcredentials.Config{ClientID: "demo-other", ClientSecret: "demo-other-secret", TokenURL: meta.TokenEndpoint}
	_, err := cc.Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "access_denied" || re.Response.StatusCode != 403 {
		t.Errorf("demo-other: %v", err)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	m := enginetest.Discover(t, srv.Issuer)
	if m.TokenEndpoint != srv.URL+"/oauth/token" || m.JWKSURI != srv.URL+"/.well-known/jwks.json" {
		t.Errorf("endpoints %s %s", m.TokenEndpoint, m.JWKSURI)
	}
	if !slices.Equal(m.GrantTypesSupported, []string{"authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"}) ||
		!slices.Equal(m.TokenEndpointAuthMethodsSupported, []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt", "none"}) ||
		!slices.Equal(m.TokenEndpointAuthSigningAlgValuesSupported, []string{"RS256", "PS256", "ES256", "EdDSA", "HS256"}) ||
		!slices.Equal(m.ScopesSupported, []string{"openid", "profile", "email", "offline_access", "read:users", "write:users", "delete:users", "console:read", "console:manage"}) ||
		m.AuthorizationEndpoint != srv.URL+"/authorize" || m.UserinfoEndpoint != srv.URL+"/userinfo" ||
		!slices.Equal(m.ResponseTypesSupported, []string{"code"}) || !slices.Equal(m.CodeChallengeMethodsSupported, []string{"S256"}) ||
		!m.AuthorizationResponseIssParameterSupported ||
		!slices.Equal(m.AccessTokenSigningAlgValuesSupported, []string{"RS256"}) {
		t.Errorf("metadata = %+v", m)
	}
	var oidc map[string]any
	enginetest.GetJSON(t, srv.URL+"/.well-known/openid-configuration", &oidc)
	if oidc["issuer"] != srv.Issuer || oidc["jwks_uri"] != m.JWKSURI || oidc["id_token_signing_alg_values_supported"] == nil {
		t.Errorf("openid-configuration = %v", oidc)
	}
	var set struct{ Keys []keys.JWK }
	h := enginetest.GetJSON(t, m.JWKSURI, &set)
	if cc := h.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("JWKS Cache-Control %q", cc)
	}
	if len(set.Keys) != 2 { // current + next
		t.Errorf("JWKS has %d keys, want current and next", len(set.Keys))
	}
	for _, k := range set.Keys {
		if k.Use != "sig" || k.Alg != "RS256" || k.Kid == "" || k.Kty != "RSA" {
			t.Errorf("jwk %+v", k)
		}
	}
}

// tenantYAML is a tenant for the policy tests.
const tenantYAML = `
default_audience: https://api.example.com
apis:
  - identifier: https://api.example.com
    scopes: [{name: read:users}, {name: write:users}, {name: delete:users}]
  - identifier: https://billing.example.com
    signing_algorithm: ES256
    token_lifetime: 5m
    scopes: [{name: read:invoices}, {name: pay:invoices}]
  - identifier: urn:nothing-granted
    scopes: [{name: x}]
clients:
  - id: demo-m2m
    type: m2m
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
  - id: web-app
    type: web
    redirect_uris: ["https://app.example.com/cb"]
    secrets: ["sha256:4ae8a6b88c6b9e9157b41756768995cd2cfbc834eb44fe926bd5275a9cadbc61"]
  - id: spa
    type: spa
    redirect_uris: ["http://localhost:3000/cb"]
grants:
  - {client: demo-m2m, api: https://api.example.com, scopes: [read:users, write:users]}
  - {client: demo-m2m, api: https://billing.example.com, scopes: [read:invoices]}
  - {client: demo-m2m, api: "urn:nothing-granted", scopes: []}
  - {client: web-app, api: https://api.example.com, scopes: [read:users], subjects: [user]}
  - {client: spa, api: https://api.example.com, scopes: [read:users]}
`

func TestPolicy(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(tenantYAML)})
	tests := []struct {
		name     string
		client   string
		secret   string
		form     url.Values
		wantCode string // "" for success
		wantAud  string
		wantScp  string
		wantAlg  string
	}{
		{name: "requested subset", form: url.Values{"scope": {"read:users"}}, wantScp: "read:users"},
		{name: "no scope means the whole ceiling", form: url.Values{}, wantScp: "read:users write:users"},
		{name: "requested order does not matter", form: url.Values{"scope": {"write:users read:users"}}, wantScp: "read:users write:users"},
		{name: "scope outside the ceiling is dropped", form: url.Values{"scope": {"read:users delete:users"}}, wantScp: "read:users"},
		{name: "only scopes outside the ceiling", form: url.Values{"scope": {"delete:users"}}, wantCode: "invalid_scope"},
		{name: "scope the API does not define", form: url.Values{"scope": {"read:users admin"}}, wantCode: "invalid_scope"},
		{name: "malformed scope", form: url.Values{"scope": {`read:users "x"`}}, wantCode: "invalid_scope"},
		{name: "audience selects the API", form: url.Values{"audience": {"https://billing.example.com"}}, wantAud: "https://billing.example.com", wantScp: "read:invoices", wantAlg: "ES256"},
		{name: "resource selects the API", form: url.Values{"resource": {"https://billing.example.com"}}, wantAud: "https://billing.example.com", wantScp: "read:invoices"},
		{name: "audience and resource agree", form: url.Values{"resource": {"https://billing.example.com"}, "audience": {"https://billing.example.com"}}, wantAud: "https://billing.example.com", wantScp: "read:invoices"},
		{name: "audience and resource differ", form: url.Values{"resource": {"https://billing.example.com"}, "audience": {demoAPI}}, wantCode: "invalid_request"},
		{name: "two resources", form: url.Values{"resource": {"https://billing.example.com", demoAPI}}, wantCode: "invalid_target"},
		{name: "relative resource", form: url.Values{"resource": {"billing"}}, wantCode: "invalid_target"},
		{name: "resource with fragment", form: url.Values{"resource": {"https://billing.example.com#x"}}, wantCode: "invalid_target"},
		{name: "unknown audience", form: url.Values{"audience": {"https://nope.example.com"}}, wantCode: "invalid_target"},
		{name: "grant with an empty ceiling", form: url.Values{"audience": {"urn:nothing-granted"}}, wantCode: "invalid_scope"},
		{name: "client without a grant", client: "web-app", secret: "demo-other-secret", form: url.Values{}, wantCode: "access_denied"},
		{name: "public client", client: "spa", secret: "", form: url.Values{"client_id": {"spa"}}, wantCode: "invalid_client"},
		{name: "wrong secret", client: "demo-m2m", secret: "nope", form: url.Values{}, wantCode: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, secret := "demo-m2m", "demo-m2m-secret"
			if tt.client != "" {
				client, secret = tt.client, tt.secret
			}
			tt.form.Set("grant_type", "client_credentials")
			status, body, _ := post(t, srv.TokenEndpoint(), tt.form, client, secret)
			if tt.wantCode != "" {
				if body["error"] != tt.wantCode || status < 400 || status >= 500 {
					t.Fatalf("got %d %v, want %s", status, body, tt.wantCode)
				}
				if body["error_description"] == "" {
					t.Error("errors carry a description")
				}
				return
			}
			if status != 200 {
				t.Fatalf("got %d %v", status, body)
			}
			if body["scope"] != tt.wantScp {
				t.Errorf("response scope %q, want %q", body["scope"], tt.wantScp)
			}
			claims, header := enginetest.Verify(t, srv.Issuer, body["access_token"].(string))
			wantAud := tt.wantAud
			if wantAud == "" {
				wantAud = demoAPI
			}
			if claims["aud"] != wantAud || claims["scope"] != tt.wantScp {
				t.Errorf("claims aud %v scope %v", claims["aud"], claims["scope"])
			}
			if tt.wantAlg != "" && header["alg"] != tt.wantAlg {
				t.Errorf("alg %v, want %s", header["alg"], tt.wantAlg)
			}
		})
	}
}

// post sends a token request with HTTP Basic credentials (when client is
// set) and decodes the JSON answer.
func post(t *testing.T, endpoint string, form url.Values, client, secret string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client != "" && secret != "" {
		req.SetBasicAuth(url.QueryEscape(client), url.QueryEscape(secret))
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%d: body is not JSON: %q", resp.StatusCode, raw)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token endpoint answered without Cache-Control: no-store")
	}
	if resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, body, resp.Header
}

func TestBadInput(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("demo-m2m:demo-m2m-secret"))
	ok := "grant_type=client_credentials"
	tests := []struct {
		name        string
		method      string
		url         string
		contentType string
		auth        string
		body        string
		status      int
		code        string
		challenge   bool
	}{
		{name: "GET", method: "GET", auth: basic, status: 405, code: "invalid_request"},
		{name: "PUT", method: "PUT", auth: basic, body: ok, status: 405, code: "invalid_request"},
		{name: "JSON body", contentType: "application/json", auth: basic, body: `{"grant_type":"client_credentials"}`, status: 400, code: "invalid_request"},
		{name: "no content type", contentType: "-", auth: basic, body: ok, status: 400, code: "invalid_request"},
		{name: "body too large", auth: basic, body: ok + "&scope=" + strings.Repeat("a", endpoint.MaxTokenRequestBytes), status: 413, code: "invalid_request"},
		{name: "repeated parameter", auth: basic, body: ok + "&scope=read:users&scope=write:users", status: 400, code: "invalid_request"},
		{name: "repeated grant_type", auth: basic, body: ok + "&" + ok, status: 400, code: "invalid_request"},
		{name: "parameters in the URL", url: "?client_secret=demo-m2m-secret", auth: basic, body: ok, status: 400, code: "invalid_request"},
		{name: "bad form encoding", auth: basic, body: ok + "&scope=%zz", status: 400, code: "invalid_request"},
		{name: "missing grant_type", auth: basic, body: "scope=read:users", status: 400, code: "invalid_request"},
		{name: "unsupported grant_type", auth: basic, body: "grant_type=password&username=a&password=b", status: 400, code: "unsupported_grant_type"},
		{name: "basic and post at once", auth: basic, body: ok + "&client_secret=demo-m2m-secret", status: 400, code: "invalid_request"},
		{name: "client_id disagrees with basic", auth: basic, body: ok + "&client_id=demo-other", status: 400, code: "invalid_request"},
		{name: "malformed basic", auth: "Basic !!!", body: ok, status: 401, code: "invalid_client", challenge: true},
		{name: "bearer instead of basic", auth: "Bearer abc", body: ok, status: 401, code: "invalid_client", challenge: true},
		{name: "no credentials", body: ok, status: 401, code: "invalid_client"},
		{name: "client_id without secret", body: ok + "&client_id=demo-m2m", status: 401, code: "invalid_client"},
		{name: "post with wrong secret", body: ok + "&client_id=demo-m2m&client_secret=x", status: 401, code: "invalid_client"},
		{name: "control characters in audience", auth: basic, body: ok + "&audience=a%00b", status: 400, code: "invalid_request"},
		{name: "oversized parameter", auth: basic, body: ok + "&scope=" + strings.Repeat("s+", 3000), status: 400, code: "invalid_request"},
		{name: "too many scopes", auth: basic, body: ok + "&scope=" + manyScopes(150), status: 400, code: "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, srv.TokenEndpoint()+tt.url, strings.NewReader(tt.body))
			switch tt.contentType {
			case "":
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			case "-":
			default:
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			status, body, h := do(t, req)
			if status != tt.status || body["error"] != tt.code {
				t.Errorf("got %d %v, want %d %s", status, body, tt.status, tt.code)
			}
			if got := h.Get("WWW-Authenticate") != ""; got != tt.challenge {
				t.Errorf("WWW-Authenticate present %v, want %v", got, tt.challenge)
			}
			if strings.Contains(fmt.Sprint(body), "demo-m2m-secret") {
				t.Error("an error echoed the secret")
			}
		})
	}
}

// An unknown client and a wrong secret must be indistinguishable.
func TestUnknownClientAndWrongSecretLookTheSame(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	form := url.Values{"grant_type": {"client_credentials"}}
	s1, b1, h1 := post(t, srv.TokenEndpoint(), form, "demo-m2m", "wrong-secret")
	s2, b2, h2 := post(t, srv.TokenEndpoint(), form, "no-such-client", "wrong-secret")
	if s1 != 401 || s1 != s2 || fmt.Sprint(b1) != fmt.Sprint(b2) || h1.Get("WWW-Authenticate") != h2.Get("WWW-Authenticate") {
		t.Errorf("wrong secret: %d %v; unknown client: %d %v", s1, b1, s2, b2)
	}
}

func TestHealthAndUnknownRoutes(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{})
	for path, want := range map[string]int{"/healthz/live": 200, "/healthz/ready": 200, "/nope": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", path)
		}
	}
}

func manyScopes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "s%d+", i)
	}
	return b.String()
}
