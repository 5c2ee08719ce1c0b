// Package jskv is what Scopeline's stores on JetStream key-value buckets
// share: creating a bucket or checking an existing one against the
// settings a store needs, reading a key's latest message from the stream
// leader, conditional writes with a per-key TTL, and deletes that leave
// no marker.
//
// A bucket is a JetStream stream laid out as the key-value store of
// nats.go (stream KV_<bucket>, subjects $KV.<bucket>.<key>), so the nats
// CLI and jetstream.KeyValue work on it, with differences the stores rely
// on:
//
//   - Direct gets are off (unless Spec.Direct): every read is answered by the stream leader,
//     which has every acknowledged write. A follower answering a direct
//     get may lag, and a stale refresh-token family would look like a
//     reused token.
//   - A key is deleted by purging its messages from the stream, not by
//     writing a delete marker: a marker would count against the bucket's
//     limits as long as it lives.
package jskv

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Spec is what a store needs of its bucket.
type Spec struct {
	// Bucket is the bucket's name: letters, digits, '-' and '_'.
	Bucket      string
	Description string
	// Replicas is how many servers keep a copy: 1, or 3 (or 5) in a
	// cluster.
	Replicas int
	// History is how many values are kept per key (1: the latest only).
	History uint8
	// MaxMsgs and MaxBytes bound the bucket (0: unbounded); a write past
	// either is refused with ErrFull. A key holds one message per value
	// kept.
	MaxMsgs  int64
	MaxBytes int64
	// MaxValueSize bounds one value (0: the server's max_payload).
	MaxValueSize int32
	// TTL allows per-key TTLs (Msg.TTL). A key whose TTL runs out is
	// removed without a marker, as Delete removes one.
	TTL bool
	// Direct lets any server holding the stream answer reads, with the
	// value's bytes as they are (no JSON and base64 around them). Only for
	// a bucket whose values never change once written (content-addressed):
	// a follower may not have a key yet, never an older value of it.
	Direct bool
}

// Stream is the name of the bucket's stream.
func (s Spec) Stream() string { return "KV_" + s.Bucket }

func (s Spec) streamConfig() jetstream.StreamConfig {
	neg := func(n int64) int64 {
		if n == 0 {
			return -1
		}
		return n
	}
	history := int64(max(s.History, 1))
	maxValue := s.MaxValueSize
	if maxValue == 0 {
		maxValue = -1
	}
	return jetstream.StreamConfig{
		Name:              s.Stream(),
		Description:       s.Description,
		Subjects:          []string{"$KV." + s.Bucket + ".>"},
		MaxMsgsPerSubject: history,
		MaxMsgs:           neg(s.MaxMsgs),
		MaxBytes:          neg(s.MaxBytes),
		MaxMsgSize:        maxValue,
		MaxConsumers:      -1,
		Storage:           jetstream.FileStorage,
		Replicas:          max(s.Replicas, 1),
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        2 * time.Minute,
		Discard:           jetstream.DiscardNew,
		AllowDirect:       s.Direct,
		AllowMsgTTL:       s.TTL,
	}
}

// mismatch names the first setting of an existing stream that differs
// from want, or returns "".
func mismatch(have, want jetstream.StreamConfig) string {
	type setting struct {
		name       string
		have, want any
	}
	for _, s := range []setting{
		{"replicas", have.Replicas, want.Replicas},
		{"history", have.MaxMsgsPerSubject, want.MaxMsgsPerSubject},
		{"storage", have.Storage, want.Storage},
		{"max messages", have.MaxMsgs, want.MaxMsgs},
		{"max bytes", have.MaxBytes, want.MaxBytes},
		{"max value size", have.MaxMsgSize, want.MaxMsgSize},
		{"ttl", have.MaxAge, want.MaxAge},
		{"per-key ttl", have.AllowMsgTTL, want.AllowMsgTTL},
		{"limit marker ttl", have.SubjectDeleteMarkerTTL, want.SubjectDeleteMarkerTTL},
		{"deny purge", have.DenyPurge, want.DenyPurge},
		{"direct get", have.AllowDirect, want.AllowDirect},
		{"discard policy", have.Discard, want.Discard},
		{"rollup", have.AllowRollup, want.AllowRollup},
		{"subjects", fmt.Sprint(have.Subjects), fmt.Sprint(want.Subjects)},
	} {
		if s.have != s.want {
			return fmt.Sprintf("%s is %v, want %v", s.name, s.have, s.want)
		}
	}
	return ""
}

// Bucket is a bucket that Ensure created or checked.
type Bucket struct {
	// KV is the bucket seen through nats.go's key-value API (watches,
	// history, plain gets).
	KV     jetstream.KeyValue
	js     jetstream.JetStream
	stream jetstream.Stream
	spec   Spec
	prefix string // $KV.<bucket>.
	api    string // $JS.API.
}

// Ensure creates the bucket of spec, or checks that the existing bucket
// has spec's settings. It never changes an existing bucket: a difference
// is an error naming the bucket and the setting, for the operator to
// resolve (by editing the bucket with the nats CLI, or the configuration).
func Ensure(ctx context.Context, js jetstream.JetStream, spec Spec) (*Bucket, error) {
	want := spec.streamConfig()
	stream, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = WhilePlacing(ctx, func() (err error) {
			stream, err = js.CreateStream(ctx, want)
			return err
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another replica created it meanwhile, perhaps otherwise.
			stream, err = js.Stream(ctx, want.Name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", spec.Bucket, err)
	}
	if m := mismatch(stream.CachedInfo().Config, want); m != "" {
		return nil, fmt.Errorf("%w: bucket %s exists with other settings: %s (change the bucket or the configuration; Scopeline does not alter an existing bucket)", ErrMismatch, spec.Bucket, m)
	}
	if err := WaitLeader(ctx, stream); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", spec.Bucket, err)
	}
	kv, err := js.KeyValue(ctx, spec.Bucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", spec.Bucket, err)
	}
	b := &Bucket{KV: kv, js: js, stream: stream, spec: spec, prefix: "$KV." + spec.Bucket + "."}
	switch o := js.Options(); {
	case o.Domain != "":
		b.api = "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		b.api = strings.TrimSuffix(o.APIPrefix, ".") + "."
	default:
		b.api = jetstream.DefaultAPIPrefix
	}
	return b, nil
}

// placeWait bounds how long WhilePlacing waits for a cluster to place a
// new stream's copies.
const placeWait = 30 * time.Second

// codeNoPeers is the server's answer to a new stream whose copies it
// cannot place: "no suitable peers for placement".
const codeNoPeers jetstream.ErrorCode = 10005

// WhilePlacing calls create, a call that makes a stream, again while the
// server answers that it has no servers to place the stream's copies on,
// for at most 30 seconds, and returns create's last error. A cluster just
// started answers so until its leader has heard from every server
// (it places copies only on servers whose limits it knows): the servers
// of a cluster start together, and the buckets they need would otherwise
// fail for a few moments. A cluster short of servers for good answers so
// after the wait, with the server's reason.
func WhilePlacing(ctx context.Context, create func() error) error {
	ctx, cancel := context.WithTimeout(ctx, placeWait)
	defer cancel()
	var err error
	for attempt := 0; ; attempt++ {
		if Backoff(ctx, attempt) != nil {
			return err // the server's last answer, which names its reason
		}
		err = create()
		var api *jetstream.APIError
		if !errors.As(err, &api) || api.ErrorCode != codeNoPeers {
			return err
		}
	}
}

// leaderWait bounds how long WaitLeader waits for a stream's leader.
const leaderWait = 30 * time.Second

// WaitLeader waits until a stream of a cluster has a leader, which a
// stream just created does not have until its servers elect one: until
// then a write to it gets no answer ("no response from stream"). A stream
// of a single server has no election and returns at once.
func WaitLeader(ctx context.Context, stream jetstream.Stream) error {
	info := stream.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, leaderWait)
	defer cancel()
	for attempt := 1; ; attempt++ {
		if err := Backoff(ctx, attempt+3); err != nil {
			return fmt.Errorf("stream %s elected no leader: %w", info.Config.Name, err)
		}
		info, err := stream.Info(ctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			return nil
		}
	}
}

// Name is the bucket's name.
func (b *Bucket) Name() string { return b.spec.Bucket }

// Entry is the latest message of a key.
type Entry struct {
	Value    []byte
	Revision uint64
	// Deleted: the latest message is a delete or purge marker, as the
	// key-value API writes (Value is empty); a write expecting Revision
	// replaces it.
	Deleted bool
}

// ErrNoKey: the key has no message at all (never written, or its marker
// expired); a write expecting revision 0 creates it.
var ErrNoKey = errors.New("jskv: no such key")

// Get reads key's latest message from the stream leader.
func (b *Bucket) Get(ctx context.Context, key string) (Entry, error) {
	m, err := b.stream.GetLastMsgForSubject(ctx, b.prefix+key)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Entry{}, ErrNoKey
	}
	if err != nil {
		return Entry{}, fmt.Errorf("bucket %s: %w", b.spec.Bucket, err)
	}
	e := Entry{Value: m.Data, Revision: m.Sequence}
	if m.Header.Get("KV-Operation") != "" || m.Header.Get(jetstream.MarkerReasonHeader) != "" {
		e.Value, e.Deleted = nil, true
	}
	return e, nil
}

// Keys lists the keys that have a message, as the stream leader sees
// them: a listing from a watch (an ordered consumer, which the server may
// place on a follower) can miss a write acknowledged moments before.
func (b *Bucket) Keys(ctx context.Context) ([]string, error) {
	info, err := b.stream.Info(ctx, jetstream.WithSubjectFilter(b.prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("bucket %s: keys: %w", b.spec.Bucket, err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subject, b.prefix))
	}
	return keys, nil
}

// Any is the revision a write expects when it need not be conditional.
const Any = ^uint64(0)

// Msg is a write of one key.
type Msg struct {
	Key   string
	Value []byte
	// Expect is the revision the key must be at for the write to apply:
	// 0 for a key with no message, Any for no condition.
	Expect uint64
	// TTL, when positive, removes the key after this long (at least a
	// second); the bucket must allow TTLs.
	TTL time.Duration
}

func (b *Bucket) natsMsg(m Msg) *nats.Msg {
	nm := &nats.Msg{Subject: b.prefix + m.Key, Header: nats.Header{}, Data: m.Value}
	if m.Expect != Any {
		nm.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(m.Expect, 10))
	}
	if m.TTL > 0 {
		nm.Header.Set(jetstream.MsgTTLHeader, ttlString(m.TTL))
	}
	return nm
}

// ttlString renders a TTL in whole seconds (the server's resolution),
// rounding up so that a key never goes before its time.
func ttlString(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + "s"
}

// putRetries is how many times Put sends a write again that no server
// took in (no responders): each 250 ms apart, two seconds in all, about
// the time a cluster takes to tell its servers of a stream just made or
// to elect a stream's new leader. A write nobody took in is safe to send
// again; past that, the store is unavailable, and a token request is
// answered 503 with Retry-After rather than kept waiting.
const putRetries = 8

// Put writes one key and returns its new revision. A write whose Expect
// does not hold fails with ErrConflict.
func (b *Bucket) Put(ctx context.Context, m Msg) (uint64, error) {
	ack, err := b.js.PublishMsg(ctx, b.natsMsg(m), jetstream.WithRetryAttempts(putRetries))
	if err != nil {
		return 0, b.mapError(err)
	}
	return ack.Sequence, nil
}

// Delete removes key's messages up to revision rev (Any: all of them),
// leaving no marker, and reports whether it removed one. A key written
// again after rev keeps its new value: a delete at the revision read is a
// compare-and-swap.
func (b *Bucket) Delete(ctx context.Context, key string, rev uint64) (bool, error) {
	req := struct {
		Filter string `json:"filter"`
		Seq    uint64 `json:"seq,omitempty"`
	}{Filter: b.prefix + key}
	if rev != Any {
		req.Seq = rev + 1 // purges below seq
	}
	data, err := json.Marshal(req)
	if err != nil {
		return false, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmp.Or(b.js.Options().DefaultTimeout, 5*time.Second))
		defer cancel()
	}
	msg, err := b.js.Conn().RequestWithContext(ctx, b.api+"STREAM.PURGE."+b.spec.Stream(), data)
	if err != nil {
		return false, fmt.Errorf("bucket %s: delete: %w", b.spec.Bucket, err)
	}
	var resp struct {
		Error  *jetstream.APIError `json:"error"`
		Purged uint64              `json:"purged"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return false, fmt.Errorf("bucket %s: delete: %w", b.spec.Bucket, err)
	}
	if resp.Error != nil {
		return false, fmt.Errorf("bucket %s: delete: %w", b.spec.Bucket, resp.Error)
	}
	return resp.Purged > 0, nil
}

// Backoff waits before attempt (counted from 0) of a compare-and-swap
// loop: not at all before the first, then 1, 2, 4 ms and so on up to
// 50 ms. A lost compare-and-swap may be to a write still in flight, which
// the leader's reads show only once it has applied it, so the next
// attempt waits a little rather than reading the same state again.
func Backoff(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return nil
	}
	t := time.NewTimer(min(time.Millisecond<<min(attempt-1, 6), 50*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Errors of writes. Compare with errors.Is.
var (
	// ErrConflict: a write's expected revision did not hold.
	ErrConflict = errors.New("jskv: revision changed")
	// ErrFull: the bucket is at its MaxMsgs or MaxBytes.
	ErrFull = errors.New("jskv: bucket full")
	// ErrMismatch: an existing bucket's settings differ from those a store
	// needs. Waiting does not fix it; the operator does.
	ErrMismatch = errors.New("jskv: bucket settings differ")
)

func (b *Bucket) mapError(err error) error {
	var api *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		return fmt.Errorf("bucket %s: %w (%w)", b.spec.Bucket, ErrConflict, err)
	case errors.As(err, &api) && api.ErrorCode == jsErrCodeStoreFailed &&
		(api.Description == "maximum messages exceeded" || api.Description == "maximum bytes exceeded"):
		return fmt.Errorf("bucket %s: %w (%w)", b.spec.Bucket, ErrFull, err)
	}
	return fmt.Errorf("bucket %s: %w", b.spec.Bucket, err)
}

// jsErrCodeStoreFailed is the JetStream error of a write the stream's
// store refused (JSStreamStoreFailedF), such as one past its limits.
const jsErrCodeStoreFailed = 10077
