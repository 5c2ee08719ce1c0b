package audit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	issuer "github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/settings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/enginetest"
)

// natsServer is a nats-server run in the test process.
type natsServer struct {
	*server.Server
	opts *server.Options
}

// startNATS starts a JetStream server on 127.0.0.1 (port 0 picks one) with
// its store under dir.
func startNATS(t testing.TB, name string, port int, dir string) *natsServer {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatalf("nats server %s did not start", name)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return &natsServer{Server: s, opts: opts}
}

// stop shuts the server down and waits until it is gone.
func (s *natsServer) stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

// port returns the client port the server listens on.
func (s *natsServer) port() int { return s.Addr().(*net.TCPAddr).Port }

// testAudit returns settings for tests: fast timeouts, the given mode.
func testAudit(t testing.TB, mode settings.AuditMode, urls ...string) settings.Audit {
	a := settings.DefaultAudit()
	a.Mode = mode
	a.Instance = "test-instance"
	a.NATS.URLs = urls
	a.NATS.Embedded.Listen = "127.0.0.1:0"
	a.Spool.Dir = t.TempDir()
	return a
}

// openPublisher opens a publisher and closes it when the test ends.
func openPublisher(t testing.TB, cfg settings.Audit, opts ...audit.Option) *audit.Publisher {
	t.Helper()
	opts = append([]audit.Option{audit.WithDataDir(t.TempDir()), audit.WithLogger(testLogger(t))}, opts...)
	p, err := audit.Open(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

// testLogger logs to the test's output when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// results of a run of token requests.
type results struct {
	mu       sync.Mutex
	jtis     map[string]string // jti -> token
	tokens   []string
	statuses map[int]int
	errors   map[string]int // error code -> count, for non-200 answers
	bodies   []string
}

func newResults() *results {
	return &results{jtis: map[string]string{}, statuses: map[int]int{}, errors: map[string]int{}}
}

func (r *results) count(status int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statuses[status]
}

func (r *results) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.statuses {
		n += c
	}
	return n
}

// tokenClient asks the issuer for client-credentials tokens.
type tokenClient struct {
	endpoint string
	http     *http.Client
}

func newTokenClient(srv *enginetest.Server) *tokenClient {
	return &tokenClient{endpoint: srv.TokenEndpoint(), http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
}

// request makes one token request and records its answer.
func (c *tokenClient) request(t testing.TB, r *results, clientID, secret, scope string) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := c.http.Do(req)
	if err != nil {
		t.Errorf("token request: %v", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses[resp.StatusCode]++
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(body, &e)
		r.errors[e.Error]++
		r.bodies = append(r.bodies, string(body))
		return
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Errorf("token response %s: %v", body, err)
		return
	}
	jti := jtiOf(t, tok.AccessToken)
	if _, dup := r.jtis[jti]; dup {
		t.Errorf("jti %s issued twice", jti)
	}
	r.jtis[jti] = tok.AccessToken
	r.tokens = append(r.tokens, tok.AccessToken)
}

// jtiOf reads a JWT's jti claim (no verification: the engine's tests do that).
func jtiOf(t testing.TB, token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.JTI == "" {
		t.Fatalf("no jti in %s", payload)
	}
	return c.JTI
}

// load runs token requests from workers goroutines until stop is closed or
// n requests were made (n <= 0: until stop).
func load(t testing.TB, c *tokenClient, r *results, workers, n int, stop <-chan struct{}) (wait func()) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	made := 0
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				if n > 0 && made >= n {
					mu.Unlock()
					return
				}
				made++
				mu.Unlock()
				c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users")
			}
		})
	}
	return wg.Wait
}

// streamEvents reads every event in the stream over a fresh connection.
func streamEvents(t testing.TB, url string, opts ...nats.Option) []*audit.TailedEvent {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*audit.TailedEvent
	err = audit.Tail(ctx, js, audit.TailOptions{}, func(e *audit.TailedEvent) error {
		out = append(out, e)
		return nil
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // not created yet: no events
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkExactlyOnce checks the stream against the tokens handed out: one
// issued event per jti, no event id twice, no token or secret in any
// event. Issued events for tokens never handed out (their request timed
// out waiting for the ack, and was answered 503) are allowed only when
// allowWithheld.
func checkExactlyOnce(t testing.TB, r *results, events []*audit.TailedEvent, allowWithheld bool, secrets ...string) {
	t.Helper()
	ids := map[string]int{}
	perJTI := map[string]int{}
	withheld := 0
	// Every part of every token handed out; an event may hold none of them.
	parts := map[string]bool{}
	for _, tok := range r.tokens {
		for _, p := range strings.Split(tok, ".") {
			parts[p] = true
		}
	}
	for _, e := range events {
		ids[e.ID]++
		if ids[e.ID] == 2 {
			t.Errorf("event %s is in the stream twice", e.ID)
		}
		for _, s := range secrets {
			if bytes.Contains(e.Raw, []byte(s)) {
				t.Fatalf("event %s contains a client secret", e.ID)
			}
		}
		for _, run := range bytes.FieldsFunc(e.Raw, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_')
		}) {
			if len(run) >= 16 && parts[string(run)] {
				t.Fatalf("event %s contains part of an issued token: %s", e.ID, e.Raw)
			}
		}
		if bytes.Contains(e.Raw, []byte("eyJhbGci")) { // {"alg": starts every JWT
			t.Fatalf("event %s contains something like a JWT: %s", e.ID, e.Raw)
		}
		if k, _ := e.Kind(); k == audit.KindTenantReloaded {
			continue
		}
		d, err := e.Decision()
		if err != nil {
			t.Fatal(err)
		}
		if d.Outcome != "issued" {
			continue
		}
		perJTI[d.JTI]++
		if _, ok := r.jtis[d.JTI]; !ok {
			withheld++
		}
	}
	for jti := range r.jtis {
		switch perJTI[jti] {
		case 1:
		case 0:
			t.Errorf("token %s was handed out with no event in the stream", jti)
		default:
			t.Errorf("token %s has %d issued events", jti, perJTI[jti])
		}
	}
	if withheld > 0 && !allowWithheld {
		t.Errorf("%d issued events for tokens never handed out", withheld)
	}
	if withheld > r.count(http.StatusServiceUnavailable) {
		t.Errorf("%d issued events for tokens never handed out, more than the %d requests answered 503", withheld, r.count(503))
	}
	t.Logf("%d events, %d tokens handed out, %d answers 503, %d issued events of withheld tokens",
		len(events), len(r.jtis), r.count(503), withheld)
}

// startIssuer starts an in-process issuer recording to p.
func startIssuer(t testing.TB, p engine.Auditor) *enginetest.Server {
	return enginetest.Start(t, enginetest.Config{Server: issuer.Config{Auditor: p}})
}

// streamMsgCount returns how many messages the stream holds.
func streamMsgCount(t testing.TB, url string) uint64 {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		return 0
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, settings.DefaultAuditStream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}
