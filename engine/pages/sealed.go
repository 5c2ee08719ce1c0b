package pages

import (
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/scopeline/scopeline/engine"
)

var b64 = base64.RawURLEncoding

// An authorization request is not stored while nobody has signed in: the
// issuer seals it (XChaCha20-Poly1305, authenticated encryption) and the
// browser carries it to the login page and back in the `request`
// parameter. So /authorize costs no storage write, and no client id or
// network can fill a table that everybody's sign-ins need. The sealing
// key is derived from a signing key (keys.Key.DeriveSecret), so every
// replica sharing the key file opens what another sealed, and the value
// names the key it was sealed with, so a rotation does not break sign-ins
// in progress: retired keys stay in the set longer than a request lives.
// The sealed request holds the hash of the browser cookie it is bound to
// and the time it was made; both are checked when it is opened.
const (
	sealLabel   = "scopeline authorization request v1"
	sealVersion = 1
	// maxSealedLen bounds a sealed request, which travels in a URL and
	// a form field: a request that would seal larger is refused.
	maxSealedLen = 16 << 10
)

var (
	errSealedMalformed = errors.New("pages: malformed sealed request")
	errSealedKey       = errors.New("pages: sealed request: unknown key")
	errSealedTooLarge  = errors.New("pages: sealed request too large")
)

// sealers are the sealing keys of a snapshot: the AEAD derived from each
// key of its set, by key id, and the key new requests are sealed with
// (the current key of the tenant's algorithm). err is set when they
// cannot be derived.
type sealers struct {
	aeads map[string]cipher.AEAD
	kid   string
	err   error
}

// newSealers derives the sealers of s, once per snapshot.
func newSealers(s *engine.Snapshot) *sealers {
	ks := s.Keys()
	out := &sealers{aeads: make(map[string]cipher.AEAD, len(ks.Keys()))}
	for _, k := range ks.Keys() {
		secret, err := k.DeriveSecret(sealLabel, chacha20poly1305.KeySize)
		if err != nil {
			return &sealers{err: err}
		}
		aead, err := chacha20poly1305.NewX(secret)
		if err != nil {
			return &sealers{err: fmt.Errorf("pages: sealing key: %w", err)}
		}
		out.aeads[k.ID] = aead
	}
	if k, ok := ks.Signing(s.Tenant().Algorithm); ok {
		out.kid = k.ID
	}
	if _, ok := out.aeads[out.kid]; !ok {
		out.err = errors.New("pages: no current key to seal requests with")
	}
	return out
}

// seal seals ar with the sealing key of snapshot s:
// base64url(version, len(kid), kid, nonce, ciphertext), whose header and
// the issuer are the additional data.
func (pg *Pages) seal(s *engine.Snapshot, ar *authRequest) (string, error) {
	plain, err := json.Marshal(ar)
	if err != nil {
		return "", err
	}
	sl := pg.sealers.Of(s)
	if sl.err != nil {
		return "", sl.err
	}
	kid := sl.kid
	aead := sl.aeads[kid]
	if len(kid) > 255 {
		return "", fmt.Errorf("pages: sealing key id %q too long", kid)
	}
	hdr := append([]byte{sealVersion, byte(len(kid))}, kid...)
	out := make([]byte, len(hdr), len(hdr)+aead.NonceSize()+len(plain)+aead.Overhead())
	copy(out, hdr)
	nonce := out[len(hdr) : len(hdr)+aead.NonceSize()]
	out = out[:len(hdr)+aead.NonceSize()]
	if _, err := io.ReadFull(pg.cfg.Rand, nonce); err != nil {
		return "", fmt.Errorf("pages: randomness: %w", err)
	}
	out = aead.Seal(out, nonce, plain, sealAD(hdr, s.Issuer()))
	if b64.EncodedLen(len(out)) > maxSealedLen {
		return "", errSealedTooLarge
	}
	return b64.EncodeToString(out), nil
}

// open opens what seal made. It checks only that the issuer made it; the
// caller checks its age and browser binding.
func (pg *Pages) open(s *engine.Snapshot, sealed string) (*authRequest, error) {
	if sealed == "" || len(sealed) > maxSealedLen {
		return nil, errSealedMalformed
	}
	raw, err := b64.DecodeString(sealed)
	if err != nil || len(raw) < 2 || raw[0] != sealVersion || len(raw) < 2+int(raw[1]) {
		return nil, errSealedMalformed
	}
	hdr := raw[:2+int(raw[1])]
	aead, ok := pg.sealers.Of(s).aeads[string(hdr[2:])]
	if !ok {
		return nil, errSealedKey
	}
	rest := raw[len(hdr):]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, errSealedMalformed
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], sealAD(hdr, s.Issuer()))
	if err != nil {
		return nil, errSealedMalformed
	}
	var ar authRequest
	if err := json.Unmarshal(plain, &ar); err != nil {
		return nil, errSealedMalformed
	}
	return &ar, nil
}

func sealAD(hdr []byte, issuer string) []byte {
	return append(append([]byte("scopeline sealed request\x00"), hdr...), issuer...)
}
