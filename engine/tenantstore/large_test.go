package tenantstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/grant"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/tenantstore"
	"github.com/scopeline/scopeline/engine/throttle"
)

// The figures of docs/performance.md, "Large tenants in the cluster":
//
//	SCOPELINE_LARGE=1 go test -run TestLargeTenantFigures -v -timeout 30m ./engine/tenantstore/
//
// A measurement, not a test: it asserts nothing about time or memory. The
// replica runs in a process of its own (this test binary again), so that
// its memory is its own and not the pusher's or the NATS server's.
func TestLargeTenantFigures(t *testing.T) {
	if os.Getenv("SCOPELINE_LARGE") == "" {
		t.Skip("a measurement of several minutes: set SCOPELINE_LARGE=1")
	}
	clients, grants, apis := 100000, 300000, 1000
	if s := os.Getenv("SCOPELINE_LARGE_CLIENTS"); s != "" {
		clients, _ = strconv.Atoi(s)
		grants, apis = 3*clients, max(clients/100, 1)
	}
	ctx := context.Background()
	c := natstest.Start(t, 1)
	s := openStore(t, c)
	data := largeTenant(clients, grants, apis, "")
	t.Logf("tenant: %d clients, %d grants, %d APIs, %d MiB of YAML", clients, grants, apis, len(data)>>20)
	cpu0, wall0 := cpuTime(), time.Now()
	r1, err := s.PushFile(ctx, data, "large.yaml", "bench", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("push (validate, split, compile, store): %s wall, %s CPU, %d parts", time.Since(wall0).Round(time.Millisecond), (cpuTime() - cpu0).Round(time.Millisecond), len(r1.Parts))

	cmd := exec.Command(os.Args[0], "-test.run", "^TestLargeTenantReplica$", "-test.v")
	cmd.Env = append(os.Environ(), "SCOPELINE_REPLICA_URL="+c.URL(), "SCOPELINE_REPLICA_DIR="+t.TempDir(),
		fmt.Sprintf("SCOPELINE_REPLICA_SHAPE=%d,%d", clients, apis))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(out)
	next := func(want string) map[string]any {
		for lines.Scan() {
			var m map[string]any
			if line := lines.Text(); strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &m) == nil && m["event"] == want {
				t.Logf("replica %s: %s", want, line)
				return m
			}
		}
		t.Fatalf("the replica ended before %s", want)
		return nil
	}
	next("started")
	changed := largeTenant(clients, grants, apis, "client-0000007")
	pushed, cpu1 := time.Now(), cpuTime()
	r2, err := s.PushFile(ctx, changed, "large.yaml", "bench", r1.Number)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one-client change pushed in %s wall, %s CPU", time.Since(pushed).Round(time.Millisecond), (cpuTime() - cpu1).Round(time.Millisecond))
	applied := next("applied")
	at, _ := time.Parse(time.RFC3339Nano, applied["at"].(string))
	t.Logf("one-client change applied on the replica %s after its revision was written", at.Sub(r2.At).Round(time.Millisecond))
	next("requests")
}

// TestLargeTenantReplica is the replica of TestLargeTenantFigures, run in
// a process of its own; it prints its figures as JSON lines.
func TestLargeTenantReplica(t *testing.T) {
	url := os.Getenv("SCOPELINE_REPLICA_URL")
	if url == "" {
		t.Skip("run by TestLargeTenantFigures")
	}
	ctx := context.Background()
	report := func(event string, m map[string]any) {
		m["event"] = event
		runtime.GC()
		debug.FreeOSMemory()
		rss, hwm := memory()
		m["rss_mib"], m["peak_rss_mib"] = rss>>20, hwm>>20
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m["heap_mib"] = ms.HeapInuse >> 20
		b, _ := json.Marshal(m)
		fmt.Println(string(b))
		resetPeak()
	}
	cpu0, wall0 := cpuTime(), time.Now()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := tenantstore.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	f := store.Follow(tenantstore.FollowConfig{Dir: os.Getenv("SCOPELINE_REPLICA_DIR")})
	r, tn, err := f.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.NewStore(os.Getenv("SCOPELINE_REPLICA_DIR")).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	iss, err := engine.New(ctx, tn, ks, engine.WithGrants(&grant.ClientCredentials{
		Clients: engine.NewClientAuthenticator(throttle.Local, throttle.DefaultNetworks, time.Now, nil)}))
	if err != nil {
		t.Fatal(err)
	}
	tn = nil
	report("started", map[string]any{"revision": r.Number, "wall_ms": time.Since(wall0).Milliseconds(), "cpu_ms": (cpuTime() - cpu0).Milliseconds()})

	applied := make(chan time.Time, 1)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var took time.Duration
	cpu1 := time.Duration(0)
	go f.Run(runCtx, func(ctx context.Context, _ tenantstore.Revision, t *tenant.Tenant) error {
		return iss.Reload(ctx, t, nil)
	}, func(_ context.Context, o tenantstore.Outcome) {
		if o.Err == nil {
			took = o.Took
			applied <- time.Now()
		}
	})
	cpu1 = cpuTime()
	at := <-applied
	report("applied", map[string]any{"at": at.Format(time.RFC3339Nano), "build_and_apply_ms": took.Milliseconds(), "cpu_ms": (cpuTime() - cpu1).Milliseconds()})

	// The cost of a request on this tenant (compare with BenchmarkToken
	// of the engine, on a tenant of three clients).
	var clients, apis int
	fmt.Sscanf(os.Getenv("SCOPELINE_REPLICA_SHAPE"), "%d,%d", &clients, &apis)
	const n = 20000
	tokens := func() (failed int, cpu time.Duration) {
		cpu0 := cpuTime()
		for i := range n {
			k := (i * 7919) % clients
			_, err := iss.Token(ctx, &engine.TokenRequest{GrantType: engine.GrantClientCredentials, ClientID: fmt.Sprintf("client-%07d", k), ClientSecret: "s" + strconv.Itoa(k),
				AuthMethod: engine.AuthSecretBasic, Audience: "https://api-" + strconv.Itoa((k*7)%apis) + ".example.com", Scope: "read", ScopeSet: true})
			if err != nil {
				failed++
			}
		}
		return failed, (cpuTime() - cpu0) / n
	}
	failed, cpu := tokens()
	report("requests", map[string]any{"tokens": n, "failed": failed, "token_us_cpu": cpu.Microseconds()})
	iss.Close()
}

// largeTenant is tenant.LargeTenant's shape (see engine/tenant) with the
// client renamed changed, if any.
func largeTenant(clients, grants, apis int, renamed string) []byte {
	var b strings.Builder
	b.Grow(clients*200 + grants*100 + apis*200)
	b.WriteString("issuer: https://issuer.example.com/\nsigning_algorithm: ES256\napis:\n")
	for i := range apis {
		fmt.Fprintf(&b, "  - identifier: https://api-%d.example.com\n    name: API %d\n    scopes: [{name: read}, {name: write}, {name: delete}, {name: admin}, {name: audit}]\n", i, i)
	}
	b.WriteString("clients:\n")
	for i := range clients {
		id := fmt.Sprintf("client-%07d", i)
		name := "Client " + strconv.Itoa(i)
		if id == renamed {
			name = "Renamed"
		}
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    type: m2m\n    secrets: [\"%s\"]\n    metadata: {tier: gold, team: team-%d}\n", id, name, tenant.FormatDigest("s"+strconv.Itoa(i)), i%100)
	}
	b.WriteString("grants:\n")
	for i := range grants {
		fmt.Fprintf(&b, "  - {client: client-%07d, api: \"https://api-%d.example.com\", scopes: [read, write]}\n", i%clients, ((i%clients)*7+i/clients)%apis)
	}
	return []byte(b.String())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memory reads the process's resident set and its peak (Linux).
func memory() (rss, peak uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// resetPeak starts the peak resident set over from the current one.
func resetPeak() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkTokenByTenantSize compares a token's cost on a tenant of 1,000
// clients and on one of 100,000 (300,000 grants, 1,000 APIs), in one run:
// the request path looks clients, APIs and grants up in maps, so its cost
// should not depend on the tenant's size.
//
//	go test -run '^$' -bench TokenByTenantSize -benchtime 20000x -count 3 ./engine/tenantstore/
func BenchmarkTokenByTenantSize(b *testing.B) {
	for _, clients := range []int{1000, 100000} {
		apis := max(clients/100, 1)
		parts, err := tenant.Split(largeTenant(clients, 3*clients, apis, ""), "t")
		if err == nil {
			err = tenant.Compile(parts, "t")
		}
		if err != nil {
			b.Fatal(err)
		}
		tn, err := tenant.Build(parts, "t")
		if err != nil {
			b.Fatal(err)
		}
		parts = nil
		ks, err := keys.NewStore(b.TempDir()).Ensure(tn.Algorithms(), time.Now())
		if err != nil {
			b.Fatal(err)
		}
		iss, err := engine.New(context.Background(), tn, ks, engine.WithGrants(&grant.ClientCredentials{
			Clients: engine.NewClientAuthenticator(throttle.Local, throttle.DefaultNetworks, time.Now, nil)}))
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			i := 0
			for b.Loop() {
				k := (i * 7919) % clients
				i++
				if _, err := iss.Token(context.Background(), &engine.TokenRequest{GrantType: engine.GrantClientCredentials, ClientID: fmt.Sprintf("client-%07d", k), ClientSecret: "s" + strconv.Itoa(k),
					AuthMethod: engine.AuthSecretBasic, Audience: "https://api-" + strconv.Itoa((k*7)%apis) + ".example.com", Scope: "read", ScopeSet: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
		iss.Close()
	}
}
