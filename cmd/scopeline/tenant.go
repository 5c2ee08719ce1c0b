package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/tenantstore"
)

// storeFlags say where the cluster's tenant store is.
type storeFlags struct {
	url, settingsPath, creds, dataDir string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.url, "url", "", "NATS server URL(s), comma-separated (default: from --settings, else nats://"+settings.DefaultEmbeddedListen+")")
	fs.StringVar(&f.settingsPath, "settings", "", "settings file of the replicas: its nats: section says where to connect")
	fs.StringVar(&f.creds, "creds", "", "NATS credentials file (default: from --settings)")
	fs.StringVar(&f.dataDir, "data-dir", "", "an embedded cluster's replica's data directory: connect to its NATS server with the administrator key it keeps there")
}

// open connects to NATS and opens the tenant store; close closes the
// connection. The store's buckets take the settings' replica count in
// cluster mode, else the count of those the replicas made; through a
// replica's data directory they must exist (the replicas make them with
// the cluster's count, which a command alone does not know).
func (f *storeFlags) open(ctx context.Context, name string) (store *tenantstore.Store, closeConn func(), err error) {
	var st *settings.Settings
	if f.settingsPath != "" {
		if st, err = settings.Load(f.settingsPath); err != nil {
			return nil, nil, err
		}
	}
	var nc *nats.Conn
	if f.dataDir != "" {
		if st == nil {
			st = settings.Default()
		}
		nc, err = connectAdmin(st, f.dataDir, name)
	} else {
		nc, err = dialNATS(st, f.url, f.creds, name)
	}
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		var opts []tenantstore.Option
		r, rerr := bucketReplicas(ctx, js, tenantstore.DefaultBucket)
		switch {
		case st != nil && st.Cluster.Enabled:
			opts = append(opts, tenantstore.WithReplicas(st.Cluster.Replicas))
		case rerr == nil:
			opts = append(opts, tenantstore.WithReplicas(r))
		case f.dataDir != "":
			err = errors.New("the cluster has no tenant store yet: start the replicas with `serve --tenant-source nats` first (they make it)")
		}
		if err == nil {
			store, err = tenantstore.Open(ctx, js, opts...)
		}
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return store, nc.Close, nil
}

// dialNATS connects a command to NATS: to url if set, else as the
// settings st say (nil: the embedded server's default address), with the
// credentials file creds if set.
func dialNATS(st *settings.Settings, url, creds, name string) (*nats.Conn, error) {
	addr, opts := "nats://"+settings.DefaultEmbeddedListen, []nats.Option{nats.Name(name)}
	if st != nil {
		u, connOpts := audit.ClientOptions(st.Audit.NATS)
		if u == "" && url == "" {
			return nil, errors.New("the settings' embedded NATS server does not listen (nats.embedded.listen: off); give --url")
		}
		addr, opts = u, append(opts, connOpts...)
	}
	if url != "" {
		addr = url
	}
	if creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w (is scopeline serve running?)", addr, err)
	}
	return nc, nil
}

// defaultPusher names who pushes: $SCOPELINE_USER, else user@host.
func defaultPusher() string {
	if u := os.Getenv("SCOPELINE_USER"); u != "" {
		return u
	}
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

func parseRevision(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, usageError{fmt.Errorf("revision %q: want a revision number (see `scopeline tenant history`)", s)}
	}
	return n, nil
}

func newTenantCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Push, pull, compare and roll back the tenant of a cluster",
		Long: `Manage the tenant that replicas started with --tenant-source nats serve:
it lives in NATS JetStream with its last 64 revisions (docs/configuration.md,
"The tenant in the cluster"). Every replica applies a new revision within
moments of its push, or keeps the previous one and says why.`,
	}
	sf.register(cmd)

	var (
		by     string
		expect int64
	)
	push := &cobra.Command{
		Use:   "push FILE",
		Short: "Validate a tenant file and make it the cluster's tenant",
		Long: `Validate FILE as scopeline serve --config would (every error at once, with
its line), resolve the hook modules it names in the module store
(module: sha256:<hex>, or module: store:NAME for a module pushed with
scopeline hook push --name), and store it as the next revision.

The push is refused, changing nothing, when another revision was pushed
since the one it read: by default the latest at the start of the command,
or --expect REV (the revision you pulled). Hook secrets and secret_env are
read by each replica from its own environment, not checked here.`,
		Example: `  scopeline tenant pull -o tenant.yaml    # note the revision it prints
  $EDITOR tenant.yaml
  scopeline tenant push tenant.yaml --expect 12`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, abs, err := tenant.ReadFile(args[0], tenant.MaxPushSize)
			if err != nil {
				return err
			}
			store, closeConn, err := sf.open(cmd.Context(), "scopeline tenant push")
			if err != nil {
				return err
			}
			defer closeConn()
			read, err := expectedRevision(cmd.Context(), store, expect)
			if err != nil && !errors.Is(err, tenantstore.ErrNoTenant) {
				return err
			}
			r, err := store.PushFile(cmd.Context(), data, abs, by, read)
			if err != nil {
				return err
			}
			if n, err := store.Sweep(cmd.Context()); err == nil && n > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "removed %d parts no revision uses any more\n", n)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed revision %d (%d APIs, %d clients, %d grants, %d users, %d hooks; %d parts, %d bytes)\n",
				r.Number, r.Counts.APIs, r.Counts.Clients, r.Counts.Grants, r.Counts.Users, r.Counts.Hooks, len(r.Parts), r.Size())
			return nil
		},
	}
	push.Flags().StringVar(&by, "by", defaultPusher(), "who pushes, recorded with the revision and in the replicas' tenant-reloaded events ($SCOPELINE_USER, else user@host)")
	push.Flags().Int64Var(&expect, "expect", -1, "the revision the file was pulled from: refuse the push if the tenant changed since (default: the latest, read at the start)")

	var (
		revision uint64
		output   string
	)
	pull := &cobra.Command{
		Use:   "pull",
		Short: "Write the cluster's tenant (or one of its revisions) as a tenant file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, closeConn, err := sf.open(cmd.Context(), "scopeline tenant pull")
			if err != nil {
				return err
			}
			defer closeConn()
			r, err := revisionOf(cmd.Context(), store, revision)
			if err != nil {
				return err
			}
			data, err := store.File(cmd.Context(), r)
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			if err := os.WriteFile(output, data, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote revision %d (pushed by %s at %s) to %s; push it back with --expect %d\n",
				r.Number, r.By, r.At.Format(time.RFC3339), output, r.Number)
			return nil
		},
	}
	pull.Flags().Uint64Var(&revision, "revision", 0, "the revision to pull (default: the latest)")
	pull.Flags().StringVarP(&output, "output", "o", "", "file to write (default: standard output)")

	history := &cobra.Command{
		Use:   "history",
		Short: "List the revisions the store keeps, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, closeConn, err := sf.open(cmd.Context(), "scopeline tenant history")
			if err != nil {
				return err
			}
			defer closeConn()
			hist, err := store.History(cmd.Context())
			if err != nil {
				return err
			}
			if len(hist) == 0 {
				return tenantstore.ErrNoTenant
			}
			printHistory(cmd.OutOrStdout(), hist)
			return nil
		},
	}

	diff := &cobra.Command{
		Use:   "diff REV [REV]",
		Short: "Show what changed from one revision to another (default: to the latest)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := parseRevision(args[0])
			if err != nil {
				return err
			}
			var to uint64
			if len(args) == 2 {
				if to, err = parseRevision(args[1]); err != nil {
					return err
				}
			}
			store, closeConn, err := sf.open(cmd.Context(), "scopeline tenant diff")
			if err != nil {
				return err
			}
			defer closeConn()
			a, err := store.Get(cmd.Context(), from)
			if err != nil {
				return err
			}
			b, err := revisionOf(cmd.Context(), store, to)
			if err != nil {
				return err
			}
			d, err := store.Diff(cmd.Context(), a, b)
			if err != nil {
				return err
			}
			if d == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "revisions %d and %d are the same tenant\n", a.Number, b.Number)
				return nil
			}
			_, err = io.WriteString(cmd.OutOrStdout(), d)
			return err
		},
	}

	rollback := &cobra.Command{
		Use:   "rollback REV",
		Short: "Make an earlier revision the cluster's tenant again",
		Long: `Store revision REV again as the next revision (the rollback is itself in
the history, and can be rolled back). Refused when the tenant changed since
the revision it read (the latest at the start, or --expect).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseRevision(args[0])
			if err != nil {
				return err
			}
			store, closeConn, err := sf.open(cmd.Context(), "scopeline tenant rollback")
			if err != nil {
				return err
			}
			defer closeConn()
			read, err := expectedRevision(cmd.Context(), store, expect)
			if err != nil {
				return err
			}
			r, err := store.Rollback(cmd.Context(), n, by, read)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revision %d is revision %d again\n", r.Number, n)
			return nil
		},
	}
	rollback.Flags().StringVar(&by, "by", defaultPusher(), "who rolls back ($SCOPELINE_USER, else user@host)")
	rollback.Flags().Int64Var(&expect, "expect", -1, "refuse if the latest revision is not this one (default: the latest, read at the start)")

	cmd.AddCommand(push, pull, history, diff, rollback)
	return cmd
}

// expectedRevision is the revision a change must find the latest: expect
// when set (not negative), else the latest now.
func expectedRevision(ctx context.Context, store *tenantstore.Store, expect int64) (uint64, error) {
	if expect >= 0 {
		return uint64(expect), nil
	}
	head, err := store.Head(ctx)
	return head.Number, err
}

// revisionOf is revision n, or the latest when n is 0.
func revisionOf(ctx context.Context, store *tenantstore.Store, n uint64) (tenantstore.Revision, error) {
	if n == 0 {
		return store.Head(ctx)
	}
	return store.Get(ctx, n)
}

func printHistory(out io.Writer, hist []tenantstore.Revision) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REVISION\tPUSHED\tBY\tSOURCE\tCLIENTS\tGRANTS\tAPIS\tHOOKS\tSIZE")
	for i := len(hist) - 1; i >= 0; i-- {
		r := hist[i]
		source := r.Source
		if r.RollbackOf != 0 {
			source = fmt.Sprintf("rollback to %d", r.RollbackOf)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", r.Number, r.At.Format(time.RFC3339), r.By, source,
			r.Counts.Clients, r.Counts.Grants, r.Counts.APIs, r.Counts.Hooks, r.Size())
	}
	w.Flush()
}
