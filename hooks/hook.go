package hooks

import (
	"context"
	"errors"
	"fmt"
	"math"
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

// WasmHook is one loaded pipeline entry: a compiled module and a bounded pool
// of pre-warmed instances. It implements engine.Hook and io.Closer.
type WasmHook struct {
	host   *Host
	spec   *tenant.HookSpec
	rt     *hostRuntime
	key    [32]byte
	cm     wazero.CompiledModule
	report *Report
	// capBytes is the memory cap in bytes, a whole number of 64 KiB pages.
	capBytes uint64

	idle chan *instance
	// freed is signalled when an instance is destroyed, for a request
	// waiting for one: the pool may grow again.
	freed   chan struct{}
	live    atomic.Int32
	waiting atomic.Int32 // requests waiting for an instance
	closed  atomic.Bool

	breaker *breaker
	// series are the hook's metrics; nil when the host measures nothing.
	series *hookSeries

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

func (h *Host) load(ctx context.Context, spec *tenant.HookSpec, bin []byte) (*WasmHook, error) {
	pages := pagesFor(spec.Memory)
	p, rt, cm, err := h.compileFor(ctx, bin, pages)
	if err != nil {
		return nil, err
	}
	hk := &WasmHook{
		host:     h,
		spec:     spec,
		rt:       rt,
		key:      p.key,
		cm:       cm,
		report:   p.report,
		capBytes: uint64(pages) << 16,
		idle:     make(chan *instance, h.max),
		freed:    make(chan struct{}, 1),
		breaker:  newBreaker(spec.Breaker),
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
	if h.metrics != nil {
		hk.series = h.metrics.acquire(spec, hk)
	}
	return hk, nil
}

// Report describes the hook's module.
func (hk *WasmHook) Report() *Report { return hk.report }

// Discarded tells how many instances were thrown away after a fault.
func (hk *WasmHook) Discarded() int64 { return hk.discarded.Load() }

// Close closes the hook's instances and releases its compiled module. The
// issuer calls it when the last request using the tenant snapshot that
// loaded the hook is done.
func (hk *WasmHook) Close() error {
	if hk.closed.Swap(true) {
		return nil
	}
	hk.drain()
	hk.wg.Wait()
	hk.drain()
	hk.rt.releaseCompiled(context.Background(), hk.key)
	if hk.series != nil {
		hk.host.metrics.release(hk.series, hk)
	}
	return nil
}

func (hk *WasmHook) drain() {
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
	hook *WasmHook
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
	// slice is when the running call last started or gave way to other
	// goroutines (watchdog clock).
	slice int64
}

type instanceKey struct{}

func instanceOf(ctx context.Context) *instance { return ctx.Value(instanceKey{}).(*instance) }

// yieldSlice is how long a guest runs before it gives way to the other
// goroutines waiting for a CPU (runtime.Gosched at a yield). Go preempts a
// goroutine after 10 ms; a guest is preemptible only at its yields, and
// giving way sooner keeps a few runaway guests from making every other
// request — and the guests' own stop — wait behind their 10 ms turns.
const yieldSlice = time.Millisecond

// yield runs in the guest's goroutine at each of the guard's yields (every
// 4096 checks; wasmguard.Options.YieldPages): it stops the call once its
// deadline has passed, so a runaway guest is stopped within microseconds
// of its deadline whenever it has a CPU, however busy the watchdog's
// goroutine would be; and after yieldSlice it lets other goroutines run.
func (in *instance) yield() {

	d := in.deadline.Load()
	if d <= 0 {
		return
	}
	now := in.hook.host.wd.now()
	if now >= d {
		in.stopIfDue(d)
		return
	}
	// Give way, unless the deadline is closer than a turn: the run is
	// better stopped here than after waiting for its next turn.
	if now-in.slice >= int64(yieldSlice) && d-now > int64(yieldSlice) {
		runtime.Gosched()
		in.slice = in.hook.host.wd.now()
	}
}

// stopIfDue is called by the watchdog and at yields: it claims the
// deadline d and raises the stop flag, unless the call already finished.
func (in *instance) stopIfDue(d int64) {
	in.stopMu.Lock()
	if in.deadline.CompareAndSwap(d, deadlineStopped) {
		in.stop.Set(wasmguard.StopDeadline)
	}
	in.stopMu.Unlock()
}

func (hk *WasmHook) instantiate(ctx context.Context) (*instance, error) {
	in := &instance{hook: hk, memory: &linearMemory{limit: hk.capBytes}}
	in.memory.in = in
	alloc := experimental.MemoryAllocatorFunc(func(capacity, _ uint64) experimental.LinearMemory {
		in.memory.reserve(capacity, hk.host.mapMemory)
		return in.memory
	})
	in.ctx = context.WithValue(experimental.WithMemoryAllocator(context.Background(), alloc), instanceKey{}, in)
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&logWriter{in: in, stream: streamStdout}).
		WithStderr(&logWriter{in: in, stream: streamStderr}).
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
	for _, name := range []string{exportInitialize, exportInit} {
		fn := mod.ExportedFunction(name)
		if fn == nil {
			continue
		}
		start := wd.now()
		ret, fault := in.guarded(fn, setup, start+int64(initBudget+hk.spec.Timeout), start)
		if fault == nil && name == exportInit && ret != runOK {
			fault = &engine.HookFault{Kind: "init", Err: fmt.Errorf("scopeline_init returned %d", ret)}
		}
		if fault != nil {
			hk.closeInstance(in) // the caller counts live instances
			if logs := setup.res.Logs; len(logs) > 0 {
				// The hook may have read its secrets: what it logged goes
				// into a reload's error and its audit event redacted.
				logged := tenant.NewRedactor(hk.spec.SecretValues()...).Redact(strings.Join(logs, " | "))
				return nil, fmt.Errorf("hooks: %s failed: %w; the hook logged: %s", name, fault, logged)
			}
			return nil, fmt.Errorf("hooks: %s failed: %w", name, fault)
		}
	}
	if logs := setup.res.Logs; len(logs) > 0 {
		redact := tenant.NewRedactor(hk.spec.SecretValues()...)
		for _, l := range logs {
			hk.host.log.Debug("hook logged at start", "hook", hk.spec.Name, "message", redact.Redact(l))
		}
	}
	return in, nil
}

// guarded calls fn, started at start, under the deadline d (watchdog
// clock) with the call state c. A fault means the instance must be
// discarded.
func (in *instance) guarded(fn api.Function, c *call, d, start int64) (uint32, *engine.HookFault) {
	wd := in.hook.host.wd
	in.call = c
	in.memory.refused = false // a refusal the guest lived through is not this call's
	in.slice = start
	in.deadline.Store(d)
	if !wd.enter() {
		in.call = nil
		return 0, &engine.HookFault{Kind: "closed", Err: errors.New("the host was closed")}
	}
	in.stack[0] = 0
	err := fn.CallWithStack(in.ctx, in.stack[:])
	wd.exit()
	stopped := !in.deadline.CompareAndSwap(d, 0)
	in.call = nil
	if stopped {
		limit, ran := time.Duration(d-start), time.Duration(wd.now()-start)
		return 0, &engine.HookFault{Kind: kindTimeout, Err: fmt.Errorf("stopped at its deadline (%s; ran %s)", limit.Round(time.Microsecond), ran.Round(time.Microsecond))}
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

// Invoke runs the hook once for the transaction v views (engine.Hook). The
// hook reads it and stages ops; the engine applies them.
//
// Two budgets bound it (docs/hooks.md, "Deadlines"). A run has the hook's
// timeout from the moment it starts, within what is left of the pipeline
// (v.Deadline()). A request that finds every instance busy, and the pool at
// its maximum, waits for one only while the pipeline still leaves the run
// its whole timeout (or, without a pipeline deadline, for one timeout):
// waiting never eats the run's own time, and a request that cannot wait
// longer fails at once with a fault of kind busy.
func (hk *WasmHook) Invoke(ctx context.Context, v engine.View) (*engine.HookResult, error) {
	wd := hk.host.wd
	now := wd.now()
	timeout := int64(hk.spec.Timeout)
	pipeline := int64(math.MaxInt64)
	waitUntil := now + timeout
	if d := v.Deadline(); !d.IsZero() {
		pipeline = wd.deadline(d)
		waitUntil = pipeline - timeout
	}
	if pipeline <= now {
		return nil, hk.refuse(kindTimeout, errNoTimeLeft)
	}
	if err := ctx.Err(); err != nil {
		return nil, hk.refuse(kindCanceled, err)
	}
	ok, probe := hk.breaker.admit(now)
	if !ok {
		return nil, hk.refuse(kindCircuitOpen, hk.openError())
	}
	in, err := hk.acquire(ctx, now, waitUntil)
	if err != nil {
		hk.ended(probe, false, false)
		return nil, hk.count(err)
	}
	start := wd.now()
	d := min(start+timeout, pipeline)
	if d <= start {
		// Making the instance used up what the pipeline had left: calling
		// the run now would have it stopped at once, and a healthy
		// instance discarded.
		hk.release(in)
		hk.ended(probe, false, false)
		return nil, hk.refuse(kindTimeout, errNoTimeLeft)
	}
	c := &call{hook: hk, tx: v, inRun: true}
	ret, fault := in.guarded(in.run, c, d, start)
	end := wd.now()
	if s := hk.series; s != nil {
		s.ran(float64(end-start) / 1e9)
	}
	switch {
	case fault != nil:
	case ret == runOK:
		hk.release(in)
		hk.ended(probe, true, false)
		if s := hk.series; s != nil {
			s.outcomes[0].Inc()
		}
		return c.result(), nil
	case ret == runError:
		hk.release(in)
		hk.ended(probe, true, false)
		return c.failed(), hk.count(&engine.HookFault{Kind: "error", Err: errors.New("the hook reported an error (scopeline_run returned 1)")})
	default:
		fault = &engine.HookFault{Kind: "abi", Err: fmt.Errorf("scopeline_run returned %d, not a return code of ABI v1", int32(ret))}
	}
	hk.discard(in)
	hk.ended(probe, true, fault.Kind == kindTimeout)
	return c.failed(), hk.count(fault)
}

// Fault kinds the pool and the breaker report, besides the guest's own.
const (
	kindTimeout     = "timeout"
	kindCanceled    = "canceled"
	kindBusy        = "busy"
	kindCircuitOpen = "circuit-open"
)

var errNoTimeLeft = errors.New("no time left in the pipeline")

// refuse counts and returns a fault for a request that did not run.
func (hk *WasmHook) refuse(kind string, err error) error {
	return hk.count(&engine.HookFault{Kind: kind, Err: err})
}

// count counts a fault (an *engine.HookFault) by its kind.
func (hk *WasmHook) count(err error) error {
	if s := hk.series; s != nil {
		kind := "other"
		if f, ok := err.(*engine.HookFault); ok {
			kind = f.Kind
		}
		s.outcomes[outcomeOf(kind)].Inc()
	}
	return err
}

// ended tells the breaker how an admitted request ended, and logs and
// counts what that changed.
func (hk *WasmHook) ended(probe, ran, timedOut bool) {
	change := hk.breaker.done(probe, ran, timedOut, hk.host.wd.now())
	if change == breakerSame {
		return
	}
	log := hk.host.log.With("hook", hk.spec.Name, "trigger", string(hk.spec.Trigger))
	switch change {
	case breakerOpened:
		log.Warn("hooks: circuit breaker opened: the hook's failure policy applies without running it",
			"timeouts_in_a_row", hk.breaker.timeouts.Load(), "cooldown", hk.spec.Breaker.Cooldown, "failure", string(hk.spec.Failure))
	case breakerReopened:
		log.Warn("hooks: circuit breaker probe timed out: the breaker stays open", "cooldown", hk.spec.Breaker.Cooldown)
	case breakerClosed:
		log.Info("hooks: circuit breaker closed: the probe run returned in time")
		return
	}
	if s := hk.series; s != nil {
		s.opened.Inc()
	}
}

func (hk *WasmHook) openError() error {
	return fmt.Errorf("not run: its circuit breaker is open after %d runs in a row stopped at their deadline; a probe run is let through every %s",
		hk.spec.Breaker.After, hk.spec.Breaker.Cooldown)
}

// acquire takes an idle instance, makes one if the pool may grow, or waits
// until the watchdog-clock time until for an instance to come back or for
// room to make one (an instance discarded after a fault frees a place).
func (hk *WasmHook) acquire(ctx context.Context, now, until int64) (*instance, error) {
	select {
	case in := <-hk.idle:
		return in, nil
	default:
	}
	var t *time.Timer
	for {
		if hk.closed.Load() {
			return nil, &engine.HookFault{Kind: "closed", Err: errors.New("the hook was unloaded")}
		}
		if in, err, grown := hk.grow(ctx); grown {
			return in, err
		}
		if t == nil {
			left := until - now
			if left <= 0 {
				return nil, hk.busy(0)
			}
			t = time.NewTimer(time.Duration(left))
			defer t.Stop()
			hk.waiting.Add(1)
			defer hk.waiting.Add(-1)
		}
		select {
		case in := <-hk.idle:
			hk.waited(now)
			return in, nil
		case <-hk.freed:
		case <-t.C:
			hk.waited(now)
			return nil, hk.busy(time.Duration(until - now))
		case <-ctx.Done():
			hk.waited(now)
			return nil, &engine.HookFault{Kind: kindCanceled, Err: ctx.Err()}
		}
	}
}

func (hk *WasmHook) busy(waited time.Duration) error {
	if waited == 0 {
		return &engine.HookFault{Kind: kindBusy, Err: fmt.Errorf("all %d instances are busy, and the pipeline's deadline leaves no time to wait for one", hk.host.max)}
	}
	return &engine.HookFault{Kind: kindBusy, Err: fmt.Errorf("all %d instances stayed busy for %s, as long as the pipeline's deadline let the request wait", hk.host.max, waited.Round(time.Microsecond))}
}

func (hk *WasmHook) waited(since int64) {
	if s := hk.series; s != nil {
		s.waited(float64(hk.host.wd.now()-since) / 1e9)
	}
}

// grow makes an instance if the pool is below its maximum; grown is false
// when it is not.
func (hk *WasmHook) grow(ctx context.Context) (in *instance, err error, grown bool) {
	for {
		n := hk.live.Load()
		if int(n) >= hk.host.max {
			return nil, nil, false
		}
		if hk.live.CompareAndSwap(n, n+1) {
			break
		}
	}
	in, err = hk.instantiate(ctx)
	if err != nil {
		hk.live.Add(-1)
		hk.signalFreed()
		return nil, &engine.HookFault{Kind: "instantiate", Err: err}, true
	}
	return in, nil, true
}

// release returns a healthy instance to the pool.
func (hk *WasmHook) release(in *instance) {
	hk.idle <- in // never blocks: at most max instances exist
	if hk.closed.Load() {
		hk.drain()
	}
}

// discard throws away an instance that faulted and makes a new one in the
// background, so the pool stays warm.
func (hk *WasmHook) discard(in *instance) {
	hk.discarded.Add(1)
	hk.destroy(in)
	hk.refill()
}

func (hk *WasmHook) destroy(in *instance) {
	hk.closeInstance(in)
	hk.live.Add(-1)
	hk.signalFreed()
}

// signalFreed tells a request waiting for an instance that the pool has
// room to grow.
func (hk *WasmHook) signalFreed() {
	select {
	case hk.freed <- struct{}{}:
	default:
	}
}

func (hk *WasmHook) closeInstance(in *instance) {
	hk.host.wd.remove(in)
	in.stopMu.Lock()
	in.mod.Close(context.Background())
	in.stopMu.Unlock()
	in.memory.unmap()
}

func (hk *WasmHook) refill() {
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
	_ engine.Hook       = (*WasmHook)(nil)
	_ engine.HookLoader = (*Host)(nil)
)

// linearMemory backs one instance's memory and enforces its hook's cap:
// growing past it fails (memory.grow returns -1) and is recorded, for the
// current call (guarded clears it before each).
type linearMemory struct {
	in      *instance
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

// yieldPages is what the guard's yields ask to grow the memory to
// (wasmguard.Options.YieldPages): all of the 32-bit address space, more
// than any cap, so Reallocate sees it and refuses it.
const yieldPages = 1 << 16

// Reallocate implements experimental.LinearMemory.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size == yieldPages<<16 {
		m.in.yield()
		return nil
	}
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

// Free implements experimental.LinearMemory. It keeps any mapping: should
// the runtime close a module while a call still runs in it (Host.Close
// stops the calls and waits for them, but only so long), unmapping would
// fault the process. closeInstance, which only ever sees an instance
// between calls, unmaps.
func (m *linearMemory) Free() { m.buf = nil }

// unmap returns a mapped reservation to the OS; the instance must not be
// running and must never run again.
func (m *linearMemory) unmap() {
	if m.release != nil {
		m.release()
	}
}

// Closed tells whether the hook was closed (its snapshot retired).
func (hk *WasmHook) Closed() bool { return hk.closed.Load() }
