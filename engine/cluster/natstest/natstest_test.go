package natstest_test

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
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
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "b", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	leader := c.WaitStream("KV_b")
	c.Stop(leader)
	if next := c.WaitStream("KV_b"); next == leader || next < 0 {
		t.Fatalf("leader %d after stopping %d", next, leader)
	}
	e, err := kv.Get(t.Context(), "k")
	if err != nil || string(e.Value()) != "v1" {
		t.Fatalf("after failover: %v, %v", e, err)
	}
	if _, err := kv.Put(t.Context(), "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	c.Restart(leader)
	// Stop the other leader: the restarted node is now half of the quorum,
	// so the write it missed must have reached it.
	second := c.WaitStream("KV_b")
	c.Stop(second)
	c.WaitStream("KV_b")
	e, err = kv.Get(t.Context(), "k")
	if err != nil || string(e.Value()) != "v2" {
		t.Fatalf("after the restart: %v, %v", e, err)
	}
}
