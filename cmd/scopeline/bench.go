package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
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

func newBenchCmd() *cobra.Command {
	var cfg benchConfig
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure token issuance on this machine, as ratios to bare signing",
		Long: `Measure what a token costs here, for each signing algorithm:

  sign      the bare JWS signature over a token-sized input (the floor)
  issue     in-process issuance: client authentication, policy, trace, mint, sign
  handler   the token endpoint's HTTP handler, without a network
  loopback  a real HTTP client and server over 127.0.0.1 (--loopback)

Cases run in interleaved rounds so that the machine's noise hits them all
alike; the median round is reported, with each case's throughput as a
ratio to bare signing for the same algorithm.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, a := range cfg.algs {
				if !slices.Contains(tenant.SupportedAlgorithms, a) {
					return usageError{fmt.Errorf("--alg %q: want %s", a, strings.Join(tenant.SupportedAlgorithms, ", "))}
				}
			}
			if cfg.rounds < 1 || cfg.concurrency < 1 || cfg.duration <= 0 {
				return usageError{fmt.Errorf("--rounds, --concurrency and --duration must be positive")}
			}
			return runBench(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.algs, "alg", tenant.SupportedAlgorithms, "algorithms to measure")
	f.DurationVar(&cfg.duration, "duration", time.Second, "length of each case in each round")
	f.IntVar(&cfg.rounds, "rounds", 5, "interleaved rounds")
	f.IntVar(&cfg.concurrency, "concurrency", runtime.GOMAXPROCS(0), "goroutines issuing at once")
	f.BoolVar(&cfg.loopback, "loopback", false, "also measure over HTTP on 127.0.0.1")
	return cmd
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
			&benchCase{name: "issue", alg: alg, op: func(ctx context.Context) error { _, err := iss.Token(ctx, req); return err }},
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
