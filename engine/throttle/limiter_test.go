package throttle

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(3, time.Minute, 100)
	for i := range 3 {
		if w := l.Delay("alice", t0); w != 0 {
			t.Fatalf("attempt %d: wait %s", i, w)
		}
		l.Fail("alice", t0)
	}
	if w := l.Delay("alice", t0); w < 59*time.Second || w > 61*time.Second {
		t.Errorf("after the burst: wait %s, want about a minute", w)
	}
	if w := l.Delay("bob", t0); w != 0 {
		t.Errorf("other keys are not affected: %s", w)
	}
	if w := l.Delay("alice", t0.Add(time.Minute)); w != 0 {
		t.Errorf("one attempt back after a minute: %s", w)
	}
	l.Fail("alice", t0.Add(time.Minute))
	if w := l.Delay("alice", t0.Add(time.Minute)); w == 0 {
		t.Error("used again at once")
	}
	if w := l.Delay("alice", t0.Add(10*time.Minute)); w != 0 {
		t.Errorf("refilled: %s", w)
	}
}

func TestTake(t *testing.T) {
	t0 := time.Now()
	l := NewLimiter(2, time.Second, 10)
	for range 2 {
		if l.Take("ip", t0) != 0 {
			t.Fatal("the burst is allowed")
		}
	}
	if l.Take("ip", t0) == 0 {
		t.Fatal("past the burst")
	}
	if l.Take("ip", t0.Add(time.Second)) != 0 {
		t.Fatal("one back a second later")
	}
}

func TestBoundedMemory(t *testing.T) {
	t0 := time.Now()
	l := NewLimiter(1, time.Hour, 50)
	for i := range 10_000 {
		l.Fail(fmt.Sprint("k", i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := l.Len(); n > 50 {
		t.Fatalf("holds %d keys, max 50", n)
	}
	// The most recent keys are still limited.
	if l.Delay("k9999", t0.Add(10*time.Second)) == 0 {
		t.Error("the newest key was forgotten")
	}
	// Keys whose bucket refilled are dropped first.
	l2 := NewLimiter(1, time.Second, 2)
	l2.Fail("old", t0)
	l2.Fail("mid", t0.Add(2*time.Second))
	l2.Fail("new", t0.Add(2*time.Second)) // "old" refilled: dropped
	if l2.Delay("mid", t0.Add(2*time.Second)) == 0 || l2.Delay("new", t0.Add(2*time.Second)) == 0 {
		t.Error("live keys dropped instead of the refilled one")
	}
}

func TestConcurrent(t *testing.T) {
	l := NewLimiter(5, time.Second, 100)
	var wg sync.WaitGroup
	now := time.Now()
	for i := range 8 {
		wg.Go(func() {
			for j := range 1000 {
				k := fmt.Sprint(i * j % 200)
				l.Take(k, now)
				l.Delay(k, now)
				l.Fail(k, now)
			}
		})
	}
	wg.Wait()
	if l.Len() > 100 {
		t.Errorf("holds %d keys", l.Len())
	}
}

// BenchmarkNewKeyWhenFull is the cost of charging a never-seen key (a new
// IP address, say) when the table is full of keys still being limited.
func BenchmarkNewKeyWhenFull(b *testing.B) {
	const size = 100_000
	l := NewLimiter(5, time.Minute, size)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range size {
		l.Fail(strconv.Itoa(i), now)
	}
	i := size
	for b.Loop() {
		l.Fail(strconv.Itoa(i), now)
		i++
	}
}
