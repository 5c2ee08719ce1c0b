package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/cluster"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/tenantstore"
)

// Where serve reads its tenant from (--tenant-source).
const (
	tenantFromFile = "file"
	tenantFromNATS = "nats"
)

// openTenantStore opens the cluster's tenant store (with the cluster's
// replica count) and builds its latest revision, for serve to start with;
// the follower then keeps the process on the latest revision
// (process.followTenant). Until a first revision is pushed the replica
// waits, its NATS node up, so that an embedded cluster can form and take
// the push.
func openTenantStore(ctx context.Context, js jetstream.JetStream, cfg serveConfig, st *settings.Settings, log *slog.Logger) (*tenantstore.Store, *tenantstore.Follower, *tenant.Tenant, error) {
	var opts []tenantstore.Option
	if st.Cluster.Enabled {
		opts = append(opts, tenantstore.WithReplicas(st.Cluster.Replicas))
	}
	var store *tenantstore.Store
	err := cluster.Retry(ctx, log, "the tenant store", func(ctx context.Context) (err error) {
		store, err = tenantstore.Open(ctx, js, opts...)
		return err
	})
	if err == nil {
		err = cluster.Retry(ctx, log, "a first `scopeline tenant push`", func(ctx context.Context) error {
			_, err := store.Head(ctx)
			return err
		})
	}
	if err != nil {
		return nil, nil, nil, err
	}
	f := store.Follow(tenantstore.FollowConfig{Dir: filepath.Join(cfg.dataDir, "tenant"), Log: log})
	r, t, err := f.Load(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	t.Revision = storeRevision(r)
	log.Info("tenant from the cluster's store", "revision", r.Number, "by", r.By, "pushed", r.At.Format(time.RFC3339), "clients", len(t.Clients))
	return store, f, t, nil
}

// storeRevision is what identifies a tenant built from the store (the
// file's digest identifies one read from a file): its revision there.
func storeRevision(r tenantstore.Revision) string {
	return "store revision " + strconv.FormatUint(r.Number, 10)
}

// tenantReady is the advisory readiness check of a tenant from the store.
func tenantReady(f *tenantstore.Follower) endpoint.Check {
	return endpoint.Check{Name: "tenant", Check: f.Ready, Advisory: true}
}

// followTenant applies every new revision of the store until ctx is done,
// on serve's loop (applies), where reloads and key changes are serialised:
// keys for its algorithms, then the issuer's snapshot, in one swap. A
// revision that cannot be applied leaves the previous one serving.
func (s *process) followTenant(ctx context.Context, f *tenantstore.Follower, applies chan<- func()) {
	apply := func(ctx context.Context, r tenantstore.Revision, t *tenant.Tenant) error {
		t.Revision = storeRevision(r)
		done := make(chan error, 1)
		select {
		case applies <- func() { done <- s.applyTenant(ctx, t) }:
		case <-ctx.Done():
			return ctx.Err()
		}
		return <-done
	}
	report := func(ctx context.Context, o tenantstore.Outcome) {
		if s.audit == nil {
			return
		}
		r := audit.Reload{Source: o.Revision.Source, Revision: o.Revision.Number, By: o.Revision.By, Tenant: o.Tenant, Err: o.Err}
		if err := s.audit.Reloaded(ctx, r); err != nil {
			s.log.Error("publishing the tenant reload event failed", "err", err)
		}
	}
	for {
		err := f.Run(ctx, apply, report)
		if ctx.Err() != nil {
			return
		}
		s.log.Error("following the tenant store; starting again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// applyTenant swaps in a tenant from the store, with keys for it.
func (s *process) applyTenant(ctx context.Context, t *tenant.Tenant) error {
	if s.cfg.issuer == "" && t.Issuer != s.issuer.Tenant().Issuer {
		return errors.New("the tenant's issuer changed; restart to change the issuer")
	}
	ks, err := s.ensureKeys(ctx, t)
	if err != nil {
		return err
	}
	if err := s.issuer.Reload(ctx, t, ks); err != nil {
		return err
	}
	if s.console != nil {
		s.console.reloaded(t)
	}
	return nil
}
