package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/cluster"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/storage/natskv"
	"github.com/scopeline/scopeline/engine/throttle/kvthrottle"
)

// kekEnv holds the key-encryption key itself when no file is named.
const kekEnv = "SCOPELINE_KEK"

// Where the embedded server's admin key and client URL are written, in
// the data directory, for the management commands on the same machine.
const (
	adminKeyFile = "nats-admin.nk"
	adminURLFile = "nats-admin.url"
)

// applyFlags overrides the settings with serve's flags. It is applied
// again to a settings file read at a reload, to compare like with like.
func applyFlags(cfg serveConfig, st *settings.Settings) error {
	if err := st.Apply(settings.Flags{
		ClusterName: cfg.clusterName, ClusterListen: cfg.clusterListen, ClusterRoutes: cfg.clusterRoutes,
		Instance: cfg.instance, KEKFile: cfg.kekFile,
	}); err != nil {
		return usageError{err}
	}
	if cfg.natsListen != "" {
		n := &st.Audit.NATS
		switch {
		case cfg.natsListen == "off":
			n.Embedded.Listen = ""
		case n.External():
			return usageError{errors.New("--nats-listen: the settings name an external NATS server (nats.url), not the embedded one")}
		default:
			if err := settings.ValidateEmbeddedListen(cfg.natsListen); err != nil {
				return usageError{fmt.Errorf("--nats-listen: %w", err)}
			}
			n.Embedded.Listen = cfg.natsListen
		}
	}
	switch cfg.userStore {
	case "", "file", "memory", "nats":
	default:
		return usageError{fmt.Errorf("--user-store %q: want file, memory or nats", cfg.userStore)}
	}
	if st.Cluster.Enabled && (cfg.userStore == "file" || cfg.userStore == "memory") {
		return usageError{fmt.Errorf("--user-store %s keeps sessions, codes and refresh tokens in this process: a cluster's replicas share them in NATS (leave --user-store out, or nats)", cfg.userStore)}
	}
	if st.Cluster.Enabled && cfg.noAudit {
		return usageError{errors.New("--no-audit: a cluster's replicas need their NATS node")}
	}
	return nil
}

// startNode starts the process's NATS node: the embedded server (alone or
// a cluster member) or the connection to an external system.
func startNode(ctx context.Context, cfg serveConfig, st *settings.Settings, log *slog.Logger) (*cluster.Node, error) {
	host, _ := os.Hostname()
	name := st.ServerName(host)
	if st.Cluster.Enabled && st.Audit.Instance == "" {
		// The replica's id in events: unique among the members, as the
		// server's name must be.
		st.Audit.Instance = name
	}
	store := st.Audit.NATS.Embedded.StoreDir
	if store == "" {
		store = filepath.Join(cfg.dataDir, "nats")
	}
	nc := cluster.Config{
		NATS: st.Audit.NATS, ServerName: name, StoreDir: store, ReaderStream: st.Audit.Stream.Name,
		Name: "scopeline " + cmpOr(st.Audit.Instance, name), Log: log,
	}
	if st.Audit.NATS.Embedded.Listen != "" {
		nc.AdminKeyFile = filepath.Join(cfg.dataDir, adminKeyFile)
	}
	node, err := cluster.Start(ctx, nc)
	if err != nil {
		return nil, err
	}
	if u := node.ClientURL(); u != "" {
		if err := os.WriteFile(filepath.Join(cfg.dataDir, adminURLFile), []byte(u+"\n"), 0o600); err != nil {
			node.Close()
			return nil, err
		}
	}
	if st.Cluster.Enabled {
		log.Info("cluster mode: signing keys, user flows and throttles live in NATS", "replica", st.Audit.Instance,
			"replicas", st.Cluster.Replicas, "cluster", st.Audit.NATS.Embedded.Cluster.Name, "external", strings.Join(st.Audit.NATS.URLs, ","))
		if err := node.WaitJetStream(ctx); err != nil {
			node.Close()
			return nil, err
		}
	}
	return node, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// keyring reads the key-encryption keys of the settings: the KEK file
// (or the SCOPELINE_KEK variable) and the previous ones.
func keyring(st *settings.Settings) (*keys.Keyring, error) {
	var current *keys.KEK
	var err error
	switch {
	case st.Cluster.KEKFile != "":
		current, err = keys.LoadKEK(st.Cluster.KEKFile)
	case os.Getenv(kekEnv) != "":
		current, err = keys.ParseKEK([]byte(os.Getenv(kekEnv)))
		if err != nil {
			err = fmt.Errorf("%s: %w", kekEnv, err)
		}
	default:
		return nil, usageError{fmt.Errorf("a cluster keeps its signing keys in NATS sealed with a key-encryption key: give --kek-file, cluster.kek_file in the settings, or %s (make one with `scopeline keys new-kek`)", kekEnv)}
	}
	if err != nil {
		return nil, err
	}
	var old []*keys.KEK
	for _, p := range st.Cluster.PreviousKEKFiles {
		k, err := keys.LoadKEK(p)
		if err != nil {
			return nil, err
		}
		old = append(old, k)
	}
	return keys.NewKeyring(current, old...), nil
}

// shared is what a cluster's replicas share in NATS.
type shared struct {
	keys      *keys.KVStore
	flows     *natskv.Store
	throttles *kvthrottle.Shared
	// replay holds the used identifiers of client assertions and DPoP
	// proofs (their keys are namespaced by kind), so that one accepted
	// by a replica is refused by all.
	replay *natskv.Replay
}

// openShared creates or checks the buckets of a cluster's shared state,
// waiting for the cluster (its servers may start one after the other) but
// failing at once on a bucket whose settings differ from the settings'.
func openShared(ctx context.Context, js jetstream.JetStream, st *settings.Settings, log *slog.Logger) (*shared, error) {
	ring, err := keyring(st)
	if err != nil {
		return nil, err
	}
	r := st.Cluster.Replicas
	sh := &shared{}
	err = cluster.Retry(ctx, log, "the signing-key bucket", func(ctx context.Context) (err error) {
		sh.keys, err = keys.OpenKV(ctx, js, ring, keys.WithReplicas(r))
		return err
	})
	if err == nil {
		err = cluster.Retry(ctx, log, "the user-flow buckets", func(ctx context.Context) (err error) {
			sh.flows, err = natskv.Open(ctx, js, natskv.WithReplicas(r))
			return err
		})
	}
	if err == nil {
		err = cluster.Retry(ctx, log, "the throttle bucket", func(ctx context.Context) (err error) {
			sh.throttles, err = kvthrottle.Open(ctx, js, kvthrottle.WithReplicas(r), kvthrottle.WithLogger(log))
			return err
		})
	}
	if err == nil {
		err = cluster.Retry(ctx, log, "the replay bucket", func(ctx context.Context) (err error) {
			sh.replay, err = natskv.OpenReplay(ctx, js, natskv.WithReplicas(r))
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	return sh, nil
}

func (sh *shared) close() {
	if sh.throttles != nil {
		sh.throttles.Close()
	}
	if sh.flows != nil {
		sh.flows.Close()
	}
}

// jetStream is the JetStream context of the process's NATS node, the
// same in every mode: the single embedded server, an embedded cluster or
// an external system. It is the seam for what else a replica keeps in
// NATS (the tenant, hook modules); with it, ensureKeys gives the keys of a
// tenant and issuer.Reload swaps a new snapshot in. nil when NATS is off
// (--no-audit with a file store).
func (s *process) jetStream() jetstream.JetStream {
	if s.node == nil {
		return nil
	}
	return s.node.JetStream()
}

// seedKeys moves the key file of the data directory, if there is one,
// into the cluster's bucket when the bucket is empty: a process that
// becomes the first replica of a cluster keeps its keys, and the tokens it
// signed keep validating. A bucket with keys is left as it is.
func seedKeys(ctx context.Context, kv *keys.KVStore, dataDir string, log *slog.Logger) error {
	file := keys.NewStore(dataDir)
	if _, err := os.Stat(file.Path()); err != nil {
		return nil
	}
	set, err := file.Load()
	if err != nil {
		return fmt.Errorf("the key file to move into the cluster: %w", err)
	}
	var now *keys.Set
	err = cluster.Retry(ctx, log, "the signing-key bucket", func(ctx context.Context) (err error) {
		now, err = kv.Seed(ctx, set)
		if errors.Is(err, keys.ErrCannotOpen) {
			return cluster.Permanent(err)
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(set.Keys()) > 0 && len(now.Keys()) > 0 && now.Keys()[0].ID == set.Keys()[0].ID {
		log.Info("the key file of the data directory is now the cluster's key set; it is no longer read", "file", file.Path())
	}
	return nil
}

// ensureAuditStream creates or checks the audit stream at the start of a
// replica: a stream with another replica count is an error now, not an
// unready replica later.
func ensureAuditStream(ctx context.Context, pub *audit.Publisher, log *slog.Logger) error {
	return cluster.Retry(ctx, log, "the audit stream", pub.EnsureStream)
}

// watchKeys follows the signing-key bucket and swaps every new key set
// in, until ctx ends: a rotation made by any replica (or `scopeline keys
// rotate`) is served by this one within milliseconds. A set that cannot
// be used (sealed with a KEK this replica lacks, say) is logged, and the
// keys in use stay.
func (s *process) watchKeys(ctx context.Context) {
	for ctx.Err() == nil {
		updates, err := s.kv.Watch(ctx)
		if err != nil {
			s.log.Error("watching the signing keys", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for u := range updates {
			err := u.Err
			if err == nil {
				err = s.issuer.SetKeys(u.Set)
			}
			if err != nil {
				s.log.Error("the signing keys in NATS cannot be used; keeping the ones in use", "revision", u.Revision, "err", err)
				continue
			}
			s.log.Info("signing keys updated from NATS", "revision", u.Revision, "current", currentKeys(u.Set))
		}
	}
}

func currentKeys(ks *keys.Set) []string {
	var ids []string
	for _, k := range ks.Keys() {
		if k.Status == keys.StatusCurrent {
			ids = append(ids, k.Algorithm+":"+k.ID)
		}
	}
	return ids
}

// connectAdmin connects a management command to a cluster's NATS system:
// an external one with the settings' credentials, or the embedded server
// of the `scopeline serve` whose data directory is dataDir, through its
// loopback listener with the admin key it wrote there.
func connectAdmin(st *settings.Settings, dataDir, name string) (*nats.Conn, error) {
	n := st.Audit.NATS
	if !n.External() {
		u, err := os.ReadFile(filepath.Join(dataDir, adminURLFile))
		if err != nil {
			return nil, fmt.Errorf("the embedded NATS server's address: %w (is `scopeline serve` running with --data-dir %s?)", err, dataDir)
		}
		n.Embedded.Listen = strings.TrimPrefix(strings.TrimSpace(string(u)), "nats://")
	}
	url, opts, err := cluster.AdminOptions(n, filepath.Join(dataDir, adminKeyFile))
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(opts, nats.Name(name))...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	return nc, nil
}
