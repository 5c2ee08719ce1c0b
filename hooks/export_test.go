package hooks

import "context"

// Grow makes n more instances of hk, for measuring their memory.
func Grow(hk *WasmHook, n int) (*WasmHook, error) {
	for range n {
		hk.live.Add(1)
		in, err := hk.instantiate(context.Background())
		if err != nil {
			return nil, err
		}
		hk.idle <- in
	}
	return hk, nil
}

// Hold takes an idle instance of hk out of its pool, as a request in
// progress would, and returns the function that gives it back.
func Hold(hk *WasmHook) (release func()) {
	in := <-hk.idle
	return func() { hk.release(in) }
}

// Held is an instance taken out of its pool by Take.
type Held = *instance

// Take takes an idle instance of hk out of its pool.
func Take(hk *WasmHook) Held { return <-hk.idle }

// Destroy throws away an instance taken with Take, as a fault would.
func Destroy(hk *WasmHook, in Held) { hk.destroy(in) }

// Live tells how many instances of hk exist, idle or busy.
func Live(hk *WasmHook) int { return int(hk.live.Load()) }

// Running tells how many guest calls the host runs.
func Running(h *Host) int64 { return h.wd.running.Load() }

// Parked tells whether the host's watchdog is parked.
func Parked(h *Host) bool { return h.wd.parked.Load() }

// WithWatchdogOnly leaves runaway guests to the watchdog: the guard's
// yields do not check deadlines (wasmguard.Options.YieldPages 0).
func WithWatchdogOnly() Option { return func(h *Host) { h.yieldPages = 0 } }

// Idle tells how many instances of hk are idle in its pool.
func Idle(hk *WasmHook) int { return len(hk.idle) }

// WithGoMemory makes the host keep linear memory in Go slices that grow by
// copying, as on systems without mmap.
func WithGoMemory() Option {
	return func(h *Host) { h.mapMemory = func(uint64) ([]byte, func(), bool) { return nil, nil, false } }
}

// Give returns an instance taken with Take to its pool.
func Give(hk *WasmHook, in Held) { hk.release(in) }

// Waiting tells how many requests wait for an instance of hk.
func Waiting(hk *WasmHook) int { return int(hk.waiting.Load()) }
