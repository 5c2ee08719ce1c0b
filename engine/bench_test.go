package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/dpop/dpoptest"
)

var benchAlgs = []string{"RS256", "ES256", "EdDSA"}

// benchTenant has one API per algorithm, each granted to client "c".
func benchTenant() string {
	var b strings.Builder
	b.WriteString("apis:\n")
	for _, alg := range benchAlgs {
		fmt.Fprintf(&b, "  - identifier: https://api/%s\n    signing_algorithm: %s\n    scopes: [{name: read}, {name: write}, {name: delete}]\n", alg, alg)
	}
	b.WriteString("clients:\n  - id: c\n    type: m2m\n    secrets: [\"sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2\"]\ngrants:\n")
	for _, alg := range benchAlgs {
		fmt.Fprintf(&b, "  - {client: c, api: https://api/%s, scopes: [read, write]}\n", alg)
	}
	return b.String()
}

func benchIssuer(b *testing.B) (*server.Server, *keys.Set) { return benchIssuerOf(b, benchTenant()) }

// benchIssuerOf starts an issuer of the tenant file src, with fresh keys.
func benchIssuerOf(b *testing.B, src string) (*server.Server, *keys.Set) {
	tn, err := tenant.Parse([]byte(src), "bench.yaml", ".")
	if err != nil {
		b.Fatal(err)
	}
	ks, err := keys.NewStore(b.TempDir()).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	iss, err := server.New(context.Background(), tn, ks, server.Config{Issuer: "https://issuer.example/"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { iss.Close() })
	return iss, ks
}

// BenchmarkSign is the bare cost of signing a token-sized JWS input: the
// floor under any issuance.
func BenchmarkSign(b *testing.B) {
	_, ks := benchIssuer(b)
	input := "eyJhbGciOiJFUzI1NiIsImtpZCI6IngiLCJ0eXAiOiJhdCtqd3QifQ." +
		"eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLyIsInN1YiI6ImMiLCJhdWQiOiJodHRwczovL2FwaS9FUzI1NiIsImNsaWVudF9pZCI6ImMiLCJpYXQiOjE3OTU0MzMxMjQsImV4cCI6MTc5NTQzNjcyNCwianRpIjoiQ2gwWV9tSktiQ0dOMVRJd1FGdGFXUSIsInNjb3BlIjoicmVhZCJ9"
	for _, alg := range benchAlgs {
		k, _ := ks.Signing(alg)
		b.Run(alg, func(b *testing.B) {
			for b.Loop() {
				if _, err := k.Sign(input); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIssue is in-process issuance: client authentication, API
// resolution, baseline policy with its trace, minting and signing.
func BenchmarkIssue(b *testing.B) {
	iss, _ := benchIssuer(b)
	for _, alg := range benchAlgs {
		req := &engine.TokenRequest{
			GrantType: engine.GrantClientCredentials, ClientID: "c", ClientSecret: "demo-m2m-secret",
			AuthMethod: engine.AuthSecretBasic, Audience: "https://api/" + alg, Scope: "read", ScopeSet: true,
		}
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if _, err := iss.Token(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHTTPToken drives the token endpoint's handler (parsing, Basic
// auth, JSON response) without a network.
func BenchmarkHTTPToken(b *testing.B) {
	iss, _ := benchIssuer(b)
	h := iss.Handler()
	for _, alg := range benchAlgs {
		body := "grant_type=client_credentials&scope=read&audience=https%3A%2F%2Fapi%2F" + alg
		b.Run(alg, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("c", "demo-m2m-secret")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// noopStage is a stage that does nothing, to measure what the pipeline
// itself costs per stage (timing each stage included).
type noopStage struct{}

func (noopStage) Name() string                                   { return "noop" }
func (noopStage) Run(context.Context, *engine.Transaction) error { return nil }

// BenchmarkPipelineStages runs a pipeline of 8 stages that do nothing:
// what the pipeline costs per request beyond its stages' own work, most
// of it the two clock readings that time each stage ("clock" measures one
// pair, in the same run).
func BenchmarkPipelineStages(b *testing.B) {
	p := &engine.Pipeline{Stages: []engine.Stage{noopStage{}, noopStage{}, noopStage{}, noopStage{}, noopStage{}, noopStage{}, noopStage{}, noopStage{}}}
	ctx := context.Background()
	b.Run("8-stages", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tx := engine.Transaction{}
			if err := p.Run(ctx, &tx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("clock", func(b *testing.B) {
		var d time.Duration
		for b.Loop() {
			start := time.Now()
			d += time.Since(start)
		}
		_ = d
	})
}

// BenchmarkTokenClientAuth is a whole client-credentials request through
// the token endpoint's handler (an ES256 access token) per client
// authentication method, with and without a DPoP proof (ES256): what
// private_key_jwt and DPoP add to a request against client_secret_basic.
// Assertions and proofs are made in batches outside the timing, each with
// a fresh jti.
func BenchmarkTokenClientAuth(b *testing.B) {
	key := dpoptest.NewKey(b, "ES256")
	jwks, _ := json.Marshal(map[string]any{"keys": []any{key.JWK}})
	// benchTenant's, with a private_key_jwt client k beside c.
	src := strings.Replace(benchTenant(), "clients:\n",
		"clients:\n  - id: k\n    type: m2m\n    token_endpoint_auth_method: private_key_jwt\n    jwks: "+string(jwks)+"\n", 1) +
		"  - {client: k, api: https://api/ES256, scopes: [read, write]}\n"
	tn, err := tenant.Parse([]byte(src), "bench.yaml", ".")
	if err != nil {
		b.Fatal(err)
	}
	ks, err := keys.NewStore(b.TempDir()).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	const issuer = "https://issuer.example/"
	srv, err := server.New(context.Background(), tn, ks, server.Config{Issuer: issuer})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	h := srv.Handler()
	dpopKey := dpoptest.NewKey(b, "ES256")
	for _, m := range []struct {
		name      string
		assertion bool
		dpop      bool
	}{
		{"client_secret_basic", false, false},
		{"client_secret_basic+DPoP", false, true},
		{"private_key_jwt", true, false},
		{"private_key_jwt+DPoP", true, true},
	} {
		b.Run(m.name, func(b *testing.B) {
			const batch = 1024
			var bodies, proofs []string
			next := func(i int) (string, string) {
				if i%batch == 0 {
					b.StopTimer()
					bodies, proofs = bodies[:0], proofs[:0]
					for range batch {
						body := "grant_type=client_credentials&scope=read&audience=https%3A%2F%2Fapi%2FES256"
						if m.assertion {
							a := key.Sign(b, map[string]any{"alg": "ES256"}, map[string]any{"iss": "k", "sub": "k", "aud": issuer,
								"jti": rand.Text(), "exp": time.Now().Add(time.Minute).Unix()})
							body += "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" + a
						}
						bodies = append(bodies, body)
						if m.dpop {
							proofs = append(proofs, dpopKey.Proof(b, dpoptest.Proof{Method: "POST", URL: issuer + "oauth/token"}))
						}
					}
					b.StartTimer()
				}
				p := ""
				if m.dpop {
					p = proofs[i%batch]
				}
				return bodies[i%batch], p
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				body, proof := next(i)
				i++
				req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if !m.assertion {
					req.SetBasicAuth("c", "demo-m2m-secret")
				}
				if proof != "" {
					req.Header.Set("DPoP", proof)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
