package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Probing the stream: how often, and how long an answer may take at most
// (the ack timeout, if shorter).
const (
	probeInterval   = time.Second
	maxProbeTimeout = 2 * time.Second
)

// health is whether the stream answers, for Ready: acknowledgements of
// events and answers to the periodic probe say it does; an attempt whose
// acknowledgement did not come in time, or a probe left unanswered, says
// it does not, until the next answer. A server can keep its connections
// open and answer nothing (stopped, overloaded, a stream without a
// leader): the connection state alone does not show it.
type health struct {
	mu         sync.Mutex
	answered   time.Time
	unanswered time.Time
	why        error
}

// ok records an answer at t.
func (h *health) ok(t time.Time) (recovered bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	recovered = h.failing()
	if t.After(h.answered) {
		h.answered = t
	}
	return recovered && !h.failing()
}

// failed records, at t, a request the stream did not answer in time.
func (h *health) failed(t time.Time, why error) (started bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.failing()
	if t.After(h.unanswered) {
		h.unanswered, h.why = t, why
	}
	return !was && h.failing()
}

func (h *health) failing() bool { return h.unanswered.After(h.answered) }

// err says why the stream is not answering, nil when it is.
func (h *health) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failing() {
		return nil
	}
	return fmt.Errorf("the stream has not answered since %s: %w", h.unanswered.UTC().Format(time.RFC3339), h.why)
}

// isTimeout tells whether a publish attempt failed for want of an answer:
// its acknowledgement timed out, or no room was left among the events in
// flight because none were acknowledged.
func isTimeout(err error) bool {
	return errors.Is(err, jetstream.ErrAsyncPublishTimeout) || errors.Is(err, jetstream.ErrTooManyStalledMsgs) ||
		errors.Is(err, context.DeadlineExceeded)
}

// answered records that the stream answered.
func (p *Publisher) answered() {
	if p.health.ok(time.Now()) {
		p.log.Info("audit: the stream answers again")
	}
}

// unanswered records a request the stream did not answer in time.
func (p *Publisher) unanswered(why error) {
	if p.health.failed(time.Now(), why) && !p.closed.Load() {
		p.log.Warn("audit: the stream stopped answering; not ready until it answers again", "err", why)
	}
}

// probeLoop asks for the stream's info every probeInterval while
// connected, so that Ready notices a stream that stopped answering even
// when no event is being published, and notices when it answers again
// even when no traffic comes (a load balancer sends none to an instance
// that is not ready).
func (p *Publisher) probeLoop() {
	defer p.wg.Done()
	timeout := min(p.cfg.AckTimeout, maxProbeTimeout)
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		}
		if !p.nc.IsConnected() || p.streamError() != nil {
			continue // Ready says so already
		}
		ctx, cancel := context.WithTimeout(p.ctx, timeout)
		_, err := p.js.Stream(ctx, p.cfg.Stream.Name)
		cancel()
		switch {
		case p.ctx.Err() != nil:
			return
		case err == nil:
			p.answered()
		case isNoStream(err):
			p.requestEnsure()
		default:
			p.unanswered(fmt.Errorf("stream info: %w", err))
		}
	}
}
