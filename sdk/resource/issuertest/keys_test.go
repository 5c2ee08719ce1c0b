package issuertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/sdk/resource"
)

// TestRotationUnderLoad rotates the issuer's keys several times while
// clients keep calling APIs protected by the SDK (one per algorithm), with
// tokens fetched before and after each rotation; no request may fail.
func TestRotationUnderLoad(t *testing.T) {
	t.Run("rotations a cache lifetime apart, default options", func(t *testing.T) {
		clk := runningClock()
		testRotation(t, func() { clk.advance(6 * time.Minute) }, resource.WithClock(clk.now))
	})
	t.Run("back-to-back rotations, refetch on every unknown key", func(t *testing.T) {
		testRotation(t, func() {}, resource.WithRefetchInterval(0))
	})
}

func testRotation(t *testing.T, beforeRotation func(), opts ...resource.Option) {
	const (
		rotations = 5
		workers   = 6
		// Successful requests per algorithm between two rotations: with two
		// workers per algorithm, one of them makes at least 10, so at least 4
		// after fetching a fresh token (every 4th request) since the rotation.
		perPhase = 20
	)
	is := startIssuer(t)
	algs := []string{"RS256", "ES256", "EdDSA"}
	apis := map[string]http.Handler{}
	for _, alg := range algs {
		apis[alg] = api(is.validator(t, apiByAlg[alg], opts...))
	}

	var (
		ok       [3]atomic.Int64 // per algorithm
		failures = make(chan string, 100)
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		kidsMu   sync.Mutex
		kids     = map[string]bool{} // key ids of tokens that passed
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := i % len(algs)
			alg := algs[a]
			var tok string
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if n%4 == 0 { // a fresh token now and then; the others reuse an older one
					tok = is.token(t, apiByAlg[alg], "read:users")
				}
				w := call(apis[alg], "GET", "/users", "Bearer "+tok)
				if w.Code != http.StatusOK {
					select {
					case failures <- fmt.Sprintf("%s: %d %s", alg, w.Code, w.Header().Get("WWW-Authenticate")):
					default:
					}
					continue
				}
				ok[a].Add(1)
				kidsMu.Lock()
				kids[kidOf(t, tok)] = true
				kidsMu.Unlock()
			}
		}()
	}
	// Rotate once enough requests went through since the last rotation
	// (progress, not time, decides).
	deadline := time.Now().Add(2 * time.Minute)
	waitProgress := func() {
		for a := range ok {
			target := ok[a].Load() + perPhase
			for ok[a].Load() < target && len(failures) == 0 {
				if time.Now().After(deadline) {
					t.Error("requests stopped making progress")
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	for range rotations {
		waitProgress()
		beforeRotation()
		is.Rotate(t)
	}
	waitProgress()
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error("request failed during rotation:", f)
	}
	// Each algorithm signed with rotations+1 keys in turn.
	if want := len(algs) * (rotations + 1); len(kids) != want {
		t.Errorf("tokens from %d keys passed, want %d", len(kids), want)
	}
	t.Logf("%d+%d+%d requests, %d JWKS fetches", ok[0].Load(), ok[1].Load(), ok[2].Load(), is.jwksFetches.Load())
}

func kidOf(t *testing.T, token string) string {
	header, _, _ := strings.Cut(token, ".")
	raw, err := b64.DecodeString(header)
	if err != nil {
		t.Error(err)
		return ""
	}
	var h struct{ Kid string }
	json.Unmarshal(raw, &h)
	return h.Kid
}

// TestCacheControl: the JWKS is fetched once and used for as long as its
// Cache-Control max-age (300 s) says, then refreshed.
func TestCacheControl(t *testing.T) {
	is := startIssuer(t)
	tok := is.token(t, rsAPI, "read:users")
	clk := frozenClock()
	v := is.validator(t, rsAPI, resource.WithClock(clk.now))
	h := api(v)
	for range 20 {
		if w := call(h, "GET", "/users", "Bearer "+tok); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	if n, m := is.jwksFetches.Load(), is.metaFetches.Load(); n != 1 || m != 1 {
		t.Fatalf("after 20 requests: %d JWKS and %d metadata fetches, want 1 and 1", n, m)
	}
	clk.advance(4*time.Minute + 50*time.Second)
	if w := call(h, "GET", "/users", "Bearer "+tok); w.Code != 200 || is.jwksFetches.Load() != 1 {
		t.Fatalf("within max-age: status %d, %d fetches", w.Code, is.jwksFetches.Load())
	}
	clk.advance(20 * time.Second)
	// Expired: the request is served from the cache and starts a refresh,
	// which Ready waits for.
	if w := call(h, "GET", "/users", "Bearer "+tok); w.Code != 200 {
		t.Fatalf("after max-age: status %d", w.Code)
	}
	if err := v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := is.jwksFetches.Load(); n != 2 {
		t.Fatalf("after max-age: %d JWKS fetches, want 2", n)
	}
	if err := v.Ready(context.Background()); err != nil || is.jwksFetches.Load() != 2 {
		t.Fatalf("Ready with fresh keys fetched again (%v)", err)
	}
}

// TestUnknownKeyRefetch: a token naming an unknown key makes the SDK
// refetch the JWKS, then refuse it; refetches are single-flight and at
// most one per refetch interval, whatever forged key ids arrive.
func TestUnknownKeyRefetch(t *testing.T) {
	is := startIssuer(t)
	tok := is.token(t, rsAPI, "read:users")
	clk := frozenClock()
	v := is.validator(t, rsAPI, resource.WithClock(clk.now))
	h := api(v)
	if w := call(h, "GET", "/users", "Bearer "+tok); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	strangers := make([]string, 20)
	for i := range strangers {
		strangers[i] = strangerToken(t, is, clk.now())
	}
	refused := func(tok string) {
		t.Helper()
		w := call(h, "GET", "/users", "Bearer "+tok)
		if w.Code != 401 || !strings.Contains(challenge(t, w)["error_description"], "does not publish") {
			t.Fatalf("unknown kid: status %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	wantFetches := func(n int64) {
		t.Helper()
		if got := is.jwksFetches.Load(); got != n {
			t.Fatalf("%d JWKS fetches, want %d", got, n)
		}
	}
	wantFetches(1)
	refused(strangers[0]) // the initial fetch was just now: rate-limited
	wantFetches(1)
	clk.advance(resource.DefaultRefetchInterval + time.Second)
	refused(strangers[1]) // refetched, still unknown
	wantFetches(2)
	refused(strangers[2])
	wantFetches(2)

	clk.advance(resource.DefaultRefetchInterval + time.Second)
	var wg sync.WaitGroup
	for _, tok := range strangers[3:] {
		wg.Go(func() { refused(tok) })
	}
	wg.Wait()
	wantFetches(3)
}

// strangerToken is a well-formed token signed by a key the issuer never
// published.
func strangerToken(t *testing.T, is *issuer, now time.Time) string {
	k, err := keys.Generate("EdDSA", now)
	if err != nil {
		t.Fatal(err)
	}
	input := encodeSegment(t, map[string]any{"alg": "EdDSA", "kid": k.ID, "typ": "at+jwt"}) + "." + encodeSegment(t, is.claims(rsAPI, now, nil))
	sig, err := k.Sign(input)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// TestIssuerUnreachable: cached keys keep serving while the issuer cannot
// be reached, up to the staleness limit; then requests get 503 until it is
// back.
func TestIssuerUnreachable(t *testing.T) {
	is := startIssuer(t)
	clk := frozenClock()
	net := &flaky{}
	v := is.validator(t, rsAPI, resource.WithClock(clk.now), resource.WithHTTPClient(&http.Client{Transport: net}))
	h := api(v)
	fresh := func() string { return is.forge(t, "RS256", nil, is.claims(rsAPI, clk.now(), nil)) }

	if w := call(h, "GET", "/users", "Bearer "+fresh()); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	net.down.Store(true)
	clk.advance(10 * time.Minute) // the keys expired; refreshing fails
	for i := range 3 {
		if w := call(h, "GET", "/users", "Bearer "+fresh()); w.Code != 200 {
			t.Fatalf("request %d with stale keys while the issuer is down: status %d", i, w.Code)
		}
		if err := v.Ready(context.Background()); err != nil {
			t.Fatalf("Ready with stale keys: %v", err)
		}
	}
	if n := is.jwksFetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches reached the issuer while it was down", n)
	}

	clk.advance(25 * time.Hour) // past MaxStale
	w := call(h, "GET", "/users", "Bearer "+fresh())
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || w.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("keys too stale: status %d, headers %v", w.Code, w.Header())
	}
	if err := v.Ready(context.Background()); err == nil {
		t.Fatal("Ready without usable keys")
	}

	net.down.Store(false)
	clk.advance(2 * time.Minute) // past the backoff
	if w := call(h, "GET", "/users", "Bearer "+fresh()); w.Code != 200 {
		t.Fatalf("issuer back: status %d %s", w.Code, w.Body)
	}
}

// TestColdStartUnreachable: with no keys cached and the issuer down,
// requests get 503 (never 200, never a panic), and fetches back off.
func TestColdStartUnreachable(t *testing.T) {
	is := startIssuer(t)
	tok := is.token(t, rsAPI, "read:users")
	clk := frozenClock()
	net := &flaky{}
	net.down.Store(true)
	v := is.validator(t, rsAPI, resource.WithClock(clk.now), resource.WithHTTPClient(&http.Client{Transport: net}))
	h := api(v)
	if err := v.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "simulated") {
		t.Fatalf("Ready while the issuer is down: %v", err)
	}
	for range 5 {
		if w := call(h, "GET", "/users", "Bearer "+tok); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", w.Code)
		}
	}
	net.down.Store(false)
	if w := call(h, "GET", "/users", "Bearer "+tok); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("within the backoff: status %d, want 503", w.Code)
	}
	clk.advance(2 * time.Second)
	if w := call(h, "GET", "/users", "Bearer "+tok); w.Code != 200 {
		t.Fatalf("after the backoff: status %d", w.Code)
	}
}

func TestDiscovery(t *testing.T) {
	t.Run("OpenID Connect when RFC 8414 is missing", func(t *testing.T) {
		is := startIssuer(t)
		is.hideOAuthMetadata.Store(true)
		v := is.validator(t, rsAPI)
		if w := call(api(v), "GET", "/users", "Bearer "+is.token(t, rsAPI, "read:users")); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	})
	t.Run("issuer with a path", func(t *testing.T) {
		for _, hideOAuth := range []bool{false, true} {
			var mu sync.Mutex
			var seen []string
			issuerURL, token, stop := runDemoIssuer("/tenants/a/", func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					seen = append(seen, r.URL.Path)
					mu.Unlock()
					if hideOAuth && strings.HasPrefix(r.URL.Path, "/.well-known/oauth-authorization-server") {
						http.NotFound(w, r)
						return
					}
					h.ServeHTTP(w, r)
				})
			})
			defer stop()
			v, err := resource.New(issuerURL, demoAPI)
			if err != nil {
				t.Fatal(err)
			}
			if w := call(api(v), "GET", "/users", "Bearer "+token("read:users")); w.Code != 200 {
				t.Fatalf("status %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
			}
			mu.Lock()
			want := []string{"/tenants/a/oauth/token", "/.well-known/oauth-authorization-server/tenants/a"}
			if hideOAuth {
				want = append(want, "/tenants/a/.well-known/openid-configuration")
			}
			want = append(want, "/tenants/a/.well-known/jwks.json")
			if !slices.Equal(seen, want) {
				t.Errorf("requests %q, want %q", seen, want)
			}
			mu.Unlock()
		}
	})
	t.Run("issuer must match exactly", func(t *testing.T) {
		is := startIssuer(t)
		v, err := resource.New(strings.TrimSuffix(is.Issuer, "/"), rsAPI)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "trailing slash") {
			t.Fatalf("Ready = %v", err)
		}
		if w := call(api(v), "GET", "/users", "Bearer "+is.token(t, rsAPI, "read:users")); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", w.Code)
		}
	})
}
