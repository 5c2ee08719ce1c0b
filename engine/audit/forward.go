package audit

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/audit/internal/spool"
)

// A spooled event is one record:
//
//	byte 1 (format) | byte kind index | uint16 subject length | subject |
//	byte id length | id | event JSON
const recordFormat = 1

func encodeRecord(kind Kind, m *nats.Msg) []byte {
	id := m.Header.Get(jetstream.MsgIDHeader)
	b := make([]byte, 0, 5+len(m.Subject)+len(id)+len(m.Data))
	b = append(b, recordFormat, byte(slices.Index(Kinds, kind)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.Subject)))
	b = append(b, m.Subject...)
	b = append(b, byte(len(id)))
	b = append(b, id...)
	return append(b, m.Data...)
}

var errBadRecord = errors.New("audit: unreadable spool record")

// decodeRecord reads a spooled event back into the message first built
// for it: same id, same bytes, same subject but under prefix, the subject
// prefix of the settings now (they may have changed since the event was
// spooled, and the stream captures the new prefix only).
func decodeRecord(b []byte, stream, prefix string) (Kind, *nats.Msg, error) {
	if len(b) < 5 || b[0] != recordFormat || int(b[1]) >= len(Kinds) {
		return "", nil, errBadRecord
	}
	kind := Kinds[b[1]]
	n := int(binary.LittleEndian.Uint16(b[2:4]))
	b = b[4:]
	if len(b) < n+1 {
		return "", nil, errBadRecord
	}
	subject := string(b[:n])
	if i := strings.LastIndexByte(subject, '.'); i >= 0 { // the client token
		subject = prefix + "." + string(kind) + subject[i:]
	}
	b = b[n:]
	idLen := int(b[0])
	b = b[1:]
	if len(b) < idLen {
		return "", nil, errBadRecord
	}
	return kind, newMsg(subject, string(b[:idLen]), stream, b[idLen:]), nil
}

// forwarder publishes the spool's events in buffered mode: in order, at
// most MaxInFlight unacknowledged, each re-sent with the same id after any
// failure until the stream acknowledges it; only then is it removed from
// the spool.
type forwarder struct {
	p   *Publisher
	sp  *spool.Spool
	rd  *spool.Reader
	js  jetstream.JetStream
	max int

	mu       sync.Mutex
	inflight map[string]*outgoing // by event id
	retry    []*outgoing          // failed sends, oldest first
	wake     chan struct{}
}

// outgoing is a spooled event on its way to the stream.
type outgoing struct {
	seq       uint64
	kind      Kind
	msg       *nats.Msg
	first     time.Time // first send
	sends     int
	notBefore time.Time // earliest re-send
}

func newForwarder(p *Publisher) (*forwarder, error) {
	f := &forwarder{
		p:        p,
		sp:       p.spool,
		rd:       p.spool.Reader(),
		max:      p.cfg.MaxInFlight,
		inflight: map[string]*outgoing{},
		wake:     make(chan struct{}, 1),
	}
	var err error
	f.js, err = jetstream.New(p.nc,
		jetstream.WithPublishAsyncMaxPending(p.cfg.MaxInFlight),
		jetstream.WithPublishAsyncTimeout(p.cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(f.onAck),
		jetstream.WithPublishAsyncErrHandler(f.onErr))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return f, nil
}

func (f *forwarder) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run forwards until the publisher stops.
func (f *forwarder) run() {
	defer f.p.wg.Done()
	defer f.rd.Close()
	poll := time.NewTimer(time.Second)
	defer poll.Stop()
	for {
		wait := f.fill()
		poll.Reset(wait)
		select {
		case <-f.p.ctx.Done():
			return
		case <-f.wake:
		case <-f.sp.Notify():
		case <-poll.C:
		}
	}
}

// fill sends what it can: due re-sends first, then new records. It returns
// how long to wait before looking again if nothing wakes the loop.
func (f *forwarder) fill() time.Duration {
	const idle = 250 * time.Millisecond
	// Hold back while disconnected or until the stream is in place, rather
	// than send events to fail and come back out of order.
	if !f.p.nc.IsConnected() || f.p.streamError() != nil {
		return idle
	}
	for {
		now := time.Now()
		f.mu.Lock()
		room := f.max - len(f.inflight)
		if room <= 0 {
			f.mu.Unlock()
			return idle
		}
		var due *outgoing
		waitRetry := time.Duration(0)
		if len(f.retry) > 0 {
			if head := f.retry[0]; !head.notBefore.After(now) {
				due = head
				f.retry = f.retry[1:]
			} else {
				waitRetry = head.notBefore.Sub(now)
			}
		}
		f.mu.Unlock()
		if due != nil {
			f.send(due)
			continue
		}
		if waitRetry > 0 {
			// Keep order: new records wait behind the failed ones.
			return waitRetry
		}
		recs, err := f.rd.Next(min(room, 256))
		if err != nil && !errors.Is(err, spool.ErrClosed) {
			f.p.log.Error("audit: reading the spool", "err", err)
		}
		if len(recs) == 0 {
			return idle
		}
		for _, r := range recs {
			kind, msg, err := decodeRecord(r.Data, f.p.cfg.Stream.Name, f.p.cfg.SubjectPrefix)
			if err != nil {
				// Checksummed on disk, so only a bug or a foreign file gets
				// here: dropping it is the only way forward; say so loudly.
				f.p.log.Error("audit: dropping an unreadable spool record", "seq", r.Seq, "err", err)
				f.sp.Ack(r.Seq)
				continue
			}
			f.send(&outgoing{seq: r.Seq, kind: kind, msg: msg})
		}
	}
}

// send publishes o; a failure puts it back for a re-send.
func (f *forwarder) send(o *outgoing) {
	id := o.msg.Header.Get(jetstream.MsgIDHeader)
	// o's fields change under f.mu only: a late callback from an earlier
	// send of the same event may read them at any time.
	f.mu.Lock()
	firstSend := o.sends == 0
	if firstSend {
		o.first = time.Now()
	}
	o.sends++
	f.inflight[id] = o
	f.mu.Unlock()
	if firstSend {
		f.p.metrics.of(o.kind).published.Inc()
	} else {
		f.p.metrics.retries.Inc()
	}
	if _, err := f.js.PublishMsgAsync(o.msg, f.p.stallWait); err != nil {
		f.failed(id, err)
	}
}

// onAck runs on the NATS client's goroutine for every acknowledgement.
func (f *forwarder) onAck(_ jetstream.JetStream, m *nats.Msg, ack *jetstream.PubAck) {
	id := m.Header.Get(jetstream.MsgIDHeader)
	f.mu.Lock()
	o := f.inflight[id]
	delete(f.inflight, id)
	var first time.Time
	if o != nil {
		first = o.first
	}
	f.mu.Unlock()
	if o == nil {
		return
	}
	if err := f.sp.Ack(o.seq); err != nil && !errors.Is(err, spool.ErrClosed) {
		f.p.log.Error("audit: recording a delivered event in the spool", "err", err)
	}
	f.p.acked(o.kind, ack.Duplicate, first)
	f.signal()
}

// onErr runs on the NATS client's goroutines (sometimes under its locks:
// it must not publish) for every failed send.
func (f *forwarder) onErr(_ jetstream.JetStream, m *nats.Msg, err error) {
	f.failed(m.Header.Get(jetstream.MsgIDHeader), err)
}

func (f *forwarder) failed(id string, err error) {
	f.mu.Lock()
	o := f.inflight[id]
	delete(f.inflight, id)
	sends := 0
	if o != nil {
		sends = o.sends
		backoff := min(50*time.Millisecond<<min(o.sends-1, 7), 5*time.Second)
		o.notBefore = time.Now().Add(backoff)
		// Keep the queue in spool order, so the stream gets events in
		// order once it is back.
		i, _ := slices.BinarySearchFunc(f.retry, o.seq, func(r *outgoing, seq uint64) int {
			return cmp.Compare(r.seq, seq)
		})
		f.retry = slices.Insert(f.retry, i, o)
	}
	f.mu.Unlock()
	if o == nil {
		return
	}
	if isNoStream(err) {
		f.p.requestEnsure()
	}
	if isTimeout(err) {
		f.p.unanswered(err)
	}
	f.p.log.Debug("audit: event not acknowledged; it will be sent again", "id", id, "sends", sends, "err", err)
	f.signal()
}

// drain waits until every spooled event is acknowledged, or ctx ends.
func (f *forwarder) drain(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if f.sp.Stats().Depth == 0 {
			return nil
		}
		f.signal()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
