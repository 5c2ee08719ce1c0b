package hooks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/tetratelabs/wazero"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
	"github.com/scopeline/scopeline/hooks/internal/wasmguard"
	"github.com/scopeline/scopeline/plugins"
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

// BenchmarkInstance reports the memory one pooled instance holds after a
// request: Go heap (wazero's structures, the stack) and the pages of
// linear memory the guest touched (mapped outside the Go heap), for the
// WAT and Go tier-gate examples, the conformance hook of every SDK
// language, and the built-in plugins.
func BenchmarkInstance(b *testing.B) {
	mods := append([]benchModule{
		{name: "tier-gate-wat", spec: spec("tier-gate", "../examples/hooks/wat/tier-gate.wasm", "", tenant.FailDeny)},
		{name: "tier-gate-go", spec: spec("tier-gate", "../examples/hooks/go/tier-gate.wasm", "", tenant.FailDeny)},
	}, benchModules()...)
	base := conformanceTransaction(b)
	for _, m := range mods {
		b.Run(m.name, func(b *testing.B) {
			const n = 8
			h := newHost(b, hooks.WithPoolSize(0, n+1), hooks.WithPlugins(plugins.Lookup))
			sp := m.spec
			sp.Memory = 16 << 20
			for b.Loop() {
				hk1, err := h.Load(context.Background(), sp) // one instance, compiled module cached
				if err != nil {
					b.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				hk, err := hooks.Grow(hk1, n)
				if err != nil {
					b.Fatal(err)
				}
				// every instance runs one request, as a pooled instance has
				release := make([]func(), 0, n+1)
				for range n + 1 {
					release = append(release, hooks.Hold(hk))
				}
				for _, r := range release {
					r()
				}
				for range n + 1 {
					tx := *base
					tx.Scopes = append([]string(nil), base.Scopes...)
					if _, err := hk.Invoke(context.Background(), tx.View()); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/instance")
				// Linear memory is mapped outside the Go heap: what an
				// instance costs there is the pages its guest touched.
				if touched := hooks.TouchedBytes(hk); len(touched) > 0 {
					var most int64
					for _, t := range touched {
						most = max(most, t)
					}
					b.ReportMetric(float64(most), "touched-B/instance")
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

// conformanceModule is the conformance hook of an SDK language.
func conformanceModule(lang string) string {
	return "../sdk/conformance/" + lang + "/conformance.wasm"
}

// conformanceTransaction is the first case of the conformance table (a
// silver client losing delete:users): what BenchmarkLanguageAdded runs.
func conformanceTransaction(b *testing.B) *engine.Transaction {
	base, _ := readConformanceTable(b)
	ev, err := hooks.ReadEvent(strings.NewReader(string(base)))
	if err != nil {
		b.Fatal(err)
	}
	return ev.Transaction()
}

// BenchmarkLanguageAdded runs a no-op stage and the conformance hook of
// every SDK language (Go, Rust, C, Zig, AssemblyScript, WAT) in turn
// within each iteration, on the first case of the conformance table
// (about 20 host calls, 4 ops, 6 log lines), and reports the time each
// adds over the no-op stage: the difference of their medians, which a
// preemption on a busy machine does not move as it moves a mean.
func BenchmarkLanguageAdded(b *testing.B) {
	h := newHost(b)
	base := conformanceTransaction(b)
	type stage struct {
		name string
		sp   *tenant.HookSpec
		hk   engine.Hook
		took []time.Duration
	}
	stages := []*stage{{name: "noop", sp: spec("noop", "", "", tenant.FailDeny), hk: noopHook{}}}
	for _, lang := range sdkLanguages {
		sp := spec("conformance", conformanceModule(lang), "", tenant.FailDeny)
		// a Go guest's garbage collection can take longer than the default
		sp.Memory, sp.Timeout = 16<<20, time.Second
		hk, err := h.Load(context.Background(), sp)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { hk.Close() })
		stages = append(stages, &stage{name: lang, sp: sp, hk: hk})
	}
	for b.Loop() {
		for _, st := range stages {
			tx := *base
			tx.Scopes = append([]string(nil), base.Scopes...)
			tx.Trace = make(engine.Trace, 0, 8)
			tx.Claims, tx.Logs = nil, nil
			start := time.Now()
			if err := engine.RunHook(context.Background(), st.sp, st.hk, &tx); err != nil {
				b.Fatal(err)
			}
			st.took = append(st.took, time.Since(start))
		}
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	noop := median(stages[0].took)
	for _, st := range stages[1:] {
		b.ReportMetric(float64((median(st.took) - noop).Nanoseconds()), "added-ns-"+st.name)
	}
}

// BenchmarkLanguageLoad measures, per SDK language's conformance hook and
// per built-in plugin, a cold compile (an empty compilation cache, with
// the first instance) and the making of one more pooled instance
// (instantiation, _initialize and scopeline_init).
func BenchmarkLanguageLoad(b *testing.B) {
	for _, m := range benchModules() {
		sp := m.spec
		sp.Memory = 16 << 20
		b.Run("compile/"+m.name, func(b *testing.B) {
			for b.Loop() {
				h, err := hooks.New(context.Background(), hooks.WithCacheDir(b.TempDir()), hooks.WithPoolSize(0, 1), hooks.WithPlugins(plugins.Lookup))
				if err != nil {
					b.Fatal(err)
				}
				hk, err := h.Load(context.Background(), sp)
				if err != nil {
					b.Fatal(err)
				}
				hk.Close()
				h.Close(context.Background())
			}
		})
		b.Run("instantiate/"+m.name, func(b *testing.B) {
			h := newHost(b, hooks.WithPoolSize(0, 1<<20), hooks.WithPlugins(plugins.Lookup))
			hk, err := h.Load(context.Background(), sp)
			if err != nil {
				b.Fatal(err)
			}
			defer hk.Close()
			for b.Loop() {
				if _, err := hooks.Grow(hk, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchModule is a hook to measure.
type benchModule struct {
	name string
	spec *tenant.HookSpec
}

// benchModules are the conformance hooks of the SDK languages and the
// built-in plugins (with a config each).
func benchModules() []benchModule {
	var mods []benchModule
	for _, lang := range sdkLanguages {
		mods = append(mods, benchModule{lang, spec("conformance", conformanceModule(lang), "", tenant.FailDeny)})
	}
	for _, p := range []struct{ name, config string }{
		{"deny-scopes", `{"scopes":["delete:*"]}`}, {"claims-from-metadata", `{"claims":{"tier":"client.tier"}}`},
		{"time-window", `{"zone":"Europe/Paris","windows":[{}]}`}, {"ip-allowlist", `{"cidrs":["10.0.0.0/8"]}`},
	} {
		sp := spec(p.name, "", p.config, tenant.FailDeny)
		sp.Plugin = p.name
		mods = append(mods, benchModule{"plugin-" + p.name, sp})
	}
	return mods
}

// BenchmarkMetricsCost calls the WAT tier-gate hook from a host without
// metrics and from one exporting them, in turn within each iteration, and
// reports the time the metrics add per call.
func BenchmarkMetricsCost(b *testing.B) {
	tx := transaction(b)
	var hks []*hooks.WasmHook
	for _, opts := range [][]hooks.Option{nil, {hooks.WithMetrics(metrics.NewSet())}} {
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
