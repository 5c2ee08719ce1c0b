// Package replay remembers single-use identifiers — the jti of a client
// assertion (RFC 7523 §3), of a DPoP proof (RFC 9449 §11.1) — until they
// expire, so that a replayed one is refused.
//
// Cache is the interface its users need: one atomic create-if-absent with
// an expiry. Memory implements it in process, bounded; a cache shared by
// every replica (a JetStream key-value bucket whose Create refuses an
// existing key, with a per-key TTL) implements the same method. Every
// implementation passes the suite in package replaytest.
package replay

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// Cache remembers single-use identifiers until they expire.
type Cache interface {
	// Claim records key as used until expires and reports whether it was
	// unused: false with a nil error is a replay. Of concurrent claims of
	// one key, across everyone sharing the cache, exactly one gets true.
	// An error means the answer is unknown; callers refuse the request
	// (fail closed). A key whose expiry has passed may be claimed again.
	Claim(ctx context.Context, key string, expires time.Time) (bool, error)
}

// ErrFull means the cache holds as many unexpired keys as it may: the
// claim is refused rather than forgetting a key that could be replayed.
var ErrFull = errors.New("replay: the cache is full")

// DefaultMemorySize is the bound NewMemory uses for a size of 0: about
// 10 MiB of entries.
const DefaultMemorySize = 100_000

// Memory is an in-process Cache holding at most a fixed number of
// unexpired keys. Keys are kept as SHA-256 digests, so every entry costs
// the same whatever the key's length. It is safe for concurrent use.
type Memory struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	expires map[[sha256.Size]byte]int64 // key digest → expiry (Unix ns)
	order   byExpiry                    // the same entries, soonest first
}

// NewMemory returns an empty cache of at most size keys (0 means
// DefaultMemorySize), on the clock now (nil means time.Now).
func NewMemory(size int, now func() time.Time) *Memory {
	if size <= 0 {
		size = DefaultMemorySize
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, max: size, expires: map[[sha256.Size]byte]int64{}}
}

// Claim implements Cache.
func (m *Memory) Claim(_ context.Context, key string, expires time.Time) (bool, error) {
	d := sha256.Sum256([]byte(key))
	exp := expires.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	if e, ok := m.expires[d]; ok && e > now {
		return false, nil
	}
	if exp <= now {
		return true, nil // it cannot be presented again in time
	}
	m.sweep(now)
	if len(m.expires) >= m.max {
		return false, ErrFull
	}
	if _, ok := m.expires[d]; ok { // expired, but not yet swept
		delete(m.expires, d)
		m.order.remove(d)
	}
	m.expires[d] = exp
	heap.Push(&m.order, entry{d, exp})
	return true, nil
}

// Len returns how many keys the cache holds, expired ones not yet
// dropped included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.expires)
}

// sweep drops the keys expired at now.
func (m *Memory) sweep(now int64) {
	for len(m.order) > 0 && m.order[0].exp <= now {
		e := heap.Pop(&m.order).(entry)
		delete(m.expires, e.key)
	}
}

type entry struct {
	key [sha256.Size]byte
	exp int64
}

// byExpiry is a min-heap of entries by expiry.
type byExpiry []entry

func (h byExpiry) Len() int           { return len(h) }
func (h byExpiry) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h byExpiry) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *byExpiry) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *byExpiry) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// remove drops the entry of key (rare: a key claimed again after it
// expired but before it was swept).
func (h *byExpiry) remove(key [sha256.Size]byte) {
	for i := range *h {
		if (*h)[i].key == key {
			heap.Remove(h, i)
			return
		}
	}
}

var _ Cache = (*Memory)(nil)
