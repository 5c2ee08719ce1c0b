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
	deliver, start := jetstream.DeliverAllPolicy, (*time.Time)(nil)
	switch {
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
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        30 * time.Second,
		}
		if existing, err := js.Consumer(ctx, stream, o.Durable); err == nil {
			// Where a durable consumer starts is fixed when it is made.
			cfg.DeliverPolicy, cfg.OptStartTime = existing.CachedInfo().Config.DeliverPolicy, existing.CachedInfo().Config.OptStartTime
		}
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, cfg)
	} else {
		cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: o.Filters(),
			DeliverPolicy:  deliver,
			OptStartTime:   start,
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
		if err := json.Unmarshal(te.Raw, &te.Event); err == nil {
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
