package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// newSecretKeypairCmd makes `scopeline secret keypair`: a key pair for a
// private_key_jwt client (RFC 7523 §2.2, OpenID Connect Core §9), the
// private key for the client and the tenant-file lines for the issuer.
func newSecretKeypairCmd() *cobra.Command {
	var alg, kid, out, clientID string
	cmd := &cobra.Command{
		Use:   "keypair",
		Short: "Make a key pair for a private_key_jwt client: the private key (PEM) and the client's tenant-file lines",
		Long: `Make a key pair for a client that authenticates with private_key_jwt.

The private key (PKCS#8 PEM) is for the client: it signs its client
assertions with it. It is printed, or written with --out to a new file of
mode 0600. The public key goes into the tenant file as the client's inline
jwks; the lines printed are ready to paste under clients:.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(tenant.AssertionAlgorithms, alg) {
				return usageError{fmt.Errorf("--alg %q: want one of %s", alg, strings.Join(tenant.AssertionAlgorithms, ", "))}
			}
			return keypair(cmd.OutOrStdout(), alg, kid, out, clientID)
		},
	}
	cmd.Flags().StringVar(&alg, "alg", "ES256", "signing algorithm: "+strings.Join(tenant.AssertionAlgorithms, ", "))
	cmd.Flags().StringVar(&kid, "kid", "", "key id (default: the key's RFC 7638 thumbprint)")
	cmd.Flags().StringVar(&out, "out", "", "write the private key to this new file (mode 0600) instead of printing it")
	cmd.Flags().StringVar(&clientID, "client-id", "my-service", "the client's id in the printed lines")
	return cmd
}

func keypair(w io.Writer, alg, kid, out, clientID string) error {
	var (
		key crypto.Signer
		err error
	)
	switch alg {
	case jwk.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwk.EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default: // RS256, PS256
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	}
	if err != nil {
		return err
	}
	pub, err := jwk.FromPublicKey(key.Public(), alg, kid)
	if err != nil {
		return err
	}
	if pub.Kid == "" {
		pub.Kid = pub.Thumbprint()
	}
	pub.Use = "sig"
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	private := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	jwks, err := json.Marshal(map[string]any{"keys": []jwk.Public{pub}})
	if err != nil {
		return err
	}
	if out != "" {
		if err := writeNew(out, private); err != nil {
			return err
		}
		fmt.Fprintf(w, "private key: written to %s (mode 0600); give it to the client only\n\n", out)
	} else {
		fmt.Fprintf(w, "%s\n", private)
	}
	fmt.Fprintf(w, "The client signs its client_assertion with the private key (alg %s, kid %q).\nAdd the client to the tenant file:\n\n", alg, pub.Kid)
	fmt.Fprintf(w, "  - id: %s\n    type: m2m\n    token_endpoint_auth_method: private_key_jwt\n    token_endpoint_auth_signing_alg: %s\n    jwks: %s\n", clientID, alg, jwks)
	return nil
}

// writeNew writes data to a file that must not exist yet, mode 0600.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; not overwriting a key", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
