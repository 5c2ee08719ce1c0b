package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/replay"
)

// Issuer issues tokens for one tenant, in process: Token is the whole
// token endpoint without HTTP. Everything a request reads (the tenant,
// its built pipelines, the signing keys) is one immutable Snapshot;
// Reload and SetKeys build a new one and swap it in at once, while
// requests in flight finish on the snapshot they started with.
//
// The grant types it answers are the Grants it was composed with
// (WithGrants); package server composes a complete issuer, with its
// endpoints and hosted pages.
type Issuer struct {
	issuer      string
	issuerFixed bool
	log         *slog.Logger
	now         func() time.Time
	rand        io.Reader
	loader      HookLoader
	auditor     Auditor
	metricSet   *metrics.Set
	metrics     *issuerMetrics
	grants      map[string]Grant
	grantTypes  []string
	dpopReplay  replay.Cache

	snap atomic.Pointer[Snapshot]
	mu   sync.Mutex // serialises Reload, SetKeys and Close
}

// Option configures an Issuer.
type Option func(*Issuer)

// WithIssuer sets the issuer identifier, overriding the tenant file's.
func WithIssuer(url string) Option {
	return func(i *Issuer) { i.issuer, i.issuerFixed = url, true }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(i *Issuer) { i.log = l } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(i *Issuer) { i.now = now } }

// WithRand sets the randomness for token ids (default crypto/rand).
func WithRand(r io.Reader) Option { return func(i *Issuer) { i.rand = r } }

// WithHookLoader sets what loads the hooks of the tenant's pipelines.
// Without one, a tenant that declares hooks is refused.
func WithHookLoader(l HookLoader) Option { return func(i *Issuer) { i.loader = l } }

// WithAuditor sets where decisions are recorded (default: nowhere).
func WithAuditor(a Auditor) Option { return func(i *Issuer) { i.auditor = a } }

// WithMetrics makes the issuer's metrics (token requests by grant type
// and outcome, their durations, tenant reloads) in set, which the caller
// exports (docs/configuration.md lists them). Without it they are
// counted but not exported.
func WithMetrics(set *metrics.Set) Option { return func(i *Issuer) { i.metricSet = set } }

// WithGrants sets the grant types the issuer answers, one Grant each
// (package grant has the standard ones). Without it the issuer answers
// every request unsupported_grant_type.
func WithGrants(gs ...Grant) Option {
	return func(i *Issuer) {
		for _, g := range gs {
			if _, dup := i.grants[g.GrantType()]; !dup {
				i.grantTypes = append(i.grantTypes, g.GrantType())
			}
			i.grants[g.GrantType()] = g
		}
	}
}

// WithDPoPReplay sets where the jti of DPoP proofs are remembered
// (default: in process, as many as the tenant's dpop.replay_cache_size
// when the issuer is made). Replicas must share one.
func WithDPoPReplay(c replay.Cache) Option { return func(i *Issuer) { i.dpopReplay = c } }

// New builds an issuer for tenant t, signing with the keys in ks.
func New(ctx context.Context, t *tenant.Tenant, ks *keys.Set, opts ...Option) (*Issuer, error) {
	i := &Issuer{
		log:    slog.New(slog.DiscardHandler),
		now:    time.Now,
		rand:   rand.Reader,
		grants: map[string]Grant{},
	}
	for _, o := range opts {
		o(i)
	}
	if !i.issuerFixed {
		i.issuer = t.Issuer
	}
	if i.issuer == "" {
		return nil, errors.New("engine: no issuer: set `issuer` in the tenant file or pass one")
	}
	if err := tenant.ValidateIssuer(i.issuer); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if i.dpopReplay == nil {
		i.dpopReplay = replay.NewMemory(t.Protocols.DPoP.ReplayCacheSize, i.now)
	}
	i.metrics = newIssuerMetrics(i.metricSet, i.grantTypes)
	// The hooks first: their load errors name the hook and its line.
	s, err := i.build(ctx, t, nil)
	if err != nil {
		return nil, err
	}
	if s.keys, err = newKeyring(ks, t, i.now()); err != nil { // s is not published yet
		s.Release()
		return nil, err
	}
	if s.dpop, err = i.newDPoP(s); err != nil {
		s.Release()
		return nil, err
	}
	i.snap.Store(s)
	return i, nil
}

// IssuerURL is the issuer identifier (the `iss` of every token).
func (i *Issuer) IssuerURL() string { return i.issuer }

// GrantTypes are the grant types the issuer answers, in the order given.
func (i *Issuer) GrantTypes() []string { return append([]string(nil), i.grantTypes...) }

// Tenant returns the tenant currently serving. It is nil once the issuer is closed.
func (i *Issuer) Tenant() *tenant.Tenant {
	if s := i.snap.Load(); s != nil {
		return s.tenant
	}
	return nil
}

// Keys returns the signing key set currently in use; nil once the issuer
// is closed.
func (i *Issuer) Keys() *keys.Set {
	if s := i.snap.Load(); s != nil {
		return s.keys.set
	}
	return nil
}

// Acquire returns the current snapshot, which the caller must Release
// when done with it; nil once the issuer is closed. A request acquires
// one snapshot and reads everything from it, from start to end.
func (i *Issuer) Acquire() *Snapshot {
	for {
		s := i.snap.Load()
		if s == nil {
			return nil
		}
		s.refs.Add(1)
		if i.snap.Load() == s {
			return s
		}
		s.Release()
	}
}

// Reload builds a snapshot for t and swaps it in, with the key set ks (nil
// keeps the current keys). On error the old tenant keeps serving. Requests
// in flight finish on the snapshot they started with; it is closed when the
// last of them is done.
func (i *Issuer) Reload(ctx context.Context, t *tenant.Tenant, ks *keys.Set) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	err := i.reload(ctx, t, ks)
	if err != nil {
		i.metrics.reloadsFailed.Inc()
		return err
	}
	i.metrics.reloadsOK.Inc()
	return nil
}

func (i *Issuer) reload(ctx context.Context, t *tenant.Tenant, ks *keys.Set) error {
	if i.snap.Load() == nil {
		return errClosed
	}
	if !i.issuerFixed && t.Issuer != i.issuer {
		return fmt.Errorf("engine: the issuer cannot change on reload (%q to %q); restart instead", i.issuer, t.Issuer)
	}
	if ks == nil {
		ks = i.Keys()
	}
	kr, err := newKeyring(ks, t, i.now())
	if err != nil {
		return err
	}
	s, err := i.build(ctx, t, kr)
	if err != nil {
		return err
	}
	if s.dpop, err = i.newDPoP(s); err != nil {
		s.Release()
		return err
	}
	i.snap.Swap(s).Release()
	return nil
}

// SetKeys swaps in a new key set (after a rotation). It is refused when an
// algorithm the tenant uses has no current key in it.
func (i *Issuer) SetKeys(ks *keys.Set) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	cur := i.snap.Load()
	if cur == nil {
		return errClosed
	}
	kr, err := newKeyring(ks, cur.tenant, i.now())
	if err != nil {
		return err
	}
	n := cur.withKeys(kr)
	if n.dpop, err = i.newDPoP(n); err != nil {
		n.Release()
		return err
	}
	i.snap.Swap(n).Release()
	return nil
}

var errClosed = errors.New("engine: the issuer is closed")

// Close releases the current snapshot (closing its hooks once requests in
// flight are done with it). Reload and SetKeys fail after it.
func (i *Issuer) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if s := i.snap.Swap(nil); s != nil {
		s.Release()
	}
	return nil
}

// build makes a snapshot of t: its pipelines, with their hooks loaded.
func (i *Issuer) build(ctx context.Context, t *tenant.Tenant, kr *keyring) (*Snapshot, error) {
	s := &Snapshot{
		issuer: i.issuer, tenant: t, keys: kr,
		pipelines: map[tenant.Trigger]*Pipeline{},
		hooks:     &hookSet{log: i.log},
	}
	s.refs.Store(1) // held by the issuer while current
	s.hooks.refs.Store(1)
	for _, trig := range tenant.Triggers {
		p, closers, err := buildPipeline(ctx, t.Pipelines[trig], i.loader)
		s.hooks.closers = append(s.hooks.closers, closers...)
		if err != nil {
			closeAll(s.hooks.closers)
			return nil, err
		}
		p.Stages[0] = baseline{tenant: t}
		s.pipelines[trig] = p
	}
	return s, nil
}
