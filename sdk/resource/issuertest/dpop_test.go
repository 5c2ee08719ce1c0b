package issuertest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/sdk/resource"
	"github.com/scopeline/scopeline/sdk/resource/dpop"
	"github.com/scopeline/scopeline/sdk/resource/dpop/dpoptest"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// challenges parses every WWW-Authenticate value by scheme, in order.
func challenges(t *testing.T, w *httptest.ResponseRecorder) (order []string, params map[string]map[string]string) {
	t.Helper()
	params = map[string]map[string]string{}
	for _, h := range w.Header().Values("WWW-Authenticate") {
		scheme, rest, _ := strings.Cut(h, " ")
		order = append(order, scheme)
		p := map[string]string{}
		for rest != "" {
			name, after, ok := strings.Cut(rest, `="`)
			value, after2, ok2 := strings.Cut(after, `"`)
			if !ok || !ok2 {
				t.Fatalf("malformed challenge %q", h)
			}
			p[strings.TrimSpace(name)] = value
			rest = strings.TrimPrefix(after2, ", ")
		}
		params[scheme] = p
	}
	return order, params
}

// TestDPoP sends DPoP-bound tokens (forged with the issuer's real key, as
// Scopeline mints them, for claims it would not) with good and bad proofs.
func TestDPoP(t *testing.T) {
	is := startIssuer(t)
	clk := frozenClock()
	now := clk.now()
	v := is.validator(t, rsAPI, resource.WithClock(clk.now))
	h := api(v)
	key := dpoptest.NewKey(t, jwk.ES256)
	other := dpoptest.NewKey(t, jwk.EdDSA)
	bound := is.forge(t, "RS256", nil, is.claims(rsAPI, now, map[string]any{"cnf": map[string]any{"jkt": key.Thumbprint()}}))
	plain := is.token(t, rsAPI, "read:users")
	const url = "http://example.com/users"
	proof := func(k *dpoptest.Key, p dpoptest.Proof) string {
		if p.Method == "" {
			p.Method = "GET"
		}
		if p.URL == "" {
			p.URL = url
		}
		if p.IssuedAt.IsZero() {
			p.IssuedAt = now
		}
		return k.Proof(t, p)
	}
	replayed := proof(key, dpoptest.Proof{AccessToken: bound})
	if w := send(h, "GET", "/users", "DPoP "+bound, replayed); w.Code != 200 {
		t.Fatalf("first use of a proof: %d %s %s", w.Code, w.Body, w.Header().Values("WWW-Authenticate"))
	}
	tests := []struct {
		name   string
		auth   string
		proofs []string
		target string
		status int
		code   string
		scheme string // the challenge carrying the error
		why    string
	}{
		{name: "bound token with its proof", auth: "DPoP " + bound, proofs: []string{proof(key, dpoptest.Proof{AccessToken: bound})}, status: 200},
		{name: "plain token as Bearer", auth: "Bearer " + plain, status: 200},
		{name: "bound token at another path", auth: "DPoP " + bound, target: "/users/7", proofs: []string{proof(key, dpoptest.Proof{AccessToken: bound, Method: "DELETE", URL: "http://example.com/users/7"})}, status: 403, code: "insufficient_scope", scheme: "DPoP", why: "lacks a scope"},
		{name: "bound token as Bearer", auth: "Bearer " + bound, status: 401, code: "invalid_token", scheme: "DPoP", why: "DPoP-bound"},
		{name: "bound token as Bearer with a proof", auth: "Bearer " + bound, proofs: []string{proof(key, dpoptest.Proof{AccessToken: bound})}, status: 401, code: "invalid_token", scheme: "DPoP", why: "DPoP-bound"},
		{name: "no proof", auth: "DPoP " + bound, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "no DPoP proof"},
		{name: "two proofs", auth: "DPoP " + bound, proofs: []string{proof(key, dpoptest.Proof{AccessToken: bound}), proof(key, dpoptest.Proof{AccessToken: bound})}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "more than one"},
		{name: "replayed proof", auth: "DPoP " + bound, proofs: []string{replayed}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "used before"},
		{name: "wrong htu", auth: "DPoP " + bound, proofs: []string{proof(key, dpoptest.Proof{AccessToken: bound, URL: "http://example.com/admin"})}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "htu"},
		{name: "https htu for an http request", auth: "DPoP " + bound, proofs: []string{proof(key, dpoptest.Proof{AccessToken: bound, URL: "https://example.com/users"})}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "htu"},
		{name: "wrong htm", auth: "DPoP " + bound, proofs: []string{proof(key, dpoptest.Proof{AccessToken: bound, Method: "POST"})}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "htm"},
		{name: "no ath", auth: "DPoP " + bound, proofs: []string{proof(key, dpoptest.Proof{})}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "ath"},
		{name: "ath of another token", auth: "DPoP " + bound, proofs: []string{proof(key, dpoptest.Proof{AccessToken: plain})}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "ath"},
		{name: "proof by another key", auth: "DPoP " + bound, proofs: []string{proof(other, dpoptest.Proof{AccessToken: bound})}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "another key"},
		{name: "old proof", auth: "DPoP " + bound, proofs: []string{proof(key, dpoptest.Proof{AccessToken: bound, IssuedAt: now.Add(-time.Hour)})}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "too old"},
		{name: "not a proof", auth: "DPoP " + bound, proofs: []string{bound}, status: 401, code: "invalid_dpop_proof", scheme: "DPoP", why: "typ"},
		{name: "plain token as DPoP", auth: "DPoP " + plain, proofs: []string{proof(key, dpoptest.Proof{AccessToken: plain})}, status: 401, code: "invalid_token", scheme: "DPoP", why: "not DPoP-bound"},
		{name: "forged token as DPoP", auth: "DPoP " + bound[:len(bound)-8] + "AAAAAAAA", proofs: []string{proof(key, dpoptest.Proof{AccessToken: bound})}, status: 401, code: "invalid_token", scheme: "DPoP", why: "signature"},
		{name: "bound to a certificate", auth: "Bearer " + is.forge(t, "RS256", nil, is.claims(rsAPI, now, map[string]any{"cnf": map[string]any{"x5t#S256": "abc"}})), status: 401, code: "invalid_token", scheme: "Bearer", why: "cannot check"},
		{name: "bound to a key and a certificate", auth: "DPoP " + is.forge(t, "RS256", nil, is.claims(rsAPI, now, map[string]any{"cnf": map[string]any{"jkt": key.Thumbprint(), "x5t#S256": "abc"}})), status: 401, code: "invalid_token", scheme: "DPoP", why: "cannot check"},
		{name: "cnf not an object", auth: "Bearer " + is.forge(t, "RS256", nil, is.claims(rsAPI, now, map[string]any{"cnf": "jkt"})), status: 401, code: "invalid_token", scheme: "Bearer", why: "cannot check"},
		{name: "jkt empty", auth: "Bearer " + is.forge(t, "RS256", nil, is.claims(rsAPI, now, map[string]any{"cnf": map[string]any{"jkt": ""}})), status: 401, code: "invalid_token", scheme: "Bearer", why: "cannot check"},
		{name: "no token", status: 401, scheme: "Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = "/users"
			}
			method := "GET"
			if strings.HasPrefix(target, "/users/") {
				method = "DELETE"
			}
			w := send(h, method, target, tt.auth, tt.proofs...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s %s", w.Code, tt.status, w.Body, w.Header().Values("WWW-Authenticate"))
			}
			if tt.status == 200 {
				return
			}
			order, params := challenges(t, w)
			if len(order) != 2 || order[0] != tt.scheme {
				t.Fatalf("challenges %v, want %s first, then the other", w.Header().Values("WWW-Authenticate"), tt.scheme)
			}
			p := params[tt.scheme]
			if p["error"] != tt.code || !strings.Contains(p["error_description"], tt.why) || p["realm"] != rsAPI {
				t.Errorf("%s challenge %v, want %s mentioning %q", tt.scheme, p, tt.code, tt.why)
			}
			if params["DPoP"]["algs"] != "ES256 EdDSA PS256 RS256" {
				t.Errorf("DPoP challenge algs = %q", params["DPoP"]["algs"])
			}
			for s, q := range params {
				if s != tt.scheme && q["error"] != "" {
					t.Errorf("the error is also on the %s challenge", s)
				}
			}
		})
	}

	// Validate alone refuses a bound token; ValidateDPoP and
	// ValidateRequest take its proof.
	if _, err := v.Validate(context.Background(), bound); !errors.Is(err, resource.ErrInvalidToken) {
		t.Errorf("Validate of a bound token: %v", err)
	}
	c, err := v.ValidateDPoP(context.Background(), bound, proof(key, dpoptest.Proof{AccessToken: bound, Method: "POST", URL: "https://rpc.example.com/Users/Get"}), "POST", "https://rpc.example.com/Users/Get")
	if err != nil || c.KeyThumbprint != key.Thumbprint() {
		t.Errorf("ValidateDPoP: %+v %v", c, err)
	}
	if _, err := v.ValidateDPoP(context.Background(), bound, proof(key, dpoptest.Proof{AccessToken: bound}), "POST", url); !errors.Is(err, resource.ErrInvalidDPoPProof) {
		t.Errorf("ValidateDPoP, wrong method: %v", err)
	}
	r := httptest.NewRequest("GET", "/users", nil)
	r.Header.Set("Authorization", "DPoP "+bound)
	r.Header.Set("DPoP", proof(key, dpoptest.Proof{AccessToken: bound}))
	if c, err := v.ValidateRequest(r); err != nil || c.Subject != "app" {
		t.Errorf("ValidateRequest: %+v %v", c, err)
	}
}

func send(h http.Handler, method, target, auth string, proofs ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRequireDPoP(t *testing.T) {
	is := startIssuer(t)
	v := is.validator(t, rsAPI, resource.WithRequireDPoP())
	w := send(api(v), "GET", "/users", "Bearer "+is.token(t, rsAPI, "read:users"))
	order, params := challenges(t, w)
	if w.Code != 401 || len(order) != 1 || order[0] != "DPoP" || params["DPoP"]["error"] != "invalid_token" || !strings.Contains(params["DPoP"]["error_description"], "DPoP-bound access tokens only") {
		t.Errorf("%d %v", w.Code, w.Header().Values("WWW-Authenticate"))
	}
	w = send(api(v), "GET", "/users", "")
	if order, _ := challenges(t, w); w.Code != 401 || len(order) != 1 || order[0] != "DPoP" {
		t.Errorf("no token: %d %v", w.Code, w.Header().Values("WWW-Authenticate"))
	}
}

// TestDPoPNonce checks the use_dpop_nonce round trip (RFC 9449 §9).
func TestDPoPNonce(t *testing.T) {
	is := startIssuer(t)
	clk := frozenClock()
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("n", 32)), time.Minute, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	v := is.validator(t, rsAPI, resource.WithClock(clk.now), resource.WithDPoP(dpop.WithNonces(nonces)), resource.WithPublicURL("https://api.example.com/v1"))
	key := dpoptest.NewKey(t, jwk.PS256)
	bound := is.forge(t, "RS256", nil, is.claims(rsAPI, clk.now(), map[string]any{"cnf": map[string]any{"jkt": key.Thumbprint()}}))
	const htu = "https://api.example.com/v1/users"
	w := send(api(v), "GET", "/users", "DPoP "+bound, key.Proof(t, dpoptest.Proof{Method: "GET", URL: htu, AccessToken: bound, IssuedAt: clk.now()}))
	_, params := challenges(t, w)
	nonce := w.Header().Get("DPoP-Nonce")
	if w.Code != 401 || params["DPoP"]["error"] != "use_dpop_nonce" || nonce == "" || nonce != nonces.Current() {
		t.Fatalf("without a nonce: %d %v nonce %q", w.Code, w.Header().Values("WWW-Authenticate"), nonce)
	}
	w = send(api(v), "GET", "/users", "DPoP "+bound, key.Proof(t, dpoptest.Proof{Method: "GET", URL: htu, AccessToken: bound, IssuedAt: clk.now(), Nonce: nonce}))
	if w.Code != 200 || w.Header().Get("DPoP-Nonce") != nonce {
		t.Fatalf("with the nonce: %d %s, nonce %q", w.Code, w.Body, w.Header().Get("DPoP-Nonce"))
	}
}

func TestDPoPOptionErrors(t *testing.T) {
	for name, opt := range map[string]resource.Option{
		"HMAC proofs":       resource.WithDPoP(dpop.WithAlgorithms("HS256")),
		"relative base URL": resource.WithPublicURL("/api"),
		"base URL query":    resource.WithPublicURL("https://api.example.com/?x=1"),
	} {
		if _, err := resource.New("https://auth.example.com/", "https://api.example.com", opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDPoPBoundByTheIssuer gets a DPoP-bound token from the issuer's
// token endpoint and presents it to an API protected by the SDK: accepted
// with a proof by the key it is bound to, refused as a bearer token or
// with another key.
func TestDPoPBoundByTheIssuer(t *testing.T) {
	is := startIssuer(t)
	key := dpoptest.NewKey(t, jwk.ES256)
	body := strings.NewReader("grant_type=client_credentials&scope=read:users&audience=" + rsAPI)
	req := httptest.NewRequest(http.MethodPost, is.TokenEndpoint(), body)
	req.RequestURI = ""
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", clientSecret)
	req.Header.Set("DPoP", key.Proof(t, dpoptest.Proof{Method: http.MethodPost, URL: is.TokenEndpoint()}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.TokenType != "DPoP" {
		t.Fatalf("token: %d %+v %v", resp.StatusCode, tok, err)
	}
	h := api(is.validator(t, rsAPI))
	const url = "http://example.com/users"
	proof := func(k *dpoptest.Key) string {
		return k.Proof(t, dpoptest.Proof{Method: http.MethodGet, URL: url, AccessToken: tok.AccessToken})
	}
	if w := send(h, "GET", "/users", "DPoP "+tok.AccessToken, proof(key)); w.Code != 200 {
		t.Errorf("with its proof: %d %s", w.Code, w.Body)
	}
	if w := send(h, "GET", "/users", "Bearer "+tok.AccessToken); w.Code != 401 {
		t.Errorf("as a bearer token: %d", w.Code)
	}
	if w := send(h, "GET", "/users", "DPoP "+tok.AccessToken, proof(dpoptest.NewKey(t, jwk.EdDSA))); w.Code != 401 {
		t.Errorf("with another key's proof: %d", w.Code)
	}
}
