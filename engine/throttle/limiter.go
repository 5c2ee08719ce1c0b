package throttle

import (
	"sync"
	"time"
)

// Limiter allows each key Burst attempts in a row and gives one back every
// Refill. It holds at most Max keys: a key whose bucket is full again is the
// same as an absent one and is dropped first; past that, the least recently
// charged key of a sample is dropped, so a flood of new keys can shorten
// the memory of old ones but never grow the table.
type Limiter struct {
	mu     sync.Mutex
	burst  float64
	refill time.Duration
	max    int
	keys   map[string]*bucket
	// nextFull is no later than the moment any bucket is full again: until
	// then a sweep for full buckets would find none, so none is made. It
	// keeps a full table from costing a scan of every key per new key.
	nextFull time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
	// rev is the revision of a shared store's copy that Set last applied.
	rev uint64
}

// NewLimiter returns a Limiter of burst attempts, one more every refill,
// for at most max keys.
func NewLimiter(burst int, refill time.Duration, max int) *Limiter {
	return &Limiter{burst: float64(burst), refill: refill, max: max, keys: map[string]*bucket{}}
}

// level returns the tokens of b at now.
func (l *Limiter) level(b *bucket, now time.Time) float64 {
	if b == nil {
		return l.burst
	}
	return min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
}

// wait is how long until one token is there, given the level.
func (l *Limiter) wait(level float64) time.Duration {
	if level >= 1 {
		return 0
	}
	return time.Duration((1-level)*float64(l.refill)).Round(time.Second) + time.Second
}

// Delay returns how long key must wait before its next attempt; 0 means
// it may go now. It does not use an attempt up.
func (l *Limiter) Delay(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wait(l.level(l.keys[key], now))
}

// Fail uses one attempt of key up (a failed sign-in, say).
func (l *Limiter) Fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.charge(key, now)
}

// Take uses one attempt of key up if it has one, and otherwise returns how
// long to wait (and uses nothing).
func (l *Limiter) Take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.wait(l.level(l.keys[key], now)); w > 0 {
		return w
	}
	l.charge(key, now)
	return 0
}

func (l *Limiter) charge(key string, now time.Time) {
	b := l.keys[key]
	if b == nil {
		l.makeRoom(now)
		b = &bucket{}
		l.keys[key] = b
	}
	b.tokens, b.at = max(0, l.level(b, now)-1), now
	if f := l.fullAt(b); l.nextFull.IsZero() || f.Before(l.nextFull) {
		l.nextFull = f
	}
}

// fullAt is when b's bucket is full again if it is not charged meanwhile.
func (l *Limiter) fullAt(b *bucket) time.Time {
	return b.at.Add(time.Duration((l.burst - b.tokens) * float64(l.refill)))
}

// makeRoom frees a slot when the table is full.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.keys) < l.max {
		return
	}
	if !now.Before(l.nextFull) {
		l.nextFull = time.Time{}
		for k, b := range l.keys {
			if l.level(b, now) >= l.burst {
				delete(l.keys, k)
			} else if f := l.fullAt(b); l.nextFull.IsZero() || f.Before(l.nextFull) {
				l.nextFull = f
			}
		}
	}
	if len(l.keys) < l.max {
		return
	}
	var oldest string
	var at time.Time
	n := 0
	for k, b := range l.keys { // map order is random: a random sample
		if n == 0 || b.at.Before(at) {
			oldest, at = k, b.at
		}
		if n++; n == 32 {
			break
		}
	}
	delete(l.keys, oldest)
}

// Level returns key's attempts left at now (Burst for a key it does not
// hold) and when it was last charged (zero for none).
func (l *Limiter) Level(key string, now time.Time) (float64, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b == nil {
		return l.burst, time.Time{}
	}
	return l.level(b, now), b.at
}

// Set makes key's bucket hold tokens as of at, as revision rev of a
// store shared with other processes says, unless the limiter already
// applied that revision or a later one: a mirror of the shared store is
// a Limiter whose buckets are Set from its updates.
func (l *Limiter) Set(key string, tokens float64, at time.Time, rev uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b != nil && b.rev >= rev {
		return
	}
	if b == nil {
		l.makeRoom(now)
		b = &bucket{}
		l.keys[key] = b
	}
	b.tokens, b.at, b.rev = min(max(tokens, 0), l.burst), at, rev
	if f := l.fullAt(b); l.nextFull.IsZero() || f.Before(l.nextFull) {
		l.nextFull = f
	}
}

// Len returns how many keys the limiter holds.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
