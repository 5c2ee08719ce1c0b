package engine_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/grant"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/throttle"
)

// The core issues tokens in process, with no HTTP: compose it with the
// grants it answers and call Token.
func ExampleIssuer_Token() {
	t, err := tenant.Parse([]byte(`
signing_algorithm: EdDSA
apis:
  - identifier: https://api.example.com
    scopes: [{name: read}, {name: write}]
clients:
  - id: reporter
    type: m2m
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
grants:
  - {client: reporter, api: https://api.example.com, scopes: [read]}
`), "tenant.yaml", ".")
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "scopeline-example-")
	defer os.RemoveAll(dir)
	ks, err := keys.NewStore(dir).Ensure(t.Algorithms(), time.Now())
	if err != nil {
		panic(err)
	}
	clients := engine.NewClientAuthenticator(throttle.Local, throttle.DefaultNetworks, time.Now, nil)
	iss, err := engine.New(context.Background(), t, ks,
		engine.WithIssuer("https://issuer.example.com/"),
		engine.WithGrants(&grant.ClientCredentials{Clients: clients}))
	if err != nil {
		panic(err)
	}
	defer iss.Close()

	ask := func(scope string) {
		resp, err := iss.Token(context.Background(), &engine.TokenRequest{
			GrantType: engine.GrantClientCredentials, ClientID: "reporter", ClientSecret: "demo-m2m-secret",
			AuthMethod: engine.AuthSecretBasic, Audience: "https://api.example.com", Scope: scope, ScopeSet: true,
		})
		if err != nil {
			e := engine.AsError(err)
			fmt.Printf("%q: %s (HTTP %d)\n", scope, e.Code(), e.Status())
			return
		}
		fmt.Printf("%q: granted %q, trace %d entries\n", scope, resp.Scope, len(resp.Transaction.Trace))
	}
	ask("read write")
	ask("write")
	// Output:
	// "read write": granted "read", trace 2 entries
	// "write": invalid_scope (HTTP 400)
}
