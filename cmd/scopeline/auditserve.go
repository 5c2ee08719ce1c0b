package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/cluster"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
)

// openAudit starts the audit publisher on the process's NATS node, which
// records every decision and reports its readiness.
func openAudit(ctx context.Context, node *cluster.Node, dataDir string, st *settings.Settings, t *tenant.Tenant, issuer string, log *slog.Logger, set *metrics.Set) (*audit.Publisher, error) {
	conf := st.Audit
	if issuer == "" {
		issuer = t.Issuer
	}
	pub, err := audit.Open(ctx, conf,
		audit.WithNode(node),
		audit.WithLogger(log),
		audit.WithMetrics(set),
		audit.WithDataDir(dataDir),
		audit.WithSource(issuer),
		audit.WithTenant(t))
	if err != nil {
		return nil, err
	}
	where := "external NATS " + strings.Join(conf.NATS.URLs, ",")
	if !conf.NATS.External() {
		where = "embedded NATS server"
		if u := pub.ClientURL(); u != "" {
			where += ", readers connect to " + u
		}
	}
	log.Info("audit stream", "mode", conf.Mode, "stream", conf.Stream.Name, "subjects", conf.SubjectPrefix+".>", "nats", where)
	return pub, nil
}

// closeAudit drains the publisher (events in flight, the spool) and stops
// NATS. It runs once the HTTP server has stopped taking requests.
func closeAudit(pub *audit.Publisher, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		log.Error("closing the audit stream", "err", err)
		return
	}
	log.Info("audit stream closed", "events_left_in_spool", pub.Backlog())
}

// auditReload publishes the outcome of a tenant reload; the reload itself
// stands whatever happens to its event. by names the console user who
// asked for it ("" for a signal); restart says the settings file changed,
// which takes a restart.
func (s *process) auditReload(ctx context.Context, by string, t *tenant.Tenant, restart bool, reloadErr error) {
	if s.audit == nil { // --no-audit
		return
	}
	r := audit.Reload{Source: s.cfg.configPath, By: by, Tenant: t, Err: reloadErr, RestartRequired: restart}
	if err := s.audit.Reloaded(ctx, r); err != nil {
		s.log.Error("publishing the tenant reload event failed", "err", err)
	}
}
