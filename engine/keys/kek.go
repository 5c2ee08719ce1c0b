package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// KEKSize is the length of a key-encryption key: 32 bytes, for AES-256.
const KEKSize = 32

// KEK is a key-encryption key: it seals the private signing keys that a
// shared store (KVStore) keeps, so that what the store holds is useless
// without it. Every replica of an issuer gets the same KEK, from a file or
// an environment variable, never from the store.
//
// Sealing is AES-256-GCM with a random nonce per sealing; the associated
// data binds a sealed key to its key id, algorithm, bucket and entry, so
// that it cannot be moved to another place or passed off as another key.
type KEK struct {
	id   string
	aead cipher.AEAD
}

// ParseKEK reads a KEK written as base64 (standard or URL alphabet,
// padded or not) of 32 random bytes, ignoring surrounding white space.
func ParseKEK(text []byte) (*KEK, error) {
	s := strings.TrimSpace(string(text))
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			raw = b
			break
		}
	}
	switch {
	case raw == nil:
		return nil, errors.New("keys: the key-encryption key is not base64 (make one with `openssl rand -base64 32`)")
	case len(raw) != KEKSize:
		return nil, fmt.Errorf("keys: the key-encryption key has %d bytes, want %d (make one with `openssl rand -base64 32`)", len(raw), KEKSize)
	}
	return newKEK(raw)
}

func newKEK(raw []byte) (*KEK, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	// The id is a hash of the key under a label of its own: it names the
	// KEK without revealing anything usable about it.
	sum := sha256.Sum256(append([]byte("scopeline key-encryption key id\x00"), raw...))
	return &KEK{id: base64.RawURLEncoding.EncodeToString(sum[:12]), aead: aead}, nil
}

// LoadKEK reads a KEK from a file that only its owner may read or write
// (mode 0600 or stricter), as ssh does with private keys.
func LoadKEK(path string) (*KEK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keys: %s is readable or writable by others (mode %v): make it 0600", path, fi.Mode().Perm())
	}
	text, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	k, err := ParseKEK(text)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// GenerateKEK returns a new KEK in the text form ParseKEK reads.
func GenerateKEK(rnd io.Reader) (string, error) {
	raw := make([]byte, KEKSize)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return "", fmt.Errorf("keys: generate key-encryption key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw) + "\n", nil
}

// ID names the KEK; it is stored beside every key the KEK sealed.
func (k *KEK) ID() string { return k.id }

func (k *KEK) seal(plaintext, aad []byte) (nonce, sealed []byte, err error) {
	nonce = make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return nonce, k.aead.Seal(nil, nonce, plaintext, aad), nil
}

func (k *KEK) open(nonce, sealed, aad []byte) ([]byte, error) {
	if len(nonce) != k.aead.NonceSize() {
		return nil, errors.New("bad nonce")
	}
	return k.aead.Open(nil, nonce, sealed, aad)
}

// Keyring is the KEKs of a replica: the current one, which seals, and
// older ones that only open keys sealed before a change of KEK.
//
// To change the KEK without downtime: give every replica the new KEK as
// an old one; then make it the current one and the former current one
// old, everywhere; then reseal (KVStore.Reseal); then drop the old one.
type Keyring struct {
	current *KEK
	byID    map[string]*KEK
}

// NewKeyring returns the keyring that seals with current and opens with
// current and every old KEK.
func NewKeyring(current *KEK, old ...*KEK) *Keyring {
	r := &Keyring{current: current, byID: map[string]*KEK{current.id: current}}
	for _, k := range old {
		if _, dup := r.byID[k.id]; !dup {
			r.byID[k.id] = k
		}
	}
	return r
}

// Current is the KEK that seals.
func (r *Keyring) Current() *KEK { return r.current }
