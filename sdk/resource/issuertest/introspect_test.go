package issuertest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/sdk/resource"
	"github.com/scopeline/scopeline/sdk/resource/dpop/dpoptest"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

const (
	rsClient = "users-api"
	rsSecret = "users-api secret/+&"
)

// introspectionServer is an RFC 7662 endpoint that answers from a table
// of tokens, checks the API's credentials, and counts requests.
type introspectionServer struct {
	*httptest.Server
	is       *issuer
	calls    atomic.Int64
	mu       sync.Mutex
	answers  map[string]map[string]any // token → answer
	status   int                       // when set, every request gets it
	key      *ecdsa.PrivateKey         // for private_key_jwt clients
	jwtTyp   string                    // typ of signed answers
	jwtAud   string
	lastForm url.Values
}

func startIntrospection(t *testing.T, is *issuer) *introspectionServer {
	s := &introspectionServer{is: is, answers: map[string]map[string]any{}, jwtTyp: "token-introspection+jwt", jwtAud: rsClient}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *introspectionServer) answer(token string, a map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[token] = a
}

func (s *introspectionServer) serve(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	r.ParseForm()
	s.lastForm = r.PostForm
	if r.Method != "POST" || r.PostForm.Get("token_type_hint") != "access_token" {
		http.Error(w, "bad request", 400)
		return
	}
	if a := r.PostForm.Get("client_assertion"); a != "" {
		_, err := jwt.Parse(a, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
			jwt.WithIssuer(rsClient), jwt.WithSubject(rsClient), jwt.WithAudience(s.is.Issuer), jwt.WithExpirationRequired())
		if err != nil || r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
	} else {
		id, secret, ok := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if !ok || id != rsClient || secret != rsSecret {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
	}
	a, ok := s.answers[r.PostForm.Get("token")]
	if !ok {
		a = map[string]any{"active": false}
	}
	if r.Header.Get("Accept") == "application/token-introspection+jwt" {
		ks, _ := s.is.Keys.Load()
		k, _ := ks.Signing("ES256")
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": s.is.Issuer, "aud": s.jwtAud, "iat": time.Now().Unix(), "token_introspection": a})
		tok.Header["typ"], tok.Header["kid"] = s.jwtTyp, k.ID
		input, _ := tok.SigningString()
		sig, _ := k.Sign(input)
		w.Header().Set("Content-Type", "application/token-introspection+jwt")
		w.Write([]byte(input + "." + b64.EncodeToString(sig)))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a)
}

// active is the answer for an active token of rsAPI.
func (s *introspectionServer) active(now time.Time, changes map[string]any) map[string]any {
	return merge(map[string]any{"active": true, "iss": s.is.Issuer, "aud": rsAPI, "sub": "alice", "client_id": "app",
		"scope": "read:users", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "j1", "token_type": "Bearer", "tier": "gold"}, changes)
}

func TestIntrospection(t *testing.T) {
	is := startIssuer(t)
	s := startIntrospection(t, is)
	clk := frozenClock()
	now := clk.now()
	v := is.validator(t, rsAPI, resource.WithClock(clk.now), resource.WithIntrospection(resource.Introspection{
		ClientID: rsClient, ClientSecret: rsSecret, Endpoint: s.URL, CacheTTL: 30 * time.Second,
	}))
	h := api(v)
	s.answer("opaque-1", s.active(now, nil))
	for range 3 {
		if w := call(h, "GET", "/users", "Bearer opaque-1"); w.Code != 200 || !strings.Contains(w.Body.String(), `"sub":"alice"`) {
			t.Fatalf("active token: %d %s", w.Code, w.Body)
		}
	}
	if n := s.calls.Load(); n != 1 {
		t.Fatalf("%d introspection requests for 3 uses within the cache TTL, want 1", n)
	}
	c, err := v.Validate(context.Background(), "opaque-1")
	var tier string
	if ok, _ := c.Custom("tier", &tier); err != nil || !ok || tier != "gold" || c.TokenID != "j1" || c.ExpiresAt.Unix() != now.Add(time.Hour).Unix() {
		t.Errorf("claims %+v, tier %q, %v", c, tier, err)
	}
	// Revoked at the issuer: noticed once the cached answer is stale.
	s.answer("opaque-1", map[string]any{"active": false})
	if w := call(h, "GET", "/users", "Bearer opaque-1"); w.Code != 200 {
		t.Fatalf("within the TTL: %d", w.Code)
	}
	clk.advance(31 * time.Second)
	if w := call(h, "GET", "/users", "Bearer opaque-1"); w.Code != 401 || !strings.Contains(challenge(t, w)["error_description"], "not active") {
		t.Fatalf("revoked: %d %v", w.Code, w.Header().Values("WWW-Authenticate"))
	}
	if n := s.calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}

	for _, tc := range []struct {
		name   string
		answer map[string]any
		status int
		why    string
	}{
		{"unknown", nil, 401, "not active"},
		{"active as a string", s.active(now, map[string]any{"active": "true"}), 401, "not active"},
		{"Active in capitals", merge(s.active(now, map[string]any{"active": nil}), map[string]any{"Active": true}), 401, "not active"},
		{"another audience", s.active(now, map[string]any{"aud": esAPI}), 401, "(aud)"},
		{"no audience", s.active(now, map[string]any{"aud": nil}), 401, "(aud)"},
		{"another issuer", s.active(now, map[string]any{"iss": "https://evil.example/"}), 401, "another issuer"},
		{"no exp", s.active(now, map[string]any{"exp": nil}), 401, "no exp"},
		{"expired", s.active(now, map[string]any{"exp": now.Add(-time.Hour).Unix()}), 401, "expired"},
		{"not yet valid", s.active(now, map[string]any{"nbf": now.Add(time.Hour).Unix()}), 401, "(nbf)"},
		{"ambiguous claims", s.active(now, map[string]any{"Scope": "delete:users"}), 401, "malformed"},
		{"bound to a certificate", s.active(now, map[string]any{"cnf": map[string]any{"x5t#S256": "x"}}), 401, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := "tok-" + strings.ReplaceAll(tc.name, " ", "-")
			if tc.answer != nil {
				s.answer(token, tc.answer)
			}
			w := call(h, "GET", "/users", "Bearer "+token)
			if w.Code != tc.status || !strings.Contains(challenge(t, w)["error_description"], tc.why) {
				t.Errorf("%d %v, want %d mentioning %q", w.Code, w.Header().Values("WWW-Authenticate"), tc.status, tc.why)
			}
		})
	}

	// The endpoint failing is 503, never a pass.
	for _, status := range []int{500, 401, 404} {
		s.mu.Lock()
		s.status = status
		s.mu.Unlock()
		if w := call(h, "GET", "/users", "Bearer fresh-token"); w.Code != 503 {
			t.Errorf("endpoint answering %d: %d", status, w.Code)
		}
	}
}

// TestIntrospectionDPoP checks a bound token's cnf.jkt from the answer
// is enforced as for a local token.
func TestIntrospectionDPoP(t *testing.T) {
	is := startIssuer(t)
	s := startIntrospection(t, is)
	v := is.validator(t, rsAPI, resource.WithIntrospection(resource.Introspection{ClientID: rsClient, ClientSecret: rsSecret, Endpoint: s.URL}))
	key := dpoptest.NewKey(t, jwk.ES256)
	s.answer("bound", s.active(time.Now(), map[string]any{"cnf": map[string]any{"jkt": key.Thumbprint()}, "token_type": "DPoP"}))
	if w := call(api(v), "GET", "/users", "Bearer bound"); w.Code != 401 {
		t.Errorf("bound token as Bearer: %d", w.Code)
	}
	w := send(api(v), "GET", "/users", "DPoP bound", key.Proof(t, dpoptest.Proof{Method: "GET", URL: "http://example.com/users", AccessToken: "bound"}))
	if w.Code != 200 {
		t.Errorf("bound token with its proof: %d %v", w.Code, w.Header().Values("WWW-Authenticate"))
	}
}

// TestIntrospectionJWT checks signed answers (RFC 9701), the endpoint
// from discovery, and private_key_jwt at the endpoint.
func TestIntrospectionJWT(t *testing.T) {
	is := startIssuer(t)
	s := startIntrospection(t, is)
	is.introspectionEndpoint.Store(&s.URL)
	var err error
	if s.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	v := is.validator(t, rsAPI, resource.WithIntrospection(resource.Introspection{
		ClientID: rsClient, ClientKey: s.key, KeyID: "k1", KeyAlgorithm: "ES256", JWT: true,
	}))
	s.answer("signed", s.active(time.Now(), nil))
	if w := call(api(v), "GET", "/users", "Bearer signed"); w.Code != 200 {
		t.Fatalf("signed answer: %d %v", w.Code, w.Header().Values("WWW-Authenticate"))
	}
	if s.lastForm.Get("client_id") != rsClient || s.lastForm.Get("client_assertion") == "" {
		t.Errorf("form %v", s.lastForm)
	}
	for name, change := range map[string]func(){
		"wrong typ": func() { s.jwtTyp = "JWT" },
		"wrong aud": func() { s.jwtTyp, s.jwtAud = "token-introspection+jwt", "someone-else" },
	} {
		s.mu.Lock()
		change()
		s.mu.Unlock()
		token := "signed-" + strings.ReplaceAll(name, " ", "-")
		s.answer(token, s.active(time.Now(), nil))
		if w := call(api(v), "GET", "/users", "Bearer "+token); w.Code != 503 {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	// A JSON answer where a signed one was asked for is refused.
	plain := is.validator(t, rsAPI, resource.WithIntrospection(resource.Introspection{ClientID: rsClient, ClientSecret: rsSecret, Endpoint: s.URL}))
	s.mu.Lock()
	s.jwtTyp, s.jwtAud = "token-introspection+jwt", rsClient
	s.mu.Unlock()
	if w := call(api(plain), "GET", "/users", "Bearer signed"); w.Code != 200 {
		t.Errorf("JSON answer: %d", w.Code)
	}
}

// denylist is a Denylist by jti.
type denylist struct {
	revoked map[string]bool
	err     error
}

func (d denylist) Revoked(_ context.Context, _ string, c resource.Claims) (bool, error) {
	return d.revoked[c.TokenID], d.err
}

func TestDenylists(t *testing.T) {
	is := startIssuer(t)
	s := startIntrospection(t, is)
	tok := is.token(t, rsAPI, "read:users")
	c, err := is.validator(t, rsAPI).Validate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	// A custom list.
	for _, tc := range []struct {
		d      denylist
		status int
	}{
		{denylist{revoked: map[string]bool{"other": true}}, 200},
		{denylist{revoked: map[string]bool{c.TokenID: true}}, 401},
		{denylist{err: errors.New("redis down")}, 503},
	} {
		v := is.validator(t, rsAPI, resource.WithDenylist(tc.d))
		if w := call(api(v), "GET", "/users", "Bearer "+tok); w.Code != tc.status {
			t.Errorf("denylist %+v: %d, want %d", tc.d, w.Code, tc.status)
		}
	}
	// The issuer's introspection endpoint as the list: the token is
	// validated locally first, so a forged one never reaches it.
	v := is.validator(t, rsAPI, resource.WithRevocationCheck(resource.Introspection{ClientID: rsClient, ClientSecret: rsSecret, Endpoint: s.URL}))
	if w := call(api(v), "GET", "/users", "Bearer "+tok); w.Code != 401 || !strings.Contains(challenge(t, w)["error_description"], "revoked") {
		t.Errorf("revoked at the issuer: %d %v", w.Code, w.Header().Values("WWW-Authenticate"))
	}
	s.answer(tok, s.active(time.Now(), map[string]any{"jti": c.TokenID}))
	fresh := is.validator(t, rsAPI, resource.WithRevocationCheck(resource.Introspection{ClientID: rsClient, ClientSecret: rsSecret, Endpoint: s.URL}))
	if w := call(api(fresh), "GET", "/users", "Bearer "+tok); w.Code != 200 {
		t.Errorf("active at the issuer: %d", w.Code)
	}
	before := s.calls.Load()
	if w := call(api(fresh), "GET", "/users", "Bearer "+tok[:len(tok)-6]+"AAAAAA"); w.Code != 401 || s.calls.Load() != before {
		t.Errorf("a forged token reached the endpoint: %d", w.Code)
	}
}

func TestIntrospectionOptionErrors(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, opts := range map[string][]resource.Option{
		"no client id":       {resource.WithIntrospection(resource.Introspection{ClientSecret: "s"})},
		"no credentials":     {resource.WithIntrospection(resource.Introspection{ClientID: "c"})},
		"secret and key":     {resource.WithIntrospection(resource.Introspection{ClientID: "c", ClientSecret: "s", ClientKey: k, KeyAlgorithm: "ES256"})},
		"key of another alg": {resource.WithIntrospection(resource.Introspection{ClientID: "c", ClientKey: k, KeyAlgorithm: "RS256"})},
		"key without alg":    {resource.WithIntrospection(resource.Introspection{ClientID: "c", ClientKey: k})},
		"long TTL":           {resource.WithIntrospection(resource.Introspection{ClientID: "c", ClientSecret: "s", CacheTTL: time.Hour})},
		"http endpoint":      {resource.WithIntrospection(resource.Introspection{ClientID: "c", ClientSecret: "s", Endpoint: "http://auth.example.com/introspect"})},
		"two modes":          {resource.WithIntrospection(resource.Introspection{ClientID: "c", ClientSecret: "s"}), resource.WithDenylist(denylist{})},
	} {
		if _, err := resource.New("https://auth.example.com/", "https://api.example.com", opts...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
