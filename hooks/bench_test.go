package hooks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
	"github.com/scopeline/scopeline/hooks/internal/wasmguard"
)

// noopHook is a hook that asks for nothing: the baseline of the per-hook
// cost.
type noopHook struct{}

func (noopHook) Invoke(context.Context, engine.View) (*engine.HookResult, error) {
	return &engine.HookResult{}, nil
}

// BenchmarkHook measures one hook stage (run + apply) for each example
// language, with deadline enforcement on, against a stage that does
// nothing (noop). The added cost of a hook is the difference.
func BenchmarkHook(b *testing.B) {
	h := newHost(b, hooks.WithPoolSize(1, 2))
	base := transaction(b)
	run := func(b *testing.B, sp *tenant.HookSpec, hk engine.Hook) {
		b.ReportAllocs()
		for b.Loop() {
			tx := *base
			tx.Scopes = append([]string(nil), base.Scopes...)
			tx.Trace = make(engine.Trace, 0, 8)
			tx.Claims = nil
			tx.Logs = nil
			if err := engine.RunHook(context.Background(), sp, hk, &tx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("noop", func(b *testing.B) {
		run(b, spec("noop", "", "", tenant.FailDeny), noopHook{})
	})
	for _, lang := range []string{"wat", "c", "go"} {
		b.Run(lang, func(b *testing.B) {
			sp := spec("tier-gate", "../examples/hooks/"+lang+"/tier-gate.wasm", "", tenant.FailDeny)
			sp.Memory = 16 << 20
			hk, err := h.Load(context.Background(), sp)
			if err != nil {
				b.Fatal(err)
			}
			defer hk.Close()
			run(b, sp, hk)
		})
	}
}

// BenchmarkIssue measures in-process ES256 issuance with 0, 1 and 3
// small-guest (WAT) hooks: compare ns/op with 0 hooks in the same run.
func BenchmarkIssue(b *testing.B) {
	wat, _ := filepath.Abs("../examples/hooks/wat/tier-gate.wasm")
	gogo, _ := filepath.Abs("../examples/hooks/go/tier-gate.wasm")
	for _, tc := range []struct {
		name    string
		modules []string
	}{
		{"hooks=0", nil},
		{"hooks=1", []string{wat}},
		{"hooks=3", []string{wat, wat, wat}},
		{"hooks=1-go", []string{gogo}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			src := []byte(testTenant)
			if len(tc.modules) > 0 {
				src = tierGateTenant(tc.modules...)
			}
			s := enginetest.Start(b, enginetest.Config{Tenant: src, Server: server.Config{Hooks: newHost(b)}})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Engine.Token(context.Background(), tokenRequest()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeadline compares ways to stop a runaway guest, on a raw call
// of an empty function and on a 1000-iteration loop: none (no
// enforcement), wazero's WithCloseOnContextDone with a context deadline
// per call, and this host's load-time guard (a flag checked at function
// entry and loop heads; the watchdog costs nothing per call).
func BenchmarkDeadline(b *testing.B) {
	ctx := context.Background()
	bin, err := os.ReadFile("testdata/spin.wasm")
	if err != nil {
		b.Fatal(err)
	}
	guarded, err := wasmguard.Instrument(bin, wasmguard.Options{StopGlobal: "__stop"})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		bin       []byte
		closeOnCD bool
	}{
		{"none", bin, false},
		{"wazero-close-on-context-done", bin, true},
		{"guard", guarded.Binary, false},
	} {
		r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(tc.closeOnCD))
		mod, err := r.Instantiate(ctx, tc.bin)
		if err != nil {
			b.Fatal(err)
		}
		empty, spin := mod.ExportedFunction("empty"), mod.ExportedFunction("spin")
		call := func(b *testing.B, fn func(context.Context) error) {
			for b.Loop() {
				cctx := ctx
				if tc.closeOnCD {
					var cancel context.CancelFunc
					cctx, cancel = context.WithTimeout(ctx, time.Second)
					err = fn(cctx)
					cancel()
				} else {
					err = fn(cctx)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		stack := make([]uint64, 1)
		b.Run("call/"+tc.name, func(b *testing.B) {
			call(b, func(c context.Context) error { return empty.CallWithStack(c, stack) })
		})
		b.Run("loop1000/"+tc.name, func(b *testing.B) {
			call(b, func(c context.Context) error { stack[0] = 1000; return spin.CallWithStack(c, stack) })
		})
		r.Close(ctx)
	}
}

// BenchmarkInstance reports the memory one pooled instance holds: Go heap
// (wazero's structures, the linear memory, the stack) per instance, for
// the small (WAT) and the Go SDK guest.
func BenchmarkInstance(b *testing.B) {
	for _, lang := range []string{"wat", "go"} {
		b.Run(lang, func(b *testing.B) {
			const n = 8
			h := newHost(b, hooks.WithPoolSize(0, n+1))
			sp := spec("tier-gate", "../examples/hooks/"+lang+"/tier-gate.wasm", "", tenant.FailDeny)
			sp.Memory = 16 << 20
			for b.Loop() {
				hk1, err := h.Load(context.Background(), sp) // one instance, compiled module cached
				if err != nil {
					b.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				rssBefore := residentBytes()
				hk, err := hooks.Grow(hk1, n)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/instance")
				// Linear memory is mapped outside the Go heap: the resident set
				// counts the pages the guest touched. It is approximate (the
				// Go heap and runtime move it too), so read it over several runs.
				if rss := residentBytes(); rss > 0 && rssBefore > 0 {
					b.ReportMetric(float64(rss-rssBefore)/n, "rss-B/instance")
				}
				hk.Close()
			}
		})
	}
}

// BenchmarkCompile measures loading a Go SDK guest (2-3 MB) cold (empty
// compilation cache) and from the on-disk cache.
func BenchmarkCompile(b *testing.B) {
	module, _ := filepath.Abs("../examples/hooks/go/tier-gate.wasm")
	sp := spec("tier-gate", module, "", tenant.FailDeny)
	sp.Memory = 16 << 20
	load := func(b *testing.B, dir string) {
		h, err := hooks.New(context.Background(), hooks.WithCacheDir(dir), hooks.WithPoolSize(0, 1))
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close(context.Background())
		hk, err := h.Load(context.Background(), sp)
		if err != nil {
			b.Fatal(err)
		}
		hk.Close()
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			load(b, b.TempDir())
		}
	})
	b.Run("cached", func(b *testing.B) {
		dir := b.TempDir()
		load(b, dir)
		for b.Loop() {
			load(b, dir)
		}
	})
	_ = fmt.Sprint
}

// BenchmarkIssueRatio issues tokens from issuers with 0, 1 and 3
// small-guest hooks and 1 Go SDK hook in turn within each iteration, so
// that the machine's load changes hit them alike, and reports each one's
// time per token and its rate as a fraction of the 0-hook rate.
func BenchmarkIssueRatio(b *testing.B) {
	wat, _ := filepath.Abs("../examples/hooks/wat/tier-gate.wasm")
	gogo, _ := filepath.Abs("../examples/hooks/go/tier-gate.wasm")
	configs := []struct {
		name    string
		modules []string
	}{
		{"0", nil},
		{"1wat", []string{wat}},
		{"3wat", []string{wat, wat, wat}},
		{"1go", []string{gogo}},
	}
	servers := make([]*enginetest.Server, len(configs))
	for i, c := range configs {
		src := []byte(testTenant)
		if len(c.modules) > 0 {
			src = tierGateTenant(c.modules...)
		}
		servers[i] = enginetest.Start(b, enginetest.Config{Tenant: src, Server: server.Config{Hooks: newHost(b)}})
	}
	spent := make([]time.Duration, len(configs))
	ctx := context.Background()
	for b.Loop() {
		for i, s := range servers {
			start := time.Now()
			if _, err := s.Engine.Token(ctx, tokenRequest()); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(start)
		}
	}
	for i, c := range configs {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(b.N), "ns/token-"+c.name)
		if i > 0 {
			b.ReportMetric(float64(spent[0])/float64(spent[i]), "rate-"+c.name+"/rate-0")
		}
	}
}

// BenchmarkHookAdded runs a no-op stage and the tier-gate hook in WAT, C
// and Go in turn within each iteration and reports the time each hook
// adds over the no-op stage.
func BenchmarkHookAdded(b *testing.B) {
	h := newHost(b)
	base := transaction(b)
	type stage struct {
		name string
		sp   *tenant.HookSpec
		hk   engine.Hook
	}
	stages := []stage{{"noop", spec("noop", "", "", tenant.FailDeny), noopHook{}}}
	for _, lang := range []string{"wat", "c", "go"} {
		sp := spec("tier-gate", "../examples/hooks/"+lang+"/tier-gate.wasm", "", tenant.FailDeny)
		sp.Memory = 16 << 20
		hk, err := h.Load(context.Background(), sp)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { hk.Close() })
		stages = append(stages, stage{lang, sp, hk})
	}
	spent := make([]time.Duration, len(stages))
	for b.Loop() {
		for i, st := range stages {
			tx := *base
			tx.Scopes = append([]string(nil), base.Scopes...)
			tx.Trace = make(engine.Trace, 0, 8)
			start := time.Now()
			if err := engine.RunHook(context.Background(), st.sp, st.hk, &tx); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(start)
		}
	}
	for i, st := range stages[1:] {
		b.ReportMetric(float64((spent[i+1]-spent[0]).Nanoseconds())/float64(b.N), "added-ns-"+st.name)
	}
}

// residentBytes is the process's resident set size, or 0 where /proc is
// not there.
func residentBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// BenchmarkMetricsCost calls the WAT tier-gate hook from a host without
// metrics and from one exporting them, in turn within each iteration, and
// reports the time the metrics add per call.
func BenchmarkMetricsCost(b *testing.B) {
	tx := transaction(b)
	var hks []*hooks.WasmHook
	for _, opts := range [][]hooks.Option{nil, {hooks.WithRegisterer(prometheus.NewRegistry())}} {
		sp := spec("tier-gate", "../examples/hooks/wat/tier-gate.wasm", "", tenant.FailDeny)
		sp.Trigger = tenant.TriggerCredentialsExchange
		sp.Timeout = time.Second // a stall of the machine is not a fault here
		hk, err := newHost(b, opts...).Load(context.Background(), sp)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { hk.Close() })
		hks = append(hks, hk)
	}
	var spent [2]time.Duration
	for b.Loop() {
		for i, hk := range hks {
			start := time.Now()
			if _, err := hk.Invoke(context.Background(), tx.View()); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(start)
		}
	}
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "ns/call-bare")
	b.ReportMetric(float64((spent[1]-spent[0]).Nanoseconds())/float64(b.N), "added-ns/call")
}
