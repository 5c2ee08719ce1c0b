package issuertest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
)

// The demo tenant's API and client (engine/demo/tenant.yaml).
const (
	demoAPI    = "https://api.example.com"
	demoClient = "demo-m2m"
	demoSecret = "demo-m2m-secret"
)

// runDemoIssuer is startDemoIssuer with the issuer identifier's path (such
// as "/tenants/a/") and a wrapper around the issuer's handler.
func runDemoIssuer(path string, wrap func(http.Handler) http.Handler) (issuerURL string, token func(scopes ...string) string, stop func()) {
	dir, err := os.MkdirTemp("", "scopeline-example-")
	if err != nil {
		panic(err)
	}
	t, err := tenant.Parse(demo.Tenant, "tenant.yaml", dir)
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

// request makes a request with a bearer token.
func request(method, target, token string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}
