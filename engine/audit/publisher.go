package audit

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit/internal/spool"
	"github.com/scopeline/scopeline/engine/cluster"
	"github.com/scopeline/scopeline/engine/internal/jskv"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Errors of the publisher. A failed Record wraps ErrUnavailable: the engine
// then withholds the token and answers temporarily_unavailable.
var (
	ErrUnavailable = errors.New("audit: the audit stream is unavailable")
	ErrClosed      = errors.New("audit: publisher closed")
)

// Publisher publishes every decision to the audit stream on NATS
// JetStream. It is the engine's Auditor.
//
// In ack mode Record returns once the stream acknowledged the event; in
// buffered mode once the event is in the local spool, from which a
// forwarder publishes it. Either way each event is published with a reply
// subject for the stream's acknowledgement, bounded in flight, and re-sent
// with the same Nats-Msg-Id on any failure, so the stream's duplicate
// window drops copies.
type Publisher struct {
	cfg      settings.Audit
	log      *slog.Logger
	now      func() time.Time
	source   string
	instance string

	randMu sync.Mutex
	rand   io.Reader

	node    *cluster.Node
	ownNode bool // the publisher started node and stops it
	nc      *nats.Conn
	js      jetstream.JetStream // stream management; the forwarder has its own
	acks    *acks               // ack mode's acknowledgements
	scratch sync.Pool           // *eventScratch
	spool   *spool.Spool
	fwd     *forwarder
	metrics *publisherMetrics
	// stallWait bounds how long a send without a deadline of its own
	// waits for room among the events in flight.
	stallWait jetstream.PublishOpt

	secrets  atomic.Pointer[[]string]
	redactor atomic.Pointer[tenant.Redactor]
	tenant   atomic.Pointer[tenant.Tenant] // the latest, for sign-in events

	streamMu  sync.Mutex
	streamErr error
	ensure    chan struct{}
	health    health

	closed atomic.Bool
	// ctx ends on Close (halt): the background loops stop, work in
	// progress is cancelled.
	ctx  context.Context
	halt context.CancelFunc
	wg   sync.WaitGroup
}

// Option configures Open.
type Option func(*options)

type options struct {
	log      *slog.Logger
	metrics  *metrics.Set
	now      func() time.Time
	rand     io.Reader
	source   string
	dataDir  string
	tenant   *tenant.Tenant
	hostname func() (string, error)
	node     *cluster.Node
	// overTCP connects to the embedded server through its loopback
	// listener rather than in process: only to measure the difference.
	overTCP bool
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMetrics makes the publisher's metrics in set, which the caller
// exports (docs/events.md lists them). Without it they are counted but
// not exported.
func WithMetrics(set *metrics.Set) Option { return func(o *options) { o.metrics = set } }

// WithClock sets the clock used for event times (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRand sets the randomness for event ids and the nkey the publisher
// signs in to the embedded server with (default crypto/rand).
func WithRand(r io.Reader) Option { return func(o *options) { o.rand = r } }

// WithSource sets the events' `source`: the issuer URL.
func WithSource(issuer string) Option { return func(o *options) { o.source = issuer } }

// WithDataDir sets where the embedded server's store and the spool live
// unless the settings say otherwise (default ".").
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithNode publishes through the process's NATS node (package cluster),
// on a connection of the publisher's own; the caller closes the node after
// the publisher. Without it, Open starts a node from the settings.
func WithNode(n *cluster.Node) Option { return func(o *options) { o.node = n } }

// WithTenant gives the tenant being served: its hook secrets are redacted
// from any text an event carries (trace reasons, hook logs, errors).
func WithTenant(t *tenant.Tenant) Option { return func(o *options) { o.tenant = t } }

// Open starts what the settings ask for and returns a publisher: the
// embedded NATS server when no URL is configured, the connection
// (reconnecting forever; a server that is down at start is waited for in
// the background), the stream (created or updated in the background as
// soon as the server answers) and, in buffered mode, the spool and its
// forwarder.
func Open(ctx context.Context, cfg settings.Audit, opts ...Option) (*Publisher, error) {
	o := options{now: time.Now, rand: rand.Reader, dataDir: ".", log: slog.New(slog.DiscardHandler), hostname: os.Hostname}
	for _, opt := range opts {
		opt(&o)
	}
	p := &Publisher{
		cfg:    cfg,
		log:    o.log,
		now:    o.now,
		rand:   o.rand,
		source: o.source,
		ensure: make(chan struct{}, 1),
		acks:   newAcks(cfg.Stream.Name, cfg.MaxInFlight),
	}
	p.scratch.New = func() any { return newEventScratch(cfg.Stream.Name) }
	p.streamErr = errors.New("not created yet")
	p.ctx, p.halt = context.WithCancel(context.WithoutCancel(ctx))
	p.instance = cfg.Instance
	if p.instance == "" {
		h, err := o.hostname()
		if err != nil || h == "" {
			h = "scopeline"
		}
		p.instance = h
	}
	if p.source == "" {
		p.source = "urn:scopeline:" + p.instance
	}
	p.setSecrets(o.tenant)
	if o.tenant != nil {
		p.tenant.Store(o.tenant)
	}

	connOpts := []nats.Option{
		nats.Name("scopeline " + p.instance),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		// No reconnect buffer: while disconnected a publish fails at once
		// and is re-sent after the reconnect, rather than flushed later
		// behind the back of a request that already gave up on it.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			// Answers to what was sent before will not come: re-send now.
			p.acks.failAll(nats.ErrDisconnected)
			if !p.closed.Load() {
				p.log.Warn("audit: disconnected from NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(p.connected),
		nats.ConnectHandler(p.connected),
	}
	p.node = o.node
	if p.node == nil {
		store := cfg.NATS.Embedded.StoreDir
		if store == "" {
			store = filepath.Join(o.dataDir, "nats")
		}
		var err error
		p.node, err = cluster.Start(ctx, cluster.Config{
			NATS: cfg.NATS, StoreDir: store, ReaderStream: cfg.Stream.Name,
			MaxPayload: 2 * MaxEventBytes, Name: "scopeline " + p.instance, Log: p.log, Rand: p.rand,
		})
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		p.ownNode = true
	}
	connect := p.node.Connect
	if o.overTCP {
		connect = p.node.ConnectTCP
	}
	var err error
	if p.nc, err = connect(connOpts...); err != nil {
		p.shutdownServer()
		return nil, fmt.Errorf("audit: connecting to NATS: %w", err)
	}
	if p.js, err = jetstream.New(p.nc); err == nil {
		err = p.acks.listen(p.nc)
	}
	if err != nil {
		p.nc.Close()
		p.shutdownServer()
		return nil, fmt.Errorf("audit: %w", err)
	}
	p.metrics = newPublisherMetrics(o.metrics, p)
	p.stallWait = jetstream.WithStallWait(cfg.AckTimeout)
	if cfg.Mode == settings.AuditBuffered {
		dir := cfg.Spool.Dir
		if dir == "" {
			dir = filepath.Join(o.dataDir, "audit-spool")
		}
		p.spool, err = spool.Open(dir, spool.Options{
			MaxBytes:     cfg.Spool.MaxBytes,
			MaxRecords:   cfg.Spool.MaxEvents,
			SyncAlways:   cfg.Spool.Sync.Always,
			SyncInterval: cfg.Spool.Sync.Interval,
			Log:          p.log,
		})
		if err != nil {
			p.nc.Close()
			p.shutdownServer()
			return nil, fmt.Errorf("audit: %w", err)
		}
		if p.fwd, err = newForwarder(p); err != nil {
			p.spool.Close()
			p.nc.Close()
			p.shutdownServer()
			return nil, err
		}
		if st := p.spool.Stats(); st.Depth > 0 {
			p.log.Info("audit: resending events left in the spool", "events", st.Depth, "dir", dir)
		}
		p.wg.Add(1)
		go p.fwd.run()
	}
	p.wg.Add(2)
	go p.ensureLoop()
	go p.probeLoop()
	p.requestEnsure()
	return p, nil
}

// connected logs a (re)connection and makes sure the stream exists.
func (p *Publisher) connected(nc *nats.Conn) {
	where := nc.ConnectedUrlRedacted()
	if p.node.Embedded() {
		where = "embedded server, in process"
	}
	p.log.Info("audit: connected to NATS", "server", where)
	p.requestEnsure()
}

// ClientURL is the embedded server's loopback URL ("" when there is no
// embedded server or it does not listen).
func (p *Publisher) ClientURL() string { return p.node.ClientURL() }

// Reader returns a reader of the stream on the publisher's connection.
func (p *Publisher) Reader() *Reader {
	return NewReader(p.js, p.cfg.Stream.Name, p.cfg.SubjectPrefix)
}

// DecisionData returns the data of d's event as Record publishes it,
// with the hook secrets of the tenants it knows redacted.
func (p *Publisher) DecisionData(d *engine.Decision) *DecisionData {
	return decisionData(d, p.instance, p.redactor.Load())
}

// Backlog is the number of events in the spool not yet acknowledged by the
// stream (always 0 in ack mode).
func (p *Publisher) Backlog() int64 { return p.spoolStats().Depth }

// Record publishes one decision (engine.Auditor). In ack mode it returns
// once the stream stored the event, in buffered mode once the spool holds
// it; an error wraps ErrUnavailable.
func (p *Publisher) Record(ctx context.Context, d *engine.Decision) error {
	// A denial caused by this very stream being unavailable is sent
	// without waiting: waiting again would only double the client's wait.
	wait := !(d.Outcome == engine.OutcomeDenied && d.Err != nil && errors.Is(d.Err, ErrUnavailable))
	s := p.scratch.Get().(*eventScratch)
	defer p.putScratch(s)
	fillDecision(&s.decision, d, p.instance, p.redactor.Load())
	return p.emit(ctx, s, kindOf(d), d.Issuer, clip(d.Tx.ClientID, maxFieldLen), d.Time, &s.decision, wait)
}

// Reload describes a tenant reload, for Reloaded.
type Reload struct {
	// Source is the tenant file reloaded.
	Source string
	// Revision and By are the revision of the cluster's tenant store and
	// who pushed it, when the tenant comes from there.
	Revision uint64
	By       string
	// Tenant is the tenant the reload brought in; nil when it was refused
	// with Err.
	Tenant *tenant.Tenant
	Err    error
	// RestartRequired says that the settings file changed too: its
	// settings (these very ones among them) apply at the next restart
	// only.
	RestartRequired bool
}

// Reloaded publishes a tenant-reloaded event; an error wraps
// ErrUnavailable. It also starts redacting the new tenant's hook secrets.
func (p *Publisher) Reloaded(ctx context.Context, r Reload) error {
	data := &ReloadData{Instance: p.instance, Issuer: p.source, Source: r.Source, Result: "ok", LogCode: "sapi", RestartRequired: r.RestartRequired,
		Revision: int64(r.Revision), By: clip(r.By, maxFieldLen)}
	if r.Err != nil {
		data.Result, data.LogCode = "error", "fapi"
		data.Error = clip(p.redact(r.Err.Error()), 4096)
	}
	if t := r.Tenant; t != nil {
		p.setSecrets(t)
		p.tenant.Store(t)
		data.APIs, data.Clients, data.Grants = len(t.APIs), len(t.Clients), len(t.Grants)
		for _, pl := range t.Pipelines {
			data.Hooks += len(pl.Hooks)
		}
	}
	s := p.scratch.Get().(*eventScratch)
	defer p.putScratch(s)
	return p.emit(ctx, s, KindTenantReloaded, "", "", p.now(), data, true)
}

// RecordLogin publishes a sign-in attempt at the hosted login page
// (engine.LoginAuditor), like a decision in either mode.
func (p *Publisher) RecordLogin(ctx context.Context, l *engine.Login) error {
	s := p.scratch.Get().(*eventScratch)
	defer p.putScratch(s)
	return p.emit(ctx, s, KindLogin, l.Issuer, clip(l.ClientID, maxFieldLen), l.Time, loginData(l, p.tenant.Load(), p.instance), true)
}

// RecordRevocation publishes a revocation request (engine.RevocationAuditor),
// like a decision in either mode.
func (p *Publisher) RecordRevocation(ctx context.Context, r *engine.Revocation) error {
	s := p.scratch.Get().(*eventScratch)
	defer p.putScratch(s)
	return p.emit(ctx, s, KindRevoked, r.Issuer, clip(r.ClientID, maxFieldLen), r.Time, revocationData(r, p.tenant.Load(), p.instance), true)
}

// RecordIntrospection publishes an introspection request
// (engine.IntrospectionAuditor), like a decision in either mode.
func (p *Publisher) RecordIntrospection(ctx context.Context, r *engine.Introspection) error {
	s := p.scratch.Get().(*eventScratch)
	defer p.putScratch(s)
	return p.emit(ctx, s, KindIntrospected, r.Issuer, clip(r.ClientID, maxFieldLen), r.Time, introspectionData(r, p.tenant.Load(), p.instance), true)
}

// emit builds an event in s and delivers it (deliver), from issuer (the
// publisher's source when "") about clientID; an error wraps
// ErrUnavailable and counts as a failed event.
func (p *Publisher) emit(ctx context.Context, s *eventScratch, kind Kind, issuer, clientID string, at time.Time, data any, wait bool) error {
	if err := p.message(s, kind, cmp.Or(issuer, p.source), clientID, at, data); err != nil {
		p.metrics.of(kind).failed.Inc()
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return p.deliver(ctx, kind, &s.msg, wait)
}

// eventScratch is what an event is built in, reused from event to event:
// its JSON, its NATS message with its headers, and a decision's data.
// Nothing keeps a reference to them once the event is delivered: the NATS
// connection and the spool copy what they send or store.
type eventScratch struct {
	buf      []byte
	msg      nats.Msg
	id       []string // the value of msg's Nats-Msg-Id header
	decision DecisionData
}

func newEventScratch(stream string) *eventScratch {
	s := &eventScratch{buf: make([]byte, 0, 2<<10), id: make([]string, 1)}
	s.msg.Header = newHeader(s.id, stream)
	return s
}

// putScratch keeps s for another event, unless an oversized event grew it,
// dropping what it refers to.
func (p *Publisher) putScratch(s *eventScratch) {
	if cap(s.buf) > 64<<10 {
		return
	}
	s.buf, s.msg.Subject, s.msg.Data, s.id[0] = s.buf[:0], "", nil, ""
	s.decision = DecisionData{}
	p.scratch.Put(s)
}

// message builds the NATS message of an event in s.
func (p *Publisher) message(s *eventScratch, kind Kind, source, clientID string, at time.Time, data any) error {
	p.randMu.Lock()
	id, err := uuid.NewV7FromReader(p.rand)
	p.randMu.Unlock()
	if err != nil {
		return fmt.Errorf("audit: event id: %w", err)
	}
	ev := Event{
		SpecVersion:     SpecVersion,
		ID:              id.String(),
		Source:          source,
		Type:            kind.Type(),
		Subject:         clientID,
		Time:            at.UTC(),
		DataContentType: "application/json",
		DataSchema:      DataSchema,
	}
	if s.buf, err = appendEvent(s.buf[:0], &ev, data); err != nil {
		return err
	}
	s.msg.Subject, s.msg.Data, s.id[0] = Subject(p.cfg.SubjectPrefix, kind, clientID), s.buf, ev.ID
	return nil
}

// newMsg is the message of an event read back from the spool.
func newMsg(subject, id, stream string, data []byte) *nats.Msg {
	return &nats.Msg{Subject: subject, Data: data, Header: newHeader([]string{id}, stream)}
}

// newHeader makes an event message's headers: its id (for the stream's
// duplicate detection), the stream expected to store it, and its
// Content-Type.
func newHeader(id []string, stream string) nats.Header {
	return nats.Header{
		jetstream.MsgIDHeader:          id,
		jetstream.ExpectedStreamHeader: {stream},
		"Content-Type":                 {ContentType},
	}
}

// deliver makes an event durable per the mode.
func (p *Publisher) deliver(ctx context.Context, kind Kind, msg *nats.Msg, wait bool) error {
	km := p.metrics.of(kind)
	if p.closed.Load() {
		km.failed.Inc()
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	if p.spool != nil {
		if _, err := p.spool.Append(encodeRecord(kind, msg)); err != nil {
			km.failed.Inc()
			return fmt.Errorf("%w: spool: %w", ErrUnavailable, err)
		}
		km.spooled.Inc()
		return nil
	}
	km.published.Inc()
	if !wait {
		if err := p.acks.sendUnwatched(msg); err != nil {
			km.failed.Inc()
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil
	}
	if err := p.publish(ctx, kind, msg); err != nil {
		km.failed.Inc()
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// publish sends msg and waits for the stream's acknowledgement, re-sending
// the same message after any failure until PublishTimeout (or ctx) ends.
// Each attempt waits at most AckTimeout for its answer.
func (p *Publisher) publish(ctx context.Context, kind Kind, msg *nats.Msg) error {
	start := time.Now()
	deadline := start.Add(p.cfg.PublishTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	w := p.acks.waiter()
	defer p.acks.release(w)
	if err := p.acks.reserve(ctx, w, deadline); err != nil {
		return fmt.Errorf("no room to send within %s: %w", p.cfg.PublishTimeout, err)
	}
	defer p.acks.unreserve()
	backoff := 10 * time.Millisecond
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			p.metrics.retries.Inc()
		}
		err := p.acks.send(msg, w)
		fullWait := false // the attempt waited its whole ack_timeout
		if err == nil {
			until := time.Now().Add(p.cfg.AckTimeout)
			fullWait = !deadline.Before(until)
			if !fullWait {
				until = deadline
			}
			var ans ackAnswer
			ans, err = p.acks.wait(ctx, w, until)
			switch {
			case err == nil && ans.err == nil:
				p.acked(kind, ans.duplicate, start)
				return nil
			case err == nil:
				err = ans.err
			case ctx.Err() != nil:
				return ctx.Err()
			}
		}
		if isTimeout(err) && fullWait { // not a request that gave up early
			p.unanswered(err)
		}
		lastErr = err
		if !time.Now().Before(deadline) {
			return fmt.Errorf("no acknowledgement within %s (%d attempts): %w", p.cfg.PublishTimeout, attempt+1, errOr(lastErr, errAckTimeout))
		}
		if isNoStream(err) {
			p.requestEnsure()
		}
		if p.nc.IsClosed() {
			return err
		}
		w.timer.Reset(min(backoff, time.Until(deadline)))
		select {
		case <-w.timer.C:
		case <-ctx.Done():
			w.timer.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

func errOr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

func (p *Publisher) acked(kind Kind, duplicate bool, start time.Time) {
	p.answered()
	if duplicate {
		p.metrics.duplicates.Inc()
	}
	p.metrics.of(kind).acked.Inc()
	p.metrics.latency.Update(time.Since(start).Seconds())
}

func isNoStream(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrStreamNotFound)
}

// requestEnsure asks the stream loop to create or update the stream.
func (p *Publisher) requestEnsure() {
	select {
	case p.ensure <- struct{}{}:
	default:
	}
}

// ensureLoop creates or updates the stream whenever asked (at start, on
// every reconnect, when a publish finds no stream), retrying until it
// succeeds.
func (p *Publisher) ensureLoop() {
	defer p.wg.Done()
	var lastLogged string
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.ensure:
		}
		backoff := 100 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
			err := p.ensureStream(ctx)
			cancel()
			if p.closed.Load() {
				return
			}
			p.streamMu.Lock()
			p.streamErr = err
			p.streamMu.Unlock()
			if err == nil {
				p.answered()
				if lastLogged != "ok" {
					p.log.Info("audit: stream ready", "stream", p.cfg.Stream.Name, "subjects", p.cfg.SubjectPrefix+".>",
						"replicas", p.cfg.Stream.Replicas, "duplicate_window", p.cfg.Stream.DuplicateWindow, "mode", p.cfg.Mode)
					lastLogged = "ok"
				}
				break
			}
			if msg := err.Error(); msg != lastLogged && p.nc.IsConnected() {
				p.log.Warn("audit: cannot create or update the stream yet; retrying", "stream", p.cfg.Stream.Name, "err", err)
				lastLogged = msg
			}
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// streamConfig returns the stream's configuration for the settings.
func streamConfig(cfg settings.Audit) jetstream.StreamConfig {
	maxBytes := cfg.Stream.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        cfg.Stream.Name,
		Description: "Scopeline audit events: one CloudEvents 1.0 JSON event per token decision",
		Subjects:    []string{cfg.SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Stream.Replicas,
		MaxAge:      cfg.Stream.MaxAge,
		MaxBytes:    maxBytes,
		MaxMsgs:     -1,
		MaxMsgSize:  2 * MaxEventBytes,
		Discard:     jetstream.DiscardOld,
		Duplicates:  cfg.Stream.DuplicateWindow,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
}

// ErrStreamReplicas: the stream exists with another replica count than
// the settings ask; the publisher does not change it (moving a stream's
// copies is the operator's decision, made with the nats CLI).
var ErrStreamReplicas = fmt.Errorf("audit: the stream's replica count differs from the settings (%w)", jskv.ErrMismatch)

// ErrMaxPayload: the NATS server's max_payload is below the largest
// event. Waiting does not fix it; the server's configuration does.
var ErrMaxPayload = fmt.Errorf("audit: the NATS server's max_payload is too small (%w)", jskv.ErrMismatch)

// maxEventMessage is the largest event message: the event and its
// headers (id, expected stream, content type).
const maxEventMessage = MaxEventBytes + 4<<10

// ensureStream creates the stream, or updates its settings but for the
// replica count: a stream with another count is ErrStreamReplicas.
func (p *Publisher) ensureStream(ctx context.Context) error {
	// A server that takes smaller messages than the largest event would
	// refuse that event for ever (and, buffered, every event behind it).
	if mp := p.nc.MaxPayload(); mp > 0 && mp < maxEventMessage {
		return fmt.Errorf("%w: the NATS server takes messages of at most %d bytes (max_payload), and an event may be %d: raise the server's max_payload (its default, 1 MiB, is enough)",
			ErrMaxPayload, mp, maxEventMessage)
	}
	want := streamConfig(p.cfg)
	s, err := p.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = jskv.WhilePlacing(ctx, func() error {
			_, err := p.js.CreateStream(ctx, want)
			return err
		})
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
		s, err = p.js.Stream(ctx, want.Name) // another replica made it meanwhile
	}
	if err != nil {
		return err
	}
	if have := s.CachedInfo().Config.Replicas; have != want.Replicas {
		return fmt.Errorf("%w: stream %s has %d, the settings ask %d (change audit.stream.replicas, or the stream with `nats stream edit`)", ErrStreamReplicas, want.Name, have, want.Replicas)
	}
	_, err = p.js.UpdateStream(ctx, want)
	return err
}

// EnsureStream creates the stream or checks it now, rather than in the
// background as Open does: at the start of a replica, to fail with a
// clear error (ErrStreamReplicas) rather than serve unready.
func (p *Publisher) EnsureStream(ctx context.Context) error {
	err := p.ensureStream(ctx)
	if err == nil {
		p.streamMu.Lock()
		p.streamErr = nil
		p.streamMu.Unlock()
	}
	return err
}

// Ready reports whether the publisher can take decisions now, for
// /healthz/ready. In ack mode: connected, with the stream in place, and
// answering: no acknowledgement timed out and no probe of the stream went
// unanswered since the last answer (the stream is probed every second, so
// readiness follows a server that stops answering, and comes back with
// it). In buffered mode, which issues tokens through outages: the spool is
// healthy and below its ready_fill ratio. Ready does no I/O.
func (p *Publisher) Ready(context.Context) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if p.spool != nil {
		if err := p.spool.Err(); err != nil {
			return err
		}
		st := p.spool.Stats()
		fill := max(float64(st.Depth)/float64(p.cfg.Spool.MaxEvents), float64(st.Bytes)/float64(p.cfg.Spool.MaxBytes))
		if fill >= p.cfg.Spool.ReadyFill {
			return fmt.Errorf("audit spool %.0f%% full (%d events not yet acknowledged by the stream)", 100*fill, st.Depth)
		}
		return nil
	}
	if !p.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	if err := p.streamError(); err != nil {
		return fmt.Errorf("stream %s: %w", p.cfg.Stream.Name, err)
	}
	if err := p.health.err(); err != nil {
		return fmt.Errorf("stream %s: %w", p.cfg.Stream.Name, err)
	}
	return nil
}

// streamError is why the stream could not be created or updated the last
// time it was tried (nil: it is in place).
func (p *Publisher) streamError() error {
	p.streamMu.Lock()
	defer p.streamMu.Unlock()
	return p.streamErr
}

func (p *Publisher) spoolStats() spool.Stats {
	if p.spool == nil {
		return spool.Stats{}
	}
	return p.spool.Stats()
}

// Close drains and stops, in order: it waits (until ctx ends) for events
// in flight and, in buffered mode, for the forwarder to empty the spool;
// then closes the spool (what is left is sent at the next start), the
// connection and the embedded server. Stop taking requests first.
func (p *Publisher) Close(ctx context.Context) error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	if p.fwd != nil {
		if err := p.fwd.drain(ctx); err != nil {
			st := p.spool.Stats()
			p.log.Warn("audit: shutting down with events not yet delivered; they stay in the spool and are sent at the next start", "events", st.Depth)
		}
	} else if err := p.waitInFlight(ctx); err != nil {
		p.log.Warn("audit: shutting down with publishes not yet acknowledged", "pending", p.acks.inFlight())
	}
	p.halt()
	p.wg.Wait()
	if p.spool != nil {
		errs = append(errs, p.spool.Close())
	}
	if err := p.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		p.nc.Close()
	}
	for !p.nc.IsClosed() {
		select {
		case <-ctx.Done():
			p.nc.Close()
		case <-time.After(5 * time.Millisecond):
		}
	}
	p.shutdownServer()
	return errors.Join(errs...)
}

// waitInFlight waits until no event waits for its acknowledgement, or ctx
// ends.
func (p *Publisher) waitInFlight(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for p.acks.inFlight() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func (p *Publisher) shutdownServer() {
	if p.ownNode {
		p.node.Close()
	}
}

// setSecrets makes the redactor for t's hook secrets, keeping the previous
// tenant's too (requests in flight may still run its hooks).
func (p *Publisher) setSecrets(t *tenant.Tenant) {
	var cur []string
	if t != nil {
		cur = t.SecretValues()
	}
	all := cur
	if prev := p.secrets.Load(); prev != nil {
		all = append(slices.Clone(cur), *prev...)
	}
	p.secrets.Store(&cur)
	p.redactor.Store(tenant.NewRedactor(all...))
}

// redact replaces every hook secret in s.
func (p *Publisher) redact(s string) string { return p.redactor.Load().Redact(s) }

var (
	_ engine.Auditor              = (*Publisher)(nil)
	_ engine.LoginAuditor         = (*Publisher)(nil)
	_ engine.RevocationAuditor    = (*Publisher)(nil)
	_ engine.IntrospectionAuditor = (*Publisher)(nil)
)
