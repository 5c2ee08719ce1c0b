package hooks_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

// slowRand is a randomness source that, once armed, takes delay to answer:
// a guest reading it while it starts starts slowly.
type slowRand struct {
	armed atomic.Bool
	delay time.Duration
}

func (r *slowRand) Read(p []byte) (int, error) {
	if r.armed.Load() {
		time.Sleep(r.delay)
	}
	clear(p)
	return len(p), nil
}

// TestSlowStart: when the pool grows on the request path, the new
// instance's start does not eat the run's own timeout: the run gets its
// whole timeout once it starts. When the start used up what the pipeline
// had left, the run is not called (it would be stopped at once) and the
// healthy new instance stays in the pool.
func TestSlowStart(t *testing.T) {
	const timeout = 10 * time.Millisecond
	rnd := &slowRand{delay: 3 * timeout} // well within the start's own budget (1 s)
	h := newHost(t, hooks.WithRand(rnd))
	sp := spec("faulty", "testdata/faulty.wasm", `"W"`, tenant.FailDeny)
	sp.Timeout = timeout
	hk, err := h.Load(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	release := hooks.Hold(hk) // the one warm instance is busy: the pool grows
	defer release()

	rnd.armed.Store(true)
	if _, err := hk.Invoke(context.Background(), transaction(t).View()); err != nil {
		t.Fatalf("a run after a start longer than its timeout: %v", err)
	}
	rnd.armed.Store(false)
	if n := hooks.Idle(hk); n != 1 {
		t.Fatalf("%d idle instances, want the new one", n)
	}

	hold := hooks.Take(hk) // busy again; the pool is at its maximum (2)
	tx := transaction(t)
	tx.Deadline = time.Now().Add(2 * timeout) // the pipeline's
	// Make room: the pool grows, slowly, past the pipeline's deadline.
	hooks.Destroy(hk, hold)
	rnd.armed.Store(true)
	_, err = hk.Invoke(context.Background(), tx.View())
	rnd.armed.Store(false)
	var f *engine.HookFault
	if !errors.As(err, &f) || f.Kind != "timeout" || !strings.Contains(f.Error(), "no time left in the pipeline") {
		t.Fatalf("got %v, want a timeout before the run", err)
	}
	if n := hk.Discarded(); n != 0 {
		t.Errorf("%d instances discarded, want 0", n)
	}
	if n := hooks.Idle(hk); n != 1 {
		t.Errorf("%d idle instances, want the new one", n)
	}
	if _, err := hk.Invoke(context.Background(), transaction(t).View()); err != nil {
		t.Errorf("the next run: %v", err)
	}
}

// TestTrapAfterRefusedGrowth: an instance that outlived a refused
// memory.grow (the guest took the -1 and returned 0) and traps in a later
// run faults as a trap, not as memory.
func TestTrapAfterRefusedGrowth(t *testing.T) {
	for _, h := range []*hooks.Host{newHost(t), newHost(t, hooks.WithGoMemory())} { // one warm instance: both runs get it
		hk, err := h.Load(context.Background(), spec("faulty", "testdata/faulty.wasm", `"A"`, tenant.FailDeny))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hk.Invoke(context.Background(), transaction(t).View()); err != nil {
			t.Fatalf("the run whose growth is refused: %v", err)
		}
		_, err = hk.Invoke(context.Background(), transaction(t).View())
		var f *engine.HookFault
		if !errors.As(err, &f) || f.Kind != "trap" {
			t.Fatalf("got %v, want a fault of kind trap", err)
		}
		hk.Close()
	}
}
