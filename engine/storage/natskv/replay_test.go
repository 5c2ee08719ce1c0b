package natskv_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/storage/natskv"
	"github.com/scopeline/scopeline/sdk/resource/replay"
	"github.com/scopeline/scopeline/sdk/resource/replay/replaytest"
)

func TestReplayConformance(t *testing.T) {
	c := natstest.Start(t, 1)
	js := c.JetStream(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var n atomic.Int32
	replaytest.Run(t, replaytest.Harness{
		New: func(t *testing.T) replay.Cache {
			r, err := natskv.OpenReplay(t.Context(), js, natskv.WithBucketPrefix(fmt.Sprintf("replay%d_", n.Add(1))), natskv.WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		Now:     clock,
		Advance: func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() },
	})
}

// Two replicas, one bucket: an identifier claimed through one is refused
// through the other.
func TestReplaySharedByReplicas(t *testing.T) {
	c := natstest.Start(t, 1)
	a, err := natskv.OpenReplay(t.Context(), c.JetStream(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := natskv.OpenReplay(t.Context(), c.JetStream(t))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Minute)
	if ok, err := a.Claim(t.Context(), "dpop:thumb:jti-1", exp); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := b.Claim(t.Context(), "dpop:thumb:jti-1", exp); ok || err != nil {
		t.Fatalf("replay at another replica: %v %v", ok, err)
	}
}
