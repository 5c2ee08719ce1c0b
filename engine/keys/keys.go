// Package keys keeps Scopeline's token signing keys: it generates them on
// first start, stores them in the data directory (mode 0600), rotates them
// and publishes the public halves as a JWK Set (RFC 7517).
//
// Each algorithm has one current key, which signs, and one next key, which
// is published in the JWKS but does not sign yet, so that resource servers
// already hold it when a rotation makes it current. A rotated-out key is
// retired: it stops signing but stays published until every token it signed
// has expired.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// Status is where a key is in its life.
type Status string

// The key statuses, in the order a key goes through them.
const (
	StatusNext    Status = "next"
	StatusCurrent Status = "current"
	StatusRetired Status = "retired"
)

// Key is one signing key.
type Key struct {
	ID        string
	Algorithm string
	Status    Status
	Created   time.Time
	Activated time.Time
	Retired   time.Time

	private crypto.Signer
	method  jwt.SigningMethod
	jwk     JWK
}

// Sign signs a JWS signing input (header.payload) with the key.
func (k *Key) Sign(signingInput string) ([]byte, error) {
	return k.method.Sign(signingInput, k.private)
}

// DeriveSecret derives an n-byte symmetric secret from the private key for
// one purpose, named by label (HKDF-SHA256, RFC 5869, over the PKCS#8
// encoding of the key). Every process holding the same key file derives
// the same secret, so state one replica seals another can open; different
// labels give independent secrets, and nothing of the signing key can be
// learnt from them.
func (k *Key) DeriveSecret(label string, n int) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return nil, fmt.Errorf("keys: encode %s: %w", k.ID, err)
	}
	return hkdf.Key(sha256.New, der, []byte("scopeline keys "+k.ID), label, n)
}

// Public returns the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.private.Public() }

// Method returns the JWT signing method for the key's algorithm.
func (k *Key) Method() jwt.SigningMethod { return k.method }

// JWK returns the key's public JWK.
func (k *Key) JWK() JWK { return k.jwk }

// Generate makes a new key for alg (RS256, ES256 or EdDSA).
func Generate(alg string, now time.Time) (*Key, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s key: %w", alg, err)
	}
	return newKey(alg, priv, now)
}

func newKey(alg string, priv crypto.Signer, created time.Time) (*Key, error) {
	k := &Key{Algorithm: alg, private: priv, Created: created.UTC().Truncate(time.Second)}
	switch alg {
	case "RS256":
		if _, ok := priv.(*rsa.PrivateKey); !ok {
			return nil, errors.New("keys: RS256 needs an RSA key")
		}
		k.method = jwt.SigningMethodRS256
	case "ES256":
		ec, ok := priv.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, errors.New("keys: ES256 needs a P-256 key")
		}
		k.method = jwt.SigningMethodES256
	case "EdDSA":
		if _, ok := priv.(ed25519.PrivateKey); !ok {
			return nil, errors.New("keys: EdDSA needs an Ed25519 key")
		}
		k.method = jwt.SigningMethodEdDSA
	default:
		return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	jwk, err := publicJWK(alg, priv.Public())
	if err != nil {
		return nil, err
	}
	k.ID = jwk.Thumbprint()
	jwk.Kid = k.ID
	k.jwk = jwk
	return k, nil
}

// JWK is a public JSON Web Key (RFC 7517, RFC 7518 §6, RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Kid string `json:"kid,omitempty"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

func publicJWK(alg string, pub crypto.PublicKey) (JWK, error) {
	p, err := jwk.FromPublicKey(pub, alg, "")
	if err != nil {
		return JWK{}, fmt.Errorf("keys: %w", err)
	}
	j := JWK(p)
	j.Use = "sig"
	return j, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the key, base64url.
func (j JWK) Thumbprint() string { return jwk.Public(j).Thumbprint() }

// storedKey is a key as kept in the key file.
type storedKey struct {
	ID         string    `json:"kid"`
	Algorithm  string    `json:"alg"`
	Status     Status    `json:"status"`
	Created    time.Time `json:"created"`
	Activated  time.Time `json:"activated,omitzero"`
	Retired    time.Time `json:"retired,omitzero"`
	PrivatePEM string    `json:"private_key"`
}

func (k *Key) stored() (storedKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return storedKey{}, fmt.Errorf("keys: encode %s: %w", k.ID, err)
	}
	return storedKey{
		ID: k.ID, Algorithm: k.Algorithm, Status: k.Status,
		Created: k.Created, Activated: k.Activated, Retired: k.Retired,
		PrivatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}, nil
}

func (s storedKey) key() (*Key, error) {
	block, _ := pem.Decode([]byte(s.PrivatePEM))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("keys: key %s: no PKCS#8 private key", s.ID)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", s.ID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %s: not a signing key", s.ID)
	}
	if edp, ok := signer.(*ed25519.PrivateKey); ok {
		signer = *edp
	}
	k, err := newKey(s.Algorithm, signer, s.Created)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", s.ID, err)
	}
	if k.ID != s.ID {
		return nil, fmt.Errorf("keys: key %s: kid does not match the key (thumbprint %s)", s.ID, k.ID)
	}
	switch s.Status {
	case StatusNext, StatusCurrent, StatusRetired:
	default:
		return nil, fmt.Errorf("keys: key %s: unknown status %q", s.ID, s.Status)
	}
	k.Status, k.Created, k.Activated, k.Retired = s.Status, s.Created, s.Activated, s.Retired
	return k, nil
}

// Set is an immutable view of the keys.
type Set struct {
	keys    []*Key
	current map[string]*Key
}

func newSet(keys []*Key) (*Set, error) {
	s := &Set{keys: keys, current: map[string]*Key{}}
	for _, k := range keys {
		if k.Status != StatusCurrent {
			continue
		}
		if s.current[k.Algorithm] != nil {
			return nil, fmt.Errorf("keys: two current %s keys (%s, %s)", k.Algorithm, s.current[k.Algorithm].ID, k.ID)
		}
		s.current[k.Algorithm] = k
	}
	return s, nil
}

// Keys returns every key in the set.
func (s *Set) Keys() []*Key { return s.keys }

// Signing returns the key that signs tokens for alg.
func (s *Set) Signing(alg string) (*Key, bool) {
	k, ok := s.current[alg]
	return k, ok
}

// JWKS returns the JWK Set to publish at now: every current and next key,
// and retired keys until retain (the longest token lifetime, plus leeway)
// has passed since they stopped signing.
func (s *Set) JWKS(now time.Time, retain time.Duration) []byte {
	doc := struct {
		Keys []JWK `json:"keys"`
	}{Keys: []JWK{}}
	for _, k := range s.keys {
		if k.Status == StatusRetired && now.After(k.Retired.Add(retain)) {
			continue
		}
		doc.Keys = append(doc.Keys, k.jwk)
	}
	out, _ := json.Marshal(doc)
	return out
}

// PublicKey decodes the JWK's public key (with package jwk's checks).
func (j JWK) PublicKey() (crypto.PublicKey, error) {
	raw, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	k, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("keys: JWK %s: %w", j.Kid, err)
	}
	return k.Public, nil
}
