package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/tenantstore"
	"github.com/scopeline/scopeline/engine/throttle"
)

// serveConfig is what the serve command's flags say.
type serveConfig struct {
	configPath      string
	tenantSource    string // tenantFromFile or tenantFromNATS
	settingsPath    string
	demo            bool
	addr            string
	issuer          string
	dataDir         string
	logLevel        string
	logFormat       string
	trustedProxies  []string
	ipv4Prefix      int // 0: throttle.DefaultNetworks.IPv4
	ipv6Prefix      int // 0: throttle.DefaultNetworks.IPv6
	shutdownTimeout time.Duration
	keyPoll         time.Duration
	userStore       string
	natsListen      string
	// pprofAddr is the loopback address of the profiling listener ("":
	// none).
	pprofAddr string
	// noAudit runs without the audit stream: for measuring what it costs
	// only (hidden flag).
	noAudit bool
}

// defaultDataDir is where state lives unless --data-dir or
// SCOPELINE_DATA_DIR says otherwise.
func defaultDataDir() string {
	if d := os.Getenv("SCOPELINE_DATA_DIR"); d != "" {
		return d
	}
	return "scopeline-data"
}

func newServeCmd() *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the token issuer",
		Long: `Run the token issuer on a tenant file (--config), or on the built-in demo
tenant (engine/demo/tenant.yaml) when none is given. The demo tenant's
secrets are public: it is served on a loopback address only, unless --demo
says to serve it on --addr whatever it is.

SIGHUP reloads the tenant file (an invalid file keeps the old tenant serving);
SIGTERM or SIGINT shut down gracefully, finishing requests in flight.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), cfg.logLevel, cfg.logFormat)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan struct{})
			go func() {
				for {
					select {
					case <-hup:
						select {
						case reload <- struct{}{}:
						case <-ctx.Done():
							return
						}
					case <-ctx.Done():
						return
					}
				}
			}()
			return serve(ctx, cfg, log, reload, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.configPath, "config", "", "tenant file (default: the built-in demo tenant, on a loopback --addr only)")
	f.StringVar(&cfg.tenantSource, "tenant-source", tenantFromFile, "where the tenant comes from: file (--config, reloaded on SIGHUP) or nats (the cluster's tenant store, which `scopeline tenant push` changes; every revision is applied as it is pushed)")
	f.StringVar(&cfg.settingsPath, "settings", "", "settings file: the process's NATS connection and audit stream (nats:, audit:), read at start (default: the embedded NATS server, ack mode)")
	f.BoolVar(&cfg.demo, "demo", false, "serve the built-in demo tenant even on an --addr that is not loopback (its secrets are public)")
	f.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	f.StringVar(&cfg.issuer, "issuer", "", "issuer URL, the `iss` of tokens (default: the tenant's, else http://<addr>/)")
	f.StringVar(&cfg.dataDir, "data-dir", defaultDataDir(), "directory for signing keys and other state ($SCOPELINE_DATA_DIR)")
	f.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn or error (debug logs each token's trace)")
	f.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	f.StringSliceVar(&cfg.trustedProxies, "trusted-proxy", nil, "CIDR of a reverse proxy whose X-Forwarded-For and X-Request-Id are trusted (repeatable)")
	f.IntVar(&cfg.ipv4Prefix, "ipv4-prefix", throttle.DefaultNetworks.IPv4, "prefix length under which sign-in, authorization and client-authentication throttles count IPv4 clients together")
	f.IntVar(&cfg.ipv6Prefix, "ipv6-prefix", throttle.DefaultNetworks.IPv6, "prefix length under which the throttles count IPv6 clients together")
	f.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long to wait for requests in flight on shutdown")
	f.DurationVar(&cfg.keyPoll, "key-poll", 10*time.Second, "how often to look for rotated signing keys")
	f.StringVar(&cfg.userStore, "user-store", "file", "where sessions, codes and refresh tokens live: file (in the data dir, survives restarts) or memory")
	f.StringVar(&cfg.natsListen, "nats-listen", "", "loopback host:port of the embedded NATS server for audit readers, or off (overrides nats.embedded.listen; default 127.0.0.1:4222)")
	f.StringVar(&cfg.pprofAddr, "pprof", "", "loopback host:port to serve Go profiles on (/debug/pprof/), for diagnosing performance; off by default")
	f.BoolVar(&cfg.noAudit, "no-audit", false, "publish no audit events (tokens leave without an audit trail): for measuring the audit stream's cost only")
	_ = f.MarkHidden("no-audit")
	return cmd
}

// checkDemo refuses to serve the demo tenant, whose secrets are public, on
// an address other machines can reach, unless --demo says so.
func checkDemo(cfg serveConfig) error {
	switch cfg.tenantSource {
	case tenantFromFile, "":
	case tenantFromNATS:
		if cfg.configPath != "" || cfg.demo {
			return usageError{errors.New("--tenant-source nats reads the tenant from the cluster's store: give it or --config/--demo, not both")}
		}
		return nil
	default:
		return usageError{fmt.Errorf("--tenant-source %q: want file or nats", cfg.tenantSource)}
	}
	if cfg.configPath != "" {
		if cfg.demo {
			return usageError{errors.New("--demo serves the built-in demo tenant: give it or --config, not both")}
		}
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return usageError{fmt.Errorf("--addr %q: %w", cfg.addr, err)}
	}
	ip, perr := netip.ParseAddr(host)
	if host == "localhost" || (perr == nil && ip.IsLoopback()) || cfg.demo {
		return nil
	}
	return usageError{fmt.Errorf("no --config given: the built-in demo tenant, whose secrets are public, is served on a loopback address only, not on %q; give --config FILE, or --demo to serve the demo tenant there anyway", cfg.addr)}
}

// loadTenant reads the tenant file, or the built-in demo tenant.
func loadTenant(path string) (*tenant.Tenant, error) {
	if path == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		return tenant.Parse(demo.Tenant, demo.Source, wd)
	}
	return tenant.Load(path)
}

// process is one running issuer process.
type process struct {
	cfg      serveConfig
	log      *slog.Logger
	store    *keys.Store
	issuer   *server.Server
	keyStamp keys.Stamp
	audit    *audit.Publisher
	// settings are those the process started with: a reload does not
	// change them.
	settings *settings.Settings
}

// loadSettings reads the settings file, or gives the defaults.
func loadSettings(path string) (*settings.Settings, error) {
	if path == "" {
		return settings.Default(), nil
	}
	return settings.Load(path)
}

// serve runs the issuer until ctx is done. Each value on reload reloads the
// tenant file and the keys. ready, when set, is told the listening address.
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, reload <-chan struct{}, ready func(addr string)) error {
	if err := checkDemo(cfg); err != nil {
		return err
	}
	st, err := loadSettings(cfg.settingsPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		t        *tenant.Tenant
		follower *tenantstore.Follower
	)
	if cfg.tenantSource == tenantFromNATS {
		js, closeJS, err := storeJetStream(st)
		if err != nil {
			return err
		}
		defer closeJS()
		if follower, t, err = openTenantStore(ctx, js, cfg, log); err != nil {
			return err
		}
	} else if t, err = loadTenant(cfg.configPath); err != nil {
		return err
	}
	if cfg.configPath == "" && follower == nil {
		log.Warn("no --config given: serving the " + demo.Source + "; its client secrets are public, use it for trying Scopeline only")
	}
	var proxies []netip.Prefix
	for _, p := range cfg.trustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return usageError{fmt.Errorf("--trusted-proxy %q: %w", p, err)}
		}
		proxies = append(proxies, pfx)
	}
	if cfg.ipv4Prefix == 0 {
		cfg.ipv4Prefix = throttle.DefaultNetworks.IPv4
	}
	if cfg.ipv6Prefix == 0 {
		cfg.ipv6Prefix = throttle.DefaultNetworks.IPv6
	}
	networks := throttle.Networks{IPv4: cfg.ipv4Prefix, IPv6: cfg.ipv6Prefix}
	if err := networks.Validate(); err != nil {
		return usageError{fmt.Errorf("--ipv4-prefix, --ipv6-prefix: %w", err)}
	}
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	flows, err := openUserStore(cfg)
	if err != nil {
		return err
	}
	defer flows.Close()
	s := &process{cfg: cfg, log: log, store: keys.NewStore(cfg.dataDir)}
	ks, err := s.store.Ensure(t.Algorithms(), time.Now())
	if err != nil {
		return err
	}
	s.keyStamp = s.store.Stamp()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.pprofAddr != "" {
		stopProfiles, err := serveProfiles(cfg.pprofAddr, log)
		if err != nil {
			return err
		}
		defer stopProfiles()
	}
	issuerURL := cfg.issuer
	if issuerURL == "" && t.Issuer == "" {
		issuerURL = "http://" + ln.Addr().String() + "/"
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "scopeline_build_info", Help: "Scopeline build information.",
		ConstLabels: prometheus.Labels{"version": versionString()},
	})
	build.Set(1)
	reg.MustRegister(build)

	sc := server.Config{
		Issuer:         issuerURL,
		Logger:         log,
		Registerer:     reg,
		TrustedProxies: proxies,
		Networks:       networks,
		Storage:        flows,
	}
	s.settings = st
	if cfg.noAudit {
		log.Warn("audit stream off (--no-audit): tokens are issued without audit events; use this for measurements only")
	} else {
		if s.audit, err = openAudit(ctx, cfg, st, t, issuerURL, log, reg); err != nil {
			return err
		}
		// Runs after the HTTP server stopped: drain events, then stop NATS.
		defer closeAudit(s.audit, cfg.shutdownTimeout, log)
		sc.Auditor = s.audit
		sc.Ready = []endpoint.Check{{Name: "audit", Check: s.audit.Ready}}
	}
	if follower != nil {
		sc.Ready = append(sc.Ready, tenantReady(follower))
	}
	hooks, closeHooks, err := newHookLoader(ctx, hookRuntime{cacheDir: cfg.dataDir, registerer: reg, say: func(msg string) { log.Info(msg) }})
	if err != nil {
		return err
	}
	defer closeHooks()
	sc.Hooks = hooks
	s.issuer, err = server.New(ctx, t, ks, sc)
	if err != nil {
		return err
	}
	defer s.issuer.Close()

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/", s.issuer.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	source := cfg.configPath
	switch {
	case follower != nil:
		source = fmt.Sprintf("the cluster's tenant store, revision %d", follower.Serving().Number)
	case source == "":
		source = "built-in demo tenant"
	}
	applies := make(chan func())
	if follower != nil {
		go s.followTenant(ctx, follower, applies)
	}
	log.Info("scopeline serving", "addr", ln.Addr().String(), "issuer", s.issuer.IssuerURL(),
		"tenant", source, "data_dir", cfg.dataDir, "version", versionString())
	if ready != nil {
		ready(ln.Addr().String())
	}

	poll := time.NewTicker(cfg.keyPoll)
	defer poll.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-sweep.C:
			if _, err := s.issuer.DeleteExpired(ctx); err != nil {
				log.Error("deleting expired sessions and tokens", "err", err)
			}
		case err := <-served:
			return err
		case apply := <-applies:
			apply()
		case <-reload:
			if follower != nil {
				log.Info("SIGHUP: the tenant comes from the cluster's store (scopeline tenant push changes it); reloading the signing keys only")
				s.reloadKeys(true)
				continue
			}
			s.reload(ctx)
		case <-poll.C:
			s.reloadKeys(false)
		case <-ctx.Done():
			log.Info("shutting down: finishing requests in flight", "timeout", cfg.shutdownTimeout)
			sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				log.Error("shutdown did not finish in time", "err", err)
				return err
			}
			log.Info("stopped")
			return nil
		}
	}
}

// reload re-reads the tenant file and keys; a bad file keeps the old tenant.
func (s *process) reload(ctx context.Context) {
	start := time.Now()
	t, err := loadTenant(s.cfg.configPath)
	if err == nil && s.cfg.issuer == "" && t.Issuer != s.issuer.Tenant().Issuer {
		err = errors.New("the tenant's issuer changed; restart to change the issuer")
	}
	if err == nil {
		var ks *keys.Set
		if ks, err = s.store.Ensure(t.Algorithms(), time.Now()); err == nil {
			s.keyStamp = s.store.Stamp()
			err = s.issuer.Reload(ctx, t, ks)
		}
	}
	if err != nil {
		s.log.Error("reload failed; the previous tenant keeps serving", "tenant", s.cfg.configPath, "err", err)
		s.auditReload(ctx, nil, false, err)
		return
	}
	s.log.Info("tenant reloaded", "tenant", s.cfg.configPath, "apis", len(t.APIs), "clients", len(t.Clients), "took", time.Since(start).Round(time.Microsecond))
	s.auditReload(ctx, t, s.settingsChanged(), nil)
}

// settingsChanged reports whether the settings file no longer says what
// the process started with: its settings apply at the next restart only,
// which the log and the reload's audit event say.
func (s *process) settingsChanged() bool {
	if s.cfg.settingsPath == "" {
		return false
	}
	now, err := settings.Load(s.cfg.settingsPath)
	if err != nil {
		s.log.Warn("the settings file no longer reads; the settings the process started with stay in use", "settings", s.cfg.settingsPath, "err", err)
		return true
	}
	if reflect.DeepEqual(now.Audit, s.settings.Audit) {
		return false
	}
	s.log.Warn("the settings file changed; its settings apply at the next restart, the current ones stay in use", "settings", s.cfg.settingsPath)
	return true
}

// reloadKeys picks up a rotation made by `scopeline keys rotate`.
func (s *process) reloadKeys(force bool) {
	stamp := s.store.Stamp()
	if !force && stamp == s.keyStamp {
		return
	}
	ks, err := s.store.Load()
	if err == nil {
		err = s.issuer.SetKeys(ks)
	}
	if err != nil {
		s.log.Error("signing keys changed on disk but cannot be used; keeping the old ones", "file", s.store.Path(), "err", err)
		return
	}
	s.keyStamp = stamp
	var ids []string
	for _, k := range ks.Keys() {
		if k.Status == keys.StatusCurrent {
			ids = append(ids, k.Algorithm+":"+k.ID)
		}
	}
	s.log.Info("signing keys reloaded", "file", filepath.Base(s.store.Path()), "current", ids)
}
