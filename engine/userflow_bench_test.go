package engine_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/bolt"
	"github.com/scopeline/scopeline/engine/storage/memory"
	"github.com/scopeline/scopeline/engine/tenant"
)

// benchFlows is an issuer for the end-user flow benchmarks (ES256), with
// a browser session for alice so that /authorize answers with a code at
// once.
type benchFlows struct {
	iss      *server.Server
	h        http.Handler
	cookies  []*http.Cookie
	verifier string
	query    string
	n        int
}

func newBenchFlows(b *testing.B, store storage.Storage) *benchFlows {
	hash, err := tenant.HashPassword("alice-password", tenant.DefaultArgon2, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tn, err := tenant.Parse([]byte(`
signing_algorithm: ES256
default_audience: https://api
apis:
  - identifier: https://api
    rbac: true
    scopes: [{name: read}, {name: write}]
clients:
  - id: spa
    type: spa
    redirect_uris: ["http://localhost:3000/cb"]
  - id: m2m
    type: m2m
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
grants:
  - {client: spa, api: https://api, scopes: [read, write], subjects: [user]}
  - {client: m2m, api: https://api, scopes: [read, write], subjects: [client]}
roles:
  - {name: r, permissions: [{api: https://api, scopes: [read]}]}
users:
  - {id: alice, username: alice, password_hash: "`+hash+`", roles: [r]}
`), "bench.yaml", ".")
	if err != nil {
		b.Fatal(err)
	}
	ks, err := keys.NewStore(b.TempDir()).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	iss, err := server.New(context.Background(), tn, ks, server.Config{Issuer: "http://127.0.0.1/", Storage: store})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { iss.Close(); store.Close() })
	f := &benchFlows{iss: iss, h: iss.Handler(), verifier: oauth2.GenerateVerifier()}
	f.query = url.Values{"response_type": {"code"}, "client_id": {"spa"}, "scope": {"openid offline_access read"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(f.verifier)}, "code_challenge_method": {"S256"}}.Encode()

	// Sign in once, through the login page.
	w := f.serve(httptest.NewRequest(http.MethodGet, "/authorize?"+f.query, nil))
	f.cookies = w.Result().Cookies()
	if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, "/login?") {
		b.Fatalf("authorize: %d %s", w.Code, loc)
	}
	w = f.serve(f.withCookies(httptest.NewRequest(http.MethodGet, w.Header().Get("Location"), nil)))
	if w.Code != http.StatusOK {
		b.Fatalf("login page: %d %s (from %s)", w.Code, w.Header(), f.cookies)
	}
	w = f.postLogin(w.Body.String())
	if w.Code != http.StatusSeeOther {
		b.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	f.cookies = append(f.cookies, w.Result().Cookies()...)
	return f
}

func (f *benchFlows) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func (f *benchFlows) withCookies(r *http.Request) *http.Request {
	for _, c := range f.cookies {
		r.AddCookie(c)
	}
	return r
}

var benchHidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// postLogin submits the login page's form as alice.
func (f *benchFlows) postLogin(page string) *httptest.ResponseRecorder {
	form := url.Values{"username": {"alice"}, "password": {"alice-password"}}
	for _, m := range benchHidden.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.serve(f.withCookies(r))
}

// nextAddr is the address of the next request: another /24 each time, as
// from many users (the throttles count per network).
func (f *benchFlows) nextAddr() string {
	f.n++
	return fmt.Sprintf("10.%d.%d.1:1234", f.n>>8&255, f.n&255)
}

// code runs /authorize with the session and returns the code.
func (f *benchFlows) code(b *testing.B) string {
	r := httptest.NewRequest(http.MethodGet, "/authorize?"+f.query, nil)
	r.RemoteAddr = f.nextAddr()
	w := f.serve(f.withCookies(r))
	u, err := url.Parse(w.Header().Get("Location"))
	if err != nil || u.Query().Get("code") == "" {
		b.Fatalf("authorize: %d %s", w.Code, w.Header().Get("Location"))
	}
	return u.Query().Get("code")
}

func (f *benchFlows) exchange(b *testing.B, code string) *engine.TokenResponse {
	resp, err := f.iss.Token(context.Background(), &engine.TokenRequest{
		GrantType: engine.GrantAuthorizationCode, ClientID: "spa", AuthMethod: engine.AuthNone,
		Params: url.Values{"code": {code}, "code_verifier": {f.verifier}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return resp
}

// BenchmarkUserFlows measures the end-user flows in process (ES256),
// with the in-memory store and the durable bbolt store, beside a
// client-credentials token of the same issuer for scale.
func BenchmarkUserFlows(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) storage.Storage
	}{
		{"memory", func(*testing.B) storage.Storage { return memory.New() }},
		{"bolt", func(b *testing.B) storage.Storage {
			s, err := bolt.Open(b.TempDir(), time.Second)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	b.Run("client_credentials", func(b *testing.B) {
		f := newBenchFlows(b, memory.New())
		req := &engine.TokenRequest{GrantType: engine.GrantClientCredentials, ClientID: "m2m", ClientSecret: "demo-m2m-secret",
			AuthMethod: engine.AuthSecretBasic, Scope: "read", ScopeSet: true, Audience: "https://api"}
		for b.Loop() {
			if _, err := f.iss.Token(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, st := range stores {
		// GET /authorize without a session: checks, the request sealed
		// into the redirect to the login page, nothing stored.
		b.Run("authorize_to_login/"+st.name, func(b *testing.B) {
			f := newBenchFlows(b, st.open(b))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, "/authorize?"+f.query, nil)
				r.RemoteAddr = f.nextAddr()
				if w := f.serve(r); !strings.HasPrefix(w.Header().Get("Location"), "/login?") {
					b.Fatalf("authorize: %d %s", w.Code, w.Header().Get("Location"))
				}
			}
		})
		// GET /authorize with a session: policy, hooks, code stored.
		b.Run("authorize/"+st.name, func(b *testing.B) {
			f := newBenchFlows(b, st.open(b))
			for b.Loop() {
				f.code(b)
			}
		})
		// The code exchange: code used up, access and ID tokens signed,
		// refresh-token family stored.
		b.Run("code_exchange/"+st.name, func(b *testing.B) {
			f := newBenchFlows(b, st.open(b))
			codes := make([]string, b.N)
			for i := range codes {
				codes[i] = f.code(b)
			}
			b.ResetTimer()
			for i := range b.N {
				f.exchange(b, codes[i])
			}
		})
		// A refresh: pipeline again, both tokens signed, rotation stored.
		b.Run("refresh/"+st.name, func(b *testing.B) {
			f := newBenchFlows(b, st.open(b))
			rt := f.exchange(b, f.code(b)).RefreshToken
			ctx := context.Background()
			for b.Loop() {
				resp, err := f.iss.Token(ctx, &engine.TokenRequest{
					GrantType: engine.GrantRefreshToken, ClientID: "spa", AuthMethod: engine.AuthNone,
					Params: url.Values{"refresh_token": {rt}},
				})
				if err != nil {
					b.Fatal(err)
				}
				rt = resp.RefreshToken
			}
		})
	}
	// A sign-in at the login page: argon2id (19 MiB, t=2) dominates.
	b.Run("login/memory", func(b *testing.B) {
		f := newBenchFlows(b, memory.New())
		for b.Loop() {
			b.StopTimer()
			w := f.serve(f.withCookies(httptest.NewRequest(http.MethodGet, "/authorize?"+f.query+"&prompt=login", nil)))
			w = f.serve(f.withCookies(httptest.NewRequest(http.MethodGet, w.Header().Get("Location"), nil)))
			b.StartTimer()
			if w = f.postLogin(w.Body.String()); w.Code != http.StatusSeeOther {
				b.Fatalf("sign-in: %d", w.Code)
			}
		}
	})
}
