package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// TestSecretKeypair makes a key pair per algorithm and checks that the
// printed lines load as a private_key_jwt client whose key is the private
// key's public half.
func TestSecretKeypair(t *testing.T) {
	for _, alg := range tenant.AssertionAlgorithms {
		t.Run(alg, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "client.pem")
			code, stdout, errOut := runCLI(t, "", "secret", "keypair", "--alg", alg, "--out", out, "--client-id", "svc")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Contains(stdout, "PRIVATE KEY") {
				t.Error("the private key was printed although --out was given")
			}
			fi, err := os.Stat(out)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v, mode %v", err, fi.Mode())
			}
			raw, _ := os.ReadFile(out)
			block, _ := pem.Decode(raw)
			priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			// The printed lines, under clients:, make a valid tenant.
			lines := stdout[strings.Index(stdout, "  - id: svc"):]
			tn, err := tenant.Parse([]byte("apis: [{identifier: https://api}]\nclients:\n"+lines), "t.yaml", ".")
			if err != nil {
				t.Fatalf("%v\n%s", err, lines)
			}
			c, _ := tn.Client("svc")
			if c.Auth.Method != tenant.AuthPrivateKeyJWT || c.Auth.SigningAlgorithm != alg || len(c.Auth.JWKS.Keys) != 1 {
				t.Fatalf("client %+v", c.Auth)
			}
			k := c.Auth.JWKS.Keys[0]
			want, _ := jwk.Thumbprint(priv.(crypto.Signer).Public())
			if k.Thumbprint != want || k.ID != want || !k.Verifies(alg) {
				t.Errorf("key %+v, want thumbprint %s", k, want)
			}
			// Never overwrites.
			if code, _, errOut := runCLI(t, "", "secret", "keypair", "--out", out); code == 0 || !strings.Contains(errOut, "exists") {
				t.Errorf("overwrote: %d %s", code, errOut)
			}
		})
	}
	code, stdout, _ := runCLI(t, "", "secret", "keypair", "--kid", "k-2026")
	if code != 0 || !regexp.MustCompile(`(?s)-----BEGIN PRIVATE KEY-----.*"kid":"k-2026".*"alg":"ES256"|"alg":"ES256".*"kid":"k-2026"`).MatchString(stdout) {
		t.Errorf("default: %d\n%s", code, stdout)
	}
	if code, _, errOut := runCLI(t, "", "secret", "keypair", "--alg", "HS256"); code != 2 || !strings.Contains(errOut, "want one of") {
		t.Errorf("HS256: %d %s", code, errOut)
	}
}
