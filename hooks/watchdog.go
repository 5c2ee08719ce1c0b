package hooks

import (
	"sync"
	"sync/atomic"
	"time"
)

// watchdog stops guests that run past their deadline. It is one goroutine
// per Host: a call publishes its deadline in its instance (an atomic store,
// no goroutine, timer or context per call); while calls are running the
// watchdog looks at every live instance once per tick and, for one past its
// deadline, claims the deadline (compare-and-swap to stopped) and raises
// the instance's stop flag, which the guest checks at every function entry
// and loop head (package wasmguard). The caller that finds its deadline
// claimed knows the instance was stopped and discards it.
//
// After 100 ticks without a running call the watchdog parks until one
// starts; under load it stays awake, so calls never have to wake it (a
// wake-up per call would cost a thread wake-up, microseconds).
type watchdog struct {
	tick  time.Duration
	epoch time.Time

	mu    sync.Mutex
	insts map[*instance]struct{}

	running atomic.Int64
	closing atomic.Bool
	parked  atomic.Bool
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

// deadlineStopped marks an instance the watchdog stopped.
const deadlineStopped = -1

// watchdogTick is how often the watchdog looks for calls past their
// deadline: a runaway hook is stopped within one tick of its deadline.
const watchdogTick = time.Millisecond

// parkAfter is how many idle ticks the watchdog waits before parking.
const parkAfter = 100

func newWatchdog(tick time.Duration) *watchdog {
	w := &watchdog{
		tick:  tick,
		epoch: time.Now(),
		insts: map[*instance]struct{}{},
		wake:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go w.loop()
	return w
}

// now is the watchdog's clock: monotonic nanoseconds since it started,
// always positive so that 0 can mean "idle".
func (w *watchdog) now() int64 { return int64(time.Since(w.epoch)) + 1 }

// deadline converts a wall-clock deadline to the watchdog's clock.
func (w *watchdog) deadline(t time.Time) int64 { return w.now() + int64(time.Until(t)) }

func (w *watchdog) add(in *instance) {
	w.mu.Lock()
	w.insts[in] = struct{}{}
	w.mu.Unlock()
}

func (w *watchdog) remove(in *instance) {
	w.mu.Lock()
	delete(w.insts, in)
	w.mu.Unlock()
}

// enter is called before a guest call starts: its deadline is already in
// the instance. It returns false once the watchdog is closing: the call
// must not start (and the instance, whose stop flag may be raised, must be
// discarded).
func (w *watchdog) enter() bool {
	if w.running.Add(1) == 1 && w.parked.Load() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	if w.closing.Load() {
		w.exit()
		return false
	}
	return true
}

// exit is called when a guest call has returned.
func (w *watchdog) exit() { w.running.Add(-1) }

// close stops the watchdog and every call still running, and waits (up to
// wait) until they have returned; calls that would start afterwards are
// refused (enter). The runtime can then close the modules: closing one
// while a call runs in it would leave the call without its memory
// allocator, and the guard's yields would really grow the memory.
func (w *watchdog) close(wait time.Duration) {
	w.closing.Store(true) // before the sweep: see enter
	close(w.quit)
	<-w.done
	w.mu.Lock()
	for in := range w.insts {
		if d := in.deadline.Load(); d > 0 {
			in.stopIfDue(d)
		}
	}
	w.mu.Unlock()
	// A stopped guest traps at its next check, microseconds away; a host
	// function it is in returns first.
	for end := time.Now().Add(wait); w.running.Load() > 0 && time.Now().Before(end); {
		time.Sleep(100 * time.Microsecond)
	}
}

func (w *watchdog) loop() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	var batch []*instance
	idle := 0
	for {
		select {
		case <-t.C:
		case <-w.quit:
			return
		}
		if w.running.Load() == 0 {
			if idle++; idle < parkAfter {
				continue
			}
			// Park. enter() sees parked after raising running from 0, so
			// either the check below sees its call or it sends a wake-up.
			w.parked.Store(true)
			t.Stop()
			if w.running.Load() == 0 {
				select {
				case <-w.wake:
				case <-w.quit:
					return
				}
			}
			w.parked.Store(false)
			t.Reset(w.tick)
		}
		idle = 0
		batch = batch[:0]
		w.mu.Lock()
		for in := range w.insts {
			batch = append(batch, in)
		}
		w.mu.Unlock()
		now := w.now()
		for _, in := range batch {
			if d := in.deadline.Load(); d > 0 && now >= d {
				in.stopIfDue(d)
			}
		}
		clear(batch)
	}
}
