package hooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
)

// TestStopAfterPark: a runaway hook is stopped even when it starts after
// the watchdog parked (no call for a while).
func TestStopAfterPark(t *testing.T) {
	h := newHost(t)
	hk, err := h.Load(context.Background(), spec("loop", "testdata/faulty.wasm", `"L"`, tenant.FailDeny))
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	for range 2 {
		time.Sleep(300 * time.Millisecond) // > 100 ticks: the watchdog parks
		done := make(chan error, 1)
		go func() {
			_, err := hk.Invoke(context.Background(), transaction(t))
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
// its memory, does not pull the memory from under it; the call is stopped at
// its deadline as usual.
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
		_, err := hk.Invoke(context.Background(), transaction(t))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // the hook is in its loop
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
