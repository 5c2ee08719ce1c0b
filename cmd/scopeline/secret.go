package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/tenant"
)

// maxSecretLen bounds the secret `secret digest` reads: a longer one could
// not reach the token endpoint, whose request bodies (and serve's headers)
// are no larger.
const maxSecretLen = endpoint.MaxTokenRequestBytes

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Make client secrets and their digests, and client key pairs"}
	cmd.AddCommand(newSecretKeypairCmd())
	cmd.AddCommand(&cobra.Command{
		Use:   "new",
		Short: "Print a fresh 256-bit client secret and the digest line for the tenant file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var b [32]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			secret := base64.RawURLEncoding.EncodeToString(b[:])
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "secret: %s\n", secret)
			fmt.Fprintf(out, "digest: %s\n\n", tenant.FormatDigest(secret))
			fmt.Fprintf(out, "Give the secret to the client (it is shown only now), and add the digest\nto the client's secrets in the tenant file:\n\n    secrets:\n      - %s\n", tenant.FormatDigest(secret))
			return nil
		},
	}, &cobra.Command{
		Use:   "digest",
		Short: "Read a secret on standard input and print its digest line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, err := readLine(cmd.InOrStdin(), "secret", maxSecretLen)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tenant.FormatDigest(secret))
			return nil
		},
	})
	return cmd
}
