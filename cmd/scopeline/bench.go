package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
)

type benchConfig struct {
	algs        []string
	duration    time.Duration
	rounds      int
	concurrency int
	loopback    bool
}

// HTTP mode's defaults, where they differ from the in-process ones.
const (
	httpBenchDuration    = 10 * time.Second
	httpBenchWarmup      = 2 * time.Second
	httpBenchRounds      = 2
	httpBenchConcurrency = 64
)

func newBenchCmd() *cobra.Command {
	var (
		cfg         benchConfig
		hcfg        httpBenchConfig
		httpMode    bool
		concurrency []int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure token issuance on this machine: in process, or over real HTTP (--http)",
		Long: `Measure what a token costs here, for each signing algorithm:

  sign      the bare JWS signature over a token-sized input (the floor)
  issue     in-process issuance: client authentication, policy, trace, mint, sign
  handler   the token endpoint's HTTP handler, without a network
  loopback  a real HTTP client and server over 127.0.0.1 (--loopback)

Cases run in interleaved rounds so that the machine's noise hits them all
alike; the median round is reported, with each case's throughput as a
ratio to bare signing for the same algorithm.

With --http, the whole server is measured the way clients see it: this
command starts "scopeline serve" as a child process for each hook set
(--hooks) and audit mode (--audit), and drives it with a built-in
closed-loop load generator (keep-alive connections, --concurrency
requests in flight, client_secret_basic) for each algorithm (--alg).
Each case is warmed up, then measured for --duration, in --rounds
interleaved rounds. It reports tokens/s, latency quantiles, the server's
CPU time per token and memory (from /proc), the generator's own CPU and
what the rest of the machine used meanwhile. --url measures another
issuer's token endpoint with the same generator (--pid to read its CPU and
memory): alone, or in the same interleaved rounds as servers started for
--alg, --hooks, --audit or --server-binary. --url may list the token
endpoints of several replicas of one issuer, comma-separated, and --pid
their processes: the workers spread over the replicas, and the CPU and
memory are the replicas' together.

  hooks:  none     the baseline policy only
          small    three small hooks: tier-gate in WAT, in C, and in WAT again
          plugins  the built-in ip-allowlist, deny-scopes and claims-from-metadata
  audit:  ack, buffered (embedded NATS server, as by default), or off`,
		Example: `  scopeline bench --loopback
  scopeline bench --http --alg ES256,RS256,EdDSA --hooks none,small --audit ack,off --concurrency 16,64,256
  scopeline bench --http --server-binary before=./scopeline-main --server-binary after=./scopeline
  scopeline bench --http --url http://127.0.0.1:4444/oauth2/token --pid 1234 \
      --client-id bench --client-secret s3cret --form scope=read --form audience=https://api
  scopeline bench --http --url http://127.0.0.1:8081/oauth/token,http://127.0.0.1:8082/oauth/token,http://127.0.0.1:8083/oauth/token \
      --pid 1231,1232,1233 --client-id demo-m2m --client-secret demo-m2m-secret --form audience=https://api.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, a := range cfg.algs {
				if !slices.Contains(tenant.SupportedAlgorithms, a) {
					return usageError{fmt.Errorf("--alg %q: want %s", a, strings.Join(tenant.SupportedAlgorithms, ", "))}
				}
			}
			f := cmd.Flags()
			if httpMode {
				hcfg.algs, hcfg.duration, hcfg.rounds, hcfg.concurrency = cfg.algs, cfg.duration, cfg.rounds, concurrency
				if !f.Changed("alg") {
					hcfg.algs = []string{"ES256"}
				}
				if !f.Changed("duration") {
					hcfg.duration = httpBenchDuration
				}
				if !f.Changed("rounds") {
					hcfg.rounds = httpBenchRounds
				}
				if !f.Changed("concurrency") {
					hcfg.concurrency = []int{httpBenchConcurrency}
				}
				if err := validateHTTPBench(&hcfg, f.Changed); err != nil {
					return err
				}
				return runHTTPBench(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), hcfg)
			}
			for _, name := range []string{"hooks", "audit", "warmup", "json", "url", "pid", "client-id", "client-secret", "auth", "form", "server-binary", "profile"} {
				if f.Changed(name) {
					return usageError{fmt.Errorf("--%s needs --http", name)}
				}
			}
			if len(concurrency) != 1 {
				return usageError{fmt.Errorf("--concurrency: one value without --http")}
			}
			cfg.concurrency = concurrency[0]
			if cfg.rounds < 1 || cfg.concurrency < 1 || cfg.duration <= 0 {
				return usageError{fmt.Errorf("--rounds, --concurrency and --duration must be positive")}
			}
			return runBench(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.algs, "alg", tenant.SupportedAlgorithms, "algorithms to measure (with --http the default is ES256)")
	f.DurationVar(&cfg.duration, "duration", time.Second, fmt.Sprintf("length of each case in each round (with --http the default is %s)", httpBenchDuration))
	f.IntVar(&cfg.rounds, "rounds", 5, fmt.Sprintf("interleaved rounds (with --http the default is %d)", httpBenchRounds))
	f.IntSliceVar(&concurrency, "concurrency", []int{runtime.GOMAXPROCS(0)}, fmt.Sprintf("requests in flight; with --http a list to compare, and the default is %d", httpBenchConcurrency))
	f.BoolVar(&cfg.loopback, "loopback", false, "also measure over HTTP on 127.0.0.1")
	f.BoolVar(&httpMode, "http", false, "measure a whole server over real HTTP, with a load generator")
	f.StringSliceVar(&hcfg.hooks, "hooks", []string{hooksSmall}, "--http: hook sets to compare: none, small, plugins")
	f.StringSliceVar(&hcfg.audits, "audit", []string{"ack"}, "--http: audit modes to compare: ack, buffered, off")
	f.DurationVar(&hcfg.warmup, "warmup", httpBenchWarmup, "--http: load before each measured window, not counted")
	f.BoolVar(&hcfg.json, "json", false, "--http: print the results as JSON")
	f.StringArrayVar(&hcfg.binaries, "server-binary", nil, "--http: scopeline executable to start as the server, as PATH or NAME=PATH; repeat to compare builds in one run (default: this one)")
	f.StringVar(&hcfg.profileDir, "profile", "", "--http: after the rounds, write CPU, allocation and heap profiles of each case's server to this directory")
	f.StringVar(&hcfg.url, "url", "", "--http: token endpoint of a running issuer to measure (several, comma-separated: the replicas of one issuer, the workers spread over them); alone, or beside the servers --alg, --hooks, --audit or --server-binary ask for")
	f.IntSliceVar(&hcfg.pids, "pid", nil, "--http --url: process ids of that issuer (each replica's), for their CPU time and memory, summed")
	f.StringVar(&hcfg.clientID, "client-id", "", "--http --url: client id")
	f.StringVar(&hcfg.clientSecret, "client-secret", "", "--http --url: client secret")
	f.StringVar(&hcfg.authMethod, "auth", "basic", "--http --url: client authentication: basic (client_secret_basic) or post (client_secret_post)")
	f.StringArrayVar(&hcfg.form, "form", nil, "--http --url: extra form field name=value, such as scope=read or audience=https://api (repeatable)")
	return cmd
}

// validateHTTPBench checks the --http flags; changed tells which were
// given.
func validateHTTPBench(c *httpBenchConfig, changed func(string) bool) error {
	if c.rounds < 1 || c.duration <= 0 || c.warmup < 0 || len(c.concurrency) == 0 {
		return usageError{fmt.Errorf("--rounds, --concurrency and --duration must be positive")}
	}
	for _, n := range c.concurrency {
		if n < 1 || n > 4096 {
			return usageError{fmt.Errorf("--concurrency %d: want 1 to 4096", n)}
		}
	}
	c.servers = c.url == ""
	for _, name := range []string{"alg", "hooks", "audit", "server-binary"} {
		c.servers = c.servers || changed(name)
	}
	if c.url != "" {
		if c.clientID == "" {
			return usageError{fmt.Errorf("--url needs --client-id (and --client-secret)")}
		}
		for _, pid := range c.pids {
			if _, err := procUsage(strconv.Itoa(pid)); err != nil {
				return usageError{fmt.Errorf("--pid %d: %w", pid, err)}
			}
		}
	} else {
		for _, name := range []string{"pid", "client-id", "client-secret", "auth", "form"} {
			if changed(name) {
				return usageError{fmt.Errorf("--%s applies to --url only", name)}
			}
		}
	}
	if changed("profile") && !c.servers {
		return usageError{fmt.Errorf("--profile profiles the servers the bench starts: with --url, add --hooks, --audit or --alg to start some")}
	}
	for _, h := range c.hooks {
		if !slices.Contains(benchHookSets, h) {
			return usageError{fmt.Errorf("--hooks %q: want %s", h, strings.Join(benchHookSets, ", "))}
		}
	}
	for _, a := range c.audits {
		if !slices.Contains(benchAuditModes, a) {
			return usageError{fmt.Errorf("--audit %q: want %s", a, strings.Join(benchAuditModes, ", "))}
		}
	}
	return nil
}

// benchTenantYAML has one API per algorithm, all granted to client "bench".
func benchTenantYAML(algs []string) string {
	var b strings.Builder
	b.WriteString("apis:\n")
	for _, alg := range algs {
		fmt.Fprintf(&b, "  - identifier: https://bench.example/%s\n    signing_algorithm: %s\n    scopes: [{name: read}, {name: write}, {name: delete}]\n", alg, alg)
	}
	fmt.Fprintf(&b, "clients:\n  - id: bench\n    type: m2m\n    secrets: [%q]\ngrants:\n", tenant.FormatDigest(benchSecret))
	for _, alg := range algs {
		fmt.Fprintf(&b, "  - {client: bench, api: https://bench.example/%s, scopes: [read, write]}\n", alg)
	}
	return b.String()
}

const benchSecret = "bench-secret"

type benchCase struct {
	name, alg string
	op        func(context.Context) error
	results   []float64 // ns/op per round
}

func runBench(ctx context.Context, out io.Writer, cfg benchConfig) error {
	t, err := tenant.Parse([]byte(benchTenantYAML(cfg.algs)), "bench tenant", ".")
	if err != nil {
		return err
	}
	iss, done, err := localIssuer(ctx, t, hookRuntime{}, server.Config{})
	if err != nil {
		return err
	}
	defer done()
	ks := iss.Keys()
	handler := iss.Handler()
	var loop *httptest.Server
	if cfg.loopback {
		loop = httptest.NewServer(handler)
		defer loop.Close()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.concurrency * 2}}

	var cases []*benchCase
	for _, alg := range cfg.algs {
		k, _ := ks.Signing(alg)
		input := strings.Repeat("x", 300) // a token-sized signing input
		aud := "https://bench.example/" + alg
		req := &engine.TokenRequest{GrantType: engine.GrantClientCredentials, ClientID: "bench", ClientSecret: benchSecret,
			AuthMethod: engine.AuthSecretBasic, Audience: aud, Scope: "read", ScopeSet: true}
		body := "grant_type=client_credentials&scope=read&audience=" + aud
		cases = append(cases,
			&benchCase{name: "sign", alg: alg, op: func(context.Context) error { _, err := k.Sign(input); return err }},
			&benchCase{name: "issue", alg: alg, op: func(ctx context.Context) error {
				r := *req // the issuer fills in a request it reads (the client's canonical id): one per call
				_, err := iss.Token(ctx, &r)
				return err
			}},
			&benchCase{name: "handler", alg: alg, op: func(context.Context) error {
				r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.SetBasicAuth("bench", benchSecret)
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					return fmt.Errorf("handler: %d %s", w.Code, w.Body)
				}
				return nil
			}},
		)
		if loop != nil {
			cases = append(cases, &benchCase{name: "loopback", alg: alg, op: func(ctx context.Context) error {
				r, _ := http.NewRequestWithContext(ctx, http.MethodPost, loop.URL+"/oauth/token", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.SetBasicAuth("bench", benchSecret)
				resp, err := client.Do(r)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("loopback: %s", resp.Status)
				}
				return nil
			}})
		}
	}
	fmt.Fprintf(out, "scopeline bench: %d rounds of %s per case, concurrency %d, GOMAXPROCS %d, %s\n",
		cfg.rounds, cfg.duration, cfg.concurrency, runtime.GOMAXPROCS(0), versionString())
	for r := range cfg.rounds {
		for _, c := range cases {
			ns, err := measure(ctx, c.op, cfg.duration, cfg.concurrency)
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.name, c.alg, err)
			}
			c.results = append(c.results, ns)
		}
		fmt.Fprintf(out, "round %d/%d done\n", r+1, cfg.rounds)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "case\talg\tµs/op\tops/s\tvs sign\t")
	signNs := map[string]float64{}
	for _, c := range cases {
		med := median(c.results)
		if c.name == "sign" {
			signNs[c.alg] = med
		}
		fmt.Fprintf(w, "%s\t%s\t%.1f\t%.0f\t%.0f %%\t\n", c.name, c.alg, med/1e3, 1e9/med, 100*signNs[c.alg]/med)
	}
	return w.Flush()
}

// measure runs op on n goroutines for d and returns the wall time per op,
// or the first error op returned.
func measure(ctx context.Context, op func(context.Context) error, d time.Duration, n int) (float64, error) {
	var (
		count atomic.Int64
		fail  atomic.Pointer[error] // the first error; errors differ in type, which atomic.Value refuses
		wg    sync.WaitGroup
	)
	stop := time.Now().Add(d)
	start := time.Now()
	for range n {
		wg.Go(func() {
			for time.Now().Before(stop) && ctx.Err() == nil {
				if err := op(ctx); err != nil {
					fail.CompareAndSwap(nil, &err)
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	if err := fail.Load(); err != nil {
		return 0, *err
	}
	if count.Load() == 0 {
		return 0, fmt.Errorf("no operation finished in %s", d)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(count.Load()), nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
