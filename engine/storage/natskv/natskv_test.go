package natskv_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/cluster"
	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/natskv"
	"github.com/scopeline/scopeline/engine/storage/storagetest"
)

// opener returns the suite's constructor: each store gets buckets of its
// own (a new prefix) on the same servers.
func opener(js jetstream.JetStream, name string, before func(n int), opts ...natskv.Option) func(t *testing.T) storage.Storage {
	var n atomic.Int32
	return func(t *testing.T) storage.Storage {
		i := int(n.Add(1))
		if before != nil {
			before(i)
		}
		return open(t, js, append([]natskv.Option{natskv.WithBucketPrefix(fmt.Sprintf("%s%d_", name, i))}, opts...)...)
	}
}

// open opens a store as serve does: trying again (cluster.Retry) while a
// cluster that just formed or lost a server is slow to answer.
func open(t *testing.T, js jetstream.JetStream, opts ...natskv.Option) *natskv.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), natstest.Deadline)
	defer cancel()
	var s *natskv.Store
	err := cluster.Retry(ctx, slog.New(slog.DiscardHandler), "the store", func(ctx context.Context) (err error) {
		s, err = natskv.Open(ctx, js, opts...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	c := natstest.Start(t, 1)
	t.Run("TCP", func(t *testing.T) { storagetest.Run(t, opener(c.JetStream(t), "tcp", nil)) })
	t.Run("InProcess", func(t *testing.T) {
		js, err := jetstream.New(c.ConnectInProcess(t, 0))
		if err != nil {
			t.Fatal(err)
		}
		storagetest.Run(t, opener(js, "inproc", nil))
	})
}

// The suite on three servers with every bucket on all three (R3). One
// server stops partway (the one leading the last store's buckets) and
// comes back later: the stores in between run on two servers.
func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole suite on a three-server cluster that loses a server: runs without -short (and in CI)")
	}
	c := natstest.Start(t, 3)
	js := c.JetStream(t)
	stopped := -1
	before := func(n int) {
		switch n {
		case 4:
			stopped = c.StreamLeader(fmt.Sprintf("KV_t%d_refresh_tokens", n-1))
			if stopped < 0 {
				stopped = 0
			}
			c.Stop(stopped)
			c.WaitReady()
		case 7:
			c.Restart(stopped)
		}
	}
	storagetest.Run(t, opener(js, "t", before, natskv.WithReplicas(3)))
	if stopped < 0 {
		t.Fatal("the suite did not get as far as the failover")
	}
}

// State written before the bucket's leader stops is all there after, and
// a client of another server carries on with it.
func TestFailoverKeepsState(t *testing.T) {
	c := natstest.Start(t, 3)
	ctx := t.Context()
	now := time.Now()
	a := open(t, c.JetStream(t), natskv.WithReplicas(3))
	code := &storage.AuthCode{Hash: storage.Hash("code"), Expires: now.Add(time.Minute), Data: []byte("d")}
	must(t, a.CreateAuthCode(ctx, code))
	fam := &storage.RefreshFamily{ID: "fam", Current: storage.Hash("rt1"), CurrentExpires: now.Add(time.Hour), Created: now, Expires: now.Add(time.Hour)}
	must(t, a.CreateRefreshFamily(ctx, fam))
	must(t, a.CreateSession(ctx, &storage.Session{Hash: "s", UserID: "alice", AuthTime: now, Expires: now.Add(time.Hour)}))

	leader := c.WaitStream("KV_scopeline_refresh_tokens")
	c.Stop(leader)
	for _, stream := range []string{"KV_scopeline_refresh_tokens", "KV_scopeline_auth_codes", "KV_scopeline_sessions"} {
		c.WaitStream(stream)
	}
	// Another replica, connected to another server.
	b := open(t, c.JetStream(t), natskv.WithReplicas(3))
	if got, err := b.ConsumeAuthCode(ctx, code.Hash, "f1", now); err != nil || string(got.Data) != "d" {
		t.Fatalf("consume after failover: %+v, %v", got, err)
	}
	if _, err := a.ConsumeAuthCode(ctx, code.Hash, "f2", now); !errors.Is(err, storage.ErrConsumed) {
		t.Fatalf("second consume: %v", err)
	}
	must(t, b.RotateRefreshToken(ctx, "fam", storage.Hash("rt1"), storage.Hash("rt2"), now.Add(time.Hour), now))
	if err := a.RotateRefreshToken(ctx, "fam", storage.Hash("rt1"), storage.Hash("rt3"), now.Add(time.Hour), now); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("rotating a rotated token: %v", err)
	}
	if got, err := a.GetRefreshToken(ctx, storage.Hash("rt2"), now); err != nil || got.Current != storage.Hash("rt2") {
		t.Fatalf("family after rotation: %+v, %v", got, err)
	}
	if got, err := b.GetSession(ctx, "s", now); err != nil || got.UserID != "alice" {
		t.Fatalf("session after failover: %+v, %v", got, err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuthRequestsAreBounded(t *testing.T) {
	js := natstest.Start(t, 1).JetStream(t)
	s, err := natskv.Open(t.Context(), js, natskv.WithMaxAuthRequests(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Now()
	for i := range 2 {
		must(t, s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: fmt.Sprint(i), Expires: now.Add(time.Minute)}, now))
	}
	if err := s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "x", Expires: now.Add(time.Minute)}, now); !errors.Is(err, storage.ErrFull) {
		t.Fatalf("third: %v, want ErrFull", err)
	}
	// Full, the store still updates and deletes what it has.
	must(t, s.UpdateAuthRequest(ctx, &storage.AuthRequest{ID: "1", Expires: now.Add(time.Minute), Data: []byte("u")}, now))
	must(t, s.DeleteAuthRequest(ctx, "0"))
	// The bound is the server's, for every replica: another store on the
	// same buckets takes the one free place, and no more.
	other, err := natskv.Open(ctx, js, natskv.WithMaxAuthRequests(2))
	if err != nil {
		t.Fatal(err)
	}
	must(t, other.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "y", Expires: now.Add(time.Minute)}, now))
	if err := other.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "w", Expires: now.Add(time.Minute)}, now); !errors.Is(err, storage.ErrFull) {
		t.Fatalf("other replica: %v, want ErrFull", err)
	}
	// A request expired by the caller's clock makes room at once.
	if err := s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "z", Expires: now.Add(2 * time.Minute)}, now.Add(time.Minute)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	// A different bound on the existing buckets is refused, not applied.
	_, err = natskv.Open(ctx, js, natskv.WithMaxAuthRequests(3))
	if err == nil || !strings.Contains(err.Error(), "bucket scopeline_auth_requests exists with other settings: max messages is 2, want 3") {
		t.Fatalf("other bound: %v", err)
	}
}

// The server removes a record when its TTL (expiry plus grace) runs out,
// without DeleteExpired.
func TestExpiryByTTL(t *testing.T) {
	js := natstest.Start(t, 1).JetStream(t)
	s, err := natskv.Open(t.Context(), js, natskv.WithExpiryGrace(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	must(t, s.CreateSession(t.Context(), &storage.Session{Hash: "s", UserID: "u", AuthTime: now, Expires: now.Add(time.Second)}))
	kv, err := js.KeyValue(t.Context(), "scopeline_sessions")
	if err != nil {
		t.Fatal(err)
	}
	err = natstest.Poll(t.Context(), natstest.Deadline, func() bool {
		_, err := kv.Keys(t.Context())
		return errors.Is(err, jetstream.ErrNoKeysFound)
	})
	if err != nil {
		t.Fatalf("the session was not removed: %v", err)
	}
	if _, err := s.GetSession(t.Context(), "s", now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after its TTL: %v", err)
	}
}

// Identifiers of any shape are stored under hashed keys; none appears in
// the bucket's subjects.
func TestKeysAreHashed(t *testing.T) {
	js := natstest.Start(t, 1).JetStream(t)
	s, err := natskv.Open(t.Context(), js)
	if err != nil {
		t.Fatal(err)
	}
	ctx, now := t.Context(), time.Now()
	ids := []string{"a b.c", "*", ">", "$KV.x", "ü/é", strings.Repeat("long", 4000), ""}
	for _, id := range ids {
		must(t, s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: id, Expires: now.Add(time.Minute), Data: []byte(id)}, now))
	}
	for _, id := range ids {
		got, err := s.GetAuthRequest(ctx, id, now)
		if err != nil || string(got.Data) != id {
			t.Fatalf("%.10q: %v", id, err)
		}
	}
	kv, err := js.KeyValue(ctx, "scopeline_auth_requests")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if len(k) != 43 {
			t.Errorf("key %q is not a hash", k)
		}
	}
}
