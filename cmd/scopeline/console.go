package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/console"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/tenantstore"
	"github.com/scopeline/scopeline/hooks"
)

// consoleConfig is what the serve command's --console flags say.
type consoleConfig struct {
	mode     string // auto, on or off
	clientID string
	audience string
}

// consoleSecretEnv holds the console client's secret when it is a
// confidential (web) client.
const consoleSecretEnv = "SCOPELINE_CONSOLE_CLIENT_SECRET"

// openConsole makes the console for s, or returns nil when it is off:
// turned off, or (auto) the tenant has no client set up for it.
func openConsole(s *process, hookStats func() []engine.HookStats, modules *moduleReports, t *tenant.Tenant) (*console.Console, error) {
	cc := s.cfg.console
	switch cc.mode {
	case "off":
		return nil, nil
	case "", "auto", "on":
	default:
		return nil, usageError{fmt.Errorf("--console %q: want auto, on or off", cc.mode)}
	}
	if s.audit == nil { // --no-audit: nothing to show decisions from, nowhere to record dry runs
		if cc.mode == "on" {
			return nil, usageError{errors.New("--console on needs the audit stream")}
		}
		return nil, nil
	}
	src := &consoleSource{s: s, hookStats: hookStats, modules: modules}
	src.state.Store(&console.TenantState{Tenant: t, Revision: t.Revision, Loaded: time.Now(), Source: s.tenantSource()})
	ccfg := console.Config{
		Issuer: s.issuer.IssuerURL(), Endpoints: s.issuer.Handler(),
		ClientID: cc.clientID, ClientSecret: os.Getenv(consoleSecretEnv), Audience: cc.audience,
		Logger: s.log,
	}
	if s.tenants != nil {
		ccfg.Revisions = storedRevisions{s.tenants}
	}
	cons, err := console.New(src, ccfg)
	if err != nil {
		return nil, err
	}
	if err := cons.Check(t); err != nil {
		if cc.mode == "on" {
			return nil, err
		}
		s.log.Info("console off: the tenant is not set up for it (see docs/console.md); --console on makes this an error", "why", err)
		return nil, nil
	}
	s.console = src
	return cons, nil
}

// tenantSource says where the tenant serving comes from.
func (s *process) tenantSource() string {
	switch {
	case s.follower != nil:
		return fmt.Sprintf("the cluster's tenant store, revision %d", s.follower.Serving().Number)
	case s.cfg.configPath == "":
		return "built-in demo tenant"
	}
	return s.cfg.configPath
}

// storedRevisions adapts the cluster's tenant store to the console's
// revision history.
type storedRevisions struct{ store *tenantstore.Store }

func (r storedRevisions) Revisions(ctx context.Context, limit int) ([]console.Revision, error) {
	h, err := r.store.History(ctx)
	if err != nil {
		return nil, err
	}
	var out []console.Revision
	for i := len(h) - 1; i >= 0 && len(out) < limit; i-- { // newest first
		v := h[i]
		note := v.Source
		if v.RollbackOf != 0 {
			note = fmt.Sprintf("rollback to revision %d", v.RollbackOf)
		}
		out = append(out, console.Revision{ID: strconv.FormatUint(v.Number, 10), Time: v.At, By: v.By, Note: note})
	}
	return out, nil
}

func (r storedRevisions) RevisionText(ctx context.Context, id string) ([]byte, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("no revision %q", id)
	}
	v, err := r.store.Get(ctx, n)
	if err != nil {
		return nil, err
	}
	return r.store.File(ctx, v)
}

// consoleSource adapts the running server to console.Source.
type consoleSource struct {
	s *process
	// hookStats reads the hook runtime's figures (hooks.Host.Stats).
	hookStats func() []engine.HookStats
	modules   *moduleReports
	// state is the tenant serving, swapped whole after each reload.
	state atomic.Pointer[console.TenantState]
}

func (c *consoleSource) Tenant() console.TenantState { return *c.state.Load() }

// reloaded records a tenant that started serving.
func (c *consoleSource) reloaded(t *tenant.Tenant) {
	c.state.Store(&console.TenantState{Tenant: t, Revision: t.Revision, Loaded: time.Now(), Source: c.s.tenantSource()})
	c.modules.retain(t)
}

func (c *consoleSource) Keys() console.KeyState {
	store := "the cluster's key bucket"
	if c.s.store != nil {
		store = c.s.store.Path()
	}
	return console.KeyState{
		Set:          c.s.issuer.Keys(),
		Retain:       c.Tenant().Tenant.LongestTokenLifetime() + keys.Leeway,
		MinPublished: endpoint.JWKSMaxAge,
		Store:        store,
	}
}

func (c *consoleSource) Module(h *tenant.HookSpec) *console.Module { return c.modules.get(h) }

func (c *consoleSource) DryRun(ctx context.Context, r *console.DryRunRequest) (*audit.DecisionData, error) {
	d, err := c.s.issuer.DryRun(ctx, &engine.DryRunRequest{
		ClientID: r.ClientID, UserID: r.UserID, Audience: r.Audience, Scope: r.Scope, ScopeSet: r.Scope != "",
		By: r.By, RequestID: r.RequestID, IP: r.IP, UserAgent: r.UserAgent,
	})
	if err != nil {
		return nil, err
	}
	return c.s.audit.DecisionData(d), nil
}

func (c *consoleSource) HookStats() []engine.HookStats { return c.hookStats() }

func (c *consoleSource) Events() console.Events { return c.s.audit.Reader() }

// Reload and RotateKeys run on serve's loop, as a SIGHUP does, so that
// they never race with it.
func (c *consoleSource) Reload(ctx context.Context, by string) error {
	return c.s.do(ctx, func(ctx context.Context) error { return c.s.reload(ctx, by) })
}

func (c *consoleSource) RotateKeys(ctx context.Context, by string) error {
	return c.s.do(ctx, func(ctx context.Context) error {
		o := keys.RotateOptions{
			Retain:       c.Tenant().Tenant.LongestTokenLifetime() + keys.Leeway,
			MinPublished: endpoint.JWKSMaxAge,
		}
		if c.s.kv != nil {
			// Cluster mode: one compare-and-swap on the bucket; every
			// replica, this one included, follows it through its watch.
			if _, err := c.s.kv.Rotate(ctx, time.Now(), o); err != nil {
				return err
			}
			c.s.log.Info("signing keys rotated from the console", "by", by)
			return nil
		}
		if _, err := c.s.store.Rotate(time.Now(), o); err != nil {
			return err
		}
		if err := c.s.reloadKeys(true); err != nil {
			return err
		}
		c.s.log.Info("signing keys rotated from the console", "by", by)
		return nil
	})
}

// errServeStopped answers a console request made while serve stops.
var errServeStopped = errors.New("the server is shutting down")

// do runs fn on serve's loop and returns its error.
func (s *process) do(ctx context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	select {
	case s.tasks <- func(ctx context.Context) { done <- fn(ctx) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopped:
		return errServeStopped
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// moduleReports keeps what the hook runtime learnt of each loaded hook's
// module, for the console's hooks page.
type moduleReports struct {
	mu      sync.Mutex
	reports map[*tenant.HookSpec]*hooks.Report
}

func newModuleReports() *moduleReports {
	return &moduleReports{reports: map[*tenant.HookSpec]*hooks.Report{}}
}

// loader wraps l to record the report of every hook it loads.
func (m *moduleReports) loader(l engine.HookLoader) engine.HookLoader {
	return &recordingLoader{HookLoader: l, m: m}
}

type recordingLoader struct {
	engine.HookLoader
	m *moduleReports
}

func (l *recordingLoader) LoadHook(ctx context.Context, spec *tenant.HookSpec) (engine.Hook, error) {
	h, err := l.HookLoader.LoadHook(ctx, spec)
	if r, ok := h.(interface{ Report() *hooks.Report }); ok && err == nil {
		l.m.mu.Lock()
		l.m.reports[spec] = r.Report()
		l.m.mu.Unlock()
	}
	return h, err
}

func (m *moduleReports) get(spec *tenant.HookSpec) *console.Module {
	m.mu.Lock()
	r := m.reports[spec]
	m.mu.Unlock()
	if r == nil {
		return nil
	}
	return &console.Module{Size: r.Size, SHA256: r.SHA256, Language: r.Toolchain.Language, Evidence: r.Toolchain.Evidence, Tools: r.Toolchain.Tools}
}

// retain forgets the hooks of tenants other than t.
func (m *moduleReports) retain(t *tenant.Tenant) {
	keep := map[*tenant.HookSpec]bool{}
	for _, p := range t.Pipelines {
		for _, h := range p.Hooks {
			keep[h] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for h := range m.reports {
		if !keep[h] {
			delete(m.reports, h)
		}
	}
}

var _ interface {
	console.Source
	console.Reloader
	console.KeyRotator
} = (*consoleSource)(nil)
