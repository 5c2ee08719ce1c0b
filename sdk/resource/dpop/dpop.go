package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/sdk/resource/jwk"
	"github.com/scopeline/scopeline/sdk/resource/replay"
)

// HTTP header fields (RFC 9449 §4.1, §8.1).
const (
	HeaderProof = "DPoP"
	HeaderNonce = "DPoP-Nonce"
)

// ProofType is the typ of a DPoP proof (RFC 9449 §4.2).
const ProofType = "dpop+jwt"

// Defaults and bounds.
const (
	// DefaultIATWindow is how old a proof may be (by its iat).
	DefaultIATWindow = time.Minute
	// MaxIATWindow is the largest window WithIATWindow accepts.
	MaxIATWindow = 10 * time.Minute
	// DefaultClockSkew is how far the client's clock may be off, both
	// ways: a proof may be issued that far in the future.
	DefaultClockSkew = 10 * time.Second
	// MaxClockSkew is the largest skew WithClockSkew accepts.
	MaxClockSkew = 5 * time.Minute
	// MaxProofBytes bounds a proof.
	MaxProofBytes = 8 << 10
	// maxIDBytes bounds a jti.
	maxIDBytes = 256
)

// DefaultAlgorithms are the algorithms a Verifier accepts by default: the
// asymmetric ones the jwk package decodes keys for.
var DefaultAlgorithms = []string{jwk.ES256, jwk.EdDSA, jwk.PS256, jwk.RS256}

// Error is a refused proof. Code and Description may reach the client;
// the cause is for logs.
type Error struct {
	// Code is invalid_dpop_proof or use_dpop_nonce (RFC 9449 §12.2).
	Code        string
	Description string
	cause       error
}

// The refusals. Compare with errors.Is.
var (
	// ErrInvalidProof: the proof is missing, malformed, badly signed, for
	// another request, too old, replayed, or by another key.
	ErrInvalidProof = &Error{Code: "invalid_dpop_proof"}
	// ErrUseNonce: the server requires a nonce and the proof has none or
	// a stale one; the answer carries the current one in DPoP-Nonce.
	ErrUseNonce = &Error{Code: "use_dpop_nonce", Description: "the proof must carry the nonce in the DPoP-Nonce header"}
)

// ErrUnavailable means the replay cache could not say whether the proof
// was seen before: the request is refused, as a server error, not as the
// client's fault.
var ErrUnavailable = errors.New("dpop: the replay cache is unavailable")

// Error describes the refusal and its cause.
func (e *Error) Error() string {
	msg := "dpop: " + e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.cause }

func (e *Error) with(description string, cause error) *Error {
	c := *e
	c.Description, c.cause = description, cause
	return &c
}

// Verifier checks DPoP proofs. It is immutable and safe for concurrent use.
type Verifier struct {
	algs   []string
	window time.Duration
	skew   time.Duration
	now    func() time.Time
	replay replay.Cache
	nonces *Nonces
	parser *jwt.Parser
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithAlgorithms sets the signing algorithms accepted, among
// DefaultAlgorithms (default: all of them).
func WithAlgorithms(algs ...string) Option {
	return func(v *Verifier) { v.algs = slices.Clone(algs) }
}

// WithIATWindow sets how old a proof may be (default DefaultIATWindow, at
// most MaxIATWindow).
func WithIATWindow(d time.Duration) Option { return func(v *Verifier) { v.window = d } }

// WithClockSkew sets how far off the client's clock may be (default
// DefaultClockSkew, at most MaxClockSkew).
func WithClockSkew(d time.Duration) Option { return func(v *Verifier) { v.skew = d } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithReplayCache sets where the jti of accepted proofs are remembered
// (default: an in-memory replay.Memory of the default size). Replicas
// behind one URL must share one, or a proof refused by one is accepted by
// another.
func WithReplayCache(c replay.Cache) Option { return func(v *Verifier) { v.replay = c } }

// WithNonces makes every proof carry a nonce n issued (RFC 9449 §8, §9).
func WithNonces(n *Nonces) Option { return func(v *Verifier) { v.nonces = n } }

// NewVerifier returns a Verifier.
func NewVerifier(opts ...Option) (*Verifier, error) {
	v := &Verifier{algs: DefaultAlgorithms, window: DefaultIATWindow, skew: DefaultClockSkew, now: time.Now}
	for _, opt := range opts {
		opt(v)
	}
	switch {
	case len(v.algs) == 0:
		return nil, errors.New("dpop: no algorithm accepted")
	case v.window <= 0 || v.window > MaxIATWindow:
		return nil, fmt.Errorf("dpop: iat window %s is outside (0, %s]", v.window, MaxIATWindow)
	case v.skew < 0 || v.skew > MaxClockSkew:
		return nil, fmt.Errorf("dpop: clock skew %s is outside [0, %s]", v.skew, MaxClockSkew)
	case v.now == nil:
		return nil, errors.New("dpop: nil clock")
	}
	for _, a := range v.algs {
		if !slices.Contains(DefaultAlgorithms, a) {
			return nil, fmt.Errorf("dpop: unsupported algorithm %q (want %s)", a, strings.Join(DefaultAlgorithms, ", "))
		}
	}
	if v.replay == nil {
		v.replay = replay.NewMemory(0, v.now)
	}
	v.parser = jwt.NewParser(jwt.WithValidMethods(v.algs), jwt.WithoutClaimsValidation())
	return v, nil
}

// Algorithms returns the algorithms accepted, for discovery's
// dpop_signing_alg_values_supported and a challenge's algs parameter.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// Nonce returns the nonce to send in the DPoP-Nonce header, "" when
// nonces are not required.
func (v *Verifier) Nonce() string {
	if v.nonces == nil {
		return ""
	}
	return v.nonces.Current()
}

// Request is what a proof is checked against.
type Request struct {
	// Method is the request's HTTP method (htm).
	Method string
	// URL is the absolute URL the client sent the request to (htu), as
	// the server is reached from outside: behind a proxy, its public URL.
	URL string
	// AccessToken, when the proof comes with one, must hash to the
	// proof's ath.
	AccessToken string
	// Thumbprint, when set, is the key the proof must be signed with: the
	// access token's cnf.jkt, an authorization code's dpop_jkt, a bound
	// refresh token's key.
	Thumbprint string
}

// Proof is a proof that passed every check.
type Proof struct {
	// Thumbprint is the RFC 7638 thumbprint of the proof's key: what an
	// access token it binds carries as cnf.jkt.
	Thumbprint string
	// ID is the proof's jti.
	ID        string
	IssuedAt  time.Time
	Algorithm string
	Key       *jwk.Key
}

// claims are the proof's claims (RFC 9449 §4.2); golang-jwt decodes them.
type claims struct {
	jwt.RegisteredClaims
	Method          string `json:"htm"`
	URL             string `json:"htu"`
	AccessTokenHash string `json:"ath"`
	Nonce           string `json:"nonce"`
}

// proofKey is HeaderProof in canonical form ("Dpop"), the key of the
// header map: looked up directly, it costs no canonicalisation per
// request.
var proofKey = http.CanonicalHeaderKey(HeaderProof)

// ProofFrom returns the request's DPoP proof: "" when it has none, an
// error when it has more than one DPoP header (RFC 9449 §4.3 check 1).
func ProofFrom(h http.Header) (string, error) {
	vals := h[proofKey]
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return vals[0], nil
	}
	return "", ErrInvalidProof.with("the request has more than one DPoP header", nil)
}

// Verify checks proof against r per RFC 9449 §4.3 and, for a proof with
// an access token, §7.1. The jti is claimed in the replay cache last,
// after every other check passed, so that only proofs that would be
// accepted fill it. Errors are *Error (ErrInvalidProof, ErrUseNonce) or
// wrap ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, proof string, r Request) (*Proof, error) {
	switch {
	case proof == "":
		return nil, ErrInvalidProof.with("the request has no DPoP proof", nil)
	case len(proof) > MaxProofBytes:
		return nil, ErrInvalidProof.with("the DPoP proof is too large", nil)
	}
	var (
		c   claims
		key *jwk.Key
	)
	tok, err := v.parser.ParseWithClaims(proof, &c, func(t *jwt.Token) (any, error) {
		k, err := v.key(t)
		if err != nil {
			return nil, err
		}
		key = k
		return k.Public, nil
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, ErrInvalidProof.with("the DPoP proof is malformed or its signature is invalid", err)
	}
	p := &Proof{Thumbprint: key.Thumbprint, ID: c.ID, Algorithm: tok.Method.Alg(), Key: key}
	if err := v.check(&c, r, p); err != nil {
		return nil, err
	}
	ok, err := v.replay.Claim(ctx, "dpop\x00"+p.Thumbprint+"\x00"+p.ID, p.IssuedAt.Add(v.window+v.skew))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case !ok:
		return nil, ErrInvalidProof.with("the DPoP proof was used before (jti)", nil)
	}
	return p, nil
}

// key checks the JOSE header and decodes the key in it. golang-jwt calls
// it before checking the signature, and has already refused algorithms
// outside the allow-list (none and HMAC among them).
func (v *Verifier) key(t *jwt.Token) (*jwk.Key, error) {
	if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, ProofType) {
		return nil, ErrInvalidProof.with("the DPoP proof's typ must be dpop+jwt", nil)
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, ErrInvalidProof.with("the DPoP proof has critical header parameters", nil)
	}
	obj, ok := t.Header["jwk"].(map[string]any)
	if !ok {
		return nil, ErrInvalidProof.with("the DPoP proof has no jwk header", nil)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, ErrInvalidProof.with("the DPoP proof's jwk is malformed", err)
	}
	k, err := jwk.Parse(raw)
	if err != nil {
		return nil, ErrInvalidProof.with("the DPoP proof's jwk is not an acceptable public key", err)
	}
	alg, _ := t.Header["alg"].(string)
	if !k.Verifies(alg) {
		return nil, ErrInvalidProof.with("the DPoP proof's key does not suit its algorithm", nil)
	}
	return k, nil
}

// check applies the checks on the claims (RFC 9449 §4.3 checks 3, 8-12).
func (v *Verifier) check(c *claims, r Request, p *Proof) error {
	switch {
	case c.ID == "" || len(c.ID) > maxIDBytes:
		return ErrInvalidProof.with(fmt.Sprintf("the DPoP proof needs a jti of 1 to %d bytes", maxIDBytes), nil)
	case c.IssuedAt == nil:
		return ErrInvalidProof.with("the DPoP proof has no iat", nil)
	case c.Method == "" || c.URL == "":
		return ErrInvalidProof.with("the DPoP proof needs htm and htu", nil)
	case c.Method != r.Method:
		return ErrInvalidProof.with("the DPoP proof is for another HTTP method (htm)", nil)
	}
	got, err := NormalizeURL(c.URL)
	if err != nil {
		return ErrInvalidProof.with("the DPoP proof's htu is not a URL", err)
	}
	want, err := NormalizeURL(r.URL)
	if err != nil || got != want {
		return ErrInvalidProof.with("the DPoP proof is for another URL (htu)", err)
	}
	p.IssuedAt = c.IssuedAt.Time
	now := v.now()
	switch {
	case p.IssuedAt.After(now.Add(v.skew)):
		return ErrInvalidProof.with("the DPoP proof is issued in the future (iat)", nil)
	case p.IssuedAt.Before(now.Add(-v.window - v.skew)):
		return ErrInvalidProof.with("the DPoP proof is too old (iat)", nil)
	}
	if r.AccessToken != "" {
		want := AccessTokenHash(r.AccessToken)
		if c.AccessTokenHash == "" || subtle.ConstantTimeCompare([]byte(c.AccessTokenHash), []byte(want)) != 1 {
			return ErrInvalidProof.with("the DPoP proof is not for this access token (ath)", nil)
		}
	}
	if r.Thumbprint != "" && subtle.ConstantTimeCompare([]byte(r.Thumbprint), []byte(p.Thumbprint)) != 1 {
		return ErrInvalidProof.with("the DPoP proof is signed by another key than the one the token is bound to", nil)
	}
	if v.nonces != nil && !v.nonces.Valid(c.Nonce) {
		return ErrUseNonce
	}
	return nil
}

// AccessTokenHash returns the ath of a proof for token (RFC 9449 §4.2):
// the base64url SHA-256 of its ASCII bytes.
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
