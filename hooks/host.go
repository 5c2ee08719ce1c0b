package hooks

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Host runs WebAssembly hooks with wazero. It implements engine.HookLoader:
// each pipeline entry of a tenant becomes a *WasmHook with its own pool of
// instances. One Host serves every tenant snapshot of a process, so that
// compiled modules are shared across reloads.
type Host struct {
	log      *slog.Logger
	cacheDir string
	plugins  func(name string) ([]byte, bool)
	rand     io.Reader
	warm     int
	max      int
	// mapMemory reserves an instance's linear memory (mapMemory; tests
	// replace it to run with Go memory).
	mapMemory func(limit uint64) ([]byte, func(), bool)
	// yieldPages is wasmguard's Options.YieldPages (tests set 0 to leave
	// runaway guests to the watchdog).
	yieldPages uint32

	metrics *hookMetrics // nil: nothing is measured

	cache wazero.CompilationCache
	wd    *watchdog
	rt    *hostRuntime

	mu     sync.Mutex
	closed bool
}

// Option configures a Host.
type Option func(*Host)

// WithCacheDir keeps compiled modules in dir, so that a restart compiles
// nothing it compiled before. Without it, compilation is cached in memory.
func WithCacheDir(dir string) Option { return func(h *Host) { h.cacheDir = dir } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(h *Host) { h.log = l } }

// WithPlugins sets where `plugin: NAME` hooks come from: lookup returns
// the module of a plugin by name.
func WithPlugins(lookup func(name string) ([]byte, bool)) Option {
	return func(h *Host) { h.plugins = lookup }
}

// WithRand sets the randomness guests get from WASI random_get
// (default crypto/rand).
func WithRand(r io.Reader) Option { return func(h *Host) { h.rand = r } }

// WithMetrics makes each hook's metrics (runs by outcome, run and wait
// durations, pool size, busy instances, circuit breaker state; see
// docs/hooks.md) in set, labelled by trigger and hook name, for the
// caller to export; Host.Stats reads them. Without it nothing is
// measured.
func WithMetrics(set *metrics.Set) Option {
	return func(h *Host) {
		h.metrics = nil
		if set != nil {
			h.metrics = newHookMetrics(set)
		}
	}
}

// WithPoolSize sets how many instances of each hook are made at load
// (warm) and how many may exist at once (max). The defaults are
// GOMAXPROCS and twice that (at least 4). A request that finds every
// instance busy makes one while there are fewer than max, else waits for
// one (WasmHook.Invoke says how long).
func WithPoolSize(warm, max int) Option {
	return func(h *Host) { h.warm, h.max = warm, max }
}

// New makes a Host. Close it when done.
func New(ctx context.Context, opts ...Option) (*Host, error) {
	procs := runtime.GOMAXPROCS(0)
	h := &Host{
		log:  slog.New(slog.DiscardHandler),
		rand: rand.Reader,
		warm: procs,
		max:  max(2*procs, 4),

		mapMemory:  mapMemory,
		yieldPages: yieldPages,
	}
	for _, o := range opts {
		o(h)
	}
	if h.max < 1 || h.warm < 0 || h.warm > h.max {
		return nil, fmt.Errorf("hooks: pool size: want 0 <= warm (%d) <= max (%d), max >= 1", h.warm, h.max)
	}
	if h.cacheDir != "" {
		dir := filepath.Join(h.cacheDir, "wasm-cache")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("hooks: compilation cache: %w", err)
		}
		c, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("hooks: compilation cache: %w", err)
		}
		h.cache = c
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	rt, err := newRuntime(ctx, h.cache)
	if err != nil {
		h.cache.Close(ctx)
		return nil, err
	}
	h.rt = rt
	h.wd = newWatchdog(watchdogTick)
	return h, nil
}

// Close stops every call still running (they fault), waits for them to
// return, and closes the runtime. Close the hooks first (retiring the
// issuer's snapshots does that).
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.wd.close(time.Second)
	errs := []error{h.rt.r.Close(ctx)}
	errs = append(errs, h.cache.Close(ctx))
	return errors.Join(errs...)
}

// Stats returns what the host measured of the hooks it has loaded, one
// entry per trigger and hook name (the labels of their series), sorted;
// nil without WithMetrics.
func (h *Host) Stats() []engine.HookStats {
	if h.metrics == nil {
		return nil
	}
	return h.metrics.stats()
}

// LoadHook implements engine.HookLoader: it reads the hook's module (a
// file, or a plugin by name), checks it against the ABI, compiles it (or
// takes it from the cache), and makes its pre-warmed instances, which run
// scopeline_init on the hook's config.
func (h *Host) LoadHook(ctx context.Context, spec *tenant.HookSpec) (engine.Hook, error) {
	hk, err := h.Load(ctx, spec)
	if err != nil {
		return nil, err
	}
	return hk, nil
}

// Load is LoadHook returning the concrete type.
func (h *Host) Load(ctx context.Context, spec *tenant.HookSpec) (*WasmHook, error) {
	bin, err := h.moduleOf(spec)
	if err != nil {
		return nil, err
	}
	return h.load(ctx, spec, bin)
}

func (h *Host) moduleOf(spec *tenant.HookSpec) ([]byte, error) {
	if spec.Plugin != "" {
		if h.plugins == nil {
			return nil, fmt.Errorf("hooks: plugin %q: no plugins are available", spec.Plugin)
		}
		bin, ok := h.plugins(spec.Plugin)
		if !ok {
			return nil, fmt.Errorf("hooks: no plugin is called %q", spec.Plugin)
		}
		return bin, nil
	}
	fi, err := os.Stat(spec.Module)
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	if fi.Size() > MaxModuleSize {
		return nil, invalid("%s: %d bytes, more than %d MiB", spec.Module, fi.Size(), MaxModuleSize>>20)
	}
	bin, err := os.ReadFile(spec.Module)
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	return bin, nil
}

// hostRuntime is the wazero runtime of a Host, with the ABI's host module
// and WASI instantiated in it, and its compiled modules shared by content.
//
// Memory caps are per hook, not per runtime: each instance gets a memory
// allocator that refuses to grow past its hook's cap (and records that it
// did, so the fault is reported as "memory"). One runtime thus serves
// every cap, and a module used by hooks with different caps compiles once.
type hostRuntime struct {
	r wazero.Runtime

	mu       sync.Mutex
	compiled map[[32]byte]*compiledEntry
}

type compiledEntry struct {
	cm   wazero.CompiledModule
	refs int
	err  error
	done chan struct{}
}

func newRuntime(ctx context.Context, cache wazero.CompilationCache) (*hostRuntime, error) {
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithCoreFeatures(api.CoreFeaturesV2).
		WithCloseOnContextDone(false)
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("hooks: WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, r); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("hooks: host module: %w", err)
	}
	return &hostRuntime{r: r, compiled: map[[32]byte]*compiledEntry{}}, nil
}

// runtime returns the host's runtime unless the host is closed.
func (h *Host) runtime() (*hostRuntime, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("hooks: the host is closed")
	}
	return h.rt, nil
}

// compile compiles a prepared module once per runtime; concurrent loads of
// the same module wait for one compilation. Release with releaseCompiled.
func (rt *hostRuntime) compile(ctx context.Context, p *prepared) (wazero.CompiledModule, error) {
	rt.mu.Lock()
	e, ok := rt.compiled[p.key]
	if ok {
		e.refs++
		rt.mu.Unlock()
		<-e.done
		if e.err != nil {
			rt.releaseCompiled(ctx, p.key)
			return nil, e.err
		}
		return e.cm, nil
	}
	e = &compiledEntry{refs: 1, done: make(chan struct{})}
	rt.compiled[p.key] = e
	rt.mu.Unlock()

	e.cm, e.err = rt.r.CompileModule(ctx, p.bin)
	if e.err != nil {
		e.err = fmt.Errorf("%w: %v", ErrInvalidModule, e.err)
	} else if err := checkTypes(e.cm); err != nil {
		e.err = err
	}
	close(e.done)
	if e.err != nil {
		rt.releaseCompiled(ctx, p.key)
		return nil, e.err
	}
	return e.cm, nil
}

func (rt *hostRuntime) releaseCompiled(ctx context.Context, key [32]byte) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	e, ok := rt.compiled[key]
	if !ok {
		return
	}
	e.refs--
	if e.refs > 0 {
		return
	}
	delete(rt.compiled, key)
	if e.cm != nil {
		e.cm.Close(ctx)
	}
}

// pagesFor converts a memory cap in bytes to whole 64 KiB pages.
func pagesFor(bytes int64) uint32 {
	return uint32(max(bytes>>16, 1))
}
