package natstest_test

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/internal/jskv"
)

func TestSingle(t *testing.T) {
	c := natstest.Start(t, 1)
	js := c.JetStream(t)
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got := c.WaitStream("KV_b"); got != 0 {
		t.Errorf("leader %d", got)
	}
	if _, err := jetstream.New(c.ConnectInProcess(t, 0)); err != nil {
		t.Fatal(err)
	}
}

// A replicated bucket keeps its data and takes writes when the node that
// leads it stops, and the node catches up when it comes back.
func TestClusterFailover(t *testing.T) {
	c := natstest.Start(t, 3)
	js := c.JetStream(t)
	var kv jetstream.KeyValue
	err := jskv.WhilePlacing(t.Context(), func() (err error) {
		kv, err = js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "b", Replicas: 3})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A bucket just made has no leader until its servers elect one.
	leader := c.WaitStream("KV_b")
	if err := retry(t, func() error { _, err := kv.Put(t.Context(), "k", []byte("v1")); return err }); err != nil {
		t.Fatal(err)
	}
	c.Stop(leader)
	if next := c.WaitStream("KV_b"); next == leader || next < 0 {
		t.Fatalf("leader %d after stopping %d", next, leader)
	}
	// The client may have been connected to the stopped node: its first
	// requests wait for the reconnection, so retry until the deadline.
	if got := getValue(t, kv, "k"); got != "v1" {
		t.Fatalf("after failover: %q", got)
	}
	if err := retry(t, func() error { _, err := kv.Put(t.Context(), "k", []byte("v2")); return err }); err != nil {
		t.Fatal(err)
	}
	c.Restart(leader)
	// Stop the other leader: the restarted node is now half of the quorum,
	// so the write it missed must have reached it.
	second := c.WaitStream("KV_b")
	c.Stop(second)
	c.WaitStream("KV_b")
	if got := getValue(t, kv, "k"); got != "v2" {
		t.Fatalf("after the restart: %q", got)
	}
}

// getValue reads key, retrying while the cluster or the client's
// connection recovers.
func getValue(t *testing.T, kv jetstream.KeyValue, key string) string {
	t.Helper()
	var e jetstream.KeyValueEntry
	if err := retry(t, func() (err error) { e, err = kv.Get(t.Context(), key); return err }); err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return string(e.Value())
}

// retry polls try until it succeeds or natstest.Deadline passes, and
// returns its last error.
func retry(t *testing.T, try func() error) error {
	t.Helper()
	deadline := time.Now().Add(natstest.Deadline)
	for {
		err := try()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond) // a poll interval: "no responders" comes back at once
	}
}

// A port found free but taken before the server listens on it (another
// test's connection, say) makes Start start over on other ports, at
// once rather than after the deadline.
func TestStartOverWhenAPortIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	starts := 0
	c := natstest.Start(t, 1, func(o *server.Options) {
		if starts++; starts == 1 {
			o.Port = taken
		}
	})
	if starts != 2 {
		t.Fatalf("configured %d times, want 2 (a start over)", starts)
	}
	if _, err := c.JetStream(t).CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "b"}); err != nil {
		t.Fatal(err)
	}
}
