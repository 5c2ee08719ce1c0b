package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Nonce periods.
const (
	// DefaultNoncePeriod is how long a nonce is current; it is accepted
	// for one more period after.
	DefaultNoncePeriod = 5 * time.Minute
	// MinNonceKeyBytes is the least key length NewNonces accepts.
	MinNonceKeyBytes = 32
)

// nonceLabel separates these HMACs from any other use of the key.
const nonceLabel = "scopeline dpop nonce v1\x00"

// Nonces issues and checks server nonces (RFC 9449 §8, §9) without
// state: a nonce is the index of a time period and an HMAC of it under a
// key. Every server holding the key issues the same nonce in a period and
// accepts the current and the previous period's, so replicas need share
// nothing but the key. It is immutable and safe for concurrent use.
type Nonces struct {
	key    []byte
	period time.Duration
	now    func() time.Time
}

// NewNonces returns nonces made with key (at least MinNonceKeyBytes of
// secret) that change every period (0 means DefaultNoncePeriod; between a
// second and an hour), on the clock now (nil means time.Now).
func NewNonces(key []byte, period time.Duration, now func() time.Time) (*Nonces, error) {
	if len(key) < MinNonceKeyBytes {
		return nil, fmt.Errorf("dpop: a nonce key needs at least %d bytes", MinNonceKeyBytes)
	}
	if period == 0 {
		period = DefaultNoncePeriod
	}
	if period < time.Second || period > time.Hour {
		return nil, errors.New("dpop: the nonce period must be between 1s and 1h")
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{key: append([]byte(nil), key...), period: period, now: now}, nil
}

// Current returns the nonce of the current period.
func (n *Nonces) Current() string { return n.make(n.index()) }

// Valid reports whether s is the nonce of the current or the previous
// period.
func (n *Nonces) Valid(s string) bool {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(raw) != 8+16 {
		return false
	}
	i := binary.BigEndian.Uint64(raw)
	cur := n.index()
	if i != cur && i+1 != cur {
		return false
	}
	return hmac.Equal(raw[8:], n.mac(i))
}

func (n *Nonces) index() uint64 { return uint64(n.now().UnixNano() / int64(n.period)) }

func (n *Nonces) make(i uint64) string {
	raw := binary.BigEndian.AppendUint64(make([]byte, 0, 24), i)
	return base64.RawURLEncoding.EncodeToString(append(raw, n.mac(i)...))
}

func (n *Nonces) mac(i uint64) []byte {
	h := hmac.New(sha256.New, n.key)
	h.Write([]byte(nonceLabel))
	h.Write(binary.BigEndian.AppendUint64(nil, i))
	return h.Sum(nil)[:16]
}
