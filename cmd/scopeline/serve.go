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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/cluster"
	"github.com/scopeline/scopeline/engine/console"
	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/tenantstore"
	"github.com/scopeline/scopeline/engine/throttle"
	"github.com/scopeline/scopeline/sdk/resource/replay"
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
	console         consoleConfig
	// Cluster mode: the embedded server's cluster (or the settings'),
	// this replica's name, the key-encryption key's file.
	clusterName   string
	clusterListen string
	clusterRoutes []string
	instance      string
	kekFile       string
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
SIGTERM or SIGINT shut down gracefully, finishing requests in flight.

Cluster mode runs any number of identical replicas behind one URL, sharing
signing keys, sessions, codes, refresh tokens and failure throttles through
NATS JetStream buckets. --cluster-name, --cluster-listen and --cluster-routes
(or nats.embedded.cluster in the settings file) make the embedded NATS server a
member of a cluster with the other replicas' (three processes form an R3
cluster); a cluster: section in the settings file with nats.url uses an
external NATS cluster instead. The private signing keys are sealed with a
key-encryption key every replica gets from --kek-file or SCOPELINE_KEK. See
docs/deployment.md.`,
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
	f.StringVar(&cfg.userStore, "user-store", "", "where sessions, codes and refresh tokens live: file (in the data dir, survives restarts; the default of one process), memory, or nats (JetStream buckets; the default, and the only choice, in cluster mode)")
	f.StringVar(&cfg.natsListen, "nats-listen", "", "loopback host:port of the embedded NATS server for audit readers, or off (overrides nats.embedded.listen; default 127.0.0.1:4222)")
	f.StringVar(&cfg.console.mode, "console", "auto", "the web console at <issuer>console/: auto (on when the tenant has its client), on, or off")
	f.StringVar(&cfg.console.clientID, "console-client", console.DefaultClientID, "the console's client in the tenant (a confidential one takes its secret from $"+consoleSecretEnv+")")
	f.StringVar(&cfg.console.audience, "console-audience", console.DefaultAudience, "the identifier of the console's API in the tenant (scopes console:read and console:manage)")
	f.StringVar(&cfg.pprofAddr, "pprof", "", "loopback host:port to serve Go profiles on (/debug/pprof/), for diagnosing performance; off by default")
	f.StringVar(&cfg.clusterName, "cluster-name", "", "make the embedded NATS server a member of this cluster, with the other replicas' (cluster mode)")
	f.StringVar(&cfg.clusterListen, "cluster-listen", "", "host:port the embedded server takes the other members' routes on (not loopback: nats.embedded.cluster.tls is required)")
	f.StringSliceVar(&cfg.clusterRoutes, "cluster-routes", nil, "route URLs of every member of the cluster, this one's included (nats-route://host:port, comma-separated)")
	f.StringVar(&cfg.instance, "instance", "", "this replica's name, in its events and, by default, its embedded NATS server's name (default: the host name)")
	f.StringVar(&cfg.kekFile, "kek-file", "", "file (mode 0600) of the key-encryption key sealing the signing keys in cluster mode (default: cluster.kek_file, else $SCOPELINE_KEK)")
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
	kv       *keys.KVStore // the signing keys in cluster mode (store is nil)
	node     *cluster.Node // nil without NATS (--no-audit)
	issuer   *server.Server
	keyStamp keys.Stamp
	audit    *audit.Publisher
	// settings are those the process started with: a reload does not
	// change them.
	settings *settings.Settings
	// console is what the console reads (nil when it is off); tasks
	// are its changes (reload, rotation), run on serve's loop until
	// stopped is closed.
	console *consoleSource
	tasks   chan func(context.Context)
	stopped chan struct{}
	// tenants and follower are the cluster's tenant store and this
	// replica's follower of it, with --tenant-source nats (else nil).
	tenants  *tenantstore.Store
	follower *tenantstore.Follower
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
	if err := applyFlags(cfg, st); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		t        *tenant.Tenant
		follower *tenantstore.Follower
	)
	if cfg.tenantSource != tenantFromNATS { // else read once NATS is up, below
		if t, err = loadTenant(cfg.configPath); err != nil {
			return err
		}
	}
	if cfg.configPath == "" && cfg.tenantSource != tenantFromNATS {
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
	s := &process{cfg: cfg, log: log, settings: st, tasks: make(chan func(context.Context)), stopped: make(chan struct{})}
	if !cfg.noAudit || cfg.userStore == "nats" || cfg.tenantSource == tenantFromNATS {
		if s.node, err = startNode(ctx, cfg, st, log); err != nil {
			return err
		}
		defer s.node.Close() // last: after the audit stream and the stores
	}
	if cfg.tenantSource == tenantFromNATS {
		if s.tenants, follower, t, err = openTenantStore(ctx, s.jetStream(), cfg, st, log); err != nil {
			return err
		}
		s.follower = follower
	}
	var (
		ks        *keys.Set
		flows     storage.Storage
		throttles throttle.Backend
		replays   replay.Cache // nil: each process keeps its own
	)
	if st.Cluster.Enabled {
		sh, err := openShared(ctx, s.jetStream(), st, log)
		if err != nil {
			return err
		}
		defer sh.close()
		s.kv, flows, throttles, replays = sh.keys, sh.flows, sh.throttles.Backend(), sh.replay
		if err := seedKeys(ctx, s.kv, cfg.dataDir, log); err != nil {
			return err
		}
		err = cluster.Retry(ctx, log, "the signing keys", func(ctx context.Context) (err error) {
			ks, err = s.kv.Ensure(ctx, t.Algorithms(), time.Now())
			if errors.Is(err, keys.ErrCannotOpen) {
				return cluster.Permanent(err)
			}
			return err
		})
		if err != nil {
			return err
		}
		if len(st.Cluster.PreviousKEKFiles) > 0 {
			// A change of KEK: seal every key with the new one (one
			// compare-and-swap; the replicas starting together race
			// harmlessly, and the watch brings the result).
			if _, err := s.kv.Reseal(ctx); err != nil && !errors.Is(err, keys.ErrConflict) {
				return fmt.Errorf("sealing the signing keys with the new key-encryption key: %w", err)
			}
		}
	} else {
		if flows, err = openUserStore(ctx, cfg, s.jetStream()); err != nil {
			return err
		}
		defer flows.Close()
		s.store = keys.NewStore(cfg.dataDir)
		if ks, err = s.store.Ensure(t.Algorithms(), time.Now()); err != nil {
			return err
		}
		s.keyStamp = s.store.Stamp()
	}
	// Console tasks stop being taken once shutdown starts, so that none
	// waits for a loop that no longer turns.
	stopTasks := sync.OnceFunc(func() { close(s.stopped) })
	defer stopTasks()

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

	set := newMetrics()

	sc := server.Config{
		Issuer:         issuerURL,
		Logger:         log,
		Metrics:        set,
		TrustedProxies: proxies,
		Networks:       networks,
		Storage:        flows,
		Throttles:      throttles,
	}
	if replays != nil {
		sc.AssertionReplay, sc.DPoPReplay = replays, replays
	}
	if cfg.noAudit {
		log.Warn("audit stream off (--no-audit): tokens are issued without audit events; use this for measurements only")
	} else {
		if s.audit, err = openAudit(ctx, s.node, cfg.dataDir, st, t, issuerURL, log, set); err != nil {
			return err
		}
		// Runs after the HTTP server stopped: drain events, then stop NATS.
		defer closeAudit(s.audit, cfg.shutdownTimeout, log)
		if st.Cluster.Enabled {
			if err := ensureAuditStream(ctx, s.audit, log); err != nil {
				return err
			}
		}
		sc.Auditor = s.audit
		sc.Ready = []endpoint.Check{{Name: "audit", Check: s.audit.Ready}}
	}
	if st.Cluster.Enabled {
		sc.Ready = append(sc.Ready, endpoint.Check{Name: "nats", Check: s.node.Ready})
	}
	if follower != nil {
		sc.Ready = append(sc.Ready, tenantReady(follower))
	}
	hooks, hookHost, err := newHookLoader(ctx, hookRuntime{cacheDir: cfg.dataDir, metrics: set, say: func(msg string) { log.Info(msg) }})
	if err != nil {
		return err
	}
	defer hookHost.Close(context.Background())
	modules := newModuleReports()
	sc.Hooks = modules.loader(hooks)
	s.issuer, err = server.New(ctx, t, ks, sc)
	if err != nil {
		return err
	}
	defer s.issuer.Close()
	if s.kv != nil {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go s.watchKeys(wctx)
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler(set))
	mux.Handle("/", s.issuer.Handler())
	cons, err := openConsole(s, hookHost.Stats, modules, t)
	if err != nil {
		return err
	}
	if cons != nil {
		mux.Handle(cons.Path(), cons.Handler())
		go cons.Run(ctx)
	}
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
	applies := make(chan func())
	if follower != nil {
		go s.followTenant(ctx, follower, applies)
	}
	log.Info("scopeline serving", "addr", ln.Addr().String(), "issuer", s.issuer.IssuerURL(),
		"tenant", s.tenantSource(), "data_dir", cfg.dataDir, "version", versionString(), "replica", st.Audit.Instance)
	if cons != nil {
		log.Info("console", "url", strings.TrimSuffix(s.issuer.IssuerURL(), "/")+console.PathConsole)
	}
	if ready != nil {
		ready(ln.Addr().String())
	}

	poll := time.NewTicker(cfg.keyPoll)
	defer poll.Stop()
	if s.kv != nil {
		poll.Stop() // the key bucket is watched
	}
	// Expired records are swept every minute from a file; NATS removes
	// them by their TTLs, and a sweep reads every key, so a cluster's
	// replicas sweep hourly as a safety net.
	sweepEvery := time.Minute
	if st.Cluster.Enabled {
		sweepEvery = time.Hour
	}
	sweep := time.NewTicker(sweepEvery)
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
			s.reload(ctx, "")
		case task := <-s.tasks:
			task(ctx)
		case <-poll.C:
			s.reloadKeys(false)
		case <-ctx.Done():
			stopTasks()
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

// reload re-reads the tenant file and keys; a bad file keeps the old
// tenant. by names a console user who asked for it ("" for SIGHUP).
func (s *process) reload(ctx context.Context, by string) error {
	if s.follower != nil {
		return errors.New("the tenant comes from the cluster's store: change it with `scopeline tenant push`")
	}
	start := time.Now()
	t, err := loadTenant(s.cfg.configPath)
	if err == nil && s.cfg.issuer == "" && t.Issuer != s.issuer.Tenant().Issuer {
		err = errors.New("the tenant's issuer changed; restart to change the issuer")
	}
	if err == nil {
		var ks *keys.Set
		if ks, err = s.ensureKeys(ctx, t); err == nil {
			err = s.issuer.Reload(ctx, t, ks)
		}
	}
	if err != nil {
		s.log.Error("reload failed; the previous tenant keeps serving", "tenant", s.cfg.configPath, "by", by, "err", err)
		s.auditReload(ctx, by, nil, false, err)
		return err
	}
	if s.console != nil {
		s.console.reloaded(t)
	}
	s.log.Info("tenant reloaded", "tenant", s.cfg.configPath, "by", by, "apis", len(t.APIs), "clients", len(t.Clients), "took", time.Since(start).Round(time.Microsecond))
	s.auditReload(ctx, by, t, s.settingsChanged(), nil)
	return nil
}

// ensureKeys makes sure the keys of t's algorithms exist, in the bucket or
// the file.
func (s *process) ensureKeys(ctx context.Context, t *tenant.Tenant) (*keys.Set, error) {
	if s.kv != nil {
		return s.kv.Ensure(ctx, t.Algorithms(), time.Now())
	}
	ks, err := s.store.Ensure(t.Algorithms(), time.Now())
	if err == nil {
		s.keyStamp = s.store.Stamp()
	}
	return ks, err
}

// settingsChanged reports whether the settings file no longer says what
// the process started with: its settings apply at the next restart only,
// which the log and the reload's audit event say.
func (s *process) settingsChanged() bool {
	if s.cfg.settingsPath == "" {
		return false
	}
	now, err := settings.Load(s.cfg.settingsPath)
	if err == nil {
		err = applyFlags(s.cfg, now)
	}
	if err != nil {
		s.log.Warn("the settings file no longer reads; the settings the process started with stay in use", "settings", s.cfg.settingsPath, "err", err)
		return true
	}
	now.Audit.Instance = cmpOr(now.Audit.Instance, s.settings.Audit.Instance) // a default taken at start
	if reflect.DeepEqual(now.Audit, s.settings.Audit) && reflect.DeepEqual(now.Cluster, s.settings.Cluster) {
		return false
	}
	s.log.Warn("the settings file changed; its settings apply at the next restart, the current ones stay in use", "settings", s.cfg.settingsPath)
	return true
}

// reloadKeys picks up a rotation made by `scopeline keys rotate`.
func (s *process) reloadKeys(force bool) error {
	if s.store == nil {
		return nil // cluster mode: watchKeys follows the bucket
	}
	stamp := s.store.Stamp()
	if !force && stamp == s.keyStamp {
		return nil
	}
	ks, err := s.store.Load()
	if err == nil {
		err = s.issuer.SetKeys(ks)
	}
	if err != nil {
		s.log.Error("signing keys changed on disk but cannot be used; keeping the old ones", "file", s.store.Path(), "err", err)
		return err
	}
	s.keyStamp = stamp
	var ids []string
	for _, k := range ks.Keys() {
		if k.Status == keys.StatusCurrent {
			ids = append(ids, k.Algorithm+":"+k.ID)
		}
	}
	s.log.Info("signing keys reloaded", "file", filepath.Base(s.store.Path()), "current", ids)
	return nil
}
