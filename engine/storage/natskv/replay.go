package natskv

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/internal/jskv"
	"github.com/scopeline/scopeline/sdk/resource/replay"
)

// DefaultMaxReplayKeys bounds the identifiers a Replay remembers at once:
// past it a claim fails (replay.ErrFull) rather than forgetting one that
// could be replayed.
const DefaultMaxReplayKeys = 1_000_000

const bucketReplay = "replay"

// Replay is a replay.Cache shared by every replica through a key-value
// bucket: the single-use identifiers of client assertions and DPoP proofs
// (sdk/resource/replay), so that one refused by a replica is refused by
// all. A claim is a create that expects no message on the key, with a TTL
// that removes the key once its identifier could no longer be presented;
// the value holds the expiry, so a key the server has not removed yet but
// the caller's clock says expired is claimed again by compare-and-swap.
type Replay struct {
	b     *jskv.Bucket
	clock func() time.Time
}

// OpenReplay creates the replay bucket (prefix+"replay"), or checks the
// existing one. It takes the options of Open that apply: the bucket
// prefix, the replicas and the clock.
func OpenReplay(ctx context.Context, js jetstream.JetStream, opts ...Option) (*Replay, error) {
	c := config{prefix: DefaultBucketPrefix, replicas: 1, clock: time.Now}
	for _, o := range opts {
		o(&c)
	}
	b, err := jskv.Ensure(ctx, js, jskv.Spec{
		Bucket: c.prefix + bucketReplay, Description: "Scopeline: used identifiers of client assertions and DPoP proofs",
		Replicas: c.replicas, MaxMsgs: DefaultMaxReplayKeys, TTL: true,
	})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return &Replay{b: b, clock: c.clock}, nil
}

// Claim implements replay.Cache.
func (r *Replay) Claim(ctx context.Context, id string, expires time.Time) (bool, error) {
	k := key(id)
	value := binary.BigEndian.AppendUint64(nil, uint64(expires.UnixNano()))
	ttl := max(expires.Sub(r.clock()), 0) + time.Second
	var expect uint64 // no message on the key
	for attempt := range attempts {
		if err := jskv.Backoff(ctx, attempt); err != nil {
			return false, err
		}
		_, err := r.b.Put(ctx, jskv.Msg{Key: k, Value: value, Expect: expect, TTL: ttl})
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, jskv.ErrFull):
			return false, fmt.Errorf("%w (%w)", replay.ErrFull, err)
		case !errors.Is(err, jskv.ErrConflict):
			return false, fmt.Errorf("replay: %w", err)
		}
		// Used already, unless that use has expired by our clock.
		e, err := r.b.Get(ctx, k)
		switch {
		case errors.Is(err, jskv.ErrNoKey):
			expect = 0 // removed meanwhile
			continue
		case err != nil:
			return false, fmt.Errorf("replay: %w", err)
		}
		if !e.Deleted && len(e.Value) == 8 && r.clock().Before(time.Unix(0, int64(binary.BigEndian.Uint64(e.Value)))) {
			return false, nil
		}
		expect = e.Revision
	}
	return false, fmt.Errorf("replay: bucket %s: a key changed concurrently %d times in a row", r.b.Name(), attempts)
}

var _ replay.Cache = (*Replay)(nil)
