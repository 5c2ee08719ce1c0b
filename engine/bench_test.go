package engine_test

import (
	"context"
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
