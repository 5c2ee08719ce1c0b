// Package memory is a storage backend that keeps end-user flow state in
// the process: fast, bounded, and gone on restart (every user signs in
// again and every refresh token becomes invalid). Use it for tests, for
// demos, and for deployments that accept that.
package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/scopeline/scopeline/engine/storage"
)

// DefaultMaxAuthRequests bounds the authorization requests in flight, the
// one kind of record anybody can make without signing in.
const DefaultMaxAuthRequests = 100_000

// Store is the in-memory backend.
type Store struct {
	mu              sync.Mutex
	maxAuthRequests int
	requests        map[string]storage.AuthRequest
	codes           map[string]storage.AuthCode
	families        map[string]storage.RefreshFamily
	tokens          map[string]string // token hash → family id
	sessions        map[string]storage.Session
	consents        map[consentKey]storage.Consent
	denied          map[string]time.Time // access token jti → its expiry
	// requestExpiry bounds the requests' earliest expiry, so that a full
	// table is swept only when something in it can have expired.
	requestExpiry storage.ExpiryBound
}

type consentKey struct{ user, client, api string }

// Option configures a Store.
type Option func(*Store)

// WithMaxAuthRequests bounds the authorization requests in flight (default
// DefaultMaxAuthRequests); past it CreateAuthRequest answers ErrFull.
func WithMaxAuthRequests(n int) Option { return func(s *Store) { s.maxAuthRequests = n } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		maxAuthRequests: DefaultMaxAuthRequests,
		requests:        map[string]storage.AuthRequest{},
		codes:           map[string]storage.AuthCode{},
		families:        map[string]storage.RefreshFamily{},
		tokens:          map[string]string{},
		sessions:        map[string]storage.Session{},
		consents:        map[consentKey]storage.Consent{},
		denied:          map[string]time.Time{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func live(expires, now time.Time) bool { return now.Before(expires) }

// CreateAuthRequest implements storage.Storage.
func (s *Store) CreateAuthRequest(_ context.Context, r *storage.AuthRequest, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.requests[r.ID]; ok {
		return storage.ErrExists
	}
	if len(s.requests) >= s.maxAuthRequests && s.requestExpiry.Due(now) {
		s.requestExpiry.Reset()
		for id, old := range s.requests {
			if !live(old.Expires, now) {
				delete(s.requests, id)
			} else {
				s.requestExpiry.Saw(old.Expires)
			}
		}
	}
	if len(s.requests) >= s.maxAuthRequests {
		return storage.ErrFull
	}
	s.requests[r.ID] = storage.AuthRequest{ID: r.ID, Expires: r.Expires, Data: slices.Clone(r.Data)}
	s.requestExpiry.Saw(r.Expires)
	return nil
}

// GetAuthRequest implements storage.Storage.
func (s *Store) GetAuthRequest(_ context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok || !live(r.Expires, now) {
		return nil, storage.ErrNotFound
	}
	r.Data = slices.Clone(r.Data)
	return &r, nil
}

// UpdateAuthRequest implements storage.Storage.
func (s *Store) UpdateAuthRequest(_ context.Context, r *storage.AuthRequest, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.requests[r.ID]
	if !ok || !live(old.Expires, now) {
		return storage.ErrNotFound
	}
	s.requests[r.ID] = storage.AuthRequest{ID: r.ID, Expires: r.Expires, Data: slices.Clone(r.Data)}
	s.requestExpiry.Saw(r.Expires)
	return nil
}

// DeleteAuthRequest implements storage.Storage.
func (s *Store) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	return nil
}

// CreateAuthCode implements storage.Storage.
func (s *Store) CreateAuthCode(_ context.Context, c *storage.AuthCode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.codes[c.Hash]; ok {
		return storage.ErrExists
	}
	cp := *c
	cp.Data = slices.Clone(c.Data)
	s.codes[c.Hash] = cp
	return nil
}

// ConsumeAuthCode implements storage.Storage.
func (s *Store) ConsumeAuthCode(_ context.Context, hash, familyID string, now time.Time) (*storage.AuthCode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[hash]
	if !ok || !live(c.Expires, now) {
		return nil, storage.ErrNotFound
	}
	out := c
	out.Data = slices.Clone(c.Data)
	if c.Consumed {
		return &out, storage.ErrConsumed
	}
	c.Consumed, c.FamilyID = true, familyID
	s.codes[hash] = c
	out.FamilyID = familyID
	return &out, nil
}

// CreateRefreshFamily implements storage.Storage.
func (s *Store) CreateRefreshFamily(_ context.Context, f *storage.RefreshFamily) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.families[f.ID]; ok {
		return storage.ErrExists
	}
	if _, ok := s.tokens[f.Current]; ok {
		return storage.ErrExists
	}
	cp := *f
	cp.Data = slices.Clone(f.Data)
	s.families[f.ID] = cp
	s.tokens[f.Current] = f.ID
	return nil
}

// GetRefreshToken implements storage.Storage.
func (s *Store) GetRefreshToken(_ context.Context, hash string, now time.Time) (*storage.RefreshFamily, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.tokens[hash]
	if !ok {
		return nil, storage.ErrNotFound
	}
	f, ok := s.families[id]
	if !ok || !live(f.Expires, now) {
		return nil, storage.ErrNotFound
	}
	f.Data = slices.Clone(f.Data)
	return &f, nil
}

// RotateRefreshToken implements storage.Storage.
func (s *Store) RotateRefreshToken(_ context.Context, familyID, oldHash, newHash string, tokenExpires, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[familyID]
	switch {
	case !ok || !live(f.Expires, now):
		return storage.ErrNotFound
	case f.Revoked:
		return storage.ErrRevoked
	case f.Current != oldHash:
		return storage.ErrConflict
	}
	if _, taken := s.tokens[newHash]; taken {
		return storage.ErrExists
	}
	f.Current, f.CurrentExpires = newHash, tokenExpires
	s.families[familyID] = f
	s.tokens[newHash] = familyID
	return nil
}

// RevokeRefreshFamily implements storage.Storage.
func (s *Store) RevokeRefreshFamily(_ context.Context, familyID string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[familyID]
	if !ok {
		f = storage.RefreshFamily{ID: familyID, Expires: until}
	}
	f.Revoked = true
	s.families[familyID] = f
	return nil
}

// CreateSession implements storage.Storage.
func (s *Store) CreateSession(_ context.Context, sess *storage.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess.Hash]; ok {
		return storage.ErrExists
	}
	s.sessions[sess.Hash] = *sess
	return nil
}

// GetSession implements storage.Storage.
func (s *Store) GetSession(_ context.Context, hash string, now time.Time) (*storage.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hash]
	if !ok || !live(sess.Expires, now) {
		return nil, storage.ErrNotFound
	}
	return &sess, nil
}

// DeleteSession implements storage.Storage.
func (s *Store) DeleteSession(_ context.Context, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, hash)
	return nil
}

// PutConsent implements storage.Storage.
func (s *Store) PutConsent(_ context.Context, c *storage.Consent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *c
	cp.Scopes = slices.Clone(c.Scopes)
	s.consents[consentKey{c.UserID, c.ClientID, c.API}] = cp
	return nil
}

// GetConsent implements storage.Storage.
func (s *Store) GetConsent(_ context.Context, userID, clientID, api string, now time.Time) (*storage.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consents[consentKey{userID, clientID, api}]
	if !ok || !live(c.Expires, now) {
		return nil, storage.ErrNotFound
	}
	c.Scopes = slices.Clone(c.Scopes)
	return &c, nil
}

// DeleteExpired implements storage.Storage.
func (s *Store) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.requests {
		if !live(v.Expires, now) {
			delete(s.requests, k)
			n++
		}
	}
	for k, v := range s.codes {
		if !live(v.Expires, now) {
			delete(s.codes, k)
			n++
		}
	}
	for k, v := range s.families {
		if !live(v.Expires, now) {
			delete(s.families, k)
			n++
		}
	}
	for k, id := range s.tokens {
		if _, ok := s.families[id]; !ok {
			delete(s.tokens, k)
		}
	}
	for k, v := range s.sessions {
		if !live(v.Expires, now) {
			delete(s.sessions, k)
			n++
		}
	}
	for k, v := range s.consents {
		if !live(v.Expires, now) {
			delete(s.consents, k)
			n++
		}
	}
	for k, exp := range s.denied {
		if !live(exp, now) {
			delete(s.denied, k)
			n++
		}
	}
	return n, nil
}

// DenyAccessToken implements storage.Storage.
func (s *Store) DenyAccessToken(_ context.Context, jti string, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if expires.After(s.denied[jti]) {
		s.denied[jti] = expires
	}
	return nil
}

// AccessTokenDenied implements storage.Storage.
func (s *Store) AccessTokenDenied(_ context.Context, jti string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.denied[jti]
	return ok && live(exp, now), nil
}

// Close implements storage.Storage.
func (s *Store) Close() error { return nil }

var _ storage.Storage = (*Store)(nil)
