package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/settings"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List and rotate token signing keys"}
	var kc keysConfig
	pf := cmd.PersistentFlags()
	pf.StringVar(&kc.dataDir, "data-dir", defaultDataDir(), "data directory holding the keys, or in cluster mode that of the local replica ($SCOPELINE_DATA_DIR)")
	pf.BoolVar(&kc.cluster, "cluster", false, "the keys of a cluster, in NATS: through the embedded server of the replica whose --data-dir is given, or the NATS system of --settings")
	pf.StringVar(&kc.settingsPath, "settings", "", "serve's settings file: with a cluster: section, the keys are the cluster's")
	pf.StringVar(&kc.kekFile, "kek-file", "", "the key-encryption key's file, in cluster mode (default: cluster.kek_file, else $SCOPELINE_KEK)")

	var (
		configPath string
		algs       []string
		force      bool
	)
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make the published next key current, retire the current one, publish a new next key",
		Long: `Rotate the signing keys in the data directory.

For each algorithm, the next key (published in the JWKS since the last
rotation, but not signing) becomes current; the current key is retired: it
signs nothing more but stays in the JWKS until every token it signed has
expired (the tenant's longest token lifetime plus 5 minutes); a new next key
is published. A running server picks the change up within --key-poll
(default 10s) or on SIGHUP.

In cluster mode (--cluster, or --settings with a cluster: section) the keys
are the cluster's, in NATS: the rotation is one compare-and-swap on the key
set, so of two made at once one fails and changes nothing, and every replica
serves the new key set within a second or two.

The rotation is refused when the next key was published less than the JWKS
cache lifetime (5 minutes) ago, as resource servers may not have it yet;
--force overrides.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := loadTenant(configPath)
			if err != nil {
				return err
			}
			o := keys.RotateOptions{
				Algorithms:   algs,
				Retain:       t.LongestTokenLifetime() + keys.Leeway,
				MinPublished: endpoint.JWKSMaxAge,
				Force:        force,
			}
			var set *keys.Set
			err = kc.with(cmd.Context(), func(kv *keys.KVStore) error {
				if kv == nil {
					set, err = keys.NewStore(kc.dataDir).Rotate(time.Now(), o)
					return err
				}
				set, err = kv.Rotate(cmd.Context(), time.Now(), o)
				if errors.Is(err, keys.ErrConflict) {
					return fmt.Errorf("%w; run it again to rotate the keys now in NATS", err)
				}
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "rotated; the keys are now:")
			printKeys(cmd, set)
			return nil
		},
	}
	rotate.Flags().StringVar(&configPath, "config", "", "tenant file, for its longest token lifetime (default: the demo tenant)")
	rotate.Flags().StringSliceVar(&algs, "alg", nil, "algorithms to rotate (default: all in the key file)")
	rotate.Flags().BoolVar(&force, "force", false, "rotate even if the next key was published only moments ago")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the signing keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var set *keys.Set
			err := kc.with(cmd.Context(), func(kv *keys.KVStore) (err error) {
				if kv == nil {
					set, err = keys.NewStore(kc.dataDir).Load()
				} else {
					set, err = kv.Load(cmd.Context())
				}
				return err
			})
			if err != nil {
				return err
			}
			printKeys(cmd, set)
			return nil
		},
	}
	var kekOut string
	newKEK := &cobra.Command{
		Use:   "new-kek",
		Short: "Make a key-encryption key for a cluster's signing keys",
		Long: `Make a new key-encryption key (32 random bytes, base64): every replica of a
cluster needs the same one, from a file (--kek-file, mode 0600) or the
SCOPELINE_KEK environment variable. With --out it is written to a new file
of mode 0600; else it is printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := keys.GenerateKEK(rand.Reader)
			if err != nil {
				return err
			}
			if kekOut == "" {
				fmt.Fprintln(cmd.OutOrStdout(), k)
				return nil
			}
			f, err := os.OpenFile(kekOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err = fmt.Fprintln(f, k); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	newKEK.Flags().StringVar(&kekOut, "out", "", "write the key to this new file (mode 0600) rather than printing it")
	cmd.AddCommand(rotate, list, newKEK)
	return cmd
}

// keysConfig is where the keys commands find the keys.
type keysConfig struct {
	dataDir      string
	cluster      bool
	settingsPath string
	kekFile      string
}

// with calls f with the cluster's key store, or nil for the key file of
// the data directory.
func (kc keysConfig) with(ctx context.Context, f func(*keys.KVStore) error) error {
	st, err := loadSettings(kc.settingsPath)
	if err != nil {
		return err
	}
	if err := st.Apply(settings.Flags{KEKFile: kc.kekFile}); err != nil {
		return usageError{err}
	}
	if !kc.cluster && !st.Cluster.Enabled {
		return f(nil)
	}
	if !st.Cluster.Enabled {
		st.Cluster = settings.Cluster{Enabled: true, KEKFile: st.Cluster.KEKFile}
	}
	ring, err := keyring(st)
	if err != nil {
		return err
	}
	nc, err := connectAdmin(st, kc.dataDir, "scopeline keys")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// The bucket exists (the replicas made it): its replica count is
	// whatever it is, and OpenKV checks the settings' count against it
	// only when the settings give one.
	var opts []keys.KVOption
	if st.Cluster.Replicas > 0 {
		opts = append(opts, keys.WithReplicas(st.Cluster.Replicas))
	} else if r, err := bucketReplicas(ctx, js, keys.DefaultBucket); err == nil {
		opts = append(opts, keys.WithReplicas(r))
	}
	kv, err := keys.OpenKV(ctx, js, ring, opts...)
	if err != nil {
		return err
	}
	return f(kv)
}

// bucketReplicas is the replica count of an existing bucket.
func bucketReplicas(ctx context.Context, js jetstream.JetStream, bucket string) (int, error) {
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return 0, err
	}
	return s.CachedInfo().Config.Replicas, nil
}

func printKeys(cmd *cobra.Command, set *keys.Set) {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ALG\tSTATUS\tKID\tCREATED\tRETIRED")
	for _, k := range set.Keys() {
		retired := "-"
		if !k.Retired.IsZero() {
			retired = k.Retired.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.Algorithm, k.Status, k.ID, k.Created.Format(time.RFC3339), retired)
	}
	w.Flush()
}
