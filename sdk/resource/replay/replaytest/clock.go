package replaytest

import (
	"sync"
	"time"
)

// Clock is a settable clock for tests of what expires: it stands still
// until advanced, so that nothing depends on how fast a test runs. Its
// Now is what a replay.Cache, a DPoP verifier or a client-assertion
// verifier takes as their clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
