package dpop_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/sdk/resource/dpop"
	"github.com/scopeline/scopeline/sdk/resource/dpop/dpoptest"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
	"github.com/scopeline/scopeline/sdk/resource/replay"
	"github.com/scopeline/scopeline/sdk/resource/replay/replaytest"
)

const tokenURL = "https://auth.example.com/oauth/token"

func newClock() *replaytest.Clock { return replaytest.NewClock(time.Unix(1_800_000_000, 0)) }

func verifier(t testing.TB, clk *replaytest.Clock, opts ...dpop.Option) *dpop.Verifier {
	t.Helper()
	v, err := dpop.NewVerifier(append([]dpop.Option{dpop.WithClock(clk.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEachAlgorithm(t *testing.T) {
	clk := newClock()
	v := verifier(t, clk)
	for _, alg := range dpop.DefaultAlgorithms {
		t.Run(alg, func(t *testing.T) {
			k := dpoptest.NewKey(t, alg)
			proof := k.Proof(t, dpoptest.Proof{Method: "POST", URL: tokenURL, IssuedAt: clk.Now()})
			p, err := v.Verify(context.Background(), proof, dpop.Request{Method: "POST", URL: tokenURL})
			if err != nil {
				t.Fatal(err)
			}
			if p.Thumbprint != k.Thumbprint() || p.Algorithm != alg || p.ID == "" || !p.IssuedAt.Equal(clk.Now()) {
				t.Errorf("proof = %+v", p)
			}
		})
	}
}

// TestRefusals makes every kind of proof RFC 9449 §4.3 and §7.1 say to
// refuse, and checks each is refused with its reason.
func TestRefusals(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	es := dpoptest.NewKey(t, jwk.ES256)
	rs := dpoptest.NewKey(t, jwk.RS256)
	other := dpoptest.NewKey(t, jwk.ES256)
	v := verifier(t, clk)
	const token = "an-access-token"
	ok := func(p dpoptest.Proof) dpoptest.Proof {
		if p.Method == "" {
			p.Method = "GET"
		}
		if p.URL == "" {
			p.URL = "https://api.example.com/users"
		}
		if p.IssuedAt.IsZero() {
			p.IssuedAt = now
		}
		return p
	}
	req := dpop.Request{Method: "GET", URL: "https://api.example.com/users?page=2"}
	withToken := dpop.Request{Method: "GET", URL: "https://api.example.com/users", AccessToken: token, Thumbprint: es.Thumbprint()}
	privateJWK := map[string]any{"kty": "EC", "crv": "P-256", "x": es.JWK.X, "y": es.JWK.Y, "d": "AAAA"}
	tests := []struct {
		name  string
		proof string
		req   dpop.Request
		why   string
	}{
		{"no proof", "", req, "no DPoP proof"},
		{"too large", strings.Repeat("a", dpop.MaxProofBytes+1), req, "too large"},
		{"not a JWT", "a.b", req, "malformed"},
		{"garbage", "....", req, "malformed"},
		{"wrong typ", es.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"typ": "JWT"}})), req, "typ"},
		{"no typ", es.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"typ": nil}})), req, "typ"},
		{"access token typ", es.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"typ": "at+jwt"}})), req, "typ"},
		{"alg none", unsigned(t, es, ok(dpoptest.Proof{})), req, "malformed"},
		{"alg HS256", es.Sign(t, map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": es.JWK}, map[string]any{"jti": "x", "htm": "GET", "htu": req.URL, "iat": now.Unix()}), req, "malformed"},
		{"crit", es.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"crit": []string{"exp"}}})), req, "critical"},
		{"no jwk", es.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"jwk": nil}})), req, "no jwk"},
		{"jwk a string", es.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"jwk": "key"}})), req, "no jwk"},
		{"private jwk", es.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"jwk": privateJWK}})), req, "not an acceptable public key"},
		{"symmetric jwk", es.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}})), req, "not an acceptable public key"},
		{"jwk of another key", es.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"jwk": other.JWK}})), req, "malformed or its signature is invalid"},
		{"alg unsuited to the key", rs.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"alg": "ES256"}})), req, "does not suit"},
		{"RSA key pinned to RS256 signing PS256", rs.Proof(t, ok(dpoptest.Proof{Header: map[string]any{"alg": "PS256", "jwk": pin(rs.JWK, "RS256")}})), req, "does not suit"},
		{"no jti", es.Proof(t, ok(dpoptest.Proof{Claims: map[string]any{"jti": nil}})), req, "jti"},
		{"long jti", es.Proof(t, ok(dpoptest.Proof{ID: strings.Repeat("j", 257)})), req, "jti"},
		{"no iat", es.Proof(t, ok(dpoptest.Proof{Claims: map[string]any{"iat": nil}})), req, "no iat"},
		{"iat a string", es.Proof(t, ok(dpoptest.Proof{Claims: map[string]any{"iat": "now"}})), req, "malformed"},
		{"no htm", es.Proof(t, ok(dpoptest.Proof{Claims: map[string]any{"htm": nil}})), req, "htm and htu"},
		{"no htu", es.Proof(t, ok(dpoptest.Proof{Claims: map[string]any{"htu": nil}})), req, "htm and htu"},
		{"htm a number", es.Proof(t, ok(dpoptest.Proof{Claims: map[string]any{"htm": 1}})), req, "malformed"},
		{"wrong htm", es.Proof(t, ok(dpoptest.Proof{Method: "POST"})), req, "another HTTP method"},
		{"lower-case htm", es.Proof(t, ok(dpoptest.Proof{Method: "get"})), req, "another HTTP method"},
		{"wrong htu path", es.Proof(t, ok(dpoptest.Proof{URL: "https://api.example.com/admin"})), req, "another URL"},
		{"wrong htu host", es.Proof(t, ok(dpoptest.Proof{URL: "https://evil.example.com/users"})), req, "another URL"},
		{"wrong htu scheme", es.Proof(t, ok(dpoptest.Proof{URL: "http://api.example.com/users"})), req, "another URL"},
		{"wrong htu port", es.Proof(t, ok(dpoptest.Proof{URL: "https://api.example.com:8443/users"})), req, "another URL"},
		{"htu with a trailing slash", es.Proof(t, ok(dpoptest.Proof{URL: "https://api.example.com/users/"})), req, "another URL"},
		{"htu not a URL", es.Proof(t, ok(dpoptest.Proof{URL: "users"})), req, "not a URL"},
		{"htu with user info", es.Proof(t, ok(dpoptest.Proof{URL: "https://u:p@api.example.com/users"})), req, "not a URL"},
		{"too old", es.Proof(t, ok(dpoptest.Proof{IssuedAt: now.Add(-dpop.DefaultIATWindow - dpop.DefaultClockSkew - time.Second)})), req, "too old"},
		{"in the future", es.Proof(t, ok(dpoptest.Proof{IssuedAt: now.Add(dpop.DefaultClockSkew + time.Second)})), req, "future"},
		{"no ath with a token", es.Proof(t, ok(dpoptest.Proof{})), withToken, "ath"},
		{"ath of another token", es.Proof(t, ok(dpoptest.Proof{AccessToken: "another-token"})), withToken, "ath"},
		{"key not the token's", other.Proof(t, ok(dpoptest.Proof{AccessToken: token})), withToken, "another key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.proof, tc.req)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			var e *dpop.Error
			if !errors.As(err, &e) || !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %q, want invalid_dpop_proof mentioning %q", err, tc.why)
			}
		})
	}

	// The same proofs but right pass, at the edges of the window.
	for name, p := range map[string]dpoptest.Proof{
		"oldest":         ok(dpoptest.Proof{IssuedAt: now.Add(-dpop.DefaultIATWindow - dpop.DefaultClockSkew)}),
		"newest":         ok(dpoptest.Proof{IssuedAt: now.Add(dpop.DefaultClockSkew)}),
		"with a token":   ok(dpoptest.Proof{AccessToken: token}),
		"equivalent URL": ok(dpoptest.Proof{URL: "HTTPS://API.example.com:443/%75sers#frag"}),
	} {
		r := req
		if p.AccessToken != "" {
			r = withToken
		}
		if _, err := v.Verify(context.Background(), es.Proof(t, p), r); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func pin(j jwk.Public, alg string) jwk.Public { j.Alg = alg; return j }

func unsigned(t *testing.T, k *dpoptest.Key, p dpoptest.Proof) string {
	s := k.Proof(t, dpoptest.Proof{Method: p.Method, URL: p.URL, IssuedAt: p.IssuedAt, Header: map[string]any{"alg": "none"}})
	return s[:strings.LastIndexByte(s, '.')+1]
}

func TestReplay(t *testing.T) {
	clk := newClock()
	cache := replay.NewMemory(0, clk.Now)
	v := verifier(t, clk, dpop.WithReplayCache(cache))
	k := dpoptest.NewKey(t, jwk.EdDSA)
	proof := k.Proof(t, dpoptest.Proof{Method: "POST", URL: tokenURL, IssuedAt: clk.Now(), ID: "once"})
	r := dpop.Request{Method: "POST", URL: tokenURL}
	if _, err := v.Verify(context.Background(), proof, r); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), proof, r); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "used before") {
		t.Fatalf("replay: %v", err)
	}
	// The same jti from another key is another proof.
	if _, err := v.Verify(context.Background(), dpoptest.NewKey(t, jwk.ES256).Proof(t, dpoptest.Proof{Method: "POST", URL: tokenURL, IssuedAt: clk.Now(), ID: "once"}), r); err != nil {
		t.Errorf("same jti, another key: %v", err)
	}
	// A refused proof does not use up its jti.
	fresh := k.Proof(t, dpoptest.Proof{Method: "POST", URL: tokenURL, IssuedAt: clk.Now(), ID: "fresh"})
	if _, err := v.Verify(context.Background(), fresh, dpop.Request{Method: "GET", URL: tokenURL}); err == nil {
		t.Fatal("wrong method accepted")
	}
	if _, err := v.Verify(context.Background(), fresh, r); err != nil {
		t.Errorf("a refused proof used up its jti: %v", err)
	}
	// A failing cache refuses the proof (fail closed), as a server error.
	full := verifier(t, clk, dpop.WithReplayCache(replay.NewMemory(1, clk.Now)))
	full.Verify(context.Background(), k.Proof(t, dpoptest.Proof{Method: "POST", URL: tokenURL, IssuedAt: clk.Now()}), r)
	_, err := full.Verify(context.Background(), k.Proof(t, dpoptest.Proof{Method: "POST", URL: tokenURL, IssuedAt: clk.Now()}), r)
	if !errors.Is(err, dpop.ErrUnavailable) || !errors.Is(err, replay.ErrFull) {
		t.Errorf("full cache: %v", err)
	}
}

func TestNonces(t *testing.T) {
	clk := newClock()
	key := []byte(strings.Repeat("k", 32))
	n, err := dpop.NewNonces(key, time.Minute, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(t, clk, dpop.WithNonces(n))
	k := dpoptest.NewKey(t, jwk.ES256)
	r := dpop.Request{Method: "POST", URL: tokenURL}
	proof := func(nonce string) string {
		return k.Proof(t, dpoptest.Proof{Method: "POST", URL: tokenURL, IssuedAt: clk.Now(), Nonce: nonce})
	}
	if _, err := v.Verify(context.Background(), proof(""), r); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("no nonce: %v", err)
	}
	nonce := v.Nonce()
	if nonce == "" || nonce != n.Current() {
		t.Fatal("no nonce to send")
	}
	if _, err := v.Verify(context.Background(), proof(nonce), r); err != nil {
		t.Fatal(err)
	}
	// Another replica with the same key accepts it; one with another key
	// does not.
	same, _ := dpop.NewNonces(key, time.Minute, clk.Now)
	diff, _ := dpop.NewNonces([]byte(strings.Repeat("x", 32)), time.Minute, clk.Now)
	if !same.Valid(nonce) || diff.Valid(nonce) {
		t.Error("nonces are not shared by key")
	}
	// Accepted for one more period, then stale.
	clk.Advance(time.Minute)
	if !n.Valid(nonce) || n.Current() == nonce {
		t.Error("the previous period's nonce must be valid, and a new one current")
	}
	clk.Advance(time.Minute)
	if _, err := v.Verify(context.Background(), proof(nonce), r); !errors.Is(err, dpop.ErrUseNonce) {
		t.Errorf("stale nonce: %v", err)
	}
	for _, bad := range []string{"", "x", nonce + "A", strings.ToLower(n.Current()), n.Current()[:10]} {
		if n.Valid(bad) && bad != n.Current() {
			t.Errorf("Valid(%q)", bad)
		}
	}
	if _, err := dpop.NewNonces([]byte("short"), 0, nil); err == nil {
		t.Error("short key accepted")
	}
	if _, err := dpop.NewNonces(key, time.Millisecond, nil); err == nil {
		t.Error("a 1ms period accepted")
	}
}

func TestNewVerifierRefusals(t *testing.T) {
	for name, opt := range map[string]dpop.Option{
		"HS256":         dpop.WithAlgorithms("HS256"),
		"none":          dpop.WithAlgorithms("none"),
		"no algorithm":  dpop.WithAlgorithms(),
		"zero window":   dpop.WithIATWindow(0),
		"long window":   dpop.WithIATWindow(time.Hour),
		"negative skew": dpop.WithClockSkew(-time.Second),
		"long skew":     dpop.WithClockSkew(time.Hour),
		"nil clock":     dpop.WithClock(nil),
	} {
		if _, err := dpop.NewVerifier(opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	v, _ := dpop.NewVerifier(dpop.WithAlgorithms("ES256"))
	k := dpoptest.NewKey(t, jwk.EdDSA)
	if _, err := v.Verify(context.Background(), k.Proof(t, dpoptest.Proof{Method: "GET", URL: tokenURL}), dpop.Request{Method: "GET", URL: tokenURL}); err == nil {
		t.Error("EdDSA proof accepted by an ES256-only verifier")
	}
}

func TestProofFrom(t *testing.T) {
	h := http.Header{}
	if p, err := dpop.ProofFrom(h); p != "" || err != nil {
		t.Error("no header")
	}
	h.Add("DPoP", "a")
	if p, err := dpop.ProofFrom(h); p != "a" || err != nil {
		t.Error("one header")
	}
	h.Add("DPoP", "b")
	if _, err := dpop.ProofFrom(h); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Error("two headers accepted")
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example.com/users":                 "https://api.example.com/users",
		"HTTPS://API.Example.COM/users":                 "https://api.example.com/users",
		"https://api.example.com:443/users":             "https://api.example.com/users",
		"http://localhost:80/x":                         "http://localhost/x",
		"http://localhost:8080/x":                       "http://localhost:8080/x",
		"https://api.example.com":                       "https://api.example.com/",
		"https://api.example.com/a/./b/../c":            "https://api.example.com/a/c",
		"https://api.example.com/a/..":                  "https://api.example.com/",
		"https://api.example.com/%7euser/%2fx%2F":       "https://api.example.com/~user/%2Fx%2F",
		"https://api.example.com/users?x=1#f":           "https://api.example.com/users",
		"https://[::1]:443/x":                           "https://[::1]/x",
		"https://api.example.com/Users":                 "https://api.example.com/Users",
		"https://api.example.com/a%20b":                 "https://api.example.com/a%20b",
		"https://api.example.com/../../../etc/passwd":   "https://api.example.com/etc/passwd",
		"https://api.example.com/oauth/token?x=y&z=%zz": "https://api.example.com/oauth/token",
	} {
		got, err := dpop.NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/users", "ftp://x/y", "https://", "https://u@x/", "https://x/%zz", "https://x/%4", "mailto:a@b", strings.Repeat("a", 5000),
		"http://0" + strings.Repeat("\xb7", 1400) + "/",   // not UTF-8, and three times longer once lower-cased
		"https://" + strings.Repeat("\u023a", 1500) + "/", // Ⱥ (2 bytes) lower-cases to ⱥ (3 bytes): past the bound
	} {
		if got, err := dpop.NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) = %q", bad, got)
		}
	}
}
