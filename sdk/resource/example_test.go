package resource_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/sdk/resource"
)

// The demo tenant's API and client, as `scopeline serve` has them with no
// --config.
const (
	demoAPI    = "https://api.example.com"
	demoClient = "demo-m2m"
)

// Example protects a route in three lines: make a Validator for the
// issuer and the API, and wrap the handler with the scopes it needs.
func Example() {
	issuerURL, token, stop := startDemoIssuer()
	defer stop()

	rs, err := resource.New(issuerURL, "https://api.example.com")
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /users", rs.Protect(listUsers, resource.RequireScopes("read:users")))

	show(mux, "GET", "/users", "")
	show(mux, "GET", "/users", token("read:users"))
	// Output:
	// 401 Bearer realm="https://api.example.com"
	// 200 users for demo-m2m
}

var listUsers = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	claims, _ := resource.ClaimsFrom(r.Context())
	fmt.Fprintf(w, "users for %s", claims.ClientID)
})

func ExampleRequireScopes() {
	issuerURL, token, stop := startDemoIssuer()
	defer stop()
	rs, _ := resource.New(issuerURL, demoAPI)

	// The token must grant both scopes.
	h := rs.Protect(listUsers, resource.RequireScopes("read:users", "write:users"))
	show(h, "GET", "/", token("read:users", "write:users"))
	show(h, "GET", "/", token("read:users"))
	// Output:
	// 200 users for demo-m2m
	// 403 Bearer realm="https://api.example.com", error="insufficient_scope", error_description="the token lacks a scope this request needs", scope="read:users write:users"
}

func ExampleRequireAnyScope() {
	issuerURL, token, stop := startDemoIssuer()
	defer stop()
	rs, _ := resource.New(issuerURL, demoAPI)

	// Either scope will do.
	h := rs.Protect(listUsers, resource.RequireAnyScope("write:users", "delete:users"))
	show(h, "GET", "/", token("write:users"))
	show(h, "GET", "/", token("read:users"))
	// Output:
	// 200 users for demo-m2m
	// 403 Bearer realm="https://api.example.com", error="insufficient_scope", error_description="the token needs one of the scopes listed in scope", scope="write:users delete:users"
}

func ExampleClaimCheck() {
	issuerURL, token, stop := startDemoIssuer()
	defer stop()
	rs, _ := resource.New(issuerURL, demoAPI)

	// Only one partner application may call this route. Custom claims set
	// by hooks are read with Claims.Custom.
	partnerOnly := resource.ClaimCheck(func(c resource.Claims) bool { return c.ClientID == "partner-app" })
	h := rs.Protect(listUsers, resource.RequireScopes("read:users"), partnerOnly)
	show(h, "GET", "/", token("read:users"))
	// Output:
	// 403 Bearer realm="https://api.example.com", error="insufficient_scope", error_description="the token's claims do not allow this request"
}

func ExampleClaimsFrom() {
	issuerURL, token, stop := startDemoIssuer()
	defer stop()
	rs, _ := resource.New(issuerURL, demoAPI)

	h := rs.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := resource.ClaimsFrom(r.Context())
		fmt.Println(ok, c.Subject, c.ClientID, c.Scopes, c.ExpiresAt.Sub(c.IssuedAt))
	}))
	h.ServeHTTP(httptest.NewRecorder(), request("GET", "/", token("read:users", "write:users")))
	// Output:
	// true demo-m2m demo-m2m [read:users write:users] 1h0m0s
}

func ExampleValidator_Validate() {
	issuerURL, token, stop := startDemoIssuer()
	defer stop()
	rs, _ := resource.New(issuerURL, demoAPI)

	// Validate checks a token that did not come in an HTTP request, such as
	// one from a WebSocket message or a queue.
	claims, err := rs.Validate(context.Background(), token("read:users"))
	fmt.Println(claims.HasScope("read:users"), err)

	_, err = rs.Validate(context.Background(), "eyJhbGciOiJub25lIn0.e30.")
	var refusal *resource.Error
	if errors.Is(err, resource.ErrInvalidToken) && errors.As(err, &refusal) {
		fmt.Println(refusal.Status, refusal.Description)
	}
	// Output:
	// true <nil>
	// 401 the token's signing algorithm is not accepted
}

func ExampleValidator_Require() {
	issuerURL, token, stop := startDemoIssuer()
	defer stop()
	rs, _ := resource.New(issuerURL, demoAPI)

	// Require is Protect as middleware, for routers that chain
	// func(http.Handler) http.Handler.
	adminOnly := rs.Require(resource.RequireScopes("delete:users"))
	h := adminOnly(listUsers)
	show(h, "DELETE", "/users/1", token("write:users"))
	// Output:
	// 403 Bearer realm="https://api.example.com", error="insufficient_scope", error_description="the token lacks a scope this request needs", scope="delete:users"
}

func ExampleNew() {
	issuerURL, _, stop := startDemoIssuer()
	defer stop()

	rs, err := resource.New(issuerURL, "https://api.example.com",
		resource.WithLeeway(10*time.Second),
		resource.WithAlgorithms("RS256"),
		resource.WithRealm("users-api"),
	)
	if err != nil {
		panic(err)
	}
	// Fail fast at start-up if the issuer's keys cannot be had.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(rs.Ready(ctx))
	// Output:
	// <nil>
}

// show serves one request and prints the status and the challenge, or
// the body when it passed.
func show(h http.Handler, method, target, token string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request(method, target, token))
	if w.Code == http.StatusOK {
		fmt.Println(w.Code, w.Body)
		return
	}
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
}

func request(method, target, token string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// startDemoIssuer runs an issuer on 127.0.0.1 that answers as
// `scopeline serve` does with its demo tenant, for what the SDK reads of
// it: the RFC 8414 metadata, the JWKS and RFC 9068 access tokens signed
// RS256. token makes a client-credentials token of the demo client for
// the demo API with the given scopes. (The SDK's tests against the real
// issuer are in the issuertest module, beside this one: this module needs
// nothing of the issuer's.)
func startDemoIssuer() (issuerURL string, token func(scopes ...string) string, stop func()) {
	key := demoKey()
	const kid = "demo-key"
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	issuerURL = srv.URL + "/"
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": issuerURL, "jwks_uri": srv.URL + "/.well-known/jwks.json",
			"token_endpoint": srv.URL + "/oauth/token", "access_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
			"n": b64.EncodeToString(key.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	token = func(scopes ...string) string {
		now := time.Now()
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": issuerURL, "sub": demoClient, "aud": demoAPI, "client_id": demoClient,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": rand.Text(), "scope": strings.Join(scopes, " "),
		})
		t.Header["typ"], t.Header["kid"] = "at+jwt", kid
		s, err := t.SignedString(key)
		if err != nil {
			panic(err)
		}
		return s
	}
	return issuerURL, token, srv.Close
}

// demoKey is the examples' signing key, made once.
var demoKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})
