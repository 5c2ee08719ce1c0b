package jwk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// Signature algorithms (RFC 7518 §3.1, RFC 8037 §3.1) the keys verify.
const (
	RS256 = "RS256"
	PS256 = "PS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Algorithms lists every algorithm a decoded key may verify. HMAC and
// "none" are absent on purpose: these are public keys.
var Algorithms = []string{RS256, PS256, ES256, EdDSA}

// Bounds on what is decoded.
const (
	// MaxKeys bounds the keys of a JWK Set.
	MaxKeys = 100
	// MaxKeyIDBytes bounds a kid.
	MaxKeyIDBytes = 256
	// MinRSABits and MaxRSABits bound an RSA modulus.
	MinRSABits = 2048
	MaxRSABits = 8192
	// MaxSetBytes bounds an encoded JWK Set.
	MaxSetBytes = 1 << 20
	// maxKeyBytes bounds one encoded key (an 8192-bit RSA key is about
	// 1.4 KiB).
	maxKeyBytes = 16 << 10
)

// Errors. Every decoding error wraps ErrInvalid.
var (
	// ErrInvalid means the JWK is malformed, private, symmetric, or of a
	// kind this package does not decode.
	ErrInvalid = errors.New("jwk: invalid key")
)

// Key is a decoded public key.
type Key struct {
	// ID is the key's kid, "" when it has none.
	ID string
	// Type is the kty: RSA, EC or OKP.
	Type string
	// Algorithm is the key's alg member, "" when it pins none.
	Algorithm string
	// Public is the key: *rsa.PublicKey, *ecdsa.PublicKey (P-256) or
	// ed25519.PublicKey.
	Public crypto.PublicKey
	// Thumbprint is the RFC 7638 SHA-256 thumbprint, base64url: the jkt
	// of RFC 9449 §6.1.
	Thumbprint string
}

// Verifies reports whether the key may verify signatures made with alg:
// alg suits the key's type (RS256 or PS256 for RSA, ES256 for P-256,
// EdDSA for Ed25519) and equals the key's alg member when it has one.
func (k *Key) Verifies(alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	return slices.Contains(algorithmsFor(k.Type), alg)
}

// algorithmsFor lists the algorithms a key type verifies.
func algorithmsFor(kty string) []string {
	switch kty {
	case "RSA":
		return []string{RS256, PS256}
	case "EC":
		return []string{ES256}
	case "OKP":
		return []string{EdDSA}
	}
	return nil
}

// Method returns the golang-jwt signing method of alg, or nil when alg is
// not one of Algorithms.
func Method(alg string) jwt.SigningMethod {
	switch alg {
	case RS256:
		return jwt.SigningMethodRS256
	case PS256:
		return jwt.SigningMethodPS256
	case ES256:
		return jwt.SigningMethodES256
	case EdDSA:
		return jwt.SigningMethodEdDSA
	}
	return nil
}

// member is a JWK as sent; unknown members (x5c, x5t and the like) are
// ignored.
type member struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Kid    *string  `json:"kid"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	// Private and symmetric members (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC
	// 8037 §2): any of them refuses the key.
	// A member present with any value, null included, counts.
	D   json.RawMessage `json:"d"`
	P   json.RawMessage `json:"p"`
	Q   json.RawMessage `json:"q"`
	DP  json.RawMessage `json:"dp"`
	DQ  json.RawMessage `json:"dq"`
	QI  json.RawMessage `json:"qi"`
	Oth json.RawMessage `json:"oth"`
	K   json.RawMessage `json:"k"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Parse decodes one public JWK (a JSON object).
func Parse(data []byte) (*Key, error) {
	if len(data) > maxKeyBytes {
		return nil, invalid("larger than %d bytes", maxKeyBytes)
	}
	var m member
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, invalid("malformed JSON: %v", err)
	}
	return m.key()
}

// b64 decodes base64url without padding, refusing non-canonical input.
var b64 = base64.RawURLEncoding.Strict()

func (m *member) key() (*Key, error) {
	switch {
	case m.D != nil || m.P != nil || m.Q != nil || m.DP != nil || m.DQ != nil || m.QI != nil || m.Oth != nil:
		return nil, invalid("the key holds private key material")
	case m.K != nil || m.Kty == "oct":
		return nil, invalid("symmetric keys are not accepted")
	case m.Use != "" && m.Use != "sig":
		return nil, invalid("use %q is not sig", m.Use)
	case m.KeyOps != nil && !slices.Contains(m.KeyOps, "verify"):
		return nil, invalid("key_ops does not allow verify")
	}
	k := &Key{Type: m.Kty, Algorithm: m.Alg}
	if m.Kid != nil {
		if *m.Kid == "" || len(*m.Kid) > MaxKeyIDBytes {
			return nil, invalid("kid must be 1 to %d bytes", MaxKeyIDBytes)
		}
		k.ID = *m.Kid
	}
	var err error
	switch m.Kty {
	case "RSA":
		k.Public, err = m.rsa()
	case "EC":
		k.Public, err = m.ec()
	case "OKP":
		k.Public, err = m.okp()
	case "":
		return nil, invalid("kty is missing")
	default:
		return nil, invalid("unsupported kty %q", m.Kty)
	}
	if err != nil {
		return nil, err
	}
	if k.Algorithm != "" && !slices.Contains(algorithmsFor(k.Type), k.Algorithm) {
		return nil, invalid("alg %q does not suit a %s key, or is not supported", k.Algorithm, k.Type)
	}
	k.Thumbprint = thumbprint(m)
	return k, nil
}

func (m *member) rsa() (*rsa.PublicKey, error) {
	n, err1 := b64.DecodeString(m.N)
	e, err2 := b64.DecodeString(m.E)
	if err := errors.Join(err1, err2); err != nil || len(n) == 0 || len(e) == 0 {
		return nil, invalid("malformed RSA key")
	}
	// RFC 7518 §6.3.1: no leading zero octets, so that the thumbprint of
	// a key has one value.
	if n[0] == 0 || e[0] == 0 {
		return nil, invalid("RSA modulus or exponent has leading zero octets")
	}
	nn := new(big.Int).SetBytes(n)
	if bits := nn.BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return nil, invalid("RSA key of %d bits (want %d to %d)", bits, MinRSABits, MaxRSABits)
	}
	if len(e) > 4 {
		return nil, invalid("RSA exponent too large")
	}
	ee := new(big.Int).SetBytes(e).Int64()
	if ee < 3 || ee%2 == 0 || ee > 1<<31-1 || nn.Bit(0) == 0 {
		return nil, invalid("unusable RSA key")
	}
	return &rsa.PublicKey{N: nn, E: int(ee)}, nil
}

func (m *member) ec() (*ecdsa.PublicKey, error) {
	if m.Crv != "P-256" {
		return nil, invalid("unsupported curve %q", m.Crv)
	}
	x, err1 := b64.DecodeString(m.X)
	y, err2 := b64.DecodeString(m.Y)
	if err := errors.Join(err1, err2); err != nil || len(x) != 32 || len(y) != 32 {
		return nil, invalid("malformed P-256 key")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, invalid("not a point of P-256")
	}
	return pub, nil
}

func (m *member) okp() (ed25519.PublicKey, error) {
	if m.Crv != "Ed25519" {
		return nil, invalid("unsupported curve %q", m.Crv)
	}
	x, err := b64.DecodeString(m.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, invalid("malformed Ed25519 key")
	}
	return ed25519.PublicKey(x), nil
}

// thumbprint is RFC 7638 §3: SHA-256 over the required members in
// lexicographic order, with no white space. The members were decoded
// strictly (canonical base64url, no leading zeros), so they are the
// canonical encoding of the key.
func thumbprint(m *member) string {
	var s string
	switch m.Kty {
	case "RSA":
		s = `{"e":"` + m.E + `","kty":"RSA","n":"` + m.N + `"}`
	case "EC":
		s = `{"crv":"` + m.Crv + `","kty":"EC","x":"` + m.X + `","y":"` + m.Y + `"}`
	case "OKP":
		s = `{"crv":"` + m.Crv + `","kty":"OKP","x":"` + m.X + `"}`
	}
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Set is a decoded JWK Set.
type Set struct {
	Keys []*Key
}

// ParseSet decodes a JWK Set (RFC 7517 §5). Keys that cannot be decoded
// (encryption keys, other key types, weak RSA keys) are left out and
// described in skipped, one error per key naming its index and kid, for
// the caller to log or refuse. err is set when the set itself is
// malformed or larger than MaxKeys or MaxSetBytes.
func ParseSet(data []byte) (s *Set, skipped []error, err error) {
	if len(data) > MaxSetBytes {
		return nil, nil, invalid("JWK Set larger than %d bytes", MaxSetBytes)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, invalid("malformed JWK Set: %v", err)
	}
	if doc.Keys == nil {
		return nil, nil, invalid("a JWK Set needs a keys member")
	}
	if len(doc.Keys) > MaxKeys {
		return nil, nil, invalid("JWK Set has %d keys, more than %d", len(doc.Keys), MaxKeys)
	}
	s = &Set{}
	for i, raw := range doc.Keys {
		k, err := Parse(raw)
		if err != nil {
			var kid struct {
				Kid any `json:"kid"`
			}
			json.Unmarshal(raw, &kid)
			skipped = append(skipped, fmt.Errorf("key %d (kid %v): %w", i, kid.Kid, err))
			continue
		}
		s.Keys = append(s.Keys, k)
	}
	return s, skipped, nil
}

// Errors of Set.Find.
var (
	// ErrNoKey means no key of the set may verify the signature.
	ErrNoKey = errors.New("jwk: no key matches")
	// ErrAmbiguous means several keys could, and the signature does not
	// say which (no kid, or a kid shared by several keys).
	ErrAmbiguous = errors.New("jwk: several keys match")
)

// Find returns the one key that may verify a signature made with alg by
// the key called kid: the key with that kid, or, when kid is empty, the
// only key of the set that verifies alg. A kid shared by several keys, or
// several candidates for an empty kid, is ErrAmbiguous: guessing would
// let one signature be tried against many keys.
func (s *Set) Find(kid, alg string) (*Key, error) {
	var found *Key
	for _, k := range s.Keys {
		if (kid != "" && k.ID != kid) || !k.Verifies(alg) {
			continue
		}
		if found != nil {
			return nil, ErrAmbiguous
		}
		found = k
	}
	if found == nil {
		return nil, ErrNoKey
	}
	return found, nil
}

// Public is a public JWK to encode (for a client's configuration, or a
// test). Make one with FromPublicKey.
type Public struct {
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

// FromPublicKey encodes pub (*rsa.PublicKey, P-256 *ecdsa.PublicKey or
// ed25519.PublicKey) as a JWK with the alg and kid given ("" leaves them
// out). Its Thumbprint is the key's; use it as the kid when there is no
// better name.
func FromPublicKey(pub crypto.PublicKey, alg, kid string) (Public, error) {
	j := Public{Alg: alg, Kid: kid}
	enc := base64.RawURLEncoding
	switch p := pub.(type) {
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = enc.EncodeToString(p.N.Bytes())
		j.E = enc.EncodeToString(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		raw, err := p.Bytes()
		if err != nil || p.Curve != elliptic.P256() {
			return j, invalid("only P-256 EC keys are supported")
		}
		j.Kty, j.Crv = "EC", "P-256"
		j.X = enc.EncodeToString(raw[1:33])
		j.Y = enc.EncodeToString(raw[33:])
	case ed25519.PublicKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = enc.EncodeToString(p)
	default:
		return j, invalid("unsupported public key %T", pub)
	}
	if alg != "" && !slices.Contains(algorithmsFor(j.Kty), alg) {
		return j, invalid("alg %q does not suit a %s key", alg, j.Kty)
	}
	return j, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the key, base64url.
func (j Public) Thumbprint() string {
	return thumbprint(&member{Kty: j.Kty, Crv: j.Crv, N: j.N, E: j.E, X: j.X, Y: j.Y})
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := FromPublicKey(pub, "", "")
	if err != nil {
		return "", err
	}
	return j.Thumbprint(), nil
}
