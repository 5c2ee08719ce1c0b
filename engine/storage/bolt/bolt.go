// Package bolt is a durable storage backend: one bbolt file (a B+tree with
// ACID transactions, fsynced on every commit) under the data directory.
// Refresh tokens, sessions and consents survive restarts and crashes.
//
// The file is locked by the process that opens it, so it serves one
// process on one machine. Several machines need a shared backend with the
// same semantics (a SQL database with transactions, say) behind the
// storage.Storage interface.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/scopeline/scopeline/engine/storage"
)

// FileName is the store's file in the data directory.
const FileName = "user-flows.db"

// DefaultMaxAuthRequests bounds the authorization requests in flight.
const DefaultMaxAuthRequests = 100_000

var (
	bucketRequests = []byte("auth_requests")
	bucketCodes    = []byte("auth_codes")
	bucketFamilies = []byte("refresh_families")
	bucketTokens   = []byte("refresh_tokens")
	bucketSessions = []byte("sessions")
	bucketConsents = []byte("consents")
	bucketMeta     = []byte("meta")
	bucketDenied   = []byte("access_denylist")
	keyRequestN    = []byte("auth_requests_count")
	allBuckets     = [][]byte{bucketRequests, bucketCodes, bucketFamilies, bucketTokens, bucketSessions, bucketConsents, bucketMeta, bucketDenied}
)

// Store is the bbolt backend.
type Store struct {
	db              *bbolt.DB
	maxAuthRequests uint64
	// requestExpiry bounds the requests' earliest expiry, so that a full
	// store is swept only when something in it can have expired.
	requestExpiry storage.ExpiryBound
}

// Option configures a Store.
type Option func(*Store)

// WithMaxAuthRequests bounds the authorization requests in flight (default
// DefaultMaxAuthRequests); past it CreateAuthRequest answers ErrFull.
func WithMaxAuthRequests(n int) Option { return func(s *Store) { s.maxAuthRequests = uint64(n) } }

// Open opens (creating if needed) the store in dir. It fails after timeout
// when another process holds the file.
func Open(dir string, timeout time.Duration, opts ...Option) (*Store, error) {
	path := filepath.Join(dir, FileName)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("storage: %s is in use by another process", path)
		}
		return nil, fmt.Errorf("storage: %w", err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: %s: %w", path, err)
	}
	s := &Store{db: db, maxAuthRequests: DefaultMaxAuthRequests}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.db.Path() }

func put(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func get(b *bbolt.Bucket, key []byte, v any) bool {
	data := b.Get(key)
	if data == nil {
		return false
	}
	// A record that does not decode is treated as absent: fail closed.
	return json.Unmarshal(data, v) == nil
}

func live(expires, now time.Time) bool { return now.Before(expires) }

func requestCount(tx *bbolt.Tx) uint64 {
	v := tx.Bucket(bucketMeta).Get(keyRequestN)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func setRequestCount(tx *bbolt.Tx, n uint64) error {
	return tx.Bucket(bucketMeta).Put(keyRequestN, binary.BigEndian.AppendUint64(nil, n))
}

// CreateAuthRequest implements storage.Storage.
func (s *Store) CreateAuthRequest(_ context.Context, r *storage.AuthRequest, now time.Time) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		if b.Get([]byte(r.ID)) != nil {
			return storage.ErrExists
		}
		n := requestCount(tx)
		if n >= s.maxAuthRequests && s.requestExpiry.Due(now) {
			s.requestExpiry.Reset()
			swept, err := sweep(tx, bucketRequests, now, func(v *storage.AuthRequest) time.Time { return v.Expires }, s.requestExpiry.Saw)
			if err != nil {
				return err
			}
			n -= min(n, uint64(swept))
		}
		if n >= s.maxAuthRequests {
			return storage.ErrFull
		}
		if err := setRequestCount(tx, n+1); err != nil {
			return err
		}
		s.requestExpiry.Saw(r.Expires)
		return put(b, []byte(r.ID), r)
	})
}

// GetAuthRequest implements storage.Storage.
func (s *Store) GetAuthRequest(_ context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	var r storage.AuthRequest
	err := s.db.View(func(tx *bbolt.Tx) error {
		if !get(tx.Bucket(bucketRequests), []byte(id), &r) || !live(r.Expires, now) {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// UpdateAuthRequest implements storage.Storage.
func (s *Store) UpdateAuthRequest(_ context.Context, r *storage.AuthRequest, now time.Time) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		var old storage.AuthRequest
		if !get(b, []byte(r.ID), &old) || !live(old.Expires, now) {
			return storage.ErrNotFound
		}
		s.requestExpiry.Saw(r.Expires)
		return put(b, []byte(r.ID), r)
	})
}

// DeleteAuthRequest implements storage.Storage.
func (s *Store) DeleteAuthRequest(_ context.Context, id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		if b.Get([]byte(id)) == nil {
			return nil
		}
		if err := setRequestCount(tx, requestCount(tx)-min(1, requestCount(tx))); err != nil {
			return err
		}
		return b.Delete([]byte(id))
	})
}

// CreateAuthCode implements storage.Storage.
func (s *Store) CreateAuthCode(_ context.Context, c *storage.AuthCode) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCodes)
		if b.Get([]byte(c.Hash)) != nil {
			return storage.ErrExists
		}
		return put(b, []byte(c.Hash), c)
	})
}

// ConsumeAuthCode implements storage.Storage.
func (s *Store) ConsumeAuthCode(_ context.Context, hash, familyID string, now time.Time) (*storage.AuthCode, error) {
	var c storage.AuthCode
	var consumed bool
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCodes)
		if !get(b, []byte(hash), &c) || !live(c.Expires, now) {
			return storage.ErrNotFound
		}
		if consumed = c.Consumed; consumed {
			return nil
		}
		c.Consumed, c.FamilyID = true, familyID
		return put(b, []byte(hash), &c)
	})
	if err != nil {
		return nil, err
	}
	if consumed {
		return &c, storage.ErrConsumed
	}
	return &c, nil
}

// tokenRecord indexes a refresh token hash to its family.
type tokenRecord struct {
	Family  string
	Expires time.Time
}

// CreateRefreshFamily implements storage.Storage.
func (s *Store) CreateRefreshFamily(_ context.Context, f *storage.RefreshFamily) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		fams, toks := tx.Bucket(bucketFamilies), tx.Bucket(bucketTokens)
		if fams.Get([]byte(f.ID)) != nil || toks.Get([]byte(f.Current)) != nil {
			return storage.ErrExists
		}
		if err := put(toks, []byte(f.Current), tokenRecord{f.ID, f.Expires}); err != nil {
			return err
		}
		return put(fams, []byte(f.ID), f)
	})
}

// GetRefreshToken implements storage.Storage.
func (s *Store) GetRefreshToken(_ context.Context, hash string, now time.Time) (*storage.RefreshFamily, error) {
	var f storage.RefreshFamily
	err := s.db.View(func(tx *bbolt.Tx) error {
		var t tokenRecord
		if !get(tx.Bucket(bucketTokens), []byte(hash), &t) {
			return storage.ErrNotFound
		}
		if !get(tx.Bucket(bucketFamilies), []byte(t.Family), &f) || !live(f.Expires, now) {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// RotateRefreshToken implements storage.Storage.
func (s *Store) RotateRefreshToken(_ context.Context, familyID, oldHash, newHash string, tokenExpires, now time.Time) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		fams, toks := tx.Bucket(bucketFamilies), tx.Bucket(bucketTokens)
		var f storage.RefreshFamily
		switch {
		case !get(fams, []byte(familyID), &f) || !live(f.Expires, now):
			return storage.ErrNotFound
		case f.Revoked:
			return storage.ErrRevoked
		case f.Current != oldHash:
			return storage.ErrConflict
		case toks.Get([]byte(newHash)) != nil:
			return storage.ErrExists
		}
		f.Current, f.CurrentExpires = newHash, tokenExpires
		if err := put(toks, []byte(newHash), tokenRecord{familyID, f.Expires}); err != nil {
			return err
		}
		return put(fams, []byte(familyID), &f)
	})
}

// RevokeRefreshFamily implements storage.Storage.
func (s *Store) RevokeRefreshFamily(_ context.Context, familyID string, until time.Time) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		fams := tx.Bucket(bucketFamilies)
		var f storage.RefreshFamily
		if !get(fams, []byte(familyID), &f) {
			f = storage.RefreshFamily{ID: familyID, Expires: until}
		}
		f.Revoked = true
		return put(fams, []byte(familyID), &f)
	})
}

// CreateSession implements storage.Storage.
func (s *Store) CreateSession(_ context.Context, sess *storage.Session) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		if b.Get([]byte(sess.Hash)) != nil {
			return storage.ErrExists
		}
		return put(b, []byte(sess.Hash), sess)
	})
}

// GetSession implements storage.Storage.
func (s *Store) GetSession(_ context.Context, hash string, now time.Time) (*storage.Session, error) {
	var sess storage.Session
	err := s.db.View(func(tx *bbolt.Tx) error {
		if !get(tx.Bucket(bucketSessions), []byte(hash), &sess) || !live(sess.Expires, now) {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sess, nil
}

// DeleteSession implements storage.Storage.
func (s *Store) DeleteSession(_ context.Context, hash string) error {
	return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketSessions).Delete([]byte(hash)) })
}

// consentKey joins the parts with NUL, which none of them may hold.
func consentKey(user, client, api string) []byte {
	return bytes.Join([][]byte{[]byte(user), []byte(client), []byte(api)}, []byte{0})
}

// PutConsent implements storage.Storage.
func (s *Store) PutConsent(_ context.Context, c *storage.Consent) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return put(tx.Bucket(bucketConsents), consentKey(c.UserID, c.ClientID, c.API), c)
	})
}

// GetConsent implements storage.Storage.
func (s *Store) GetConsent(_ context.Context, userID, clientID, api string, now time.Time) (*storage.Consent, error) {
	var c storage.Consent
	err := s.db.View(func(tx *bbolt.Tx) error {
		if !get(tx.Bucket(bucketConsents), consentKey(userID, clientID, api), &c) || !live(c.Expires, now) {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// sweep deletes the records of bucket whose expiry (read by exp) is past.
// sweep deletes the expired records of a bucket; kept, when set, is told
// the expiry of each record that stays.
func sweep[T any](tx *bbolt.Tx, bucket []byte, now time.Time, exp func(*T) time.Time, kept func(time.Time)) (int, error) {
	b := tx.Bucket(bucket)
	var dead [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var rec T
		switch {
		case json.Unmarshal(v, &rec) != nil || !live(exp(&rec), now):
			dead = append(dead, bytes.Clone(k))
		case kept != nil:
			kept(exp(&rec))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}

// DeleteExpired implements storage.Storage.
func (s *Store) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	total := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		s.requestExpiry.Reset()
		n, err := sweep(tx, bucketRequests, now, func(v *storage.AuthRequest) time.Time { return v.Expires }, s.requestExpiry.Saw)
		if err != nil {
			return err
		}
		if err := setRequestCount(tx, requestCount(tx)-min(uint64(n), requestCount(tx))); err != nil {
			return err
		}
		total += n
		for _, step := range []func() (int, error){
			func() (int, error) {
				return sweep(tx, bucketCodes, now, func(v *storage.AuthCode) time.Time { return v.Expires }, nil)
			},
			func() (int, error) {
				return sweep(tx, bucketFamilies, now, func(v *storage.RefreshFamily) time.Time { return v.Expires }, nil)
			},
			func() (int, error) {
				_, err := sweep(tx, bucketTokens, now, func(v *tokenRecord) time.Time { return v.Expires }, nil)
				return 0, err // index entries, not records of their own
			},
			func() (int, error) {
				return sweep(tx, bucketSessions, now, func(v *storage.Session) time.Time { return v.Expires }, nil)
			},
			func() (int, error) {
				return sweep(tx, bucketConsents, now, func(v *storage.Consent) time.Time { return v.Expires }, nil)
			},
			func() (int, error) {
				return sweep(tx, bucketDenied, now, func(v *storage.DeniedToken) time.Time { return v.Expires }, nil)
			},
		} {
			n, err := step()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, err
}

// DenyAccessToken implements storage.Storage.
func (s *Store) DenyAccessToken(_ context.Context, jti string, expires time.Time) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDenied)
		var old storage.DeniedToken
		if get(b, []byte(jti), &old) && !expires.After(old.Expires) {
			return nil
		}
		return put(b, []byte(jti), &storage.DeniedToken{JTI: jti, Expires: expires})
	})
}

// AccessTokenDenied implements storage.Storage.
func (s *Store) AccessTokenDenied(_ context.Context, jti string, now time.Time) (bool, error) {
	var d storage.DeniedToken
	err := s.db.View(func(tx *bbolt.Tx) error {
		if !get(tx.Bucket(bucketDenied), []byte(jti), &d) {
			d = storage.DeniedToken{}
		}
		return nil
	})
	return err == nil && d.JTI == jti && live(d.Expires, now), err
}

// Close implements storage.Storage.
func (s *Store) Close() error { return s.db.Close() }

var _ storage.Storage = (*Store)(nil)
