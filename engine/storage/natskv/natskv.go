// Package natskv is a storage backend on NATS JetStream key-value buckets,
// shared by every Scopeline replica connected to the same NATS system: a
// code obtained through one replica is exchanged at another, and a refresh
// token rotates wherever it is presented. With three servers and three
// replicas per bucket (R3), losing one server loses nothing.
//
// The server does the atomic steps. A code is consumed, a refresh token
// rotated, an authorization request or a family updated, by
// compare-and-swap on the key's revision; a create is a write that expects
// no previous value. Every read is answered by the bucket's leader (direct
// gets are off), so a replica never decides on a stale family.
//
// A family and the index from each of its tokens to it are separate keys,
// written one after the other in the order that keeps every outcome safe
// (see CreateRefreshFamily and RotateRefreshToken). JetStream's atomic
// batches would write both at once, but on a single server each batch
// stages in a file of its own and costs tens of milliseconds; see
// docs/design.md.
//
// Records expire twice over: each key carries a TTL (its expiry from the
// store's clock, plus a grace for clock skew between replicas) after which
// the server removes it, and every read compares the expiry with the time
// the caller passes. DeleteExpired is therefore only a safety net.
//
// Keys are the SHA-256 (base64url) of what the record is found by, so that
// any identifier makes a valid key and none is kept in the clear.
package natskv

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/internal/jskv"
	"github.com/scopeline/scopeline/engine/storage"
)

// Defaults of the options.
const (
	DefaultBucketPrefix = "scopeline_"
	// DefaultMaxAuthRequests bounds the authorization requests in flight,
	// as the bolt backend does.
	DefaultMaxAuthRequests = 100_000
	// DefaultExpiryGrace is how long past its expiry a record stays in
	// the bucket, covering clock skew between the replicas.
	DefaultExpiryGrace = time.Minute
)

// attempts bounds the compare-and-swap retries of one operation. A retry
// follows a write that another replica made meanwhile, so it is rare; the
// retries back off (jskv.Backoff), for about half a second in all.
const attempts = 16

// The buckets, after the prefix.
const (
	bucketRequests = "auth_requests"
	bucketCodes    = "auth_codes"
	bucketRefresh  = "refresh_tokens" // families ("f.") and the token index ("t.")
	bucketSessions = "sessions"
	bucketConsents = "consents"
	bucketDenied   = "access_denylist"
)

// Store is the JetStream key-value backend.
type Store struct {
	requests, codes, refresh, sessions, consents, denied *jskv.Bucket

	clock func() time.Time
	grace time.Duration
	// requestExpiry bounds the earliest expiry among the requests this
	// replica wrote, so that a full bucket is swept only when something
	// can have expired.
	requestExpiry storage.ExpiryBound
}

type config struct {
	prefix      string
	replicas    int
	maxRequests int
	clock       func() time.Time
	grace       time.Duration
}

// Option configures a Store.
type Option func(*config)

// WithBucketPrefix names the buckets prefix+"auth_requests" and so on
// (default DefaultBucketPrefix), so that several issuers can share one
// NATS account.
func WithBucketPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithReplicas sets how many NATS servers keep each bucket (default 1;
// 3 in a cluster).
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithMaxAuthRequests bounds the authorization requests in flight
// (default DefaultMaxAuthRequests); past it CreateAuthRequest answers
// storage.ErrFull. The bound is the request bucket's message limit, kept
// by the server for all replicas together.
func WithMaxAuthRequests(n int) Option { return func(c *config) { c.maxRequests = n } }

// WithClock sets the clock that TTLs are computed from (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithExpiryGrace sets how long past its expiry a record stays in its
// bucket (default DefaultExpiryGrace, at least a second). Reads never
// return an expired record, whatever the grace.
func WithExpiryGrace(d time.Duration) Option { return func(c *config) { c.grace = d } }

// Open creates the buckets, or checks those that exist, and returns the
// store. An existing bucket with other settings (replicas, limits, TTLs)
// is an error naming the bucket and the setting: Open never changes it.
// The store uses js and does not close its connection.
func Open(ctx context.Context, js jetstream.JetStream, opts ...Option) (*Store, error) {
	c := config{prefix: DefaultBucketPrefix, replicas: 1, maxRequests: DefaultMaxAuthRequests, clock: time.Now, grace: DefaultExpiryGrace}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.replicas < 1 || c.replicas > 5:
		return nil, fmt.Errorf("storage: %d replicas: want 1 to 5", c.replicas)
	case c.maxRequests < 1:
		return nil, fmt.Errorf("storage: at most %d authorization requests: want at least 1", c.maxRequests)
	case c.grace < time.Second:
		return nil, fmt.Errorf("storage: expiry grace %s: want at least 1s", c.grace)
	}
	s := &Store{clock: c.clock, grace: c.grace}
	for _, b := range []struct {
		dst  **jskv.Bucket
		name string
		desc string
	}{
		{&s.requests, bucketRequests, "Scopeline: authorization requests in flight"},
		{&s.codes, bucketCodes, "Scopeline: authorization codes"},
		{&s.refresh, bucketRefresh, "Scopeline: refresh-token families and their token index"},
		{&s.sessions, bucketSessions, "Scopeline: browser sessions"},
		{&s.consents, bucketConsents, "Scopeline: consents"},
		{&s.denied, bucketDenied, "Scopeline: revoked access tokens, by jti, until they expire"},
	} {
		spec := jskv.Spec{
			Bucket: c.prefix + b.name, Description: b.desc, Replicas: c.replicas,
			TTL: true,
		}
		if b.name == bucketRequests {
			spec.MaxMsgs = int64(c.maxRequests)
		}
		bucket, err := jskv.Ensure(ctx, js, spec)
		if err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		*b.dst = bucket
	}
	return s, nil
}

// key is the bucket key of an identifier.
func key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func familyKey(id string) string       { return "f." + key(id) }
func tokenKey(hash string) string      { return "t." + key(hash) }
func live(expires, now time.Time) bool { return now.Before(expires) }

// ttl is how long the server keeps a record that expires at expires.
func (s *Store) ttl(expires time.Time) time.Duration {
	return max(expires.Sub(s.clock()), 0) + s.grace
}

// read returns a key's record and revision. A missing, deleted or
// undecodable record is storage.ErrNotFound (fail closed), with the
// revision a write replacing it expects (0 when the key has no message);
// other errors are the server's.
func read[T any](ctx context.Context, b *jskv.Bucket, k string) (*T, uint64, error) {
	e, err := b.Get(ctx, k)
	switch {
	case errors.Is(err, jskv.ErrNoKey):
		return nil, 0, storage.ErrNotFound
	case err != nil:
		return nil, 0, storageError(err)
	case e.Deleted:
		return nil, e.Revision, storage.ErrNotFound
	}
	v := new(T)
	if json.Unmarshal(e.Value, v) != nil {
		return nil, e.Revision, storage.ErrNotFound
	}
	return v, e.Revision, nil
}

func record(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic("storage: encode record: " + err.Error()) // plain structs always encode
	}
	return data
}

// create writes a new record: ErrExists when the key holds one, even an
// expired one not yet removed.
func (s *Store) create(ctx context.Context, b *jskv.Bucket, k string, v any, expires time.Time) error {
	m := jskv.Msg{Key: k, Value: record(v), Expect: 0, TTL: s.ttl(expires)}
	for i := range attempts {
		if err := jskv.Backoff(ctx, i); err != nil {
			return storageError(err)
		}
		_, err := b.Put(ctx, m)
		if !errors.Is(err, jskv.ErrConflict) {
			return storageError(err)
		}
		// The key has a message: a record, or the marker of one gone.
		e, err := b.Get(ctx, k)
		switch {
		case errors.Is(err, jskv.ErrNoKey):
			m.Expect = 0
		case err != nil:
			return storageError(err)
		case !e.Deleted:
			return storage.ErrExists
		default:
			m.Expect = e.Revision
		}
	}
	return contention(b)
}

// remove deletes a record; removing a missing one is not an error.
func (s *Store) remove(ctx context.Context, b *jskv.Bucket, k string) error {
	_, err := b.Delete(ctx, k, jskv.Any)
	return storageError(err)
}

func storageError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jskv.ErrFull):
		return fmt.Errorf("%w (%w)", storage.ErrFull, err)
	}
	// Anything else is the NATS system not answering as it should: a
	// server down, a leader being elected, a timeout.
	return fmt.Errorf("%w (%w)", storage.ErrUnavailable, err)
}

func contention(b *jskv.Bucket) error {
	return fmt.Errorf("storage: bucket %s: a key changed concurrently %d times in a row", b.Name(), attempts)
}

// CreateAuthRequest implements storage.Storage.
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest, now time.Time) error {
	err := s.create(ctx, s.requests, key(r.ID), r, r.Expires)
	if errors.Is(err, storage.ErrFull) && s.requestExpiry.Due(now) {
		// Requests that expired by now but not yet by their TTL (the
		// grace, or a caller's clock ahead of the store's) make room.
		if _, serr := s.sweep(ctx, s.requests, now, requestRule); serr != nil {
			return serr
		}
		err = s.create(ctx, s.requests, key(r.ID), r, r.Expires)
	}
	if err == nil {
		s.requestExpiry.Saw(r.Expires)
	}
	return err
}

// GetAuthRequest implements storage.Storage.
func (s *Store) GetAuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	r, _, err := read[storage.AuthRequest](ctx, s.requests, key(id))
	if err != nil {
		return nil, err
	}
	if r.ID != id || !live(r.Expires, now) {
		return nil, storage.ErrNotFound
	}
	return r, nil
}

// UpdateAuthRequest implements storage.Storage.
func (s *Store) UpdateAuthRequest(ctx context.Context, r *storage.AuthRequest, now time.Time) error {
	k := key(r.ID)
	for i := range attempts {
		if err := jskv.Backoff(ctx, i); err != nil {
			return storageError(err)
		}
		old, rev, err := read[storage.AuthRequest](ctx, s.requests, k)
		if err != nil {
			return err
		}
		if old.ID != r.ID || !live(old.Expires, now) {
			return storage.ErrNotFound
		}
		_, err = s.requests.Put(ctx, jskv.Msg{Key: k, Value: record(r), Expect: rev, TTL: s.ttl(r.Expires)})
		if !errors.Is(err, jskv.ErrConflict) {
			if err == nil {
				s.requestExpiry.Saw(r.Expires)
			}
			return storageError(err)
		}
	}
	return contention(s.requests)
}

// DeleteAuthRequest implements storage.Storage.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.remove(ctx, s.requests, key(id))
}

// CreateAuthCode implements storage.Storage.
func (s *Store) CreateAuthCode(ctx context.Context, c *storage.AuthCode) error {
	return s.create(ctx, s.codes, key(c.Hash), c, c.Expires)
}

// ConsumeAuthCode implements storage.Storage: the first compare-and-swap
// from unused to used wins; a loser reads the code again and finds it
// used.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash, familyID string, now time.Time) (*storage.AuthCode, error) {
	k := key(hash)
	for i := range attempts {
		if err := jskv.Backoff(ctx, i); err != nil {
			return nil, storageError(err)
		}
		c, rev, err := read[storage.AuthCode](ctx, s.codes, k)
		if err != nil {
			return nil, err
		}
		if c.Hash != hash || !live(c.Expires, now) {
			return nil, storage.ErrNotFound
		}
		if c.Consumed {
			return c, storage.ErrConsumed
		}
		c.Consumed, c.FamilyID = true, familyID
		_, err = s.codes.Put(ctx, jskv.Msg{Key: k, Value: record(c), Expect: rev, TTL: s.ttl(c.Expires)})
		switch {
		case err == nil:
			return c, nil
		case !errors.Is(err, jskv.ErrConflict):
			// A failure without an answer may follow a write that applied.
			if after, _, rerr := read[storage.AuthCode](ctx, s.codes, k); rerr == nil && after.Consumed && after.FamilyID == familyID {
				return after, nil
			}
			return nil, storageError(err)
		}
	}
	return nil, contention(s.codes)
}

// tokenRecord indexes a refresh token hash to its family.
type tokenRecord struct {
	Family  string
	Expires time.Time
}

// CreateRefreshFamily implements storage.Storage. The family is created
// first (which fails on a tombstone of a family revoked before it was
// created), then its first token's index; if the index exists, the
// family is taken back. A crash in between leaves a family no token
// finds, which expires unused.
func (s *Store) CreateRefreshFamily(ctx context.Context, f *storage.RefreshFamily) error {
	fk := familyKey(f.ID)
	if err := s.create(ctx, s.refresh, fk, f, f.Expires); err != nil {
		return err
	}
	err := s.create(ctx, s.refresh, tokenKey(f.Current), tokenRecord{f.ID, f.Expires}, f.Expires)
	if err != nil {
		if _, rev, rerr := read[storage.RefreshFamily](ctx, s.refresh, fk); rerr == nil {
			if _, derr := s.refresh.Delete(ctx, fk, rev); derr != nil {
				return errors.Join(err, storageError(derr))
			}
		}
	}
	return err
}

// GetRefreshToken implements storage.Storage.
func (s *Store) GetRefreshToken(ctx context.Context, hash string, now time.Time) (*storage.RefreshFamily, error) {
	t, _, err := read[tokenRecord](ctx, s.refresh, tokenKey(hash))
	if err != nil {
		return nil, err
	}
	f, _, err := read[storage.RefreshFamily](ctx, s.refresh, familyKey(t.Family))
	if err != nil {
		return nil, err
	}
	if f.ID != t.Family || !live(f.Expires, now) {
		return nil, storage.ErrNotFound
	}
	return f, nil
}

// RotateRefreshToken implements storage.Storage. The new token's index
// is written first, then the family by compare-and-swap on the revision
// read; if that loses, the index is taken back and the family read again,
// and only the family as its leader holds it decides the outcome
// (ErrConflict only if its current token did change). A crash in between
// leaves an index to a token that was never issued.
func (s *Store) RotateRefreshToken(ctx context.Context, familyID, oldHash, newHash string, tokenExpires, now time.Time) error {
	fk, tk := familyKey(familyID), tokenKey(newHash)
	for i := range attempts {
		if err := jskv.Backoff(ctx, i); err != nil {
			return storageError(err)
		}
		f, rev, err := read[storage.RefreshFamily](ctx, s.refresh, fk)
		switch {
		case err != nil:
			return err
		case f.ID != familyID || !live(f.Expires, now):
			return storage.ErrNotFound
		case f.Revoked:
			return storage.ErrRevoked
		case f.Current != oldHash:
			return storage.ErrConflict
		}
		if err := s.create(ctx, s.refresh, tk, tokenRecord{familyID, f.Expires}, f.Expires); err != nil {
			return err
		}
		f.Current, f.CurrentExpires = newHash, tokenExpires
		_, err = s.refresh.Put(ctx, jskv.Msg{Key: fk, Value: record(f), Expect: rev, TTL: s.ttl(f.Expires)})
		if err == nil {
			return nil
		}
		if !errors.Is(err, jskv.ErrConflict) {
			// A failure without an answer (a timeout, a lost leader)
			// may follow a write that applied: the family says.
			after, _, rerr := read[storage.RefreshFamily](ctx, s.refresh, fk)
			if rerr == nil && after.Current == newHash {
				return nil
			}
			if rerr != nil && !errors.Is(rerr, storage.ErrNotFound) {
				return storageError(err) // unknown: keep the index
			}
		}
		// Not rotated: the index goes (it is ours, the token is new).
		if _, derr := s.refresh.Delete(ctx, tk, jskv.Any); derr != nil {
			return errors.Join(storageError(err), storageError(derr))
		}
		if !errors.Is(err, jskv.ErrConflict) {
			return storageError(err)
		}
	}
	return contention(s.refresh)
}

// RevokeRefreshFamily implements storage.Storage. An unknown family gets a
// revoked tombstone that lives until until.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, until time.Time) error {
	fk := familyKey(familyID)
	for i := range attempts {
		if err := jskv.Backoff(ctx, i); err != nil {
			return storageError(err)
		}
		f, rev, err := read[storage.RefreshFamily](ctx, s.refresh, fk)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if f == nil || f.ID != familyID {
			f = &storage.RefreshFamily{ID: familyID, Expires: until}
		} else if f.Revoked {
			return nil
		}
		f.Revoked = true
		_, err = s.refresh.Put(ctx, jskv.Msg{Key: fk, Value: record(f), Expect: rev, TTL: s.ttl(f.Expires)})
		if !errors.Is(err, jskv.ErrConflict) {
			return storageError(err)
		}
	}
	return contention(s.refresh)
}

// CreateSession implements storage.Storage.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	return s.create(ctx, s.sessions, key(sess.Hash), sess, sess.Expires)
}

// GetSession implements storage.Storage.
func (s *Store) GetSession(ctx context.Context, hash string, now time.Time) (*storage.Session, error) {
	sess, _, err := read[storage.Session](ctx, s.sessions, key(hash))
	if err != nil {
		return nil, err
	}
	if sess.Hash != hash || !live(sess.Expires, now) {
		return nil, storage.ErrNotFound
	}
	return sess, nil
}

// DeleteSession implements storage.Storage.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	return s.remove(ctx, s.sessions, key(hash))
}

// consentKey joins the parts with NUL, which none of them may hold.
func consentKey(user, client, api string) string {
	return key(strings.Join([]string{user, client, api}, "\x00"))
}

// PutConsent implements storage.Storage.
func (s *Store) PutConsent(ctx context.Context, c *storage.Consent) error {
	_, err := s.consents.Put(ctx, jskv.Msg{Key: consentKey(c.UserID, c.ClientID, c.API), Value: record(c), Expect: jskv.Any, TTL: s.ttl(c.Expires)})
	return storageError(err)
}

// GetConsent implements storage.Storage.
func (s *Store) GetConsent(ctx context.Context, userID, clientID, api string, now time.Time) (*storage.Consent, error) {
	c, _, err := read[storage.Consent](ctx, s.consents, consentKey(userID, clientID, api))
	if err != nil {
		return nil, err
	}
	if c.UserID != userID || c.ClientID != clientID || c.API != api || !live(c.Expires, now) {
		return nil, storage.ErrNotFound
	}
	return c, nil
}

// sweepRule says when a record of a bucket has expired, and whether its
// removal counts as a record (the token index does not).
type sweepRule func(k string, value []byte) (expires time.Time, counts bool, ok bool)

func expiryOf[T any](exp func(*T) time.Time) sweepRule {
	return func(_ string, value []byte) (time.Time, bool, bool) {
		v := new(T)
		if json.Unmarshal(value, v) != nil {
			return time.Time{}, true, false
		}
		return exp(v), true, true
	}
}

var requestRule = expiryOf(func(r *storage.AuthRequest) time.Time { return r.Expires })

func refreshRule(k string, value []byte) (time.Time, bool, bool) {
	if strings.HasPrefix(k, "t.") {
		exp, _, ok := expiryOf(func(t *tokenRecord) time.Time { return t.Expires })(k, value)
		return exp, false, ok
	}
	return expiryOf(func(f *storage.RefreshFamily) time.Time { return f.Expires })(k, value)
}

// sweep removes the records of a bucket expired at now (and those that
// do not decode), each by a compare-and-swap on the revision it was read
// at, so a record written meanwhile stays. It lists the keys and reads
// each from the bucket's leader: a watch may be served by a follower that
// has not applied the latest writes yet. It returns how many records
// went.
func (s *Store) sweep(ctx context.Context, b *jskv.Bucket, now time.Time, rule sweepRule) (int, error) {
	keys, err := b.Keys(ctx)
	if err != nil {
		return 0, storageError(err)
	}
	isRequests := b == s.requests
	if isRequests {
		s.requestExpiry.Reset()
	}
	n := 0
	for _, k := range keys {
		e, err := b.Get(ctx, k)
		switch {
		case errors.Is(err, jskv.ErrNoKey):
			continue // gone meanwhile
		case err != nil:
			return n, storageError(err)
		case e.Deleted:
			continue
		}
		exp, counts, ok := rule(k, e.Value)
		if ok && live(exp, now) {
			if isRequests {
				s.requestExpiry.Saw(exp)
			}
			continue
		}
		removed, err := b.Delete(ctx, k, e.Revision)
		switch {
		case err != nil:
			return n, storageError(err)
		case !removed: // written meanwhile: not ours to remove
		case counts:
			n++
		}
	}
	return n, nil
}

// DeleteExpired implements storage.Storage. It reads every bucket, so a
// cluster needs it rarely: the keys' TTLs remove expired records anyway.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, b := range []struct {
		bucket *jskv.Bucket
		rule   sweepRule
	}{
		{s.requests, requestRule},
		{s.codes, expiryOf(func(c *storage.AuthCode) time.Time { return c.Expires })},
		{s.refresh, refreshRule},
		{s.sessions, expiryOf(func(v *storage.Session) time.Time { return v.Expires })},
		{s.consents, expiryOf(func(c *storage.Consent) time.Time { return c.Expires })},
		{s.denied, expiryOf(func(d *storage.DeniedToken) time.Time { return d.Expires })},
	} {
		n, err := s.sweep(ctx, b.bucket, now, b.rule)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// DenyAccessToken implements storage.Storage: a plain write, whose TTL
// is the token's remaining lifetime (plus the grace). A later expiry
// replaces an earlier one; an earlier one never shortens a listing.
func (s *Store) DenyAccessToken(ctx context.Context, jti string, expires time.Time) error {
	k := key(jti)
	old, _, err := read[storage.DeniedToken](ctx, s.denied, k)
	switch {
	case err == nil && old.JTI == jti && !expires.After(old.Expires):
		return nil
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return err
	}
	_, err = s.denied.Put(ctx, jskv.Msg{Key: k, Value: record(&storage.DeniedToken{JTI: jti, Expires: expires}), Expect: jskv.Any, TTL: s.ttl(expires)})
	return storageError(err)
}

// AccessTokenDenied implements storage.Storage.
func (s *Store) AccessTokenDenied(ctx context.Context, jti string, now time.Time) (bool, error) {
	d, _, err := read[storage.DeniedToken](ctx, s.denied, key(jti))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return d.JTI == jti && live(d.Expires, now), nil
}

// Close implements storage.Storage. The connection is the caller's, so
// there is nothing to release.
func (s *Store) Close() error { return nil }

var _ storage.Storage = (*Store)(nil)
