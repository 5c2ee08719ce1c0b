package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// acks waits for the stream's acknowledgements of events published in ack
// mode. An event is published as a NATS message with a reply subject,
// prefix + a token never used before; the stream answers there once the
// event is stored, and one subscription on prefix + "*" hands each answer
// to the request waiting for it.
//
// This is what the jetstream package's PublishMsgAsync does, without what
// a token request does not need and pays for on every event: a future with
// its channels, a timer per message, options and a message copy, and
// reflection to decode the answer. A request here borrows a waiter (a
// channel and a timer, reused) and allocates only its reply subject. See
// docs/performance.md, "Audit stream".
type acks struct {
	nc     *nats.Conn
	stream string
	prefix string
	sub    *nats.Subscription
	// slots bounds the events sent and not yet answered (max_in_flight).
	slots chan struct{}

	mu      sync.Mutex
	next    uint64
	pending map[uint64]*ackWaiter

	waiters sync.Pool
}

// ackWaiter is one request waiting for its event's acknowledgement.
type ackWaiter struct {
	// token is the reply token of the attempt in flight (0: none).
	token uint64
	// answer gets the stream's answer to that attempt: the acknowledgement
	// handler sends to it only after taking the waiter out of pending.
	answer chan ackAnswer
	timer  *time.Timer
	reply  []byte // where the reply subject is written
}

// ackAnswer is the stream's answer to one publish.
type ackAnswer struct {
	duplicate bool
	err       error
}

// newAcks makes the waiting room for events to stream, at most
// maxInFlight at once; listen connects it.
func newAcks(stream string, maxInFlight int) *acks {
	a := &acks{
		stream:  stream,
		slots:   make(chan struct{}, maxInFlight),
		pending: map[uint64]*ackWaiter{},
	}
	a.waiters.New = func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return &ackWaiter{answer: make(chan ackAnswer, 1), timer: t}
	}
	return a
}

// listen subscribes to the answers on nc, which events are then sent on.
func (a *acks) listen(nc *nats.Conn) error {
	a.nc, a.prefix = nc, nc.NewInbox()+"."
	sub, err := nc.Subscribe(a.prefix+"*", a.onAnswer)
	if err != nil {
		return fmt.Errorf("audit: subscribing to acknowledgements: %w", err)
	}
	// Answers come as fast as events go: never drop one as a slow
	// consumer (its request would wait out ack_timeout and re-send).
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	a.sub = sub
	return nil
}

// waiter borrows a waiter; release gives it back (with no attempt in
// flight: after wait, or a failed send).
func (a *acks) waiter() *ackWaiter { return a.waiters.Get().(*ackWaiter) }

func (a *acks) release(w *ackWaiter) { a.waiters.Put(w) }

// reserve takes a slot among the events in flight, waiting until
// deadline (or ctx) for one to free up.
func (a *acks) reserve(ctx context.Context, w *ackWaiter, deadline time.Time) error {
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}
	w.timer.Reset(time.Until(deadline))
	defer w.timer.Stop()
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-w.timer.C:
		return fmt.Errorf("%d events in flight: %w", cap(a.slots), jetstream.ErrTooManyStalledMsgs)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *acks) unreserve() { <-a.slots }

// inFlight is the number of events sent and not yet answered.
func (a *acks) inFlight() int { return len(a.slots) }

// send publishes msg with a new reply token registered for w.
func (a *acks) send(msg *nats.Msg, w *ackWaiter) error {
	a.mu.Lock()
	a.next++
	w.token = a.next
	a.pending[w.token] = w
	a.mu.Unlock()
	w.reply = strconv.AppendUint(append(w.reply[:0], a.prefix...), w.token, 10)
	msg.Reply = string(w.reply)
	err := a.nc.PublishMsg(msg)
	msg.Reply = ""
	if err != nil && !a.forget(w) {
		<-w.answer // failAll answered it meanwhile: keep the channel empty
	}
	return err
}

// sendUnwatched publishes msg with a reply subject nobody waits on: the
// stream stores and acknowledges it as any event, and the answer is
// dropped.
func (a *acks) sendUnwatched(msg *nats.Msg) error {
	msg.Reply = a.prefix + "0"
	err := a.nc.PublishMsg(msg)
	msg.Reply = ""
	return err
}

// wait returns the answer to w's attempt in flight, or errAckTimeout once
// until has passed, or ctx's error. Either way w has no attempt in flight
// afterwards and may send again.
func (a *acks) wait(ctx context.Context, w *ackWaiter, until time.Time) (ackAnswer, error) {
	w.timer.Reset(time.Until(until))
	defer w.timer.Stop()
	var err error
	select {
	case ans := <-w.answer:
		w.token = 0
		return ans, nil
	case <-w.timer.C:
		err = errAckTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	if !a.forget(w) {
		// The answer is being handed over: take it, so that the channel is
		// empty for w's next use, and keep it if it is a success.
		if ans := <-w.answer; ans.err == nil {
			return ans, nil
		}
	}
	return ackAnswer{}, err
}

// forget takes w's attempt out of pending; false when the handler took it
// first (its answer is then on its way to w.answer).
func (a *acks) forget(w *ackWaiter) bool {
	a.mu.Lock()
	_, ok := a.pending[w.token]
	delete(a.pending, w.token)
	a.mu.Unlock()
	w.token = 0
	return ok
}

// failAll answers every attempt in flight with err: after a disconnection
// their answers will never come, and waiting for the ack timeout would
// only delay the re-send.
func (a *acks) failAll(err error) {
	a.mu.Lock()
	waiting := make([]*ackWaiter, 0, len(a.pending))
	for tok, w := range a.pending {
		delete(a.pending, tok)
		waiting = append(waiting, w)
	}
	a.mu.Unlock()
	for _, w := range waiting {
		w.answer <- ackAnswer{err: err}
	}
}

// onAnswer runs on the subscription's goroutine for every answer.
func (a *acks) onAnswer(m *nats.Msg) {
	tok, err := strconv.ParseUint(strings.TrimPrefix(m.Subject, a.prefix), 10, 64)
	if err != nil || tok == 0 {
		return
	}
	a.mu.Lock()
	w := a.pending[tok]
	delete(a.pending, tok)
	a.mu.Unlock()
	if w == nil {
		// Answered after its request stopped waiting: the re-send, with the
		// same id, is what counts.
		return
	}
	w.answer <- readAnswer(m, a.stream)
}

// errAckTimeout is an attempt that got no answer within ack_timeout.
var errAckTimeout = jetstream.ErrAsyncPublishTimeout

// readAnswer reads the stream's answer to a publish: a PubAck
// ({"stream":"S","seq":N} with "duplicate":true when the id was already
// stored), an API error, or a no-responders status (no stream captures the
// subject).
func readAnswer(m *nats.Msg, stream string) ackAnswer {
	if len(m.Data) == 0 {
		if m.Header.Get("Status") == "503" {
			return ackAnswer{err: jetstream.ErrNoStreamResponse}
		}
		return ackAnswer{err: jetstream.ErrInvalidJSAck}
	}
	// The usual answer, read without decoding it: the stream's name, then
	// the sequence.
	if rest, ok := bytes.CutPrefix(m.Data, ackPrefix); ok {
		if rest, ok := bytes.CutPrefix(rest, []byte(stream)); ok {
			if rest, ok := bytes.CutPrefix(rest, ackSeq); ok && len(rest) > 0 && rest[0] >= '1' && rest[0] <= '9' &&
				!bytes.Contains(rest, []byte(`"error"`)) {
				return ackAnswer{duplicate: bytes.Contains(rest, ackDuplicate)}
			}
		}
	}
	var ack struct {
		Stream    string              `json:"stream"`
		Seq       uint64              `json:"seq"`
		Duplicate bool                `json:"duplicate"`
		Error     *jetstream.APIError `json:"error"`
	}
	switch err := json.Unmarshal(m.Data, &ack); {
	case err != nil:
		return ackAnswer{err: jetstream.ErrInvalidJSAck}
	case ack.Error != nil:
		return ackAnswer{err: ack.Error}
	case ack.Stream != stream || ack.Seq == 0:
		return ackAnswer{err: fmt.Errorf("%w: stored by stream %q, not %q", jetstream.ErrInvalidJSAck, ack.Stream, stream)}
	}
	return ackAnswer{duplicate: ack.Duplicate}
}

var (
	ackPrefix    = []byte(`{"stream":"`)
	ackSeq       = []byte(`","seq":`)
	ackDuplicate = []byte(`"duplicate":true`)
)
