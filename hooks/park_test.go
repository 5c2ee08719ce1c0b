package hooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

// TestStopAfterPark: the watchdog stops a runaway hook even when the call
// starts after the watchdog parked (no call for a while). The guard's
// yields, which would stop it first, are off.
func TestStopAfterPark(t *testing.T) {
	h := newHost(t, hooks.WithWatchdogOnly())
	hk, err := h.Load(context.Background(), spec("loop", "testdata/faulty.wasm", `"L"`, tenant.FailDeny))
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	for range 2 {
		waitFor(t, "the watchdog to park", func() bool { return hooks.Parked(h) })
		done := make(chan error, 1)
		go func() {
			_, err := hk.Invoke(context.Background(), transaction(t).View())
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the loop returned")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the runaway hook was not stopped after the watchdog parked")
		}
	}
}

// TestHostCloseDuringCall: closing the host while a hook runs, writing to
// its memory, stops the call and waits for it before the runtime closes
// the module under it.
func TestHostCloseDuringCall(t *testing.T) {
	h := newHost(t)
	s := spec("writer", "testdata/faulty.wasm", `"P"`, tenant.FailDeny)
	s.Timeout = 300 * time.Millisecond
	hk, err := h.Load(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := hk.Invoke(context.Background(), transaction(t).View())
		done <- err
	}()
	waitFor(t, "the hook to run", func() bool { return hooks.Running(h) > 0 })
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the loop returned")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the runaway hook was not stopped after the host closed")
	}
	hk.Close()
}

// waitFor polls cond until it holds, for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
