// Package kvthrottle shares the issuer's failure throttles between
// replicas through a JetStream key-value bucket, so that N replicas
// behind one URL do not give an attacker N times the allowance of failed
// sign-ins and client authentications.
//
// A failure is charged on the bucket by compare-and-swap on the key's
// revision: failures spread over every replica are counted once each.
// Each key carries a TTL (the time its bucket takes to fill again, plus a
// grace), so the bucket holds only keys that still count something.
//
// Every replica follows the bucket with a watch into an in-process mirror
// (a throttle.Limiter), and answers Delay from the mirror: a request that
// succeeds pays no NATS round trip. The price is the watch's delay (a few
// milliseconds): failures sent to several replicas within it may each be
// let through before the others' charges arrive. Take, which rate-limits
// successful requests (authorization requests per network, consent
// requests per user), stays per replica for the same reason: it protects
// each replica's own work, and would otherwise put a write on the success
// path. When NATS cannot be reached, a failure is charged on the mirror
// alone and the replica throttles by itself until the bucket answers again.
package kvthrottle

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/internal/jskv"
	"github.com/scopeline/scopeline/engine/throttle"
)

// DefaultBucket is the bucket of the shared throttles.
const DefaultBucket = "scopeline_throttles"

// MaxKeys bounds the bucket (and each rule's mirror, as throttle.MaxKeys
// bounds an in-process throttle): past it a charge counts on the mirror
// only.
const MaxKeys = 1_000_000

// grace keeps a key a little past the time its bucket is full again,
// covering clock skew between replicas.
const grace = 10 * time.Second

// attempts bounds the compare-and-swap retries of one charge, and
// chargeTimeout the time it takes: past it, the failure counts on this
// replica only.
const (
	attempts      = 8
	chargeTimeout = 2 * time.Second
)

var errNotConnected = errors.New("not connected to NATS")

type config struct {
	bucket   string
	replicas int
	log      *slog.Logger
	local    throttle.Backend
}

// Option configures Open.
type Option func(*config)

// WithBucket names the bucket (default DefaultBucket).
func WithBucket(name string) Option { return func(c *config) { c.bucket = name } }

// WithReplicas sets how many NATS servers keep the bucket (default 1; 3
// in a cluster).
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// Shared is the throttles of one replica, shared through a bucket.
type Shared struct {
	b         *jskv.Bucket
	connected func() bool
	log       *slog.Logger
	cancel    context.CancelFunc
	done      chan struct{}

	mu      sync.Mutex
	mirrors map[string]*throttle.Limiter // by rule name
	local   throttle.Backend

	// synced is closed once the watch delivered the bucket's contents.
	synced     chan struct{}
	syncedOnce sync.Once
	logMu      sync.Mutex
	lastErr    time.Time
}

// Open creates the bucket, or checks the existing one, and starts
// following it. Close stops.
func Open(ctx context.Context, js jetstream.JetStream, opts ...Option) (*Shared, error) {
	c := config{bucket: DefaultBucket, replicas: 1, log: slog.New(slog.DiscardHandler), local: throttle.Local}
	for _, o := range opts {
		o(&c)
	}
	b, err := jskv.Ensure(ctx, js, jskv.Spec{
		Bucket: c.bucket, Description: "Scopeline: failed sign-ins and client authentications, counted for every replica",
		Replicas: c.replicas, History: 1, MaxMsgs: MaxKeys, TTL: true,
	})
	if err != nil {
		return nil, fmt.Errorf("throttle: %w", err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Shared{b: b, connected: js.Conn().IsConnected, log: c.log, cancel: cancel, done: make(chan struct{}), mirrors: map[string]*throttle.Limiter{},
		local: c.local, synced: make(chan struct{})}
	go s.follow(wctx)
	return s, nil
}

// Synced is closed once the mirror holds what the bucket held at Open.
func (s *Shared) Synced() <-chan struct{} { return s.synced }

// Close stops following the bucket.
func (s *Shared) Close() {
	s.cancel()
	<-s.done
}

// Backend makes the throttles of the issuer's rules: failure counters
// (Fail, Delay) shared through the bucket, Take per replica.
func (s *Shared) Backend() throttle.Backend {
	return func(r throttle.Rule) throttle.Throttle {
		return &shared{s: s, rule: r, mirror: s.mirror(r), local: s.local(r)}
	}
}

// mirror is the in-process copy of rule r's keys.
func (s *Shared) mirror(r throttle.Rule) *throttle.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mirrors[r.Name]
	if m == nil {
		m = throttle.NewLimiter(r.Burst, r.Refill, MaxKeys)
		s.mirrors[r.Name] = m
	}
	return m
}

func (s *Shared) mirrorOf(rule string) *throttle.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mirrors[rule]
}

// state is a key's bucket as the bucket keeps it.
type state struct {
	Tokens float64 `json:"t"`
	At     int64   `json:"at"` // Unix nanoseconds
}

// follow applies the bucket's updates to the mirrors until ctx ends,
// watching again after the watch stops.
func (s *Shared) follow(ctx context.Context) {
	defer close(s.done)
	for ctx.Err() == nil {
		w, err := s.b.KV.WatchAll(ctx, jetstream.IgnoreDeletes())
		if err != nil {
			s.warn("watching the throttle bucket", err)
			if jskv.Backoff(ctx, 6) != nil {
				return
			}
			continue
		}
		s.apply(ctx, w)
		w.Stop()
	}
}

func (s *Shared) apply(ctx context.Context, w jetstream.KeyWatcher) {
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case <-ctx.Done():
			return
		case e, ok = <-w.Updates():
		}
		if !ok {
			return
		}
		if e == nil {
			s.syncedOnce.Do(func() { close(s.synced) })
			continue
		}
		rule, key, ok := strings.Cut(e.Key(), ".")
		var st state
		if !ok || json.Unmarshal(e.Value(), &st) != nil {
			continue
		}
		if m := s.mirrorOf(rule); m != nil {
			m.Set(key, st.Tokens, time.Unix(0, st.At), e.Revision(), time.Now())
		}
	}
}

// warn logs a failure to reach the bucket, at most every ten seconds.
func (s *Shared) warn(what string, err error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if time.Since(s.lastErr) < 10*time.Second {
		return
	}
	s.lastErr = time.Now()
	s.log.Warn("throttle: "+what+" failed; counting on this replica alone meanwhile", "err", err)
}

// shared is one rule's throttle.
type shared struct {
	s      *Shared
	rule   throttle.Rule
	mirror *throttle.Limiter
	local  throttle.Throttle
}

// Delay answers from the mirror: no round trip.
func (t *shared) Delay(_ context.Context, key string, now time.Time) time.Duration {
	return t.mirror.Delay(digest(key), now)
}

// Take is per replica (see the package doc).
func (t *shared) Take(ctx context.Context, key string, now time.Time) time.Duration {
	return t.local.Take(ctx, key, now)
}

// Fail charges key on the bucket by compare-and-swap, and on the mirror.
// A charge that would only restart the clock of an empty bucket charged
// moments ago (within a 24th of the refill: a success remembered by
// client-auth-known, say) is not written.
func (t *shared) Fail(ctx context.Context, key string, now time.Time) {
	key = digest(key) // the mirror's key too
	if level, at := t.mirror.Level(key, now); level < 1 && now.Sub(at) < t.rule.Refill/24 {
		return
	}
	k := t.rule.Name + "." + key
	err := errNotConnected
	if !t.s.connected() {
		t.s.warn("charging a failure on the shared bucket", err)
		t.mirror.Fail(key, now)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, chargeTimeout)
	defer cancel()
	for attempt := range attempts {
		if err = jskv.Backoff(ctx, attempt); err != nil {
			break
		}
		var rev uint64
		st := state{Tokens: float64(t.rule.Burst), At: now.UnixNano()}
		e, gerr := t.s.b.Get(ctx, k)
		switch {
		case errors.Is(gerr, jskv.ErrNoKey):
		case gerr != nil:
			err = gerr
		default:
			rev = e.Revision
			var cur state
			if !e.Deleted && json.Unmarshal(e.Value, &cur) == nil {
				st.Tokens = level(t.rule, cur, now)
			}
		}
		if gerr != nil && !errors.Is(gerr, jskv.ErrNoKey) {
			break
		}
		st.Tokens = max(0, st.Tokens-1)
		value, _ := json.Marshal(st)
		full := time.Duration((float64(t.rule.Burst) - st.Tokens) * float64(t.rule.Refill))
		rev, err = t.s.b.Put(ctx, jskv.Msg{Key: k, Value: value, Expect: rev, TTL: full + grace})
		if err == nil {
			t.mirror.Set(key, st.Tokens, now, rev, now)
			return
		}
		if !errors.Is(err, jskv.ErrConflict) {
			break
		}
	}
	t.s.warn("charging a failure on the shared bucket", err)
	t.mirror.Fail(key, now)
}

// level is a stored bucket's attempts left at now.
func level(r throttle.Rule, st state, now time.Time) float64 {
	elapsed := now.Sub(time.Unix(0, st.At))
	if elapsed < 0 {
		elapsed = 0 // another replica's clock is ahead: no refill yet
	}
	return min(float64(r.Burst), st.Tokens+float64(elapsed)/float64(r.Refill))
}

// digest is the bucket key of a throttle key, after the rule's name: any
// key is valid, and none (a user name, an address) is kept in the clear.
func digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var _ throttle.Throttle = (*shared)(nil)
