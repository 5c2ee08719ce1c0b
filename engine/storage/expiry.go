package storage

import (
	"sync"
	"time"
)

// ExpiryBound is a lower bound on the earliest expiry among a backend's
// records of one kind: until it passes, a sweep for expired records would
// find none, so a full store need not scan them all on every refused write.
// The zero value knows nothing (a sweep is due). It is safe for concurrent
// use.
type ExpiryBound struct {
	mu sync.Mutex
	at time.Time
}

// Saw lowers the bound to t, the expiry of a record written.
func (b *ExpiryBound) Saw(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.at.IsZero() || t.Before(b.at) {
		b.at = t
	}
}

// Due reports whether a sweep at now could find an expired record.
func (b *ExpiryBound) Due(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !now.Before(b.at)
}

// Reset forgets the bound, before a sweep reports the records it keeps
// with Saw.
func (b *ExpiryBound) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.at = time.Time{}
}
