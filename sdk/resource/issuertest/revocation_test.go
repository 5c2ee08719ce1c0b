package issuertest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/sdk/resource"
)

// The SDK's introspection modes against the issuer's own introspection
// and revocation endpoints (RFC 7662, RFC 9701, RFC 7009).

const revocationTenant = `
default_audience: https://rs.api.example
apis:
  - identifier: https://rs.api.example
    access_token_denylist: true
    scopes: [{name: read:users}]
clients:
  - id: app
    type: m2m
    secrets: [sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2]
  - id: users-api
    type: m2m
    secrets: [sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2]
    introspect: [https://rs.api.example]
grants:
  - {client: app, api: https://rs.api.example, scopes: [read:users]}
`

func TestIntrospectionAgainstTheIssuer(t *testing.T) {
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(revocationTenant)})
	token := func() string {
		cc := clientcredentials.Config{ClientID: "app", ClientSecret: clientSecret, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	revoke := func(tok string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+endpoint.PathRevoke, strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", clientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %s", resp.Status)
		}
	}
	in := resource.Introspection{ClientID: "users-api", ClientSecret: clientSecret, CacheTTL: 30 * time.Second}
	signed := in
	signed.JWT = true
	for _, mode := range []struct {
		name string
		opt  resource.Option
	}{
		{"introspection", resource.WithIntrospection(in)},
		{"signed introspection", resource.WithIntrospection(signed)},
		{"local validation and a revocation check", resource.WithRevocationCheck(in)},
	} {
		t.Run(mode.name, func(t *testing.T) {
			tok, other := token(), token()
			clk := frozenClock()
			v, err := resource.New(srv.Issuer, "https://rs.api.example", mode.opt, resource.WithClock(clk.now))
			if err != nil {
				t.Fatal(err)
			}
			h := api(v)
			for _, tk := range []string{tok, other} {
				if w := call(h, "GET", "/users", "Bearer "+tk); w.Code != 200 || !strings.Contains(w.Body.String(), `"sub":"app"`) {
					t.Fatalf("active token: %d %s", w.Code, w.Body)
				}
			}
			// Revoked: refused once the cached answer is older than CacheTTL.
			revoke(tok)
			clk.advance(31 * time.Second)
			if w := call(h, "GET", "/users", "Bearer "+tok); w.Code != http.StatusUnauthorized {
				t.Errorf("revoked token: %d %s", w.Code, w.Body)
			}
			if w := call(h, "GET", "/users", "Bearer "+other); w.Code != 200 {
				t.Errorf("the other token: %d %s", w.Code, w.Body)
			}
			// A token of another issuer's making is refused too.
			if w := call(h, "GET", "/users", "Bearer a.b.c"); w.Code != http.StatusUnauthorized {
				t.Errorf("malformed token: %d %s", w.Code, w.Body)
			}
		})
	}
}
