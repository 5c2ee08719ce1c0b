package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/enginetest"
)

// load sends client-credentials requests through the front until stopped,
// counting what comes back.
type load struct {
	mu        sync.Mutex
	jtis      []string
	fivexx    []time.Time
	noRetry   int
	other     map[int]int
	tokens    atomic.Int64
	slowest   time.Duration // the longest request
	stop      chan struct{}
	wg        sync.WaitGroup
	tokenURL  string
	transport *http.Transport
}

func startLoad(f *front, workers int) *load {
	l := &load{other: map[int]int{}, stop: make(chan struct{}), tokenURL: f.URL + "/oauth/token",
		transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	client := &http.Client{Transport: l.transport, Timeout: 30 * time.Second}
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {"https://api.example.com"}, "scope": {"read:users"}}.Encode()
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, l.tokenURL, strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("demo-m2m", "demo-m2m-secret")
				start := time.Now()
				resp, err := client.Do(req)
				took := time.Since(start)
				if err != nil {
					l.mu.Lock()
					l.other[-1]++
					l.mu.Unlock()
					continue
				}
				var body struct {
					AccessToken string `json:"access_token"`
				}
				json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				l.mu.Lock()
				l.slowest = max(l.slowest, took)
				switch {
				case resp.StatusCode == http.StatusOK:
					l.jtis = append(l.jtis, jtiOf(body.AccessToken))
					l.tokens.Add(1)
				case resp.StatusCode >= 500:
					l.fivexx = append(l.fivexx, time.Now())
					if resp.Header.Get("Retry-After") == "" {
						l.noRetry++
					}
				default:
					l.other[resp.StatusCode]++
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// progress waits until n more tokens came back.
func (l *load) progress(t *testing.T, n int64, what string) {
	t.Helper()
	target := l.tokens.Load() + n
	if err := natstest.Poll(context.Background(), natstest.Deadline, func() bool { return l.tokens.Load() >= target }); err != nil {
		t.Fatalf("no progress %s: %d tokens: %v", what, l.tokens.Load(), err)
	}
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
	l.transport.CloseIdleConnections()
}

func jtiOf(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		JTI string `json:"jti"`
	}
	json.Unmarshal(raw, &c)
	return c.JTI
}

// Three replicas on an external three-server NATS cluster, under steady
// load through the front: the server leading the audit stream stops, then
// a replica. No token leaves without its one event, the 5xx answers carry
// Retry-After, and no code, refresh-token family or session is lost.
func TestClusterFailover(t *testing.T) {
	c := natstest.Start(t, 3) // skips under -short
	f := newFront(t)
	dir := t.TempDir()
	settingsPath := filepath.Join(dir, "settings.yaml")
	var urls []string
	for _, u := range strings.Split(c.URL(), ",") {
		urls = append(urls, fmt.Sprintf("%q", u))
	}
	yaml := fmt.Sprintf("nats:\n  url: [%s]\ncluster:\n  replicas: 3\n  kek_file: %s\n", strings.Join(urls, ", "), writeKEK(t))
	if err := os.WriteFile(settingsPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfgs []serveConfig
	for i := range 3 {
		cfgs = append(cfgs, serveConfig{addr: "127.0.0.1:0", dataDir: t.TempDir(), settingsPath: settingsPath,
			issuer: f.URL + "/", instance: fmt.Sprintf("r%d", i)})
	}
	rs := startReplicas(t, cfgs)
	f.setBackends(rs[0].addr, rs[1].addr, rs[2].addr)
	ctx := context.Background()

	// State made before the failures: codes not yet exchanged, refresh
	// tokens, signed-in browsers.
	oc := &oauth2.Config{
		ClientID:    "demo-spa",
		Endpoint:    oauth2.Endpoint{AuthURL: f.URL + "/authorize", TokenURL: f.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://localhost:3000/callback",
		Scopes:      []string{"openid", "offline_access", "read:users"},
	}
	type flow struct {
		browser        *enginetest.Browser
		code, verifier string
		refresh        string
	}
	var flows []flow
	for range 6 {
		b := enginetest.NewBrowser(t, f.URL)
		v := oauth2.GenerateVerifier()
		code := b.SignIn(oc.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), "alice", "alice-password").Query().Get("code")
		v2 := oauth2.GenerateVerifier()
		code2 := b.SignIn(oc.AuthCodeURL("s", oauth2.S256ChallengeOption(v2)), "alice", "alice-password").Query().Get("code")
		tok, err := oc.Exchange(ctx, code2, oauth2.VerifierOption(v2))
		if err != nil {
			t.Fatal(err)
		}
		flows = append(flows, flow{browser: b, code: code, verifier: v, refresh: tok.RefreshToken})
	}

	l := startLoad(f, 4)
	l.progress(t, 100, "before the failures")
	stream := "SCOPELINE_AUDIT"
	leader := c.WaitStream(stream)
	var led []string
	for _, s := range []string{"KV_scopeline_refresh_tokens", "KV_scopeline_auth_codes", "KV_scopeline_sessions", "KV_scopeline_keys"} {
		if c.StreamLeader(s) == leader {
			led = append(led, s)
		}
	}
	killed := time.Now()
	c.Stop(leader)
	t.Logf("stopped NATS server %d, leader of %s and of %v", leader, stream, led)
	l.progress(t, 100, "after a NATS server stopped")
	if err := rs[1].stop(); err != nil {
		t.Errorf("replica 1 stopped with %v", err)
	}
	f.remove(1)
	l.progress(t, 100, "after a replica stopped")
	l.end()

	jtis := l.check(t, killed)
	instances := oneEventPerToken(t, c.URL(), jtis)
	t.Logf("events by replica: %v", instances)

	// No state lost: every code exchanges, every refresh token rotates,
	// every browser is still signed in, at the replicas left.
	for i, fl := range flows {
		if _, err := oc.Exchange(ctx, fl.code, oauth2.VerifierOption(fl.verifier)); err != nil {
			t.Errorf("flow %d: code made before the failures: %v", i, err)
		}
		if _, err := oc.TokenSource(ctx, &oauth2.Token{RefreshToken: fl.refresh}).Token(); err != nil {
			t.Errorf("flow %d: refresh token made before the failures: %v", i, err)
		}
		_, _, loc := fl.browser.Visit(oc.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if loc == nil || loc.Query().Get("code") == "" {
			t.Errorf("flow %d: the session made before the failures is gone: %v", i, loc)
		}
	}
}

// check reports what came back (the 5xx window from t0, when the first
// failure was caused) and fails the test on a 5xx without Retry-After or
// an answer other than a token or a 5xx. It returns the tokens' jtis.
func (l *load) check(t *testing.T, t0 time.Time) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	window := time.Duration(0)
	if n := len(l.fivexx); n > 0 {
		window = l.fivexx[n-1].Sub(l.fivexx[0])
	}
	t.Logf("tokens %d; slowest request %s; 5xx %d over %s (first %s after the failure), without Retry-After %d; other answers %v",
		len(l.jtis), l.slowest.Round(time.Millisecond), len(l.fivexx), window.Round(time.Millisecond), firstAfter(l.fivexx, t0), l.noRetry, l.other)
	if l.noRetry > 0 {
		t.Errorf("%d 5xx answers without Retry-After", l.noRetry)
	}
	if len(l.other) > 0 {
		t.Errorf("answers other than tokens and 5xx: %v", l.other)
	}
	return l.jtis
}

// oneEventPerToken reads the audit stream at url and checks that every
// token (by jti) has exactly one event; it returns the events per
// replica.
func oneEventPerToken(t *testing.T, url string, jtis []string) map[string]int {
	t.Helper()
	events := tailEvents(t, len(jtis), "--url", url, "--type", "issued", "--client", "demo-m2m")
	count, instances := map[string]int{}, map[string]int{}
	for _, e := range events {
		data, _ := e["data"].(map[string]any)
		j, _ := data["jti"].(string)
		inst, _ := data["instance"].(string)
		count[j]++
		instances[inst]++
	}
	missing, dup := 0, 0
	for _, j := range jtis {
		switch count[j] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	if missing > 0 || dup > 0 {
		t.Errorf("of %d tokens, %d have no event and %d more than one", len(jtis), missing, dup)
	}
	return instances
}

func firstAfter(ts []time.Time, t0 time.Time) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	return ts[0].Sub(t0).Round(time.Millisecond)
}
