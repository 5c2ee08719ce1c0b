package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// httpBenchConfig is what `scopeline bench --http` measures.
type httpBenchConfig struct {
	algs        []string
	hooks       []string
	audits      []string
	concurrency []int
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	json        bool
	// binaries are the scopeline executables started as `serve`, each as
	// PATH or NAME=PATH (default: this one).
	binaries []string
	// profileDir, when set, receives CPU and allocation profiles of each
	// case, taken in one more window after the measured rounds, and a heap
	// profile at its end.
	profileDir string

	// servers is whether to start child servers: always without url, and
	// with it when asked for (--alg, --hooks, --audit, --server-binary).
	servers bool

	// Another issuer, measured alone or alongside the child servers.
	url          string
	pids         []int
	clientID     string
	clientSecret string
	authMethod   string // basic or post
	form         []string
}

// procStats is a process's CPU time so far and its memory.
type procStats struct {
	CPU     time.Duration
	RSS     int64
	PeakRSS int64
	known   bool
}

// httpCase is one measured configuration: a server (a child or --url), an
// algorithm and a concurrency.
type httpCase struct {
	server      *benchServer // nil for --url
	alg         string
	concurrency int
	gen         *loadGenerator
	windows     []*caseWindow
}

func (c *httpCase) label() string {
	if c.server == nil {
		return "url"
	}
	return strings.TrimSpace(c.server.build.name + " " + c.alg + " " + c.server.hooks + " " + c.server.audit)
}

// serverBuild is a scopeline executable to start as the server; name is
// "" when there is only one.
type serverBuild struct{ name, path string }

// serverBuilds reads the --server-binary values (PATH or NAME=PATH).
func serverBuilds(values []string) ([]serverBuild, error) {
	if len(values) == 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench: finding this executable to start it as a server: %w", err)
		}
		return []serverBuild{{path: self}}, nil
	}
	var builds []serverBuild
	for _, v := range values {
		name, path, ok := strings.Cut(v, "=")
		if !ok {
			name, path = filepath.Base(v), v
		}
		if len(values) == 1 {
			name = ""
		}
		if _, err := os.Stat(path); err != nil {
			return nil, usageError{fmt.Errorf("--server-binary %q: %w", v, err)}
		}
		if slices.ContainsFunc(builds, func(b serverBuild) bool { return b.name == name }) {
			return nil, usageError{fmt.Errorf("--server-binary %q: two builds named %q", v, name)}
		}
		builds = append(builds, serverBuild{name, path})
	}
	return builds, nil
}

// caseWindow is one measured window of a case, with the CPU the server,
// the generator and the rest of the machine spent in it.
type caseWindow struct {
	*window
	server, generator time.Duration
	machineBusy       time.Duration // all cores
	machineTotal      time.Duration // all cores, busy or not
	rss, peakRSS      int64
	serverKnown       bool
	machineKnown      bool
	load1             float64
}

func runHTTPBench(ctx context.Context, out, progress io.Writer, cfg httpBenchConfig) (err error) {
	started := time.Now()
	loadStart := loadAverage()
	maxC := slices.Max(cfg.concurrency)
	tr := newBenchTransport(maxC)
	defer tr.CloseIdleConnections()

	var servers []*benchServer
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	var other tokenTarget // the issuer at --url
	if cfg.url != "" {
		if other, err = urlTarget(cfg); err != nil {
			return err
		}
	}
	if cfg.servers {
		builds, err := serverBuilds(cfg.binaries)
		if err != nil {
			return err
		}
		for _, b := range builds {
			for _, h := range cfg.hooks {
				for _, a := range cfg.audits {
					fmt.Fprintf(progress, "starting server: %shooks %s, audit %s\n", strings.TrimPrefix(b.name+", ", ", "), h, a)
					s, err := startBenchServer(ctx, b, cfg.algs, h, a, cfg.profileDir != "")
					if err != nil {
						return err
					}
					servers = append(servers, s)
				}
			}
		}
	}
	// Each round runs every case in this order: by concurrency, the issuer
	// at --url first, then each server and algorithm.
	var cases []*httpCase
	defer func() {
		for _, c := range cases {
			if c.gen != nil {
				c.gen.close()
			}
		}
	}()
	addCase := func(c *httpCase, target tokenTarget) error {
		g, err := newLoadGenerator(ctx, tr, target, c.concurrency)
		c.gen = g
		cases = append(cases, c)
		return err
	}
	for _, c := range cfg.concurrency {
		if cfg.url != "" {
			if err := addCase(&httpCase{concurrency: c}, other); err != nil {
				return err
			}
		}
		for _, s := range servers {
			for _, alg := range cfg.algs {
				if err := addCase(&httpCase{server: s, alg: alg, concurrency: c}, childTarget(s, alg)); err != nil {
					return err
				}
			}
		}
	}

	for r := range cfg.rounds {
		for _, c := range cases {
			if cfg.warmup > 0 {
				c.gen.run(ctx, cfg.warmup, nil)
			}
			w, err := measureWindow(ctx, c, cfg.duration, cfg.pids)
			if err != nil {
				return err
			}
			c.windows = append(c.windows, w)
			fmt.Fprintf(progress, "round %d/%d  %-28s c=%-4d %8.0f tokens/s  %d errors\n", r+1, cfg.rounds, c.label(), c.concurrency,
				float64(w.tokens)/w.elapsed.Seconds(), w.errors())
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	if cfg.profileDir != "" {
		if err := profileCases(ctx, progress, cases, cfg); err != nil {
			return err
		}
	}

	rep := httpBenchReport{
		Version:          versionString(),
		Started:          started.UTC(),
		OS:               runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:             runtime.NumCPU(),
		GOMAXPROCS:       runtime.GOMAXPROCS(0),
		Rounds:           cfg.rounds,
		Duration:         cfg.duration.String(),
		Warmup:           cfg.warmup.String(),
		URL:              cfg.url,
		LoadAverageStart: loadStart,
		LoadAverageEnd:   loadAverage(),
	}
	for _, c := range cases {
		rep.Cases = append(rep.Cases, summarize(c))
	}
	if cfg.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := rep.writeTable(out); err != nil {
		return err
	}
	var failed []string
	for _, c := range rep.Cases {
		if c.Tokens == 0 {
			failed = append(failed, fmt.Sprintf("%s c=%d: no token issued (%s)", c.Label, c.Concurrency, c.LastError))
		}
	}
	if len(failed) > 0 {
		return errors.New("bench: " + strings.Join(failed, "; "))
	}
	return nil
}

// measureWindow runs c once for d, with the CPU used by its server (a
// child, or the processes pids for --url, summed), this process and the
// machine.
func measureWindow(ctx context.Context, c *httpCase, d time.Duration, pids []int) (*caseWindow, error) {
	var serverPids []string
	if c.server != nil {
		serverPids = []string{c.server.pid}
	} else {
		for _, pid := range pids {
			serverPids = append(serverPids, strconv.Itoa(pid))
		}
	}
	srv0 := make([]procStats, len(serverPids))
	var gen0 procStats
	var busy0, total0 time.Duration
	var srvErr, genErr, machErr error
	w := c.gen.run(ctx, d, func() {
		for i, pid := range serverPids {
			if srv0[i], srvErr = procUsage(pid); srvErr != nil {
				break
			}
		}
		gen0, genErr = procUsage("self")
		busy0, total0, machErr = machineUsage()
	})
	cw := &caseWindow{window: w}
	// Without /proc (other systems) the CPU figures stay unknown.
	if len(serverPids) > 0 && srvErr == nil {
		for i, pid := range serverPids {
			srv1, err := procUsage(pid)
			if err != nil {
				return nil, fmt.Errorf("bench: server process %s: %w", pid, err)
			}
			cw.server += srv1.CPU - srv0[i].CPU
			cw.rss += srv1.RSS
			cw.peakRSS += srv1.PeakRSS
		}
		cw.serverKnown = true
	}
	if genErr == nil {
		gen1, err := procUsage("self")
		if err == nil {
			cw.generator = gen1.CPU - gen0.CPU
		}
	}
	if machErr == nil {
		busy1, total1, err := machineUsage()
		if err == nil {
			cw.machineBusy, cw.machineTotal, cw.machineKnown = busy1-busy0, total1-total0, true
		}
	}
	if l := loadAverage(); len(l) > 0 {
		cw.load1 = l[0]
	}
	return cw, nil
}

// profileCases runs each child case once more for the window's length
// while taking CPU and allocation profiles of its server, then a heap
// profile.
func profileCases(ctx context.Context, progress io.Writer, cases []*httpCase, cfg httpBenchConfig) error {
	if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
		return err
	}
	secs := max(1, int(cfg.duration.Round(time.Second)/time.Second))
	for _, c := range cases {
		if c.server == nil {
			continue
		}
		if cfg.warmup > 0 {
			c.gen.run(ctx, cfg.warmup, nil)
		}
		base := fmt.Sprintf("%s-%s-%s-c%d", c.alg, c.server.hooks, c.server.audit, c.concurrency)
		if b := c.server.build.name; b != "" {
			base = b + "-" + base
		}
		errs := make(chan error, 2)
		for _, p := range []string{"profile", "allocs"} {
			file := filepath.Join(cfg.profileDir, base+"."+map[string]string{"profile": "cpu", "allocs": "allocs"}[p]+".pprof")
			u := fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", c.server.pprof, p, secs)
			go func() { errs <- fetchTo(ctx, u, file) }()
		}
		// Profiles start when their request arrives: give the load a
		// little more time than they take.
		w, err := measureWindow(ctx, c, time.Duration(secs)*time.Second+500*time.Millisecond, nil)
		if err != nil {
			return err
		}
		err = errors.Join(<-errs, <-errs)
		if err == nil { // what the server holds after the load: its RSS's Go share
			err = fetchTo(ctx, c.server.pprof+"/debug/pprof/heap", filepath.Join(cfg.profileDir, base+".heap.pprof"))
		}
		if err != nil {
			return fmt.Errorf("bench: profiling %s: %w", base, err)
		}
		// The figures of the profiled window, to turn a profile's shares
		// into µs per token (profiling costs a few percent).
		fmt.Fprintf(progress, "profiles of %s in %s: %d tokens in %s, %.0f tokens/s, server %.1f µs/token\n", base, cfg.profileDir,
			w.tokens, w.elapsed.Round(time.Millisecond), float64(w.tokens)/w.elapsed.Seconds(), float64(w.server.Microseconds())/float64(max(w.tokens, 1)))
	}
	return nil
}

func fetchTo(ctx context.Context, u, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s %s", u, resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// childTarget is the token request sent to a child server for alg.
func childTarget(s *benchServer, alg string) tokenTarget {
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {benchAudience(alg)}, "scope": {benchScope}}
	return tokenTarget{
		url:    s.base + "/oauth/token",
		header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {basicAuth("bench", benchSecret)}},
		body:   []byte(form.Encode()),
	}
}

// urlTarget is the token request for another issuer: client credentials
// (client_secret_basic or client_secret_post) and the extra form fields.
func urlTarget(cfg httpBenchConfig) (tokenTarget, error) {
	urls := strings.Split(cfg.url, ",")
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return tokenTarget{}, usageError{fmt.Errorf("--url %q: want the token endpoint's http(s) URL", raw)}
		}
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	for _, kv := range cfg.form {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return tokenTarget{}, usageError{fmt.Errorf("--form %q: want name=value", kv)}
		}
		if k == "grant_type" {
			form.Del(k)
		}
		form.Add(k, v)
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	switch cfg.authMethod {
	case "basic":
		h.Set("Authorization", basicAuth(cfg.clientID, cfg.clientSecret))
	case "post":
		form.Set("client_id", cfg.clientID)
		form.Set("client_secret", cfg.clientSecret)
	default:
		return tokenTarget{}, usageError{fmt.Errorf("--auth %q: want basic or post", cfg.authMethod)}
	}
	return tokenTarget{url: urls[0], replicas: urls, header: h, body: []byte(form.Encode())}, nil
}

// basicAuth is client_secret_basic: the id and secret form-encoded, then
// Basic authentication (RFC 6749 §2.3.1).
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// httpBenchReport is the result of a run, as --json prints it.
type httpBenchReport struct {
	Version          string           `json:"version"`
	Started          time.Time        `json:"started"`
	OS               string           `json:"os"`
	CPUs             int              `json:"cpus"`
	GOMAXPROCS       int              `json:"gomaxprocs"`
	Rounds           int              `json:"rounds"`
	Duration         string           `json:"duration"`
	Warmup           string           `json:"warmup"`
	URL              string           `json:"url,omitempty"`
	LoadAverageStart []float64        `json:"load_average_start"`
	LoadAverageEnd   []float64        `json:"load_average_end"`
	Cases            []httpCaseResult `json:"cases"`
}

// httpCaseResult sums up a case over its rounds. Rates and CPU per token
// are totals over all rounds divided by their total time or tokens;
// latency quantiles come from all the rounds' requests together.
type httpCaseResult struct {
	Label       string `json:"label"`
	Build       string `json:"build,omitempty"`
	Alg         string `json:"alg,omitempty"`
	Hooks       string `json:"hooks,omitempty"`
	Audit       string `json:"audit,omitempty"`
	Concurrency int    `json:"concurrency"`

	Seconds        float64          `json:"seconds"`
	Tokens         int64            `json:"tokens"`
	Errors         int64            `json:"errors"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status,omitempty"`
	LastError      string           `json:"last_error,omitempty"`
	TokensPerSec   float64          `json:"tokens_per_s"`
	RoundsPerSec   []float64        `json:"rounds_tokens_per_s"`
	P50ms          float64          `json:"p50_ms"`
	P90ms          float64          `json:"p90_ms"`
	P99ms          float64          `json:"p99_ms"`
	MaxMs          float64          `json:"max_ms"`

	// Server figures: only for a child, or --url with --pid.
	ServerCPUPerToken float64 `json:"server_cpu_us_per_token,omitempty"`
	ServerCores       float64 `json:"server_cores,omitempty"`
	ServerRSSMiB      float64 `json:"server_rss_mib,omitempty"`
	ServerPeakRSSMiB  float64 `json:"server_peak_rss_mib,omitempty"`
	// TokensPerSecWithoutGenerator is the rate the server would reach with
	// the generator's CPU time too: tokens/s × (server + generator CPU) /
	// server CPU. It assumes the server is CPU-bound, as it is when both
	// share the machine's cores.
	TokensPerSecWithoutGenerator float64 `json:"tokens_per_s_without_generator,omitempty"`
	// TokensPerSecPerCore is 10⁶ / server_cpu_us_per_token: what one core
	// of this machine issues.
	TokensPerSecPerCore float64 `json:"tokens_per_s_per_server_core,omitempty"`

	GeneratorCPUPerRequest float64 `json:"generator_cpu_us_per_request"`
	GeneratorCores         float64 `json:"generator_cores"`
	// OtherCores is the CPU the rest of the machine used meanwhile (other
	// processes, idle child servers), in cores.
	OtherCores   float64   `json:"other_cores"`
	MachineCores float64   `json:"machine_busy_cores"`
	Load1        []float64 `json:"load1_after_rounds"`
}

func summarize(c *httpCase) httpCaseResult {
	r := httpCaseResult{Label: c.label(), Alg: c.alg, Concurrency: c.concurrency, ErrorsByStatus: map[string]int64{}}
	if c.server != nil {
		r.Build, r.Hooks, r.Audit = c.server.build.name, c.server.hooks, c.server.audit
	}
	var elapsed, server, gen, busy, total time.Duration
	hist := &latencyHistogram{}
	serverKnown, machineKnown := true, true
	var requests int64
	for _, w := range c.windows {
		elapsed += w.elapsed
		r.Tokens += w.tokens
		r.Errors += w.errors()
		requests += w.tokens + w.errors()
		for code, n := range w.failures {
			name := strconv.Itoa(code)
			if code == 0 {
				name = "transport"
			}
			r.ErrorsByStatus[name] += n
		}
		if w.lastErr != "" {
			r.LastError = w.lastErr
		}
		hist.merge(w.latency)
		r.RoundsPerSec = append(r.RoundsPerSec, round1(float64(w.tokens)/w.elapsed.Seconds()))
		server += w.server
		gen += w.generator
		busy += w.machineBusy
		total += w.machineTotal
		serverKnown = serverKnown && w.serverKnown
		machineKnown = machineKnown && w.machineKnown
		r.ServerRSSMiB = max(r.ServerRSSMiB, float64(w.rss)/(1<<20))
		r.ServerPeakRSSMiB = max(r.ServerPeakRSSMiB, float64(w.peakRSS)/(1<<20))
		r.Load1 = append(r.Load1, w.load1)
	}
	if len(r.ErrorsByStatus) == 0 {
		r.ErrorsByStatus = nil
	}
	r.Seconds = round3(elapsed.Seconds())
	r.TokensPerSec = round1(float64(r.Tokens) / elapsed.Seconds())
	r.P50ms = ms(hist.quantile(.5))
	r.P90ms = ms(hist.quantile(.9))
	r.P99ms = ms(hist.quantile(.99))
	r.MaxMs = ms(hist.quantile(1))
	if requests > 0 {
		r.GeneratorCPUPerRequest = round1(float64(gen.Microseconds()) / float64(requests))
	}
	r.GeneratorCores = round3(gen.Seconds() / elapsed.Seconds())
	if serverKnown && r.Tokens > 0 && server > 0 {
		r.ServerCPUPerToken = round1(float64(server.Microseconds()) / float64(r.Tokens))
		r.ServerCores = round3(server.Seconds() / elapsed.Seconds())
		r.TokensPerSecWithoutGenerator = round1(r.TokensPerSec * float64(server+gen) / float64(server))
		r.TokensPerSecPerCore = round1(1e6 / r.ServerCPUPerToken)
	} else {
		r.ServerRSSMiB, r.ServerPeakRSSMiB = 0, 0
	}
	if machineKnown {
		r.MachineCores = round3(busy.Seconds() / elapsed.Seconds())
		other := busy - gen
		if serverKnown {
			other -= server
		}
		r.OtherCores = round3(max(other, 0).Seconds() / elapsed.Seconds())
	}
	r.ServerRSSMiB, r.ServerPeakRSSMiB = round1(r.ServerRSSMiB), round1(r.ServerPeakRSSMiB)
	return r
}

func ms(d time.Duration) float64 { return round3(float64(d) / 1e6) }

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// writeTable prints the report for people.
func (rep *httpBenchReport) writeTable(out io.Writer) error {
	fmt.Fprintf(out, "scopeline bench --http: %d round(s) of %s per case (warm-up %s), %s, %d CPUs, GOMAXPROCS %d\n",
		rep.Rounds, rep.Duration, rep.Warmup, rep.Version, rep.CPUs, rep.GOMAXPROCS)
	fmt.Fprintf(out, "load average %s at start, %s at end\n", fmtLoad(rep.LoadAverageStart), fmtLoad(rep.LoadAverageEnd))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	builds := slices.ContainsFunc(rep.Cases, func(c httpCaseResult) bool { return c.Build != "" })
	if builds {
		fmt.Fprint(w, "build\t")
	}
	fmt.Fprintln(w, "alg\thooks\taudit\tc\ttokens/s\t(rounds)\tp50 ms\tp90 ms\tp99 ms\terrors\tsrv µs/token\tsrv cores\tRSS MiB\tgen µs/req\tgen cores\tother cores\ttokens/s w/o gen\t")
	for _, c := range rep.Cases {
		alg, hooks, audit := c.Alg, c.Hooks, c.Audit
		if c.Label == "url" {
			alg, hooks, audit = "url", "-", "-"
		}
		srv := []string{"-", "-", "-", "-"}
		if c.ServerCPUPerToken > 0 {
			srv = []string{f1(c.ServerCPUPerToken), fmt.Sprintf("%.2f", c.ServerCores), fmt.Sprintf("%.0f", c.ServerRSSMiB), fmt.Sprintf("%.0f", c.TokensPerSecWithoutGenerator)}
		}
		if builds {
			fmt.Fprintf(w, "%s\t", c.Build)
		}
		var rounds []string
		for _, v := range c.RoundsPerSec {
			rounds = append(rounds, fmt.Sprintf("%.0f", v))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%.0f\t%s\t%.2f\t%.2f\t%.2f\t%d\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t\n",
			alg, hooks, audit, c.Concurrency, c.TokensPerSec, strings.Join(rounds, "/"), c.P50ms, c.P90ms, c.P99ms, c.Errors,
			srv[0], srv[1], srv[2], f1(c.GeneratorCPUPerRequest), c.GeneratorCores, c.OtherCores, srv[3])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, c := range rep.Cases {
		if c.Errors > 0 {
			fmt.Fprintf(out, "errors of %s c=%d: %v; last: %s\n", c.Label, c.Concurrency, c.ErrorsByStatus, c.LastError)
		}
	}
	return nil
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func fmtLoad(l []float64) string {
	if len(l) == 0 {
		return "unknown"
	}
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strings.Join(s, " ")
}
