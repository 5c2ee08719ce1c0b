// Package dpoptest makes DPoP proofs (RFC 9449 §4.2) for tests, as a
// client would, with a knob for every claim and header so that tests can
// make the proofs a server must refuse.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/scopeline/scopeline/sdk/resource/dpop"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// Key is a client's DPoP key pair.
type Key struct {
	Algorithm string
	Signer    crypto.Signer
	JWK       jwk.Public
}

// NewKey makes a key for alg (ES256, EdDSA, RS256 or PS256).
func NewKey(tb testing.TB, alg string) *Key {
	tb.Helper()
	var (
		s   crypto.Signer
		err error
	)
	switch alg {
	case jwk.ES256:
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwk.EdDSA:
		_, s, err = ed25519.GenerateKey(rand.Reader)
	case jwk.RS256, jwk.PS256:
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		tb.Fatalf("dpoptest: unsupported algorithm %q", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	j, err := jwk.FromPublicKey(s.Public(), "", "")
	if err != nil {
		tb.Fatal(err)
	}
	return &Key{Algorithm: alg, Signer: s, JWK: j}
}

// Thumbprint returns the key's RFC 7638 thumbprint (the jkt it binds).
func (k *Key) Thumbprint() string { return k.JWK.Thumbprint() }

// Proof is what a proof holds; the zero values are filled by Key.Proof.
type Proof struct {
	Method, URL string
	// IssuedAt defaults to now.
	IssuedAt time.Time
	// ID (jti) defaults to a random one.
	ID string
	// AccessToken, when set, adds its ath.
	AccessToken string
	Nonce       string
	// Header and Claims change the header and claims last: a nil value
	// removes a member.
	Header map[string]any
	Claims map[string]any
}

// Proof signs a proof for p.
func (k *Key) Proof(tb testing.TB, p Proof) string {
	tb.Helper()
	if p.IssuedAt.IsZero() {
		p.IssuedAt = time.Now()
	}
	if p.ID == "" {
		var b [16]byte
		rand.Read(b[:])
		p.ID = base64.RawURLEncoding.EncodeToString(b[:])
	}
	header := map[string]any{"typ": dpop.ProofType, "alg": k.Algorithm, "jwk": k.JWK}
	claims := map[string]any{"jti": p.ID, "htm": p.Method, "htu": p.URL, "iat": p.IssuedAt.Unix()}
	if p.AccessToken != "" {
		claims["ath"] = dpop.AccessTokenHash(p.AccessToken)
	}
	if p.Nonce != "" {
		claims["nonce"] = p.Nonce
	}
	return k.Sign(tb, merge(header, p.Header), merge(claims, p.Claims))
}

// Sign signs any header and claims with the key's own algorithm, whatever
// the header says.
func (k *Key) Sign(tb testing.TB, header, claims map[string]any) string {
	tb.Helper()
	input := segment(tb, header) + "." + segment(tb, claims)
	sig, err := jwk.Method(k.Algorithm).Sign(input, k.Signer)
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func merge(base, changes map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func segment(tb testing.TB, v any) string {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}
