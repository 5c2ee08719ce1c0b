// Package jwks fetches an authorization server's metadata (RFC 8414, then
// OpenID Connect Discovery) and its JWK Set (RFC 7517), and caches the
// verification keys for the resource-server SDK.
package jwks

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"

	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// Signing algorithms (RFC 7518 §3.1, RFC 8037 §3.1) the SDK verifies.
const (
	RS256 = jwk.RS256
	ES256 = jwk.ES256
	EdDSA = jwk.EdDSA
)

// Algorithms lists every algorithm the SDK can verify. HMAC and "none" are
// deliberately absent: a resource server holds only public keys.
var Algorithms = []string{RS256, ES256, EdDSA}

// MaxKeys bounds a JWK Set.
const MaxKeys = jwk.MaxKeys

// Key is one public verification key.
type Key struct {
	ID        string
	Algorithm string
	Public    crypto.PublicKey
}

// issuerAlgorithm is the one algorithm an issuer's key of each type signs
// access tokens with (Scopeline signs RSA keys with RS256 only).
var issuerAlgorithm = map[string]string{"RSA": RS256, "EC": ES256, "OKP": EdDSA}

// ParseSet decodes a JWK Set into its usable verification keys by key id.
// Keys that cannot verify our algorithms (encryption keys, other key
// types, weak RSA keys, keys without a kid) are skipped and logged; a kid
// that appears twice is dropped altogether, since a token naming it would
// be ambiguous. A set with no usable key is an error.
func ParseSet(data []byte, log *slog.Logger) (map[string]*Key, error) {
	s, skipped, err := jwk.ParseSet(data)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	for _, err := range skipped {
		log.Debug("jwks: skipping key", "reason", err)
	}
	keys := make(map[string]*Key, len(s.Keys))
	dup := map[string]bool{}
	for _, k := range s.Keys {
		alg := issuerAlgorithm[k.Type]
		switch {
		case k.ID == "":
			log.Debug("jwks: skipping key without a kid")
			continue
		case !k.Verifies(alg):
			log.Debug("jwks: skipping key", "kid", k.ID, "reason", fmt.Sprintf("alg %q is not %s", k.Algorithm, alg))
			continue
		case keys[k.ID] != nil || dup[k.ID]:
			dup[k.ID] = true
			delete(keys, k.ID)
			continue
		}
		keys[k.ID] = &Key{ID: k.ID, Algorithm: alg, Public: k.Public}
	}
	for kid := range dup {
		log.Warn("jwks: dropping keys that share a kid", "kid", kid)
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks: the JWK Set has no usable signature key")
	}
	return keys, nil
}
