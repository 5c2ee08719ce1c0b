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

// Issuer issues tokens for one tenant. It holds an immutable snapshot of
// the tenant (with its built pipelines) and of the signing keys; Reload and
// SetKeys swap them atomically while requests are in flight.
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

	snap   atomic.Pointer[snapshot]
	keys   atomic.Pointer[keyring]
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
		log:  slog.New(slog.DiscardHandler),
		now:  time.Now,
		rand: rand.Reader,
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
	i.prefix = issuerPath(i.issuer)
	i.metrics = newMetrics(i.registerer)
	i.grants = map[string]grantHandler{
		GrantClientCredentials: i.clientCredentials,
		GrantAuthorizationCode: i.authorizationCode,
		GrantRefreshToken:      i.refreshToken,
	}
	i.initUserFlows()
	s, err := i.build(ctx, t)
	if err != nil {
		return nil, err
	}
	kr, err := i.keyring(ks, t)
	if err != nil {
		s.release()
		return nil, err
	}
	i.snap.Store(s)
	i.keys.Store(kr)
	return i, nil
}

// IssuerURL is the issuer identifier (the `iss` of every token).
func (i *Issuer) IssuerURL() string { return i.issuer }

// Tenant returns the tenant currently serving.
func (i *Issuer) Tenant() *tenant.Tenant { return i.snap.Load().tenant }

// Keys returns the signing key set currently in use.
func (i *Issuer) Keys() *keys.Set { return i.keys.Load().set }

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
	if !i.issuerFixed && t.Issuer != i.issuer {
		return fmt.Errorf("engine: the issuer cannot change on reload (%q to %q); restart instead", i.issuer, t.Issuer)
	}
	if ks == nil {
		ks = i.keys.Load().set
	}
	kr, err := i.keyring(ks, t)
	if err != nil {
		return err
	}
	s, err := i.build(ctx, t)
	if err != nil {
		return err
	}
	old := i.snap.Swap(s)
	i.keys.Store(kr)
	old.release()
	return nil
}

// SetKeys swaps in a new key set (after a rotation). It is refused when an
// algorithm the tenant uses has no current key in it.
func (i *Issuer) SetKeys(ks *keys.Set) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	kr, err := i.keyring(ks, i.Tenant())
	if err != nil {
		return err
	}
	i.keys.Store(kr)
	return nil
}

// Close releases the current snapshot (closing its hooks).
func (i *Issuer) Close() error {
	if s := i.snap.Swap(nil); s != nil {
		s.release()
	}
	return i.closeUserFlows()
}

// snapshot is one immutable tenant with its pipelines, reference counted so
// that a reload can close hooks once no request uses them.
type snapshot struct {
	tenant    *tenant.Tenant
	pipelines map[tenant.Trigger]*Pipeline
	discovery map[string][]byte
	origins   map[string]bool // CORS: browser origins of public clients
	closers   []io.Closer
	refs      atomic.Int64
	closeOnce sync.Once
	log       *slog.Logger
}

func (i *Issuer) build(ctx context.Context, t *tenant.Tenant) (*snapshot, error) {
	s := &snapshot{tenant: t, pipelines: map[tenant.Trigger]*Pipeline{}, log: i.log}
	s.refs.Store(1) // held by the issuer while current
	for _, trig := range tenant.Triggers {
		p, closers, err := buildPipeline(ctx, t.Pipelines[trig], i.loader)
		s.closers = append(s.closers, closers...)
		if err != nil {
			closeAll(s.closers)
			return nil, err
		}
		p.Stages[0] = baseline{tenant: t}
		s.pipelines[trig] = p
	}
	s.discovery = i.discoveryDocs(t)
	s.origins = corsOrigins(t)
	return s, nil
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
		s.closeOnce.Do(func() {
			if err := closeAll(s.closers); err != nil {
				s.log.Warn("closing retired tenant snapshot", "err", err)
			}
		})
	}
}
