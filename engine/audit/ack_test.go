package audit

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		status     string
		dup        bool
		err        error
	}{
		{name: "stored", data: `{"stream":"S","seq":12}`},
		{name: "duplicate", data: `{"stream":"S","seq":12,"duplicate":true}`, dup: true},
		{name: "with domain", data: `{"stream":"S","domain":"hub","seq":3}`},
		{name: "duplicate, other order", data: `{"duplicate":true,"stream":"S","seq":3}`, dup: true},
		{name: "another stream", data: `{"stream":"S2","seq":12}`, err: jetstream.ErrInvalidJSAck},
		{name: "another stream, slow path", data: `{"seq":12,"stream":"T"}`, err: jetstream.ErrInvalidJSAck},
		{name: "sequence 0", data: `{"stream":"S","seq":0}`, err: jetstream.ErrInvalidJSAck},
		{name: "no stream", data: `{"seq":1}`, err: jetstream.ErrInvalidJSAck},
		{name: "error", data: `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`,
			err: &jetstream.APIError{ErrorCode: 10077}},
		{name: "stream not found", data: `{"error":{"code":404,"err_code":10059,"description":"stream not found"}}`,
			err: jetstream.ErrStreamNotFound},
		{name: "not JSON", data: `{"stream":"S","seq":`, err: jetstream.ErrInvalidJSAck},
		{name: "no responders", status: "503", err: jetstream.ErrNoStreamResponse},
		{name: "empty", err: jetstream.ErrInvalidJSAck},
	} {
		m := &nats.Msg{Data: []byte(tc.data), Header: nats.Header{}}
		if tc.status != "" {
			m.Header.Set("Status", tc.status)
		}
		got := readAnswer(m, "S")
		if got.duplicate != tc.dup || (tc.err == nil) != (got.err == nil) || (tc.err != nil && !errors.Is(got.err, tc.err)) {
			t.Errorf("%s: got %+v, want duplicate=%v err=%v", tc.name, got, tc.dup, tc.err)
		}
	}
	if !isNoStream(readAnswer(&nats.Msg{Header: nats.Header{"Status": {"503"}}}, "S").err) {
		t.Error("no responders is not read as a missing stream")
	}
}

// pendingWaiter registers a waiter as send does, without publishing.
func pendingWaiter(a *acks) *ackWaiter {
	w := a.waiter()
	a.mu.Lock()
	a.next++
	w.token = a.next
	a.pending[w.token] = w
	a.mu.Unlock()
	return w
}

func answer(a *acks, w *ackWaiter, data string) {
	a.onAnswer(&nats.Msg{Subject: a.prefix + strconv.FormatUint(w.token, 10), Data: []byte(data)})
}

// TestAcksWaiting covers the hand-over between a request waiting for its
// acknowledgement and the subscription delivering it: an answer in time,
// a timeout, an answer arriving after the request gave up (dropped, the
// waiter stays clean for its next use), an answer racing the timeout
// (kept), and a disconnection (every waiter answered at once).
func TestAcksWaiting(t *testing.T) {
	ctx := context.Background()
	a := newAcks("S", 4)
	a.prefix = "_INBOX.test."
	soon := func() time.Time { return time.Now().Add(time.Minute) }

	w := pendingWaiter(a)
	answer(a, w, `{"stream":"S","seq":1,"duplicate":true}`)
	if ans, err := a.wait(ctx, w, soon()); err != nil || ans.err != nil || !ans.duplicate {
		t.Fatalf("answered: %+v, %v", ans, err)
	}

	w = pendingWaiter(a)
	late := w.token
	if _, err := a.wait(ctx, w, time.Now()); !errors.Is(err, errAckTimeout) {
		t.Fatalf("no answer: %v, want a timeout", err)
	}
	a.onAnswer(&nats.Msg{Subject: a.prefix + strconv.FormatUint(late, 10), Data: []byte(`{"stream":"S","seq":2}`)})
	if len(w.answer) != 0 || len(a.pending) != 0 {
		t.Fatalf("a late answer reached the waiter (%d) or stayed pending (%d)", len(w.answer), len(a.pending))
	}

	// The answer is handed over just as the timeout fires: whichever the
	// wait sees first, the success counts and the channel ends empty.
	for range 50 {
		w = pendingWaiter(a)
		answer(a, w, `{"stream":"S","seq":3}`)
		if ans, err := a.wait(ctx, w, time.Now()); err != nil || ans.err != nil {
			t.Fatalf("answer racing the timeout: %+v, %v", ans, err)
		}
		if len(w.answer) != 0 {
			t.Fatal("answer left in the channel")
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	w = pendingWaiter(a)
	if _, err := a.wait(cctx, w, soon()); !errors.Is(err, context.Canceled) || len(a.pending) != 0 {
		t.Fatalf("cancelled: %v, %d pending", err, len(a.pending))
	}

	w1, w2 := pendingWaiter(a), pendingWaiter(a)
	a.failAll(nats.ErrDisconnected)
	for _, w := range []*ackWaiter{w1, w2} {
		if ans, err := a.wait(ctx, w, soon()); err != nil || !errors.Is(ans.err, nats.ErrDisconnected) {
			t.Fatalf("after a disconnection: %+v, %v", ans, err)
		}
	}
}

func TestAcksReserve(t *testing.T) {
	ctx := context.Background()
	a := newAcks("S", 2)
	w := a.waiter()
	for range 2 {
		if err := a.reserve(ctx, w, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.reserve(ctx, w, time.Now().Add(10*time.Millisecond)); !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
		t.Fatalf("third reserve with two slots: %v", err)
	}
	done := make(chan error)
	go func() { done <- a.reserve(ctx, a.waiter(), time.Now().Add(time.Minute)) }()
	a.unreserve()
	if err := <-done; err != nil || a.inFlight() != 2 {
		t.Fatalf("reserve after a slot freed: %v, %d in flight", err, a.inFlight())
	}
}
