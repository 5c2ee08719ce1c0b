package hooks

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks/internal/wasmguard"
)

// Hook is one loaded pipeline entry: a compiled module and a bounded pool
// of pre-warmed instances. It implements engine.Hook and io.Closer.
type Hook struct {
	host   *Host
	spec   *tenant.Hook
	rt     *hostRuntime
	key    [32]byte
	cm     wazero.CompiledModule
	report *Report
	// capBytes is the memory cap in bytes, a whole number of 64 KiB pages.
	capBytes uint64

	idle   chan *instance
	live   atomic.Int32
	closed atomic.Bool

	mu        sync.Mutex
	refilling bool
	wg        sync.WaitGroup

	// discarded counts instances thrown away after a fault (for tests and
	// metrics).
	discarded atomic.Int64
}

// initBudget is how long _initialize and scopeline_init may take, on top
// of the hook's timeout: they run once per instance, off the request path.
const initBudget = time.Second

func (h *Host) load(ctx context.Context, spec *tenant.Hook, bin []byte) (*Hook, error) {
	pages := pagesFor(spec.Memory)
	p, rt, cm, err := h.compileFor(ctx, bin, pages)
	if err != nil {
		return nil, err
	}
	hk := &Hook{
		host:     h,
		spec:     spec,
		rt:       rt,
		key:      p.key,
		cm:       cm,
		report:   p.report,
		capBytes: uint64(pages) << 16,
		idle:     make(chan *instance, h.max),
	}
	// Make the warm instances now: a module that cannot be instantiated or
	// rejects its config fails the load, not a request.
	for i := 0; i < max(h.warm, 1); i++ {
		hk.live.Add(1)
		in, err := hk.instantiate(ctx)
		if err != nil {
			hk.live.Add(-1)
			hk.Close()
			return nil, err
		}
		hk.idle <- in
	}
	return hk, nil
}

// Report describes the hook's module.
func (hk *Hook) Report() *Report { return hk.report }

// Discarded tells how many instances were thrown away after a fault.
func (hk *Hook) Discarded() int64 { return hk.discarded.Load() }

// Close closes the hook's instances and releases its compiled module. The
// issuer calls it when the last request using the tenant snapshot that
// loaded the hook is done.
func (hk *Hook) Close() error {
	if hk.closed.Swap(true) {
		return nil
	}
	hk.drain()
	hk.wg.Wait()
	hk.drain()
	hk.rt.releaseCompiled(context.Background(), hk.key)
	return nil
}

func (hk *Hook) drain() {
	for {
		select {
		case in := <-hk.idle:
			hk.destroy(in)
		default:
			return
		}
	}
}

// instance is one instantiated module.
type instance struct {
	hook *Hook
	mod  api.Module
	run  api.Function
	stop api.MutableGlobal
	// ctx carries the instance to the host functions.
	ctx context.Context
	// deadline is 0 while idle, the watchdog-clock deadline of the running
	// call, or deadlineStopped once the watchdog stopped it.
	deadline atomic.Int64
	stopMu   sync.Mutex
	call     *call
	stack    [1]uint64
	memory   *linearMemory
}

type instanceKey struct{}

func instanceOf(ctx context.Context) *instance { return ctx.Value(instanceKey{}).(*instance) }

// stopIfDue is called by the watchdog: it claims the deadline d and raises
// the stop flag, unless the call already finished.
func (in *instance) stopIfDue(d int64) {
	in.stopMu.Lock()
	if in.deadline.CompareAndSwap(d, deadlineStopped) {
		in.stop.Set(wasmguard.StopDeadline)
	}
	in.stopMu.Unlock()
}

func (hk *Hook) instantiate(ctx context.Context) (*instance, error) {
	in := &instance{hook: hk, memory: &linearMemory{limit: hk.capBytes}}
	alloc := experimental.MemoryAllocatorFunc(func(capacity, _ uint64) experimental.LinearMemory {
		in.memory.reserve(capacity, hk.host.mapMemory)
		return in.memory
	})
	in.ctx = context.WithValue(experimental.WithMemoryAllocator(context.Background(), alloc), instanceKey{}, in)
	out := &logWriter{in: in}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(out).
		WithStderr(out).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(hk.host.rand)
	mod, err := hk.rt.r.InstantiateModule(in.ctx, hk.cm, cfg)
	if err != nil {
		return nil, fmt.Errorf("hooks: instantiating: %w", err)
	}
	in.mod = mod
	in.run = mod.ExportedFunction(exportRun)
	g, ok := mod.ExportedGlobal(stopGlobal).(api.MutableGlobal)
	if in.run == nil || !ok {
		mod.Close(ctx)
		in.memory.unmap()
		return nil, errors.New("hooks: BUG: an instrumented module lacks its exports")
	}
	in.stop = g
	hk.host.wd.add(in)

	wd := hk.host.wd
	setup := &call{hook: hk}
	budget := initBudget + hk.spec.Timeout
	deadline := wd.now() + int64(budget)
	for _, name := range []string{exportInitialize, exportInit} {
		fn := mod.ExportedFunction(name)
		if fn == nil {
			continue
		}
		ret, fault := in.guarded(fn, setup, deadline, budget)
		if fault == nil && name == exportInit && ret != runOK {
			fault = &engine.HookFault{Kind: "init", Err: fmt.Errorf("scopeline_init returned %d", ret)}
		}
		if fault != nil {
			hk.closeInstance(in) // the caller counts live instances
			if logs := setup.res.Logs; len(logs) > 0 {
				return nil, fmt.Errorf("hooks: %s failed: %w; the hook logged: %s", name, fault, strings.Join(logs, " | "))
			}
			return nil, fmt.Errorf("hooks: %s failed: %w", name, fault)
		}
	}
	for _, l := range setup.res.Logs {
		hk.host.log.Debug("hook logged at start", "hook", hk.spec.Name, "message", l)
	}
	return in, nil
}

// guarded calls fn under the deadline d (watchdog clock) with the call
// state c. A fault means the instance must be discarded.
func (in *instance) guarded(fn api.Function, c *call, d int64, limit time.Duration) (uint32, *engine.HookFault) {
	wd := in.hook.host.wd
	in.call = c
	in.memory.refused = false // a refusal the guest lived through is not this call's
	in.deadline.Store(d)
	wd.enter()
	in.stack[0] = 0
	err := fn.CallWithStack(in.ctx, in.stack[:])
	wd.exit()
	stopped := !in.deadline.CompareAndSwap(d, 0)
	in.call = nil
	if stopped {
		ran := time.Duration(wd.now() - (d - int64(limit)))
		return 0, &engine.HookFault{Kind: "timeout", Err: fmt.Errorf("stopped at its deadline (%s; ran %s)", limit, ran.Round(time.Microsecond))}
	}
	if err != nil {
		return 0, in.classify(err, c)
	}
	return uint32(in.stack[0]), nil
}

// classify turns a failed call into a fault.
func (in *instance) classify(err error, c *call) *engine.HookFault {
	if c.violation != nil {
		return c.violation
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return &engine.HookFault{Kind: "exit", Err: fmt.Errorf("the guest exited with code %d", exit.ExitCode())}
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if in.stop.Get() == wasmguard.StopDepth {
		return &engine.HookFault{Kind: "stack", Err: fmt.Errorf("call depth over %d", wasmguard.DefaultMaxCallDepth)}
	}
	if in.memory.refused {
		return &engine.HookFault{Kind: "memory", Err: fmt.Errorf("%s, after growing past its memory cap of %d KiB was refused", msg, in.hook.capBytes>>10)}
	}
	return &engine.HookFault{Kind: "trap", Err: errors.New(msg)}
}

// Invoke runs the hook once for tx (engine.Hook). The hook sees tx as it
// is and stages ops; the engine applies them.
func (hk *Hook) Invoke(ctx context.Context, tx *engine.Transaction) (*engine.HookResult, error) {
	wd := hk.host.wd
	now := wd.now()
	d := now + int64(hk.spec.Timeout)
	if !tx.Deadline.IsZero() {
		d = min(d, wd.deadline(tx.Deadline))
	}
	if d <= now {
		return nil, &engine.HookFault{Kind: "timeout", Err: errors.New("no time left in the pipeline")}
	}
	if err := ctx.Err(); err != nil {
		return nil, &engine.HookFault{Kind: "canceled", Err: err}
	}
	in, err := hk.acquire(ctx, d)
	if err != nil {
		return nil, err
	}
	if wd.now() >= d {
		// Making the instance (or waiting for one) used up the time left:
		// calling the run now would have it stopped at once and a healthy
		// instance discarded.
		hk.release(in)
		return nil, &engine.HookFault{Kind: "timeout", Err: errors.New("the deadline passed before the run could start")}
	}
	c := &call{hook: hk, tx: tx, inRun: true}
	ret, fault := in.guarded(in.run, c, d, time.Duration(d-now))
	switch {
	case fault != nil:
	case ret == runOK:
		hk.release(in)
		return c.result(), nil
	case ret == runError:
		hk.release(in)
		return c.failed(), &engine.HookFault{Kind: "error", Err: errors.New("the hook reported an error (scopeline_run returned 1)")}
	default:
		fault = &engine.HookFault{Kind: "abi", Err: fmt.Errorf("scopeline_run returned %d, not a return code of ABI v1", int32(ret))}
	}
	hk.discard(in)
	return c.failed(), fault
}

// acquire takes an idle instance, makes one if the pool may grow, or waits
// for one until the deadline d.
func (hk *Hook) acquire(ctx context.Context, d int64) (*instance, error) {
	select {
	case in := <-hk.idle:
		return in, nil
	default:
	}
	if hk.closed.Load() {
		return nil, &engine.HookFault{Kind: "closed", Err: errors.New("the hook was unloaded")}
	}
	for {
		n := hk.live.Load()
		if int(n) >= hk.host.max {
			break
		}
		if hk.live.CompareAndSwap(n, n+1) {
			in, err := hk.instantiate(ctx)
			if err != nil {
				hk.live.Add(-1)
				return nil, &engine.HookFault{Kind: "instantiate", Err: err}
			}
			return in, nil
		}
	}
	t := time.NewTimer(time.Duration(d - hk.host.wd.now()))
	defer t.Stop()
	select {
	case in := <-hk.idle:
		return in, nil
	case <-t.C:
		return nil, &engine.HookFault{Kind: "timeout", Err: fmt.Errorf("all %d instances stayed busy until the deadline", hk.host.max)}
	case <-ctx.Done():
		return nil, &engine.HookFault{Kind: "canceled", Err: ctx.Err()}
	}
}

// release returns a healthy instance to the pool.
func (hk *Hook) release(in *instance) {
	hk.idle <- in // never blocks: at most max instances exist
	if hk.closed.Load() {
		hk.drain()
	}
}

// discard throws away an instance that faulted and makes a new one in the
// background, so the pool stays warm.
func (hk *Hook) discard(in *instance) {
	hk.discarded.Add(1)
	hk.destroy(in)
	hk.refill()
}

func (hk *Hook) destroy(in *instance) {
	hk.closeInstance(in)
	hk.live.Add(-1)
}

func (hk *Hook) closeInstance(in *instance) {
	hk.host.wd.remove(in)
	in.stopMu.Lock()
	in.mod.Close(context.Background())
	in.stopMu.Unlock()
	in.memory.unmap()
}

func (hk *Hook) refill() {
	hk.mu.Lock()
	if hk.refilling || hk.closed.Load() {
		hk.mu.Unlock()
		return
	}
	hk.refilling = true
	hk.wg.Add(1)
	hk.mu.Unlock()
	go func() {
		defer hk.wg.Done()
		defer func() {
			hk.mu.Lock()
			hk.refilling = false
			hk.mu.Unlock()
		}()
		for !hk.closed.Load() {
			n := hk.live.Load()
			if int(n) >= max(hk.host.warm, 1) {
				return
			}
			if !hk.live.CompareAndSwap(n, n+1) {
				continue
			}
			in, err := hk.instantiate(context.Background())
			if err != nil {
				hk.live.Add(-1)
				hk.host.log.Error("hooks: replacing a discarded instance failed", "hook", hk.spec.Name, "err", err)
				return
			}
			hk.release(in)
		}
	}()
}

var (
	_ engine.Hook       = (*Hook)(nil)
	_ engine.HookLoader = (*Host)(nil)
)

// linearMemory backs one instance's memory and enforces its hook's cap:
// growing past it fails (memory.grow returns -1) and is recorded, for the
// current call (guarded clears it before each).
type linearMemory struct {
	limit   uint64
	buf     []byte
	release func() // returns a reservation to the OS; nil for Go memory
	refused bool
}

// reserve sets aside the whole cap at once where the OS allows (see
// mapMemory), so that growing never copies: a copy during a call
// (several MiB for a Go guest) was measured at 30-65 ms here when the memory
// came fresh from the OS, enough to time a hook out. The reservation is
// address space only: pages cost memory once the guest touches them, and
// the Go heap does not count them. Elsewhere the memory is a Go slice of
// the guest's initial size that grows by doubling.
func (m *linearMemory) reserve(initial uint64, mapMemory func(uint64) ([]byte, func(), bool)) {
	if buf, release, ok := mapMemory(m.limit); ok {
		m.buf, m.release = buf[:0], sync.OnceFunc(release)
		// Should the runtime close the module without closeInstance (Host.Close
		// before the hooks), the mapping goes once nothing can reach it.
		runtime.AddCleanup(m, func(release func()) { release() }, m.release)
		return
	}
	m.buf = make([]byte, 0, min(initial, m.limit))
}

// Reallocate implements experimental.LinearMemory.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused = true
		return nil
	}
	if size > uint64(cap(m.buf)) { // Go memory only: a reservation has the cap
		grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.limit))
		copy(grown, m.buf)
		m.buf = grown
		return grown
	}
	m.buf = m.buf[:size]
	return m.buf
}

// Free implements experimental.LinearMemory. It keeps any mapping: the
// runtime may close a module while a call still runs in it (Host.Close during
// a request), and unmapping then would fault the process. closeInstance,
// which only ever sees an instance between calls, unmaps.
func (m *linearMemory) Free() { m.buf = nil }

// unmap returns a mapped reservation to the OS; the instance must not be
// running and must never run again.
func (m *linearMemory) unmap() {
	if m.release != nil {
		m.release()
	}
}

// Closed tells whether the hook was closed (its snapshot retired).
func (hk *Hook) Closed() bool { return hk.closed.Load() }
