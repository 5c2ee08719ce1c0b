package kvthrottle_test

import (
	"context"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/throttle"
	"github.com/scopeline/scopeline/engine/throttle/kvthrottle"
)

var rule = throttle.Rule{Name: "login-user", Burst: 5, Refill: time.Minute}

// replicas opens n Shared on connections of their own, as n replicas do.
func replicas(t *testing.T, c *natstest.Cluster, n int) []throttle.Throttle {
	t.Helper()
	var out []throttle.Throttle
	for range n {
		s, err := kvthrottle.Open(t.Context(), c.JetStream(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		<-s.Synced()
		out = append(out, s.Backend()(rule))
	}
	return out
}

// Failures spread over three replicas are counted once each: the fifth
// failure, wherever it happened, throttles the key on every replica, and
// a key that failed less is not throttled anywhere.
func TestFailuresCountedOnceAcrossReplicas(t *testing.T) {
	c := natstest.Start(t, 1)
	rs := replicas(t, c, 3)
	ctx := context.Background()
	now := time.Now()
	for i := range rule.Burst - 1 {
		rs[i%3].Fail(ctx, "alice", now)
	}
	rs[0].Fail(ctx, "bob", now)
	// Four failures: not yet throttled, on any replica, once the charges
	// arrived everywhere (which the fifth's effect below proves).
	rs[2].Fail(ctx, "alice", now) // the fifth, on another replica
	for i, r := range rs {
		if err := natstest.Poll(ctx, natstest.Deadline, func() bool { return r.Delay(ctx, "alice", now) > 0 }); err != nil {
			t.Fatalf("replica %d never throttled alice after %d failures spread over three replicas: %v", i, rule.Burst, err)
		}
		if d := r.Delay(ctx, "bob", now); d != 0 {
			t.Errorf("replica %d throttles bob after one failure: %s", i, d)
		}
	}
	// Exactly Burst were counted: one refill later, one attempt is back.
	later := now.Add(rule.Refill)
	for i, r := range rs {
		if d := r.Delay(ctx, "alice", later); d != 0 {
			t.Errorf("replica %d: alice still throttled one refill later (%s): failures counted more than once", i, d)
		}
		if d := r.Delay(ctx, "alice", later.Add(-time.Second)); d == 0 {
			t.Errorf("replica %d: alice let through before a refill: failures counted less than once", i)
		}
	}
}

// A replica whose key is charged elsewhere sees it without asking NATS:
// Delay reads the mirror, so a stopped server does not slow a success.
func TestDelayNeedsNoRoundTrip(t *testing.T) {
	c := natstest.Start(t, 1)
	rs := replicas(t, c, 2)
	ctx := context.Background()
	now := time.Now()
	for range rule.Burst {
		rs[0].Fail(ctx, "carol", now)
	}
	if err := natstest.Poll(ctx, natstest.Deadline, func() bool { return rs[1].Delay(ctx, "carol", now) > 0 }); err != nil {
		t.Fatal(err)
	}
	c.Stop(0)
	if rs[1].Delay(ctx, "carol", now) == 0 || rs[1].Delay(ctx, "dave", now) != 0 {
		t.Error("the mirror forgot what it held when the server stopped")
	}
	// Failures while NATS is away still count on this replica.
	for range rule.Burst {
		rs[1].Fail(ctx, "erin", now)
	}
	if rs[1].Delay(ctx, "erin", now) == 0 {
		t.Error("failures while NATS is away were not counted locally")
	}
}
