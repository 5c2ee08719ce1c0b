package jskv_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/internal/jskv"
)

func spec(name string) jskv.Spec {
	return jskv.Spec{Bucket: name, TTL: true}
}

func TestEnsureChecksAnExistingBucket(t *testing.T) {
	js := natstest.Start(t, 1).JetStream(t)
	if _, err := jskv.Ensure(t.Context(), js, spec("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := jskv.Ensure(t.Context(), js, spec("b")); err != nil {
		t.Fatalf("the same settings again: %v", err)
	}
	for _, tc := range []struct {
		change func(*jskv.Spec)
		want   string
	}{
		{func(s *jskv.Spec) { s.History = 5 }, "bucket b exists with other settings: history is 1, want 5"},
		{func(s *jskv.Spec) { s.MaxMsgs = 10 }, "max messages is -1, want 10"},
		{func(s *jskv.Spec) { s.TTL = false }, "per-key ttl is true, want false"},
		{func(s *jskv.Spec) { s.MaxBytes = 1 << 20 }, "max bytes is -1, want 1048576"},
		{func(s *jskv.Spec) { s.Replicas = 3 }, "replicas is 1, want 3"},
	} {
		sp := spec("b")
		tc.change(&sp)
		_, err := jskv.Ensure(t.Context(), js, sp)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	// The bucket was not changed by the refused opens.
	if _, err := jskv.Ensure(t.Context(), js, spec("b")); err != nil {
		t.Fatal(err)
	}
}

func TestReplicasMismatch(t *testing.T) {
	c := natstest.Start(t, 3)
	js := c.JetStream(t)
	sp := spec("b")
	sp.Replicas = 3
	if _, err := jskv.Ensure(t.Context(), js, sp); err != nil {
		t.Fatal(err)
	}
	sp.Replicas = 1
	if _, err := jskv.Ensure(t.Context(), js, sp); err == nil || !strings.Contains(err.Error(), "bucket b exists with other settings: replicas is 3, want 1") {
		t.Fatalf("got %v", err)
	}
}

func TestWrites(t *testing.T) {
	b, err := jskv.Ensure(t.Context(), natstest.Start(t, 1).JetStream(t), spec("b"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := b.Get(ctx, "k"); !errors.Is(err, jskv.ErrNoKey) {
		t.Fatalf("get missing: %v", err)
	}
	rev, err := b.Put(ctx, jskv.Msg{Key: "k", Value: []byte("v1"), Expect: 0, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, jskv.Msg{Key: "k", Value: []byte("x"), Expect: 0}); !errors.Is(err, jskv.ErrConflict) {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := b.Put(ctx, jskv.Msg{Key: "k", Value: []byte("x"), Expect: rev + 7}); !errors.Is(err, jskv.ErrConflict) {
		t.Fatalf("wrong revision: %v", err)
	}
	e, err := b.Get(ctx, "k")
	if err != nil || string(e.Value) != "v1" || e.Revision != rev || e.Deleted {
		t.Fatalf("get: %+v, %v", e, err)
	}
	if _, err := b.Put(ctx, jskv.Msg{Key: "k", Value: []byte("v2"), Expect: rev, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	e, err = b.Get(ctx, "k")
	if err != nil || string(e.Value) != "v2" || e.Revision <= rev {
		t.Fatalf("after the update: %+v, %v", e, err)
	}
	// A delete at a stale revision keeps the key; at its revision it
	// removes the key, leaving nothing, so a create succeeds.
	if ok, err := b.Delete(ctx, "k", e.Revision-1); err != nil || ok {
		t.Fatalf("stale delete: %v, %v", ok, err)
	}
	if ok, err := b.Delete(ctx, "k", e.Revision); err != nil || !ok {
		t.Fatalf("delete: %v, %v", ok, err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, jskv.ErrNoKey) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := b.Put(ctx, jskv.Msg{Key: "k", Value: []byte("v3"), Expect: 0}); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Delete(ctx, "nothing", jskv.Any); err != nil || ok {
		t.Fatalf("delete a missing key: %v, %v", ok, err)
	}
}

func TestFull(t *testing.T) {
	sp := spec("b")
	sp.MaxMsgs = 2
	b, err := jskv.Ensure(t.Context(), natstest.Start(t, 1).JetStream(t), sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, k := range []string{"a", "b"} {
		if _, err := b.Put(ctx, jskv.Msg{Key: k, Value: []byte(k), Expect: 0}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Put(ctx, jskv.Msg{Key: "c", Value: []byte("c"), Expect: 0}); !errors.Is(err, jskv.ErrFull) {
		t.Fatalf("past the bound: %v", err)
	}
	// A full bucket still takes a new value for a key it has, and a
	// delete makes room at once.
	if _, err := b.Put(ctx, jskv.Msg{Key: "a", Value: []byte("a2"), Expect: jskv.Any}); err != nil {
		t.Fatalf("replace when full: %v", err)
	}
	if _, err := b.Delete(ctx, "b", jskv.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, jskv.Msg{Key: "c", Value: []byte("c"), Expect: 0}); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}

// A key with a TTL goes by itself.
func TestTTL(t *testing.T) {
	b, err := jskv.Ensure(t.Context(), natstest.Start(t, 1).JetStream(t), spec("b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(t.Context(), jskv.Msg{Key: "k", Value: []byte("v"), Expect: 0, TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	err = natstest.Poll(t.Context(), natstest.Deadline, func() bool {
		_, err := b.Get(t.Context(), "k")
		return errors.Is(err, jskv.ErrNoKey)
	})
	if err != nil {
		t.Fatalf("the key did not expire: %v", err)
	}
}

// A new stream that the cluster has no servers for is tried again (a
// cluster just started has not heard from all of its servers) until the
// context ends, and the server's reason comes back.
func TestEnsureWaitsForServersToPlaceOn(t *testing.T) {
	js := natstest.Start(t, 3).JetStream(t)
	sp := spec("five")
	sp.Replicas = 5 // more copies than servers: never placed
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := jskv.Ensure(ctx, js, sp)
	if err == nil || !strings.Contains(err.Error(), "bucket five: nats: API error: code=400 err_code=10005 description=no suitable peers for placement") {
		t.Fatalf("got %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("Ensure gave up before its context ended")
	}
}

func TestWhilePlacing(t *testing.T) {
	noPeers := &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"}
	calls := 0
	err := jskv.WhilePlacing(t.Context(), func() error {
		if calls++; calls < 3 {
			return noPeers
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("placed after %d calls: %v; want 3 calls and no error", calls, err)
	}

	other := &jetstream.APIError{Code: 500, ErrorCode: 10049, Description: "insufficient storage resources available"}
	calls = 0
	err = jskv.WhilePlacing(t.Context(), func() error { calls++; return other })
	if !errors.Is(err, other) || calls != 1 {
		t.Fatalf("another error: %d calls, %v; want it at once", calls, err)
	}
}
