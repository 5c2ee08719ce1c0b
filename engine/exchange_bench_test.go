package engine_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
)

// BenchmarkTokenExchange compares, in one run and per algorithm, the
// in-process time of a token exchange (RFC 8693: client authentication,
// verifying the subject token's signature and claims, the rule, the
// baseline, minting and signing) with that of a client-credentials token
// for the same API. The difference is mostly the verification of the
// subject token.
func BenchmarkTokenExchange(b *testing.B) {
	var t strings.Builder
	t.WriteString("apis:\n")
	for _, alg := range benchAlgs {
		for _, side := range []string{"from", "to"} {
			fmt.Fprintf(&t, "  - identifier: https://%s/%s\n    signing_algorithm: %s\n    scopes: [{name: read}, {name: write}]\n", side, alg, alg)
		}
	}
	t.WriteString("clients:\n")
	for _, id := range []string{"c", "x"} {
		fmt.Fprintf(&t, "  - id: %s\n    type: m2m\n    secrets: [\"sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2\"]\n", id)
	}
	t.WriteString("grants:\n")
	for _, alg := range benchAlgs {
		fmt.Fprintf(&t, "  - {client: c, api: https://from/%s, scopes: [read, write]}\n  - {client: x, api: https://to/%s, scopes: [read, write]}\n", alg, alg)
	}
	t.WriteString("token_exchange:\n")
	for _, alg := range benchAlgs {
		fmt.Fprintf(&t, "  - {client: x, from: [https://from/%s], to: https://to/%s, scopes: [read, write], subjects: [client]}\n", alg, alg)
	}
	iss, _ := benchIssuerOf(b, t.String())
	ctx := context.Background()
	for _, alg := range benchAlgs {
		cc := &engine.TokenRequest{GrantType: engine.GrantClientCredentials, ClientID: "x", ClientSecret: "demo-m2m-secret",
			AuthMethod: engine.AuthSecretBasic, Audience: "https://to/" + alg, Scope: "read", ScopeSet: true}
		subject, err := iss.Token(ctx, &engine.TokenRequest{GrantType: engine.GrantClientCredentials, ClientID: "c", ClientSecret: "demo-m2m-secret",
			AuthMethod: engine.AuthSecretBasic, Audience: "https://from/" + alg, Scope: "read", ScopeSet: true})
		if err != nil {
			b.Fatal(err)
		}
		tx := &engine.TokenRequest{GrantType: engine.GrantTokenExchange, ClientID: "x", ClientSecret: "demo-m2m-secret",
			AuthMethod: engine.AuthSecretBasic, Audience: "https://to/" + alg, Scope: "read", ScopeSet: true,
			Params: url.Values{"subject_token": {subject.AccessToken}, "subject_token_type": {engine.TokenTypeAccessToken}}}
		// Interleaved, so that both see the same load: each iteration makes
		// one of each, timed apart.
		b.Run(alg, func(b *testing.B) {
			var spent [2]time.Duration
			for b.Loop() {
				for i, r := range []*engine.TokenRequest{cc, tx} {
					start := time.Now()
					if _, err := iss.Token(ctx, r); err != nil {
						b.Fatal(err)
					}
					spent[i] += time.Since(start)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(spent[0].Nanoseconds())/n, "client-credentials-ns/op")
			b.ReportMetric(float64(spent[1].Nanoseconds())/n, "token-exchange-ns/op")
			b.ReportMetric(float64(spent[1])/float64(spent[0]), "exchange/cc")
		})
	}
}
