// Package storage defines where the state of end-user flows lives:
// authorization requests in flight, authorization codes, refresh-token
// families, browser sessions and remembered consents; and the denylist of
// access tokens revoked before their expiry.
//
// Storage is an interface with one conformance suite (package storagetest)
// that every backend passes: package memory keeps state in the process,
// package bolt in a file under the data directory, so that refresh tokens
// and sessions survive a restart.
//
// Codes, refresh tokens and session ids are high-entropy secrets; storage
// only ever sees their SHA-256 digests (see Hash), so a copy of the store
// does not hold a usable credential. What each record means is the engine's
// business: the backends store its Data opaquely and enforce only the
// atomic steps (single use, compare-and-swap, revocation) and expiry.
package storage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"
)

// Errors of the storage operations. Compare with errors.Is.
var (
	// ErrNotFound: no such record, or it has expired.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists: a record with this key already exists.
	ErrExists = errors.New("storage: already exists")
	// ErrConsumed: an authorization code was already used.
	ErrConsumed = errors.New("storage: already used")
	// ErrConflict: a compare-and-swap lost, the record changed meanwhile.
	ErrConflict = errors.New("storage: changed concurrently")
	// ErrRevoked: the refresh-token family was revoked.
	ErrRevoked = errors.New("storage: revoked")
	// ErrFull: the backend refuses more records of this kind for now.
	ErrFull = errors.New("storage: full")
	// ErrUnavailable: the backend could not be reached or did not answer
	// in time (a server down, a leader being elected). The operation may
	// or may not have applied; the request may be tried again as a whole,
	// and the issuer answers temporarily_unavailable with Retry-After.
	ErrUnavailable error = unavailable{}
)

type unavailable struct{}

func (unavailable) Error() string { return "storage: unavailable; try again" }

// Unavailable marks the error as one a client may retry (see
// engine.AsError).
func (unavailable) Unavailable() bool { return true }

// Storage holds the state of end-user flows. All methods are safe for
// concurrent use; every time they compare against is passed in as now.
type Storage interface {
	// CreateAuthRequest stores a new authorization request in flight. A
	// backend may refuse it with ErrFull when it holds too many unexpired
	// ones.
	CreateAuthRequest(ctx context.Context, r *AuthRequest, now time.Time) error
	// GetAuthRequest returns an unexpired authorization request.
	GetAuthRequest(ctx context.Context, id string, now time.Time) (*AuthRequest, error)
	// UpdateAuthRequest replaces an existing, unexpired request's Data
	// and Expires.
	UpdateAuthRequest(ctx context.Context, r *AuthRequest, now time.Time) error
	// DeleteAuthRequest removes a request; deleting a missing one is not
	// an error.
	DeleteAuthRequest(ctx context.Context, id string) error

	// CreateAuthCode stores a new authorization code.
	CreateAuthCode(ctx context.Context, c *AuthCode) error
	// ConsumeAuthCode uses a code up, atomically: the first call returns
	// it and records familyID as the refresh-token family the exchange
	// will create; every later call returns ErrConsumed with the code (so
	// the caller can revoke that family, RFC 6749 §4.1.2). An unknown or
	// expired code is ErrNotFound.
	ConsumeAuthCode(ctx context.Context, hash, familyID string, now time.Time) (*AuthCode, error)

	// CreateRefreshFamily starts a refresh-token family with its first
	// token, f.Current. It is ErrExists if the id is taken, even by a
	// family revoked before it was created.
	CreateRefreshFamily(ctx context.Context, f *RefreshFamily) error
	// GetRefreshToken returns the family a token hash was ever issued in,
	// current or rotated out; a revoked family is returned with Revoked
	// set. Unknown or expired is ErrNotFound.
	GetRefreshToken(ctx context.Context, hash string, now time.Time) (*RefreshFamily, error)
	// RotateRefreshToken replaces the family's current token, atomically:
	// it is ErrConflict if oldHash is no longer current, ErrRevoked if the
	// family was revoked, ErrNotFound if it is gone or expired.
	RotateRefreshToken(ctx context.Context, familyID, oldHash, newHash string, tokenExpires, now time.Time) error
	// RevokeRefreshFamily revokes a family and every token of it. Revoking
	// an unknown id leaves a tombstone until until, so that the family
	// cannot be created afterwards.
	RevokeRefreshFamily(ctx context.Context, familyID string, until time.Time) error

	// CreateSession stores a browser session.
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns an unexpired session.
	GetSession(ctx context.Context, hash string, now time.Time) (*Session, error)
	// DeleteSession ends a session; ending a missing one is not an error.
	DeleteSession(ctx context.Context, hash string) error

	// PutConsent records (replaces) a user's consent to a client.
	PutConsent(ctx context.Context, c *Consent) error
	// GetConsent returns an unexpired consent.
	GetConsent(ctx context.Context, userID, clientID, api string, now time.Time) (*Consent, error)

	// DenyAccessToken lists an access token's id (its jti) as revoked
	// until expires, the token's own expiry (RFC 7009 §2). Listing it
	// again is not an error; the later expiry is kept.
	DenyAccessToken(ctx context.Context, jti string, expires time.Time) error
	// AccessTokenDenied reports whether the access token id is listed and
	// not expired at now.
	AccessTokenDenied(ctx context.Context, jti string, now time.Time) (bool, error)

	// DeleteExpired removes every record expired at now and returns how
	// many went.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	// Close releases the backend.
	Close() error
}

// AuthRequest is an authorization request between /authorize and the
// code: the sign-in and consent pages work on it.
type AuthRequest struct {
	ID      string
	Expires time.Time
	Data    []byte
}

// AuthCode is an authorization code, by the hash of its value.
type AuthCode struct {
	Hash    string
	Expires time.Time
	// Consumed is set once the code was exchanged; FamilyID is the
	// refresh-token family that exchange announced.
	Consumed bool
	FamilyID string
	Data     []byte
}

// RefreshFamily is the chain of refresh tokens that one authorization
// produced: each use rotates Current, and using a rotated-out token again
// revokes the whole family (RFC 9700 §4.14.2).
type RefreshFamily struct {
	ID       string
	ClientID string
	UserID   string
	// Current is the hash of the one token that may be used next;
	// CurrentExpires is when it lapses unused (the idle lifetime).
	Current        string
	CurrentExpires time.Time
	Created        time.Time
	// Expires bounds the family, whatever the rotations.
	Expires time.Time
	Revoked bool
	Data    []byte
}

// Session is a browser's sign-in at the hosted login page, by the hash of
// its cookie.
type Session struct {
	Hash     string
	UserID   string
	AuthTime time.Time
	Expires  time.Time
	// Credential is the user's tenant.User.Credential when the session
	// was made: a session whose user's password changed since is not
	// believed.
	Credential string
}

// Consent is a user's consent to a (third-party) client's access to an API.
type Consent struct {
	UserID   string
	ClientID string
	API      string
	// Scopes are those consented to, API and OpenID Connect scopes alike.
	Scopes  []string
	Expires time.Time
}

// DeniedToken is an access token on the denylist, by its jti.
type DeniedToken struct {
	JTI     string
	Expires time.Time
}

// Hash is the storage key of a secret value: its SHA-256, base64url.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
