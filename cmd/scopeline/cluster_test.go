package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/sdk/resource"
	"github.com/scopeline/scopeline/sdk/resource/dpop/dpoptest"
)

// replica is one `scopeline serve` of a cluster test.
type replica struct {
	cfg  serveConfig
	addr string
	logs *enginetest.LogBuffer
	stop func() error
}

// startReplicas runs serve for every configuration at once (a cluster's
// members wait for each other) and returns them once all listen.
func startReplicas(t *testing.T, cfgs []serveConfig) []*replica {
	t.Helper()
	type started struct {
		addr string
		err  error
	}
	rs := make([]*replica, len(cfgs))
	ready := make([]chan started, len(cfgs))
	for i, cfg := range cfgs {
		if cfg.shutdownTimeout == 0 {
			cfg.shutdownTimeout = 10 * time.Second
		}
		if cfg.keyPoll == 0 {
			cfg.keyPoll = time.Hour
		}
		r := &replica{cfg: cfg, logs: &enginetest.LogBuffer{}}
		log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		ready[i] = make(chan started, 1)
		go func() {
			err := serve(ctx, cfg, log, nil, func(a string) { ready[i] <- started{addr: a} })
			ready[i] <- started{err: fmt.Errorf("serve returned: %v", err)}
			done <- err
		}()
		stopped := false
		r.stop = func() error {
			if stopped {
				return nil
			}
			stopped = true
			cancel()
			return <-done
		}
		t.Cleanup(func() { r.stop() })
		rs[i] = r
	}
	for i, r := range rs {
		select {
		case s := <-ready[i]:
			if s.err != nil {
				t.Fatalf("replica %d: %v\n%s", i, s.err, r.logs)
			}
			r.addr = s.addr
		case <-time.After(natstest.Deadline):
			t.Fatalf("replica %d did not start:\n%s", i, r.logs)
		}
	}
	return rs
}

// writeKEK writes a new key-encryption key to a 0600 file.
func writeKEK(t *testing.T) string {
	t.Helper()
	k, err := keys.GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(p, []byte(k+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// embeddedCluster starts three replicas whose embedded NATS servers form
// one cluster, behind a round-robin front that is their issuer URL.
func embeddedCluster(t *testing.T) (*front, []*replica, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("three replicas forming a NATS cluster are slow: skipped under -short")
	}
	f := newFront(t)
	kek := writeKEK(t)
	ports := []int{natstest.FreePort(t), natstest.FreePort(t), natstest.FreePort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var cfgs []serveConfig
	for i, p := range ports {
		cfgs = append(cfgs, serveConfig{
			addr: "127.0.0.1:0", dataDir: t.TempDir(), natsListen: "127.0.0.1:0", issuer: f.URL + "/",
			clusterName: "scopeline-test", clusterListen: fmt.Sprintf("127.0.0.1:%d", p), clusterRoutes: routes,
			instance: fmt.Sprintf("r%d", i), kekFile: kek,
		})
	}
	rs := startReplicas(t, cfgs)
	f.setBackends(rs[0].addr, rs[1].addr, rs[2].addr)
	return f, rs, kek
}

// The end-user flows, the keys, the throttles and the events of three
// replicas on their embedded cluster, through the front.
func TestEmbeddedCluster(t *testing.T) {
	f, rs, kek := embeddedCluster(t)
	ctx := context.Background()
	cfg := &oauth2.Config{
		ClientID:    "demo-spa",
		Endpoint:    oauth2.Endpoint{AuthURL: f.URL + "/authorize", TokenURL: f.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://localhost:3000/callback",
		Scopes:      []string{"openid", "offline_access", "read:users"},
	}
	signIn := func(at int) (string, string) {
		t.Helper()
		f.pin(at)
		defer f.pin(-1)
		verifier := oauth2.GenerateVerifier()
		loc := enginetest.NewBrowser(t, f.URL).SignIn(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", "alice-password")
		code := loc.Query().Get("code")
		if code == "" {
			t.Fatalf("no code: %s", loc)
		}
		return code, verifier
	}
	refresh := func(at int, rt string) (*oauth2.Token, error) {
		t.Helper()
		f.pin(at)
		defer f.pin(-1)
		return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	}

	t.Run("code from A exchanged at B, refresh rotating A B C, reuse at C revokes everywhere", func(t *testing.T) {
		code, verifier := signIn(0)
		f.pin(1)
		tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("code from replica 0 exchanged at replica 1: %v", err)
		}
		f.pin(-1)
		rt := []string{tok.RefreshToken}
		for i, at := range []int{0, 1, 2} {
			next, err := refresh(at, rt[len(rt)-1])
			if err != nil {
				t.Fatalf("refresh %d at replica %d: %v", i, at, err)
			}
			rt = append(rt, next.RefreshToken)
		}
		// rt[2] was rotated out at replica 2 (C): presenting it there
		// revokes the family, and its current token fails everywhere.
		if _, err := refresh(2, rt[2]); err == nil {
			t.Fatal("a rotated refresh token was accepted")
		}
		for at := range rs {
			if _, err := refresh(at, rt[3]); err == nil {
				t.Errorf("replica %d accepts the current token of a revoked family", at)
			}
		}
	})

	t.Run("keys rotate on A: B and C serve the new JWKS; tokens before and after validate", func(t *testing.T) {
		v, err := resource.New(f.URL+"/", "https://api.example.com")
		if err != nil {
			t.Fatal(err)
		}
		before, err := getToken(t, strings.TrimPrefix(f.URL, "http://"), "read:users")
		if err != nil {
			t.Fatal(err)
		}
		oldKid := kidOf(t, before)
		code, out, errOut := runCLI(t, "", "keys", "rotate", "--cluster", "--data-dir", rs[0].cfg.dataDir, "--kek-file", kek, "--force")
		if code != 0 {
			t.Fatalf("keys rotate: %d %s", code, errOut)
		}
		start := time.Now()
		for i, r := range rs {
			err := natstest.Poll(ctx, natstest.Deadline, func() bool {
				tok, err := getToken(t, r.addr, "read:users")
				return err == nil && kidOf(t, tok) != oldKid
			})
			if err != nil {
				t.Fatalf("replica %d still signs with the old key: %v\n%s", i, err, out)
			}
		}
		// And every replica publishes the same JWKS, with the new key.
		err = natstest.Poll(ctx, natstest.Deadline, func() bool {
			var first string
			for i, r := range rs {
				resp, err := http.Get("http://" + r.addr + "/.well-known/jwks.json")
				if err != nil {
					return false
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if i == 0 {
					first = string(body)
				} else if string(body) != first {
					return false
				}
			}
			return true
		})
		if err != nil {
			t.Fatalf("the replicas publish different key sets: %v", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Logf("every replica signed with the new key and published the same JWKS %s after the rotation (the target is 2s)", took)
		}
		after, err := getToken(t, strings.TrimPrefix(f.URL, "http://"), "read:users")
		if err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"before": before, "after": after} {
			if _, err := v.Validate(ctx, tok); err != nil {
				t.Errorf("the token signed %s the rotation does not validate through the front: %v", name, err)
			}
		}
		code, out, errOut = runCLI(t, "", "keys", "list", "--cluster", "--data-dir", rs[2].cfg.dataDir, "--kek-file", kek)
		if code != 0 || !strings.Contains(out, "retired") || !strings.Contains(out, oldKid) {
			t.Errorf("keys list at replica 2: %d %s %s", code, out, errOut)
		}
	})

	t.Run("sign-in failures over three replicas counted once", func(t *testing.T) {
		// login-user allows five failures; four at A and B, the fifth at
		// C: C reads the count from the bucket, so its next attempt is
		// refused even with the right password.
		for i, at := range []int{0, 1, 0, 1, 2} {
			if status := login(t, f, at, "bob", "wrong"); status != http.StatusUnauthorized && status != http.StatusOK {
				t.Fatalf("failure %d at replica %d: %d", i, at, status)
			}
		}
		if status := login(t, f, 2, "bob", "bob-password"); status != http.StatusTooManyRequests {
			t.Fatalf("sixth attempt at replica 2: %d, want 429 (failures not counted across replicas)", status)
		}
		for _, at := range []int{0, 1} {
			err := natstest.Poll(ctx, natstest.Deadline, func() bool { return login(t, f, at, "bob", "wrong") == http.StatusTooManyRequests })
			if err != nil {
				t.Errorf("replica %d never throttled bob: %v", at, err)
			}
		}
	})

	t.Run("one audit stream with every replica's events", func(t *testing.T) {
		for range 6 {
			if _, err := getToken(t, strings.TrimPrefix(f.URL, "http://"), "read:users"); err != nil {
				t.Fatal(err)
			}
		}
		u, err := os.ReadFile(filepath.Join(rs[1].cfg.dataDir, adminURLFile))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range tailEvents(t, 6, "--url", strings.TrimSpace(string(u)), "--type", "issued") {
			data, _ := e["data"].(map[string]any)
			inst, _ := data["instance"].(string)
			seen[inst] = true
		}
		for _, r := range []string{"r0", "r1", "r2"} {
			if !seen[r] {
				t.Errorf("no event of replica %s in the stream read at replica 1 (saw %v)", r, seen)
			}
		}
	})

	t.Run("a DPoP proof used at one replica is refused at another", func(t *testing.T) {
		key := dpoptest.NewKey(t, "ES256")
		proof := key.Proof(t, dpoptest.Proof{Method: http.MethodPost, URL: f.URL + "/oauth/token"})
		form := url.Values{"grant_type": {"client_credentials"}, "audience": {"https://api.example.com"}}
		try := func(at int) (int, string) {
			f.pin(at)
			defer f.pin(-1)
			req, _ := http.NewRequest(http.MethodPost, f.URL+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("DPoP", proof)
			req.SetBasicAuth("demo-m2m", "demo-m2m-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				TokenType string `json:"token_type"`
				Error     string `json:"error"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, body.TokenType + body.Error
		}
		if status, what := try(0); status != http.StatusOK || what != "DPoP" {
			t.Fatalf("first use at replica 0: %d %s, want 200 DPoP", status, what)
		}
		if status, what := try(1); status != http.StatusBadRequest || what != "invalid_dpop_proof" {
			t.Fatalf("the same proof at replica 1: %d %s, want 400 invalid_dpop_proof", status, what)
		}
	})

	t.Run("client-authentication failures over three replicas counted once", func(t *testing.T) {
		// demo-other never authenticated from here: its failures count
		// per client id (20 allowed). Nineteen spread over A and B, the
		// twentieth at C, then the right secret at C is refused.
		form := url.Values{"grant_type": {"client_credentials"}, "audience": {"https://api.example.com"}}
		try := func(at int, secret string) int {
			f.pin(at)
			defer f.pin(-1)
			req, _ := http.NewRequest(http.MethodPost, f.URL+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("demo-other", secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		for i := range 19 {
			if status := try(i%2, "wrong"); status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i, status)
			}
		}
		if status := try(2, "wrong"); status != http.StatusUnauthorized {
			t.Fatalf("twentieth failure: %d", status)
		}
		if status := try(2, "demo-other-secret"); status != http.StatusTooManyRequests {
			t.Fatalf("after 20 failures over three replicas, replica 2 answers %d, want 429", status)
		}
	})
}

// A replica stops under load, its embedded NATS server with it: the
// others carry on with the two servers left.
func TestEmbeddedClusterLosesAReplica(t *testing.T) {
	f, rs, _ := embeddedCluster(t)
	l := startLoad(f, 4)
	l.progress(t, 100, "before the replica stopped")
	if err := rs[0].stop(); err != nil {
		t.Errorf("replica 0 stopped with %v", err)
	}
	stopped := time.Now()
	f.remove(0)
	l.progress(t, 100, "after replica 0 and its NATS server stopped")
	l.end()
	jtis := l.check(t, stopped)
	u, err := os.ReadFile(filepath.Join(rs[1].cfg.dataDir, adminURLFile))
	if err != nil {
		t.Fatal(err)
	}
	oneEventPerToken(t, strings.TrimSpace(string(u)), jtis)
}

// login tries a password at replica at's login page and returns the
// status of the answer (200 or 302 signed in, 401 refused, 429 throttled).
func login(t *testing.T, f *front, at int, user, password string) int {
	t.Helper()
	f.pin(at)
	defer f.pin(-1)
	cfg := &oauth2.Config{ClientID: "demo-spa", Endpoint: oauth2.Endpoint{AuthURL: f.URL + "/authorize"},
		RedirectURL: "http://localhost:3000/callback", Scopes: []string{"openid"}}
	b := enginetest.NewBrowser(t, f.URL)
	status, page, loc := b.Visit(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if loc != nil || status != http.StatusOK {
		t.Fatalf("no login page: %d %v", status, loc)
	}
	status, _, loc = b.Submit(page, url.Values{"username": {user}, "password": {password}})
	if loc != nil {
		return http.StatusFound
	}
	return status
}

// kidOf is the key id in a JWT's header.
func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// A replica refuses to start, with an error that says why, on what
// waiting cannot fix: a bucket with another replica count, keys sealed
// with a KEK it lacks, no KEK at all.
func TestClusterStartChecks(t *testing.T) {
	c := natstest.Start(t, 1)
	dir := t.TempDir()
	writeSettings := func(name, yaml string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kek := writeKEK(t)
	good := writeSettings("good.yaml", fmt.Sprintf("nats:\n  url: [%q]\ncluster:\n  replicas: 1\n  kek_file: %s\n", c.URL(), kek))
	rs := startReplicas(t, []serveConfig{{addr: "127.0.0.1:0", dataDir: t.TempDir(), settingsPath: good}})
	if err := rs[0].stop(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml, env, want string
	}{
		{"replicas", fmt.Sprintf("nats:\n  url: [%q]\ncluster:\n  replicas: 3\n  kek_file: %s\n", c.URL(), kek), "",
			"exists with other settings: replicas is 1, want 3"},
		{"other KEK", fmt.Sprintf("nats:\n  url: [%q]\ncluster:\n  replicas: 1\n  kek_file: %s\n", c.URL(), writeKEK(t)), "",
			"cannot be opened"},
		{"no KEK", fmt.Sprintf("nats:\n  url: [%q]\ncluster:\n  replicas: 1\n", c.URL()), "",
			"key-encryption key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(kekEnv, tc.env)
			ctx, cancel := context.WithTimeout(context.Background(), natstest.Deadline)
			defer cancel()
			cfg := serveConfig{addr: "127.0.0.1:0", dataDir: t.TempDir(), settingsPath: writeSettings(tc.name+".yaml", tc.yaml),
				shutdownTimeout: time.Second, keyPoll: time.Hour}
			err := serve(ctx, cfg, slog.New(slog.DiscardHandler), nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("serve: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// A process that becomes the first replica of a cluster keeps its keys:
// the key file of its data directory seeds the empty bucket, so the
// tokens it signed before keep validating.
func TestClusterAdoptsKeyFile(t *testing.T) {
	dir := t.TempDir()
	addr, _, _, stop := startServe(t, serveConfig{dataDir: dir})
	before, err := getToken(t, addr, "read:users")
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	c := natstest.Start(t, 1)
	settingsPath := filepath.Join(t.TempDir(), "settings.yaml")
	yaml := fmt.Sprintf("nats:\n  url: [%q]\ncluster:\n  replicas: 1\n  kek_file: %s\n", c.URL(), writeKEK(t))
	if err := os.WriteFile(settingsPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	rs := startReplicas(t, []serveConfig{{addr: "127.0.0.1:0", dataDir: dir, settingsPath: settingsPath}})
	after, err := getToken(t, rs[0].addr, "read:users")
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, after) != kidOf(t, before) {
		t.Errorf("the replica signs with key %s, not the key file's %s", kidOf(t, after), kidOf(t, before))
	}
}

// Changing the KEK as docs/deployment.md says: restart with the new one
// and the old one as previous; the keys are sealed again with the new
// one, and the old one can then go. The signing key stays the same
// throughout.
func TestClusterChangesKEK(t *testing.T) {
	c := natstest.Start(t, 1)
	dir := t.TempDir()
	oldKEK, newKEK := writeKEK(t), writeKEK(t)
	run := func(name, cluster string) string {
		t.Helper()
		p := filepath.Join(dir, name+".yaml")
		yaml := fmt.Sprintf("nats:\n  url: [%q]\ncluster:\n  replicas: 1\n%s", c.URL(), cluster)
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		rs := startReplicas(t, []serveConfig{{addr: "127.0.0.1:0", dataDir: t.TempDir(), settingsPath: p}})
		tok, err := getToken(t, rs[0].addr, "read:users")
		if err != nil {
			t.Fatal(err)
		}
		if err := rs[0].stop(); err != nil {
			t.Fatal(err)
		}
		return kidOf(t, tok)
	}
	kid := run("old", "  kek_file: "+oldKEK+"\n")
	if got := run("both", "  kek_file: "+newKEK+"\n  previous_kek_files: ["+oldKEK+"]\n"); got != kid {
		t.Errorf("the signing key changed with the KEK: %s, then %s", kid, got)
	}
	if got := run("new", "  kek_file: "+newKEK+"\n"); got != kid {
		t.Errorf("after the old KEK went: signing with %s, want %s", got, kid)
	}
}
