package resource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/examples/quickstart"
	"github.com/scopeline/scopeline/sdk/resource"
)

// The demo tenant's API and client (examples/quickstart/tenant.yaml).
const (
	demoAPI    = "https://api.example.com"
	demoClient = "demo-m2m"
	demoSecret = "demo-m2m-secret"
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

// startDemoIssuer runs a real Scopeline issuer on the demo tenant, on
// 127.0.0.1, as `scopeline serve` would; token gets a client-credentials
// token for the demo API with the given scopes.
func startDemoIssuer() (issuerURL string, token func(scopes ...string) string, stop func()) {
	return runDemoIssuer("/", nil)
}

// runDemoIssuer is startDemoIssuer with the issuer identifier's path (such
// as "/tenants/a/") and a wrapper around the issuer's handler.
func runDemoIssuer(path string, wrap func(http.Handler) http.Handler) (issuerURL string, token func(scopes ...string) string, stop func()) {
	dir, err := os.MkdirTemp("", "scopeline-example-")
	if err != nil {
		panic(err)
	}
	t, err := tenant.Parse(quickstart.Tenant, "tenant.yaml", dir)
	if err != nil {
		panic(err)
	}
	ks, err := keys.NewStore(dir).Ensure(t.Algorithms(), time.Now())
	if err != nil {
		panic(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	issuerURL = "http://" + srv.Listener.Addr().String() + path
	iss, err := server.New(context.Background(), t, ks, server.Config{Issuer: issuerURL})
	if err != nil {
		panic(err)
	}
	srv.Config.Handler = iss.Handler()
	if wrap != nil {
		srv.Config.Handler = wrap(srv.Config.Handler)
	}
	srv.Start()
	token = func(scopes ...string) string {
		cc := clientcredentials.Config{ClientID: demoClient, ClientSecret: demoSecret,
			TokenURL: strings.TrimSuffix(issuerURL, "/") + endpoint.PathToken,
			Scopes:   scopes, AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cc.Token(context.Background())
		if err != nil {
			panic(err)
		}
		return tok.AccessToken
	}
	return issuerURL, token, func() {
		srv.Close()
		iss.Close()
		os.RemoveAll(dir)
	}
}
