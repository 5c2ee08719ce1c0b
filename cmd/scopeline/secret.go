package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine/tenant"
)

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Make client secrets and their digests"}
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
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			secret := strings.TrimRight(line, "\r\n")
			if secret == "" {
				if err != nil {
					return errors.New("no secret on standard input")
				}
				return errors.New("empty secret")
			}
			fmt.Fprintln(cmd.OutOrStdout(), tenant.FormatDigest(secret))
			return nil
		},
	})
	return cmd
}
