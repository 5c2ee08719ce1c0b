package clientauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/engine/clientauth"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
	"github.com/scopeline/scopeline/sdk/resource/replay"
	"github.com/scopeline/scopeline/sdk/resource/replay/replaytest"
)

const (
	issuer   = "https://auth.example.com/"
	tokenURL = "https://auth.example.com/oauth/token"
	parURL   = "https://auth.example.com/oauth/par"
	secret   = "0123456789abcdef0123456789abcdef"
	oldSec   = "fedcba9876543210fedcba9876543210"
)

// signer is a client's private key and the JWK it registers.
type signer struct {
	alg string
	key crypto.Signer
	kid string
}

func newSigner(alg, kid string) *signer {
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		panic(err)
	}
	return &signer{alg: alg, key: k, kid: kid}
}

func (s *signer) jwk() jwk.Public {
	j, err := jwk.FromPublicKey(s.key.Public(), "", s.kid)
	if err != nil {
		panic(err)
	}
	return j
}

func jwks(signers ...*signer) string {
	var keys []jwk.Public
	for _, s := range signers {
		keys = append(keys, s.jwk())
	}
	raw, _ := json.Marshal(map[string]any{"keys": keys})
	return string(raw)
}

var (
	esKey    = newSigner("ES256", "es")
	rsKey    = newSigner("RS256", "rs")
	edKey    = newSigner("EdDSA", "ed")
	stranger = newSigner("ES256", "es")
	twinA    = newSigner("ES256", "")
	twinB    = newSigner("ES256", "")
	uriKey   = newSigner("ES256", "u1")
)

// keyServer serves a client's JWK Set, counting fetches.
type keyServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    string
	fetches atomic.Int64
	down    atomic.Bool
}

func startKeyServer(t testing.TB, body string) *keyServer {
	ks := &keyServer{body: body}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		if ks.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		ks.mu.Lock()
		defer ks.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write([]byte(ks.body))
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) serve(body string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.body = body
}

type fixture struct {
	t      *tenant.Tenant
	v      *clientauth.Verifier
	clk    *replaytest.Clock
	keys   *keyServer
	remote *clientauth.RemoteKeys
}

func setup(t testing.TB, extra string) *fixture {
	t.Helper()
	f := &fixture{clk: replaytest.NewClock(time.Unix(1_800_000_000, 0))}
	f.keys = startKeyServer(t, jwks(uriKey))
	yaml := fmt.Sprintf(`
apis: [{identifier: https://api}]
clients:
  - {id: key-es, type: m2m, token_endpoint_auth_method: private_key_jwt, jwks: %s}
  - {id: key-rs, type: m2m, token_endpoint_auth_method: private_key_jwt, jwks: %s}
  - {id: key-ed, type: web, token_endpoint_auth_method: private_key_jwt, jwks: %s}
  - {id: key-pinned, type: m2m, token_endpoint_auth_method: private_key_jwt, token_endpoint_auth_signing_alg: PS256, jwks: %s}
  - {id: key-twins, type: m2m, token_endpoint_auth_method: private_key_jwt, jwks: %s}
  - {id: key-uri, type: m2m, token_endpoint_auth_method: private_key_jwt, jwks_uri: %q}
  - {id: hmac, type: m2m, token_endpoint_auth_method: client_secret_jwt, secret_env: [NEW, OLD]}
  - {id: basic, type: m2m, secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]}
%s`, jwks(esKey), jwks(rsKey), jwks(edKey), jwks(rsKey), jwks(twinA, twinB), f.keys.URL+"/jwks", extra)
	var err error
	f.t, err = tenant.Parse([]byte(yaml), "t.yaml", ".", tenant.WithLookupEnv(func(k string) (string, bool) {
		return map[string]string{"NEW": secret, "OLD": oldSec}[k], k == "NEW" || k == "OLD"
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.remote = clientauth.NewRemoteKeys(nil, time.Minute, f.clk.Now, nil)
	f.v, err = clientauth.New(clientauth.Config{
		Issuer:    issuer,
		Endpoints: []string{tokenURL, parURL},
		Replay:    replay.NewMemory(0, f.clk.Now),
		Keys:      f.remote,
		Now:       f.clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// assertion makes a genuine assertion for client at now, with changes
// to the header and claims (nil removes a member).
func (f *fixture) assertion(t testing.TB, s *signer, client string, header, claims map[string]any) string {
	t.Helper()
	now := f.clk.Now()
	c := map[string]any{"iss": client, "sub": client, "aud": issuer, "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "jti": fmt.Sprint("jti-", seq.Add(1))}
	h := map[string]any{"typ": "JWT"}
	if s != nil {
		h["alg"], h["kid"] = s.alg, s.kid
		if s.kid == "" {
			delete(h, "kid")
		}
	}
	return sign(t, s, merge(h, header), merge(c, claims))
}

func merge(base, changes map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

var b64 = base64.RawURLEncoding

var seq atomic.Int64

// sign signs with s, or with HMAC under secret when s is nil; the
// signature follows the key, whatever the header says.
func sign(t testing.TB, s *signer, header, claims map[string]any) string {
	t.Helper()
	if s == nil {
		if _, ok := header["alg"]; !ok {
			header["alg"] = "HS256"
		}
	}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	var (
		sig []byte
		err error
	)
	switch {
	case s == nil:
		key, _ := claims["_secret"].(string)
		if key == "" {
			key = secret
		}
		sig, err = jwt.SigningMethodHS256.Sign(input, []byte(key))
	default:
		sig, err = jwk.Method(s.alg).Sign(input, s.key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

func (f *fixture) verify(assertion string) (*clientauth.Result, error) {
	return f.v.Verify(context.Background(), f.t, clientauth.Request{AssertionType: clientauth.AssertionType, Assertion: assertion})
}

func TestAccepted(t *testing.T) {
	f := setup(t, "")
	ps := &signer{alg: "PS256", key: rsKey.key, kid: "rs"}
	tests := []struct {
		name   string
		s      *signer
		client string
		header map[string]any
		claims map[string]any
		method string
	}{
		{"ES256", esKey, "key-es", nil, nil, tenant.AuthPrivateKeyJWT},
		{"RS256", rsKey, "key-rs", nil, nil, tenant.AuthPrivateKeyJWT},
		{"PS256", ps, "key-rs", nil, nil, tenant.AuthPrivateKeyJWT},
		{"EdDSA", edKey, "key-ed", nil, nil, tenant.AuthPrivateKeyJWT},
		{"pinned PS256", ps, "key-pinned", nil, nil, tenant.AuthPrivateKeyJWT},
		{"no typ", esKey, "key-es", map[string]any{"typ": nil}, nil, tenant.AuthPrivateKeyJWT},
		{"no kid, one key", &signer{alg: "ES256", key: esKey.key}, "key-es", nil, nil, tenant.AuthPrivateKeyJWT},
		{"aud the token endpoint", esKey, "key-es", nil, map[string]any{"aud": tokenURL}, tenant.AuthPrivateKeyJWT},
		{"aud the PAR endpoint", esKey, "key-es", nil, map[string]any{"aud": parURL}, tenant.AuthPrivateKeyJWT},
		{"aud an array of one", esKey, "key-es", nil, map[string]any{"aud": []string{issuer}}, tenant.AuthPrivateKeyJWT},
		{"explicit typ", esKey, "key-es", map[string]any{"typ": clientauth.ExplicitType}, nil, tenant.AuthPrivateKeyJWT},
		{"no iat, exp soon", esKey, "key-es", nil, map[string]any{"iat": nil}, tenant.AuthPrivateKeyJWT},
		{"lifetime 5 minutes", esKey, "key-es", nil, map[string]any{"exp": f.clk.Now().Add(5 * time.Minute).Unix()}, tenant.AuthPrivateKeyJWT},
		{"expired within the skew", esKey, "key-es", nil, map[string]any{"exp": f.clk.Now().Add(-20 * time.Second).Unix(), "iat": f.clk.Now().Add(-time.Minute).Unix()}, tenant.AuthPrivateKeyJWT},
		{"iat within the skew ahead", esKey, "key-es", nil, map[string]any{"iat": f.clk.Now().Add(20 * time.Second).Unix()}, tenant.AuthPrivateKeyJWT},
		{"jwks_uri", uriKey, "key-uri", nil, nil, tenant.AuthPrivateKeyJWT},
		{"client_secret_jwt", nil, "hmac", nil, nil, tenant.AuthClientSecretJWT},
		{"client_secret_jwt, old secret", nil, "hmac", nil, map[string]any{"_secret": oldSec}, tenant.AuthClientSecretJWT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := f.assertion(t, tc.s, tc.client, tc.header, tc.claims)
			res, err := f.verify(a)
			if err != nil {
				t.Fatal(err)
			}
			if res.Client.ID != tc.client || res.Method != tc.method || res.ID == "" || res.Expires.IsZero() {
				t.Errorf("result = %+v", res)
			}
			if tc.s != nil && res.Thumbprint != tc.s.jwk().Thumbprint() {
				t.Errorf("thumbprint %s", res.Thumbprint)
			}
		})
	}
}

// TestRefusals makes every kind of assertion to refuse, and checks each
// is refused as invalid_client with its reason.
func TestRefusals(t *testing.T) {
	f := setup(t, "")
	now := f.clk.Now()
	a := func(s *signer, client string, header, claims map[string]any) string {
		return f.assertion(t, s, client, header, claims)
	}
	replayed := a(esKey, "key-es", nil, nil)
	if _, err := f.verify(replayed); err != nil {
		t.Fatal(err)
	}
	genuine := a(esKey, "key-es", nil, nil)
	parts := strings.Split(genuine, ".")
	tests := []struct {
		name string
		typ  string
		a    string
		id   string
		why  string
	}{
		{"wrong assertion type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", genuine, "", "client_assertion_type must be"},
		{"empty", clientauth.AssertionType, "", "", "empty"},
		{"too large", clientauth.AssertionType, strings.Repeat("a", clientauth.MaxAssertionBytes+1), "", "too large"},
		{"malformed", clientauth.AssertionType, "a.b.c", "", "malformed"},
		{"tampered claims", clientauth.AssertionType, parts[0] + "." + b64.EncodeToString([]byte(`{"iss":"key-es","sub":"key-es","aud":"`+issuer+`","exp":9999999999,"jti":"x"}`)) + "." + parts[2], "", "signature is invalid"},
		{"alg none", clientauth.AssertionType, strings.Join(parts[:2], ".") + ".", "", "malformed"},
		{"header alg none", clientauth.AssertionType, a(esKey, "key-es", map[string]any{"alg": "none"}, nil), "", "malformed"},
		{"HS256 by a key client", clientauth.AssertionType, sign(t, nil, map[string]any{"typ": "JWT"}, map[string]any{"iss": "key-es", "sub": "key-es", "aud": issuer, "exp": now.Add(time.Minute).Unix(), "jti": "h"}), "", "not HMAC"},
		{"HS256 keyed with the public key", clientauth.AssertionType, sign(t, nil, map[string]any{"typ": "JWT"}, map[string]any{"iss": "key-es", "sub": "key-es", "aud": issuer, "exp": now.Add(time.Minute).Unix(), "jti": "h2", "_secret": jwks(esKey)}), "", "not HMAC"},
		{"ES256 by the hmac client", clientauth.AssertionType, a(esKey, "hmac", nil, nil), "", "signed with HS256"},
		{"RS512", clientauth.AssertionType, a(rsKey, "key-rs", map[string]any{"alg": "RS512"}, nil), "", "malformed"},
		{"alg not the key's", clientauth.AssertionType, a(rsKey, "key-rs", map[string]any{"alg": "ES256"}, nil), "", "not signed with a key of the client"},
		{"alg not the pinned one", clientauth.AssertionType, a(rsKey, "key-pinned", nil, nil), "", "token_endpoint_auth_signing_alg"},
		{"typ at+jwt", clientauth.AssertionType, a(esKey, "key-es", map[string]any{"typ": "at+jwt"}, nil), "", "wrong typ"},
		{"typ dpop+jwt", clientauth.AssertionType, a(esKey, "key-es", map[string]any{"typ": "dpop+jwt"}, nil), "", "wrong typ"},
		{"crit", clientauth.AssertionType, a(esKey, "key-es", map[string]any{"crit": []string{"x"}}, nil), "", "critical"},
		{"no iss", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"iss": nil}), "", "needs iss and sub"},
		{"no sub", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"sub": nil}), "", "needs iss and sub"},
		{"iss not sub", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"iss": "key-rs"}), "", "iss and sub must both"},
		{"client_id another client", clientauth.AssertionType, a(esKey, "key-es", nil, nil), "key-rs", "different clients"},
		{"unknown client", clientauth.AssertionType, a(esKey, "ghost", nil, nil), "", "client authentication failed"},
		{"a secret client", clientauth.AssertionType, a(esKey, "basic", nil, nil), "", "client authentication failed"},
		{"another client's key", clientauth.AssertionType, a(esKey, "key-rs", nil, nil), "", "not signed with a key of the client"},
		{"a stranger's key with the client's kid", clientauth.AssertionType, a(stranger, "key-es", nil, nil), "", "signature is invalid"},
		{"unknown kid", clientauth.AssertionType, a(&signer{alg: "ES256", key: esKey.key, kid: "nope"}, "key-es", nil, nil), "", "not signed with a key of the client"},
		{"no kid, several keys", clientauth.AssertionType, a(twinA, "key-twins", nil, nil), "", "several of the client's keys"},
		{"hmac with a wrong secret", clientauth.AssertionType, a(nil, "hmac", nil, map[string]any{"_secret": strings.Repeat("x", 32)}), "", "signature is invalid"},
		{"no aud", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"aud": nil}), "", "aud must be the issuer identifier"},
		{"aud another issuer", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"aud": "https://evil.example.com/"}), "", "not meant for this issuer"},
		{"aud without the trailing slash", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"aud": "https://auth.example.com"}), "", "not meant for this issuer"},
		{"aud several", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"aud": []string{issuer, "https://evil.example.com/"}}), "", "not several audiences"},
		{"aud a number", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"aud": 7}), "", "aud must be the issuer identifier"},
		{"explicit typ, aud the token endpoint", clientauth.AssertionType, a(esKey, "key-es", map[string]any{"typ": clientauth.ExplicitType}, map[string]any{"aud": tokenURL}), "", "aud must be the issuer identifier"},
		{"explicit typ, aud an array", clientauth.AssertionType, a(esKey, "key-es", map[string]any{"typ": clientauth.ExplicitType}, map[string]any{"aud": []string{issuer}}), "", "as a string"},
		{"no exp", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"exp": nil}), "", "needs exp"},
		{"exp a string", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"exp": "soon"}), "", "malformed"},
		{"expired", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"exp": now.Add(-31 * time.Second).Unix(), "iat": now.Add(-time.Minute).Unix()}), "", "expired"},
		{"lives too long", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"exp": now.Add(6 * time.Minute).Unix()}), "", "lives longer than 5m0s"},
		{"lives too long, no iat", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"exp": now.Add(time.Hour).Unix(), "iat": nil}), "", "lives longer"},
		{"nbf in the future", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"nbf": now.Add(time.Minute).Unix()}), "", "not valid yet"},
		{"iat in the future", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"iat": now.Add(time.Minute).Unix(), "exp": now.Add(2 * time.Minute).Unix()}), "", "in the future"},
		{"no jti", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"jti": nil}), "", "needs a jti"},
		{"long jti", clientauth.AssertionType, a(esKey, "key-es", nil, map[string]any{"jti": strings.Repeat("j", 257)}), "", "needs a jti"},
		{"replayed", clientauth.AssertionType, replayed, "", "used before"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.v.Verify(context.Background(), f.t, clientauth.Request{AssertionType: tc.typ, Assertion: tc.a, ClientID: tc.id})
			if err == nil {
				t.Fatalf("accepted: %+v", res)
			}
			var e *clientauth.Error
			if !errors.As(err, &e) || !errors.Is(err, clientauth.ErrInvalidClient) || e.Code != "invalid_client" || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %q, want invalid_client mentioning %q", err, tc.why)
			}
		})
	}
}

// TestTenantAlgorithms checks the tenant's allow-list applies.
func TestTenantAlgorithms(t *testing.T) {
	f := setup(t, "client_assertions:\n  signing_algorithms: [ES256, PS256]\n  max_lifetime: 1m\n  clock_skew: 0s\n")
	if _, err := f.verify(f.assertion(t, edKey, "key-ed", nil, nil)); !errors.Is(err, clientauth.ErrInvalidClient) {
		t.Errorf("EdDSA outside the tenant's algorithms: %v", err)
	}
	if _, err := f.verify(f.assertion(t, esKey, "key-es", nil, nil)); err != nil {
		t.Error(err)
	}
	if _, err := f.verify(f.assertion(t, esKey, "key-es", nil, map[string]any{"exp": f.clk.Now().Add(61 * time.Second).Unix()})); !errors.Is(err, clientauth.ErrInvalidClient) {
		t.Errorf("a lifetime over max_lifetime: %v", err)
	}
	if _, err := f.verify(f.assertion(t, nil, "hmac", nil, nil)); err != nil {
		t.Errorf("HS256 for client_secret_jwt whatever the list: %v", err)
	}
}

func TestReplayCacheFailureFailsClosed(t *testing.T) {
	f := setup(t, "")
	v, _ := clientauth.New(clientauth.Config{Issuer: issuer, Replay: replay.NewMemory(1, f.clk.Now), Keys: f.remote, Now: f.clk.Now})
	req := func() error {
		_, err := v.Verify(context.Background(), f.t, clientauth.Request{AssertionType: clientauth.AssertionType, Assertion: f.assertion(t, esKey, "key-es", nil, nil)})
		return err
	}
	if err := req(); err != nil {
		t.Fatal(err)
	}
	if err := req(); !errors.Is(err, clientauth.ErrUnavailable) || !errors.Is(err, replay.ErrFull) {
		t.Errorf("full cache: %v", err)
	}
}

// TestRemoteKeys checks a jwks_uri is fetched once, cached, refetched for
// a new kid at most once per interval, and used stale while down.
func TestRemoteKeys(t *testing.T) {
	f := setup(t, "")
	ok := func(s *signer) error { _, err := f.verify(f.assertion(t, s, "key-uri", nil, nil)); return err }
	for range 5 {
		if err := ok(uriKey); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.keys.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 5 assertions, want 1", n)
	}
	// The client rotates to a new key: within the refetch interval of the
	// last fetch it is not fetched again; after it, the first assertion
	// with the new kid refetches at once.
	rotated := newSigner("EdDSA", "u2")
	f.keys.serve(jwks(rotated, uriKey))
	if err := ok(rotated); err == nil {
		t.Fatal("refetched within the interval")
	}
	f.clk.Advance(time.Minute)
	if err := ok(rotated); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if n := f.keys.fetches.Load(); n != 2 {
		t.Fatalf("fetches %d, want 2", n)
	}
	// Forged kids cannot make it fetch again within the interval.
	f.clk.Advance(30 * time.Second)
	for i := range 10 {
		if err := ok(&signer{alg: "ES256", key: uriKey.key, kid: fmt.Sprint("forged-", i)}); err == nil {
			t.Fatal("unknown kid accepted")
		}
	}
	if n := f.keys.fetches.Load(); n != 2 {
		t.Fatalf("fetches %d after forged kids, want 2", n)
	}
	// The server goes down: the cached set serves past its expiry (max-age
	// 600) for up to MaxStale, then authentication fails.
	f.keys.down.Store(true)
	f.clk.Advance(11 * time.Minute)
	if err := ok(uriKey); err != nil {
		t.Fatalf("stale set: %v", err)
	}
	f.clk.Advance(clientauth.MaxStale)
	err := ok(uriKey)
	if !errors.Is(err, clientauth.ErrInvalidClient) || !errors.Is(err, clientauth.ErrKeysUnavailable) || !strings.Contains(err.Error(), "cannot be fetched") {
		t.Fatalf("down past MaxStale: %v", err)
	}
	f.keys.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for ok(uriKey) != nil { // after the back-off, it fetches again
		if time.Now().After(deadline) {
			t.Fatal("never recovered")
		}
		f.clk.Advance(time.Minute)
	}
	f.remote.Retain(func(string) bool { return false })
}

// TestRemoteKeysRedirects checks a jwks_uri may redirect to https or
// loopback URLs only, three times at most.
func TestRemoteKeysRedirects(t *testing.T) {
	ks := startKeyServer(t, jwks(uriKey))
	hops := 0
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/once":
			http.Redirect(w, r, ks.URL+"/jwks", http.StatusFound)
		case "/plain":
			http.Redirect(w, r, "http://keys.example.com/jwks", http.StatusFound)
		case "/loop":
			hops++
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	}))
	defer redirector.Close()
	r := clientauth.NewRemoteKeys(nil, time.Minute, nil, nil)
	if _, err := r.Find(context.Background(), redirector.URL+"/once", "u1", "ES256"); err != nil {
		t.Errorf("one redirect to a loopback URL: %v", err)
	}
	if _, err := r.Find(context.Background(), redirector.URL+"/plain", "u1", "ES256"); !errors.Is(err, clientauth.ErrKeysUnavailable) || !strings.Contains(err.Error(), "must use https") {
		t.Errorf("redirect to plain http: %v", err)
	}
	if _, err := r.Find(context.Background(), redirector.URL+"/loop", "u1", "ES256"); !errors.Is(err, clientauth.ErrKeysUnavailable) || hops > 3 {
		t.Errorf("redirect loop: %v after %d hops", err, hops)
	}
}

func TestNewRefusals(t *testing.T) {
	r := replay.NewMemory(0, nil)
	k := clientauth.NewRemoteKeys(nil, 0, nil, nil)
	for name, cfg := range map[string]clientauth.Config{
		"no issuer":   {Replay: r, Keys: k},
		"http issuer": {Issuer: "http://auth.example.com/", Replay: r, Keys: k},
		"no replay":   {Issuer: issuer, Keys: k},
		"no keys":     {Issuer: issuer, Replay: r},
	} {
		if _, err := clientauth.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
