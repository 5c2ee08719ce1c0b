// Package jwks fetches an authorization server's metadata (RFC 8414, then
// OpenID Connect Discovery) and its JWK Set (RFC 7517), and caches the
// verification keys for the resource-server SDK.
package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
)

// Signing algorithms (RFC 7518 §3.1, RFC 8037 §3.1) the SDK verifies.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Algorithms lists every algorithm the SDK can verify. HMAC and "none" are
// deliberately absent: a resource server holds only public keys.
var Algorithms = []string{RS256, ES256, EdDSA}

// Bounds on a JWK Set.
const (
	MaxKeys     = 100
	maxKidBytes = 256
	minRSABits  = 2048
	maxRSABits  = 8192
)

// Key is one public verification key.
type Key struct {
	ID        string
	Algorithm string
	Public    crypto.PublicKey
}

// jwk is a JSON Web Key as published (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Kid    string   `json:"kid"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"`
}

// ParseSet decodes a JWK Set into its usable verification keys by key id.
// Keys that cannot verify our algorithms (encryption keys, other key
// types, weak RSA keys, keys without a kid) are skipped and logged; a kid
// that appears twice is dropped altogether, since a token naming it would
// be ambiguous. A set with no usable key is an error.
func ParseSet(data []byte, log *slog.Logger) (map[string]*Key, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: malformed JWK Set: %w", err)
	}
	if len(doc.Keys) > MaxKeys {
		return nil, fmt.Errorf("jwks: JWK Set has %d keys, more than %d", len(doc.Keys), MaxKeys)
	}
	keys := make(map[string]*Key, len(doc.Keys))
	dup := map[string]bool{}
	for i, raw := range doc.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			log.Warn("jwks: skipping malformed key", "index", i, "err", err)
			continue
		}
		k, err := j.key()
		if err != nil {
			log.Debug("jwks: skipping key", "index", i, "kid", j.Kid, "reason", err)
			continue
		}
		if keys[k.ID] != nil || dup[k.ID] {
			dup[k.ID] = true
			delete(keys, k.ID)
			continue
		}
		keys[k.ID] = k
	}
	for kid := range dup {
		log.Warn("jwks: dropping keys that share a kid", "kid", kid)
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks: the JWK Set has no usable signature key")
	}
	return keys, nil
}

var b64 = base64.RawURLEncoding.Strict()

// key checks j and decodes its public key.
func (j *jwk) key() (*Key, error) {
	switch {
	case j.Kid == "":
		return nil, errors.New("no kid")
	case len(j.Kid) > maxKidBytes:
		return nil, errors.New("kid too long")
	case j.Use != "" && j.Use != "sig":
		return nil, fmt.Errorf("use %q is not sig", j.Use)
	case j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify"):
		return nil, errors.New("key_ops does not allow verify")
	case j.D != "":
		return nil, errors.New("private key published in the JWK Set")
	}
	k := &Key{ID: j.Kid}
	var err error
	switch j.Kty {
	case "RSA":
		k.Algorithm, k.Public, err = j.rsa()
	case "EC":
		k.Algorithm, k.Public, err = j.ec()
	case "OKP":
		k.Algorithm, k.Public, err = j.okp()
	default:
		return nil, fmt.Errorf("unsupported kty %q", j.Kty)
	}
	if err != nil {
		return nil, err
	}
	if j.Alg != "" && j.Alg != k.Algorithm {
		return nil, fmt.Errorf("unsupported alg %q for kty %s", j.Alg, j.Kty)
	}
	return k, nil
}

func (j *jwk) rsa() (string, crypto.PublicKey, error) {
	n, err1 := b64.DecodeString(j.N)
	e, err2 := b64.DecodeString(j.E)
	if err := errors.Join(err1, err2); err != nil {
		return "", nil, fmt.Errorf("malformed RSA key: %w", err)
	}
	nn := new(big.Int).SetBytes(n)
	if bits := nn.BitLen(); bits < minRSABits || bits > maxRSABits {
		return "", nil, fmt.Errorf("RSA key of %d bits (want %d to %d)", bits, minRSABits, maxRSABits)
	}
	if len(e) == 0 || len(e) > 4 {
		return "", nil, errors.New("malformed RSA exponent")
	}
	ee := new(big.Int).SetBytes(e).Int64()
	if ee < 3 || ee%2 == 0 || ee > 1<<31-1 {
		return "", nil, fmt.Errorf("unusable RSA exponent %d", ee)
	}
	return RS256, &rsa.PublicKey{N: nn, E: int(ee)}, nil
}

func (j *jwk) ec() (string, crypto.PublicKey, error) {
	if j.Crv != "P-256" {
		return "", nil, fmt.Errorf("unsupported curve %q", j.Crv)
	}
	x, err1 := b64.DecodeString(j.X)
	y, err2 := b64.DecodeString(j.Y)
	if err := errors.Join(err1, err2); err != nil || len(x) != 32 || len(y) != 32 {
		return "", nil, errors.New("malformed P-256 key")
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return "", nil, fmt.Errorf("invalid P-256 key: %w", err)
	}
	return ES256, pub, nil
}

func (j *jwk) okp() (string, crypto.PublicKey, error) {
	if j.Crv != "Ed25519" {
		return "", nil, fmt.Errorf("unsupported curve %q", j.Crv)
	}
	x, err := b64.DecodeString(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return "", nil, errors.New("malformed Ed25519 key")
	}
	return EdDSA, ed25519.PublicKey(x), nil
}
