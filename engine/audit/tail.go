package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/scopeline/scopeline/engine/settings"
)

// TailOptions select the events Tail reads.
type TailOptions struct {
	// Stream and SubjectPrefix default to the defaults of the settings.
	Stream        string
	SubjectPrefix string
	// Since starts at the events stored since then. When zero, Tail starts
	// at new events when following, and at the first event otherwise.
	Since time.Time
	// After, when set, starts right after this stream sequence (an event
	// already read, as a reader resuming); it takes precedence over Since.
	After uint64
	// Kinds keeps only these kinds (all when empty).
	Kinds []Kind
	// Client keeps only events whose request named this client id.
	Client *string
	// Durable names a durable consumer: it remembers what was read (each
	// event is acknowledged once fn returns), so the next Tail with the same
	// name goes on from there. Its start (Since) is fixed when it is created.
	Durable string
	// Follow keeps waiting for new events; otherwise Tail returns once it
	// has read every event stored when it started.
	Follow bool
}

// TailedEvent is one event read by Tail.
type TailedEvent struct {
	Event
	// Raw is the message as stored (the CloudEvent's JSON).
	Raw []byte
	// Seq is the event's sequence in the stream; Stored when it was stored.
	Seq    uint64
	Stored time.Time
}

// Filters returns the subjects that select o's kinds and client.
func (o *TailOptions) Filters() []string {
	prefix := o.SubjectPrefix
	if prefix == "" {
		prefix = settings.DefaultAuditSubjectPrefix
	}
	if len(o.Kinds) == 0 {
		return []string{FilterSubject(prefix, "", o.Client)}
	}
	var out []string
	for _, k := range o.Kinds {
		if s := FilterSubject(prefix, k, o.Client); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Tail reads events from the audit stream in stream order and calls fn for
// each, until ctx ends, fn fails, or (without Follow) it has caught up.
// Messages that are not Scopeline events are skipped.
func Tail(ctx context.Context, js jetstream.JetStream, o TailOptions, fn func(*TailedEvent) error) error {
	stream := o.Stream
	if stream == "" {
		stream = settings.DefaultAuditStream
	}
	deliver, start, startSeq := jetstream.DeliverAllPolicy, (*time.Time)(nil), uint64(0)
	switch {
	case o.After > 0:
		deliver, startSeq = jetstream.DeliverByStartSequencePolicy, o.After+1
	case !o.Since.IsZero():
		deliver, start = jetstream.DeliverByStartTimePolicy, &o.Since
	case o.Follow:
		deliver = jetstream.DeliverNewPolicy
	}
	var (
		cons jetstream.Consumer
		err  error
	)
	if o.Durable != "" {
		cfg := jetstream.ConsumerConfig{
			Durable:        o.Durable,
			Description:    "scopeline audit tail",
			FilterSubjects: o.Filters(),
			DeliverPolicy:  deliver,
			OptStartTime:   start,
			OptStartSeq:    startSeq,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        30 * time.Second,
		}
		if existing, err := js.Consumer(ctx, stream, o.Durable); err == nil {
			// Where a durable consumer starts is fixed when it is made.
			c := existing.CachedInfo().Config
			cfg.DeliverPolicy, cfg.OptStartTime, cfg.OptStartSeq = c.DeliverPolicy, c.OptStartTime, c.OptStartSeq
		}
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, cfg)
	} else {
		cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: o.Filters(),
			DeliverPolicy:  deliver,
			OptStartTime:   start,
			OptStartSeq:    startSeq,
		})
	}
	if err != nil {
		return fmt.Errorf("audit: reading stream %s: %w", stream, err)
	}
	if !o.Follow {
		info, err := cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("audit: reading stream %s: %w", stream, err)
		}
		if info.NumPending == 0 {
			return nil
		}
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("audit: reading stream %s: %w", stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("audit: reading stream %s: %w", stream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("audit: reading stream %s: %w", stream, err)
		}
		te := &TailedEvent{Raw: msg.Data(), Seq: meta.Sequence.Stream, Stored: meta.Timestamp}
		// A start time past the last message makes the server deliver
		// from the first: what was stored before Since is skipped here.
		early := o.After == 0 && !o.Since.IsZero() && meta.Timestamp.Before(o.Since)
		if err := json.Unmarshal(te.Raw, &te.Event); err == nil && !early {
			if _, ok := te.Kind(); ok {
				if err := fn(te); err != nil {
					return err
				}
			}
		}
		if o.Durable != "" {
			if err := msg.Ack(); err != nil {
				return fmt.Errorf("audit: acknowledging event %d: %w", te.Seq, err)
			}
		}
		if !o.Follow && meta.NumPending == 0 {
			return nil
		}
	}
}

// ParseSince reads where to start reading the stream: a duration back
// from now ("30m", "24h"), an RFC 3339 time, a date and time without a
// zone as an HTML datetime-local field sends it ("2006-01-02T15:04", read
// as UTC), or a date. A time after now is refused.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration back from now must be positive", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.After(now) {
				return time.Time{}, fmt.Errorf("%q is in the future", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want a duration (30m, 24h), an RFC 3339 time or a date (2006-01-02)", s)
}

// Reader reads one audit stream on an open connection: the tools of the
// issuer's own process (the console) use it on the publisher's.
type Reader struct {
	js     jetstream.JetStream
	stream string
	prefix string
}

// NewReader returns a reader of stream, whose subjects start with prefix
// ("" for each: the defaults).
func NewReader(js jetstream.JetStream, stream, prefix string) *Reader {
	if stream == "" {
		stream = settings.DefaultAuditStream
	}
	if prefix == "" {
		prefix = settings.DefaultAuditSubjectPrefix
	}
	return &Reader{js: js, stream: stream, prefix: prefix}
}

// Tail is Tail on the reader's stream; o's Stream and SubjectPrefix are
// the reader's.
func (r *Reader) Tail(ctx context.Context, o TailOptions, fn func(*TailedEvent) error) error {
	o.Stream, o.SubjectPrefix = r.stream, r.prefix
	return Tail(ctx, r.js, o, fn)
}

// ErrNoEvent is returned for a sequence that holds no Scopeline event.
var ErrNoEvent = errors.New("audit: no such event")

// Event returns the event stored at sequence seq.
func (r *Reader) Event(ctx context.Context, seq uint64) (*TailedEvent, error) {
	s, err := r.js.Stream(ctx, r.stream)
	if err != nil {
		return nil, fmt.Errorf("audit: reading stream %s: %w", r.stream, err)
	}
	msg, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNoEvent
	}
	if err != nil {
		return nil, fmt.Errorf("audit: reading stream %s: %w", r.stream, err)
	}
	te := &TailedEvent{Raw: msg.Data, Seq: msg.Sequence, Stored: msg.Time}
	if err := json.Unmarshal(te.Raw, &te.Event); err != nil {
		return nil, ErrNoEvent
	}
	if _, ok := te.Kind(); !ok {
		return nil, ErrNoEvent
	}
	return te, nil
}

// LastSeq returns the sequence of the last message stored (0 when none).
func (r *Reader) LastSeq(ctx context.Context) (uint64, error) {
	s, err := r.js.Stream(ctx, r.stream)
	if err != nil {
		return 0, fmt.Errorf("audit: reading stream %s: %w", r.stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: reading stream %s: %w", r.stream, err)
	}
	return info.State.LastSeq, nil
}
