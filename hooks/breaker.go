package hooks

import (
	"sync/atomic"

	"github.com/scopeline/scopeline/engine/tenant"
)

// breaker is a hook's circuit breaker (tenant.Breaker): closed, it counts
// runs stopped at their deadline in a row; at the threshold it opens, and
// requests get the failure policy without a run until the cool-down ends;
// then one request runs as a probe (half-open) while the others still get
// the failure policy, and the probe's outcome closes or reopens it.
//
// A closed breaker costs one atomic load per request, and one more per
// run that ends.
type breaker struct {
	after    int32
	cooldown int64 // nanoseconds

	// timeouts counts runs stopped at their deadline in a row.
	timeouts atomic.Int32
	// openUntil is 0 while closed, else the watchdog-clock time from which
	// a probe may run.
	openUntil atomic.Int64
	probing   atomic.Bool
}

func newBreaker(b tenant.Breaker) *breaker {
	return &breaker{after: int32(b.After), cooldown: int64(b.Cooldown)}
}

// admit tells whether a request at now may run the hook, and whether its
// run is the probe of a half-open breaker.
func (b *breaker) admit(now int64) (ok, probe bool) {
	u := b.openUntil.Load()
	if u == 0 {
		return true, false
	}
	if now < u || !b.probing.CompareAndSwap(false, true) {
		return false, false
	}
	return true, true
}

// breakerChange is what a run's end did to the breaker.
type breakerChange uint8

const (
	breakerSame breakerChange = iota
	breakerOpened
	breakerReopened
	breakerClosed
)

// done records the end of an admitted request at now: ran tells whether
// the guest ran at all (a request that found no instance says nothing of
// the hook), timedOut whether its run was stopped at its deadline.
func (b *breaker) done(probe, ran, timedOut bool, now int64) breakerChange {
	switch {
	case !ran:
		if probe {
			b.probing.Store(false) // the next request probes
		}
		return breakerSame
	case !timedOut:
		if b.timeouts.Load() != 0 {
			b.timeouts.Store(0)
		}
		if probe {
			b.openUntil.Store(0)
			b.probing.Store(false)
			return breakerClosed
		}
		return breakerSame
	}
	n := b.timeouts.Add(1)
	if probe {
		b.openUntil.Store(now + b.cooldown)
		b.probing.Store(false)
		return breakerReopened
	}
	if b.after > 0 && n >= b.after && b.openUntil.CompareAndSwap(0, now+b.cooldown) {
		return breakerOpened
	}
	return breakerSame
}

// open tells whether the breaker is open or half-open.
func (b *breaker) open() bool { return b.openUntil.Load() != 0 }
