// Package replaytest is the conformance suite every replay.Cache
// implementation passes.
package replaytest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopeline/scopeline/sdk/resource/replay"
)

// Harness makes the cache under test.
type Harness struct {
	// New returns an empty cache.
	New func(t *testing.T) replay.Cache
	// Now is the cache's clock.
	Now func() time.Time
	// Advance moves the cache's clock forward; nil means the cache runs
	// on real time, and the suite waits (polling) for keys to expire.
	Advance func(time.Duration)
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	t.Run("ClaimOnce", func(t *testing.T) {
		c := h.New(t)
		exp := h.Now().Add(time.Minute)
		claim(t, c, "a", exp, true)
		claim(t, c, "a", exp, false)
		claim(t, c, "b", exp, true)
		claim(t, c, "a\x00", exp, true) // no key is a prefix of another
		claim(t, c, "", exp, true)
		claim(t, c, "", exp, false)
	})
	t.Run("ExpiredKeyIsFree", func(t *testing.T) {
		c := h.New(t)
		claim(t, c, "k", h.Now().Add(time.Second), true)
		claim(t, c, "k", h.Now().Add(time.Second), false)
		if h.Advance != nil {
			h.Advance(2 * time.Second)
			claim(t, c, "k", h.Now().Add(time.Minute), true)
		} else {
			deadline := time.Now().Add(30 * time.Second)
			for {
				ok, err := c.Claim(ctx, "k", h.Now().Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("an expired key is still refused after 30s")
				}
				time.Sleep(50 * time.Millisecond) // polling the condition
			}
		}
		claim(t, c, "k", h.Now().Add(time.Minute), false)
	})
	t.Run("ConcurrentClaimsOneWins", func(t *testing.T) {
		c := h.New(t)
		exp := h.Now().Add(time.Minute)
		for round := range 8 {
			key := fmt.Sprint("race-", round)
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					ok, err := c.Claim(ctx, key, exp)
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins.Add(1)
					}
				})
			}
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("%s: %d claims won, want 1", key, n)
			}
		}
	})
	t.Run("LongKeys", func(t *testing.T) {
		c := h.New(t)
		long := string(make([]byte, 4096))
		claim(t, c, long, h.Now().Add(time.Minute), true)
		claim(t, c, long, h.Now().Add(time.Minute), false)
		claim(t, c, long+"x", h.Now().Add(time.Minute), true)
	})
}

func claim(t *testing.T, c replay.Cache, key string, exp time.Time, want bool) {
	t.Helper()
	ok, err := c.Claim(context.Background(), key, exp)
	if err != nil {
		t.Fatalf("Claim(%.20q): %v", key, err)
	}
	if ok != want {
		t.Fatalf("Claim(%.20q) = %v, want %v", key, ok, want)
	}
}
