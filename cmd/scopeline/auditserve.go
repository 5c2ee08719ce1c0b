package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/tenant"
)

// openAudit starts the audit stream for serve: the embedded NATS server
// (unless the settings name one) and the publisher, which records every
// decision and reports its readiness.
func openAudit(ctx context.Context, cfg serveConfig, t *tenant.Tenant, issuer string, log *slog.Logger, reg prometheus.Registerer) (*audit.Publisher, error) {
	settings := t.Audit
	if cfg.natsListen != "" {
		switch {
		case cfg.natsListen == "off":
			settings.NATS.Embedded.Listen = ""
		case settings.NATS.External():
			return nil, usageError{fmt.Errorf("--nats-listen: the tenant uses an external NATS server (nats.url), not the embedded one")}
		default:
			if err := tenant.ValidateEmbeddedListen(cfg.natsListen); err != nil {
				return nil, usageError{fmt.Errorf("--nats-listen: %w", err)}
			}
			settings.NATS.Embedded.Listen = cfg.natsListen
		}
	}
	if issuer == "" {
		issuer = t.Issuer
	}
	pub, err := audit.Open(ctx, settings,
		audit.WithLogger(log),
		audit.WithRegisterer(reg),
		audit.WithDataDir(cfg.dataDir),
		audit.WithSource(issuer),
		audit.WithTenant(t))
	if err != nil {
		return nil, err
	}
	where := "external NATS " + strings.Join(settings.NATS.URLs, ",")
	if !settings.NATS.External() {
		where = "embedded NATS server"
		if u := pub.ClientURL(); u != "" {
			where += ", readers connect to " + u
		}
	}
	log.Info("audit stream", "mode", settings.Mode, "stream", settings.Stream.Name, "subjects", settings.SubjectPrefix+".>", "nats", where)
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
// stands whatever happens to its event.
func (s *process) auditReload(ctx context.Context, t *tenant.Tenant, reloadErr error) {
	if err := s.audit.Reloaded(ctx, s.cfg.configPath, t, reloadErr); err != nil {
		s.log.Error("publishing the tenant reload event failed", "err", err)
	}
}
