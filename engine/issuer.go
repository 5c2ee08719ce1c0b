package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Issuer issues tokens for one tenant. Everything a request reads (the
// tenant, its built pipelines, the signing keys) is one immutable snapshot;
// Reload and SetKeys build a new one and swap it in at once, while requests
// in flight finish on the snapshot they started with.
type Issuer struct {
	issuer      string
	prefix      string // the issuer URL's path: endpoints sit below it
	issuerFixed bool
	log         *slog.Logger
	now         func() time.Time
	rand        io.Reader
	loader      HookLoader
	auditor     Auditor
	registerer  prometheus.Registerer
	proxies     []netip.Prefix
	readiness   []readinessCheck
	metrics     *metrics
	newThrottle func(ThrottleRule) Throttle
	prefix4     int // throttles count clients per network of these prefixes
	prefix6     int
	throttles   *throttles

	snap   atomic.Pointer[snapshot]
	grants map[string]grantHandler
	mu     sync.Mutex // serialises Reload and SetKeys
	flows  *userFlows // end-user flows: storage, throttles, pages (userflow.go)
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

// WithRegisterer registers the issuer's Prometheus metrics there.
func WithRegisterer(r prometheus.Registerer) Option { return func(i *Issuer) { i.registerer = r } }

// WithTrustedProxies makes the issuer take the client IP from
// X-Forwarded-For when the connection comes from one of these networks.
func WithTrustedProxies(p []netip.Prefix) Option { return func(i *Issuer) { i.proxies = p } }

// WithReadinessCheck adds a check to /healthz/ready.
func WithReadinessCheck(name string, check func(context.Context) error) Option {
	return func(i *Issuer) { i.readiness = append(i.readiness, readinessCheck{name, check}) }
}

type readinessCheck struct {
	name  string
	check func(context.Context) error
}

// New builds an issuer for tenant t, signing with the keys in ks.
func New(ctx context.Context, t *tenant.Tenant, ks *keys.Set, opts ...Option) (*Issuer, error) {
	i := &Issuer{
		log:         slog.New(slog.DiscardHandler),
		now:         time.Now,
		rand:        rand.Reader,
		newThrottle: newLocalThrottle,
		prefix4:     DefaultIPv4Prefix,
		prefix6:     DefaultIPv6Prefix,
	}
	for _, o := range opts {
		o(i)
	}
	if err := ValidateNetworkPrefixes(i.prefix4, i.prefix6); err != nil {
		return nil, err
	}
	i.throttles = newThrottles(i.newThrottle)
	if !i.issuerFixed {
		i.issuer = t.Issuer
	}
	if i.issuer == "" {
		return nil, errors.New("engine: no issuer: set `issuer` in the tenant file or pass one")
	}
	if err := tenant.ValidateIssuer(i.issuer); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	i.prefix = issuerPath(i.issuer)
	i.metrics = newMetrics(i.registerer)
	i.grants = map[string]grantHandler{
		GrantClientCredentials: i.clientCredentials,
		GrantAuthorizationCode: i.authorizationCode,
		GrantRefreshToken:      i.refreshToken,
	}
	i.initUserFlows()
	// The hooks first: their load errors name the hook and its line.
	s, err := i.build(ctx, t, nil)
	if err != nil {
		return nil, err
	}
	if s.keys, err = i.keyring(ks, t); err != nil { // s is not published yet
		s.release()
		return nil, err
	}
	i.snap.Store(s)
	return i, nil
}

// IssuerURL is the issuer identifier (the `iss` of every token).
func (i *Issuer) IssuerURL() string { return i.issuer }

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

// Reload builds a snapshot for t and swaps it in, with the key set ks (nil
// keeps the current keys). On error the old tenant keeps serving. Requests
// in flight finish on the snapshot they started with; it is closed when the
// last of them is done.
func (i *Issuer) Reload(ctx context.Context, t *tenant.Tenant, ks *keys.Set) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	err := i.reload(ctx, t, ks)
	if err != nil {
		i.metrics.reloads.WithLabelValues("error").Inc()
		return err
	}
	i.metrics.reloads.WithLabelValues("ok").Inc()
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
	kr, err := i.keyring(ks, t)
	if err != nil {
		return err
	}
	s, err := i.build(ctx, t, kr)
	if err != nil {
		return err
	}
	i.snap.Swap(s).release()
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
	kr, err := i.keyring(ks, cur.tenant)
	if err != nil {
		return err
	}
	i.snap.Swap(cur.withKeys(kr)).release()
	return nil
}

var errClosed = errors.New("engine: the issuer is closed")

// Close releases the current snapshot (closing its hooks once requests in
// flight are done with it). Reload and SetKeys fail after it.
func (i *Issuer) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if s := i.snap.Swap(nil); s != nil {
		s.release()
	}
	return i.closeUserFlows()
}

// snapshot is everything a request reads, immutable: the tenant with its
// pipelines, the signing keys, and what is derived from them once. A
// request acquires one and uses it from start to end, so a reload that
// changes the tenant's algorithm and its keys can never be seen half done.
// Snapshots are reference counted; the hooks of the pipelines are closed
// once no snapshot using them is left.
type snapshot struct {
	issuer    string // the `iss` of every token
	tenant    *tenant.Tenant
	pipelines map[tenant.Trigger]*Pipeline
	hooks     *hookSet
	keys      *keyring
	discovery map[string][]byte
	origins   map[string]bool // CORS: browser origins of public clients
	refs      atomic.Int64
}

// hookSet owns the hooks of one build of the pipelines. Snapshots that
// differ only by their keys (after SetKeys) share it.
type hookSet struct {
	closers []io.Closer
	refs    atomic.Int64
	log     *slog.Logger
}

func (h *hookSet) release() {
	if h.refs.Add(-1) == 0 {
		if err := closeAll(h.closers); err != nil {
			h.log.Warn("closing retired tenant snapshot", "err", err)
		}
	}
}

func (i *Issuer) build(ctx context.Context, t *tenant.Tenant, kr *keyring) (*snapshot, error) {
	s := &snapshot{
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
	s.discovery = i.discoveryDocs(t)
	s.origins = corsOrigins(t)
	return s, nil
}

// withKeys returns a copy of s that signs with kr, sharing s's hooks.
func (s *snapshot) withKeys(kr *keyring) *snapshot {
	n := &snapshot{
		issuer: s.issuer, tenant: s.tenant, pipelines: s.pipelines, hooks: s.hooks,
		keys: kr, discovery: s.discovery, origins: s.origins,
	}
	n.refs.Store(1)
	s.hooks.refs.Add(1)
	return n
}

// acquire returns the current snapshot with a reference the caller must
// release.
func (i *Issuer) acquire() *snapshot {
	for {
		s := i.snap.Load()
		if s == nil {
			return nil
		}
		s.refs.Add(1)
		if i.snap.Load() == s {
			return s
		}
		s.release()
	}
}

func (s *snapshot) release() {
	if s.refs.Add(-1) == 0 {
		s.hooks.release()
	}
}
