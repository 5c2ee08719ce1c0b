package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBenchHTTP runs `bench --http` end to end against child servers
// (this test binary as `serve`): every case issues tokens, and the figures
// are those of real processes.
func TestBenchHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and loads them: not under -short")
	}
	t.Setenv(asMainEnv, "1")
	code, out, errOut := runCLI(t, "", "bench", "--http", "--server-binary", os.Args[0],
		"--alg", "ES256,EdDSA", "--hooks", "none,small", "--audit", "ack,off", "--concurrency", "4",
		"--duration", "300ms", "--warmup", "100ms", "--rounds", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var rep httpBenchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(rep.Cases) != 2*2*2 || rep.Rounds != 2 || rep.CPUs < 1 {
		t.Fatalf("report: %d cases, %d rounds, %d CPUs; want 8, 2", len(rep.Cases), rep.Rounds, rep.CPUs)
	}
	seen := map[string]bool{}
	for _, c := range rep.Cases {
		name := fmt.Sprintf("%s/%s/%s/c=%d", c.Alg, c.Hooks, c.Audit, c.Concurrency)
		seen[name] = true
		if c.Tokens == 0 || c.Errors != 0 {
			t.Errorf("%s: %d tokens, %d errors (%s)", name, c.Tokens, c.Errors, c.LastError)
		}
		if len(c.RoundsPerSec) != 2 || c.TokensPerSec <= 0 || c.Seconds <= 0 {
			t.Errorf("%s: rounds %v, %v tokens/s over %vs", name, c.RoundsPerSec, c.TokensPerSec, c.Seconds)
		}
		if !(0 < c.P50ms && c.P50ms <= c.P90ms && c.P90ms <= c.P99ms && c.P99ms <= c.MaxMs) {
			t.Errorf("%s: latency quantiles out of order: %v %v %v %v", name, c.P50ms, c.P90ms, c.P99ms, c.MaxMs)
		}
		if c.ServerRSSMiB <= 1 || c.ServerPeakRSSMiB < c.ServerRSSMiB {
			t.Errorf("%s: server RSS %v MiB, peak %v", name, c.ServerRSSMiB, c.ServerPeakRSSMiB)
		}
		// CPU is counted in 10 ms ticks: a short window may show none.
		if c.ServerCPUPerToken < 0 || c.GeneratorCores < 0 || c.OtherCores < 0 {
			t.Errorf("%s: negative CPU figures: %+v", name, c)
		}
	}
	if !seen["EdDSA/small/off/c=4"] || !seen["ES256/none/ack/c=4"] {
		t.Errorf("cases missing: %v", seen)
	}
	for _, want := range []string{"starting server: hooks small, audit off", "round 2/2"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut)
		}
	}
	// The table, from the same run's cases.
	var table strings.Builder
	if err := rep.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tokens/s", "p99 ms", "srv µs/token", "EdDSA", "small", "load average"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// TestBenchHTTPBuilds compares two builds in one run, each its own child.
func TestBenchHTTPBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and loads them: not under -short")
	}
	t.Setenv(asMainEnv, "1")
	code, out, errOut := runCLI(t, "", "bench", "--http", "--server-binary", "before="+os.Args[0], "--server-binary", "after="+os.Args[0],
		"--hooks", "none", "--audit", "off", "--concurrency", "2,4", "--duration", "200ms", "--warmup", "50ms", "--rounds", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || !strings.HasPrefix(strings.TrimSpace(lines[2]), "build") {
		t.Fatalf("want a build column and one line per build and concurrency:\n%s", out)
	}
	for i, want := range []string{"before ES256 none off 2", "after ES256 none off 2", "before ES256 none off 4", "after ES256 none off 4"} {
		if got := strings.Join(strings.Fields(lines[3+i])[:5], " "); got != want {
			t.Errorf("line %d: %q, want %q", 3+i, got, want)
		}
	}
	if code, _, _ := runCLI(t, "", "bench", "--http", "--server-binary", "a="+os.Args[0], "--server-binary", "a="+os.Args[0]); code != 2 {
		t.Errorf("two builds of the same name: exit %d, want 2", code)
	}
}

// TestBenchHTTPProfile takes the server's profiles after the rounds.
func TestBenchHTTPProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and profiles it: not under -short")
	}
	t.Setenv(asMainEnv, "1")
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "bench", "--http", "--server-binary", os.Args[0], "--hooks", "none", "--audit", "ack",
		"--concurrency", "2", "--duration", "200ms", "--warmup", "50ms", "--rounds", "1", "--profile", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, kind := range []string{"cpu", "allocs", "heap"} {
		st, err := os.Stat(filepath.Join(dir, "ES256-none-ack-c2."+kind+".pprof"))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s profile: %v", kind, err)
		}
	}
	if !strings.Contains(errOut, "profiles of ES256-none-ack-c2 in "+dir+": ") {
		t.Errorf("progress:\n%s", errOut)
	}
}

// TestBenchHTTPURL drives another issuer's token endpoint (--url): the
// client's credentials and form fields are sent as asked, and refusals
// are counted as errors, by status.
func TestBenchHTTPURL(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a server: not under -short")
	}
	var n atomic.Int64
	var bad atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		// RFC 6749 §2.3.1: both are form-encoded before Basic encoding.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if err := r.ParseForm(); err != nil || !ok || id != "other client" || secret != "s3:cret" ||
			r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "read write" ||
			r.PostForm.Get("audience") != "https://api" {
			bad.Store(fmt.Sprintf("%v %q %q %v", ok, id, secret, r.PostForm))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if n.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"temporarily_unavailable"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"x.y.z","token_type":"Bearer","expires_in":60}`))
	}))
	defer srv.Close()
	code, out, errOut := runCLI(t, "", "bench", "--http", "--url", srv.URL+"/token", "--client-id", "other client",
		"--client-secret", "s3:cret", "--form", "scope=read write", "--form", "audience=https://api",
		"--concurrency", "4", "--duration", "200ms", "--warmup", "50ms", "--rounds", "1", "--pid", fmt.Sprint(os.Getpid()))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if b := bad.Load(); b != nil {
		t.Fatalf("the server got a request other than asked: %s", b)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 || !strings.Contains(lines[2], "tokens/s") || !strings.Contains(lines[3], "url") {
		t.Fatalf("table:\n%s", out)
	}
	if !strings.Contains(out, "errors of url c=4: map[503:") {
		t.Errorf("503 answers not counted as errors:\n%s", out)
	}

	// The same issuer beside a server the bench starts, in the same rounds.
	t.Setenv(asMainEnv, "1")
	code, out, errOut = runCLI(t, "", "bench", "--http", "--url", srv.URL+"/token", "--client-id", "other client",
		"--client-secret", "s3:cret", "--form", "scope=read write", "--form", "audience=https://api",
		"--server-binary", os.Args[0], "--hooks", "none", "--audit", "off",
		"--concurrency", "2", "--duration", "200ms", "--warmup", "50ms", "--rounds", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) < 5 || !strings.Contains(lines[3], "url") || !strings.Contains(lines[4], "ES256") {
		t.Fatalf("want the url's line, then the server's:\n%s", out)
	}

	// A server that never issues makes the bench fail.
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer deny.Close()
	code, _, errOut = runCLI(t, "", "bench", "--http", "--url", deny.URL, "--client-id", "c",
		"--concurrency", "2", "--duration", "100ms", "--warmup", "0s", "--rounds", "1")
	if code != 1 || !strings.Contains(errOut, "no token issued") {
		t.Errorf("exit %d, want 1 and no token issued:\n%s", code, errOut)
	}
}

func TestBenchHTTPFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--hooks", "small"},
		{"bench", "--concurrency", "1,2"},
		{"bench", "--http", "--hooks", "big"},
		{"bench", "--http", "--audit", "maybe"},
		{"bench", "--http", "--concurrency", "0"},
		{"bench", "--http", "--url", "http://127.0.0.1:1/token"},
		{"bench", "--http", "--url", "ftp://x", "--client-id", "c"},
		{"bench", "--http", "--url", "http://127.0.0.1:1/token", "--client-id", "c", "--profile", "x"},
		{"bench", "--http", "--url", "http://127.0.0.1:1/token", "--client-id", "c", "--form", "novalue"},
		{"bench", "--http", "--url", "http://127.0.0.1:1/token", "--client-id", "c", "--auth", "jwt"},
		{"bench", "--http", "--client-id", "c"},
	} {
		if code, _, errOut := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, code, errOut)
		}
	}
}

func TestLatencyHistogram(t *testing.T) {
	var h latencyHistogram
	if h.quantile(.5) != 0 {
		t.Error("empty histogram: quantile not 0")
	}
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{.5, 500 * time.Microsecond}, {.9, 900 * time.Microsecond}, {.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d < -0.016 || d > 0.016 {
			t.Errorf("quantile(%v) = %v, want %v ± 1.6 %%", tc.q, got, tc.want)
		}
	}
	// Every bucket's middle falls in it, and buckets follow each other.
	for i := range latencyBuckets - 1 {
		if b := latencyBucket(latencyValue(i)); b != i {
			t.Fatalf("bucket %d: middle %v falls in bucket %d", i, latencyValue(i), b)
		}
		if latencyValue(i+1) <= latencyValue(i) {
			t.Fatalf("bucket %d: not increasing", i)
		}
	}
	if latencyBucket(-time.Second) != 0 || latencyBucket(time.Duration(1<<62)) != latencyBuckets-1 {
		t.Error("out-of-range durations not clamped")
	}
}

// BenchmarkLoadWorker is the generator's cost per request against a
// server that answers a fixed token: what `bench --http` reports as
// "gen µs/req", minus the server's share of the machine. wire is the
// generator's own HTTP/1.1 client (http:// targets), transport net/http's
// (https://, and every target before).
func BenchmarkLoadWorker(b *testing.B) {
	body := []byte(`{"access_token":"eyJhbGciOiJFUzI1NiJ9.e30.sig","token_type":"Bearer","expires_in":3600}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	tr := newBenchTransport(1)
	defer tr.CloseIdleConnections()
	target := tokenTarget{url: srv.URL, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
		"Authorization": {basicAuth("bench", benchSecret)}}, body: []byte("grant_type=client_credentials&scope=read")}
	for _, viaWire := range []bool{true, false} {
		b.Run(map[bool]string{true: "wire", false: "transport"}[viaWire], func(b *testing.B) {
			w, err := newLoadWorker(context.Background(), target)
			if err != nil {
				b.Fatal(err)
			}
			if !viaWire {
				w.wire = nil
			}
			defer (&loadGenerator{workers: []*loadWorker{w}}).close()
			b.ReportAllocs()
			for b.Loop() {
				w.once(tr)
			}
			if w.tokens == 0 || len(w.failures) > 0 {
				b.Fatalf("%d tokens, failures %v: %s", w.tokens, w.failures, w.lastErr)
			}
		})
	}
}
