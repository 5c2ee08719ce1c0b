package issuertest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/sdk/resource"
)

// One API per signing algorithm; the client may get every scope of each.
const (
	rsAPI = "https://rs.api.example"
	esAPI = "https://es.api.example"
	edAPI = "https://ed.api.example"
)

var apiByAlg = map[string]string{"RS256": rsAPI, "ES256": esAPI, "EdDSA": edAPI}

const tenantYAML = `
signing_algorithm: RS256
default_audience: https://rs.api.example
apis:
  - identifier: https://rs.api.example
    scopes: [{name: read:users}, {name: write:users}, {name: delete:users}]
  - identifier: https://es.api.example
    signing_algorithm: ES256
    scopes: [{name: read:users}, {name: write:users}, {name: delete:users}]
  - identifier: https://ed.api.example
    signing_algorithm: EdDSA
    scopes: [{name: read:users}, {name: write:users}, {name: delete:users}]
clients:
  - id: app
    type: m2m
    secrets: [sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2]
grants:
  - {client: app, api: https://rs.api.example, scopes: [read:users, write:users, delete:users], subjects: [client]}
  - {client: app, api: https://es.api.example, scopes: [read:users, write:users, delete:users], subjects: [client]}
  - {client: app, api: https://ed.api.example, scopes: [read:users, write:users, delete:users], subjects: [client]}
`

const clientSecret = "demo-m2m-secret"

// issuer is a real Scopeline issuer in process, counting the fetches of
// its discovery documents and JWKS.
type issuer struct {
	*enginetest.Server
	jwksFetches atomic.Int64
	metaFetches atomic.Int64
	// hideOAuthMetadata makes the RFC 8414 document answer 404.
	hideOAuthMetadata atomic.Bool
	// advertise, when set, replaces the metadata's
	// access_token_signing_alg_values_supported.
	advertise atomic.Pointer[[]string]
	// introspectionEndpoint, when set, is advertised in the metadata.
	introspectionEndpoint atomic.Pointer[string]
}

func startIssuer(tb testing.TB) *issuer {
	tb.Helper()
	is := &issuer{}
	is.Server = enginetest.Start(tb, enginetest.Config{
		Tenant: []byte(tenantYAML),
		Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == endpoint.PathJWKS:
					is.jwksFetches.Add(1)
				case strings.HasPrefix(r.URL.Path, endpoint.PathOAuthMeta) && is.hideOAuthMetadata.Load():
					http.NotFound(w, r)
					return
				case strings.HasPrefix(r.URL.Path, "/.well-known/"):
					is.metaFetches.Add(1)
					if algs, ep := is.advertise.Load(), is.introspectionEndpoint.Load(); algs != nil || ep != nil {
						var list []string
						if algs != nil {
							list = *algs
						}
						rewriteMetadata(w, r, h, list, ep)
						return
					}
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	return is
}

// rewriteMetadata serves the metadata document from h with its
// access-token algorithms replaced by algs, and an introspection endpoint,
// when set.
func rewriteMetadata(w http.ResponseWriter, r *http.Request, h http.Handler, algs []string, endpoint *string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if algs != nil {
		doc["access_token_signing_alg_values_supported"] = algs
	}
	if endpoint != nil {
		doc["introspection_endpoint"] = *endpoint
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

// token gets a real access token for aud with the client-credentials grant.
func (is *issuer) token(tb testing.TB, aud string, scopes ...string) string {
	tb.Helper()
	cc := clientcredentials.Config{
		ClientID:       "app",
		ClientSecret:   clientSecret,
		TokenURL:       is.TokenEndpoint(),
		Scopes:         scopes,
		EndpointParams: map[string][]string{"audience": {aud}},
		AuthStyle:      oauth2.AuthStyleInHeader,
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		tb.Fatalf("token for %s: %v", aud, err)
	}
	return tok.AccessToken
}

var b64 = base64.RawURLEncoding

// forge signs header and claims with the issuer's current key for alg (a
// nil header means the genuine one); a nil value in either map removes
// that member.
func (is *issuer) forge(tb testing.TB, alg string, header, claims map[string]any) string {
	tb.Helper()
	return is.sign(tb, alg, header, encodeSegment(tb, claims))
}

// sign signs the claims segment payload (base64url) under header, as forge.
func (is *issuer) sign(tb testing.TB, alg string, header map[string]any, payload string) string {
	tb.Helper()
	ks, err := is.Keys.Load()
	if err != nil {
		tb.Fatal(err)
	}
	k, ok := ks.Signing(alg)
	if !ok {
		tb.Fatalf("no %s key", alg)
	}
	h := map[string]any{"alg": alg, "kid": k.ID, "typ": "at+jwt"}
	input := encodeSegment(tb, merge(h, header)) + "." + payload
	sig, err := k.Sign(input)
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// claims are genuine-looking claims for aud at now.
func (is *issuer) claims(aud string, now time.Time, changes map[string]any) map[string]any {
	return merge(map[string]any{
		"iss":       is.Issuer,
		"sub":       "app",
		"aud":       aud,
		"client_id": "app",
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"jti":       "forged-" + now.Format(time.RFC3339Nano),
		"scope":     "read:users write:users",
	}, changes)
}

func merge(base, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	return base
}

func encodeSegment(tb testing.TB, v any) string {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b64.EncodeToString(raw)
}

// validator makes a Validator for aud on the issuer.
func (is *issuer) validator(tb testing.TB, aud string, opts ...resource.Option) *resource.Validator {
	tb.Helper()
	v, err := resource.New(is.Issuer, aud, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// api serves a users API protected by v: GET /users needs read:users,
// DELETE /users/{id} delete:users; both answer with the token's subject.
func api(v *resource.Validator) http.Handler {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := resource.ClaimsFrom(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"sub": c.Subject, "client_id": c.ClientID, "scopes": c.Scopes})
	})
	mux := http.NewServeMux()
	mux.Handle("GET /users", v.Protect(echo, resource.RequireScopes("read:users")))
	mux.Handle("DELETE /users/{id}", v.Protect(echo, resource.RequireScopes("delete:users")))
	return mux
}

// call sends method path to h with the Authorization header auth (none
// when empty).
func call(h http.Handler, method, target, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// clock is a settable test clock. A frozen one stands still between
// advances, so that nothing depends on how fast the test runs; tokens the
// issuer signs before it is made are never "in the future" for it. A
// running one is real time plus the advances.
type clock struct {
	mu      sync.Mutex
	start   time.Time
	offset  time.Duration
	running bool
}

func frozenClock() *clock  { return &clock{start: time.Now()} }
func runningClock() *clock { return &clock{start: time.Now(), running: true} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return time.Now().Add(c.offset)
	}
	return c.start.Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// flaky is a transport that fails every request while down.
type flaky struct{ down atomic.Bool }

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.down.Load() {
		return nil, errors.New("connection refused (simulated)")
	}
	return http.DefaultTransport.RoundTrip(r)
}
