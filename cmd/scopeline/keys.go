package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List and rotate token signing keys"}
	var dataDir string
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory holding the keys ($SCOPELINE_DATA_DIR)")

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

The rotation is refused when the next key was published less than the JWKS
cache lifetime (5 minutes) ago, as resource servers may not have it yet;
--force overrides.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := loadTenant(configPath)
			if err != nil {
				return err
			}
			set, err := keys.NewStore(dataDir).Rotate(time.Now(), keys.RotateOptions{
				Algorithms:   algs,
				Retain:       t.LongestTokenLifetime() + keys.Leeway,
				MinPublished: endpoint.JWKSMaxAge,
				Force:        force,
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
			set, err := keys.NewStore(dataDir).Load()
			if err != nil {
				return err
			}
			printKeys(cmd, set)
			return nil
		},
	}
	cmd.AddCommand(rotate, list)
	return cmd
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
