package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/internal/jskv"
)

// DefaultBucket is the key-value bucket of the signing keys.
const DefaultBucket = "scopeline_keys"

// kvEntry is the key of the key set in its bucket: the whole set is one
// value, so that one compare-and-swap on its revision changes it.
const kvEntry = "signing-keys"

// kvAttempts bounds the compare-and-swap retries of Ensure and Reseal
// (which back off, see jskv.Backoff).
const kvAttempts = 8

// ErrConflict is what Rotate returns when another writer (a replica, or
// `scopeline keys rotate`) changed the key set between its read and its
// write: this rotation was not made, and the set returned is the one in
// the bucket now.
var ErrConflict = errors.New("keys: the key set changed concurrently (another replica rotated); this rotation was not made")

// ErrCannotOpen: the key set in the bucket does not open with this
// replica's keyring (a KEK it lacks, a value altered or unreadable).
// Waiting does not fix it; the operator gives the right KEK.
var ErrCannotOpen = errors.New("keys: the key set in the bucket cannot be opened")

// KVStore keeps the signing keys in a JetStream key-value bucket shared by
// every replica of an issuer. It has the operations of the file Store and
// the same rotation policy; private keys are sealed with the current KEK
// of a Keyring, so the bucket never holds one in the clear.
//
// Writers compare and swap on the key set's revision: of two replicas
// rotating at once, one wins and the other gets ErrConflict. Every
// replica follows the bucket with Watch.
type KVStore struct {
	b    *jskv.Bucket
	ring *Keyring
	// beforeWrite, when set (by tests), runs between a read and the
	// write that depends on it.
	beforeWrite func()
}

type kvConfig struct {
	bucket   string
	replicas int
}

// KVOption configures a KVStore.
type KVOption func(*kvConfig)

// WithBucket names the bucket (default DefaultBucket).
func WithBucket(name string) KVOption { return func(c *kvConfig) { c.bucket = name } }

// WithReplicas sets how many NATS servers keep the bucket (default 1; 3
// in a cluster).
func WithReplicas(n int) KVOption { return func(c *kvConfig) { c.replicas = n } }

// OpenKV creates the bucket, or checks that the existing one has the
// settings it needs (an error names any difference; OpenKV never changes
// a bucket), and returns the store. The bucket keeps the latest key set
// only: a former revision would keep keys sealed with a KEK that was
// changed since.
func OpenKV(ctx context.Context, js jetstream.JetStream, ring *Keyring, opts ...KVOption) (*KVStore, error) {
	c := kvConfig{bucket: DefaultBucket, replicas: 1}
	for _, o := range opts {
		o(&c)
	}
	if ring == nil || ring.current == nil {
		return nil, errors.New("keys: a key-encryption key is required to keep keys in a bucket")
	}
	b, err := jskv.Ensure(ctx, js, jskv.Spec{
		Bucket: c.bucket, Description: "Scopeline: signing keys, private halves sealed with the key-encryption key",
		Replicas: c.replicas, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return &KVStore{b: b, ring: ring}, nil
}

// kvDocument is the key set as the bucket keeps it.
type kvDocument struct {
	Version int         `json:"version"`
	Keys    []sealedKey `json:"keys"`
}

// sealedKey is a key with its private half sealed: the PKCS#8 PEM of the
// file store, encrypted with the KEK named by KEK.
type sealedKey struct {
	ID        string    `json:"kid"`
	Algorithm string    `json:"alg"`
	Status    Status    `json:"status"`
	Created   time.Time `json:"created"`
	Activated time.Time `json:"activated,omitzero"`
	Retired   time.Time `json:"retired,omitzero"`
	KEK       string    `json:"kek"`
	Nonce     []byte    `json:"nonce"`
	Sealed    []byte    `json:"sealed_private_key"`
}

// aad is the associated data of a sealed key: where it is and which key
// it is.
func (s *KVStore) aad(kid, alg string) []byte {
	return fmt.Appendf(nil, "scopeline signing key v1\x00%s\x00%s\x00%s\x00%s", s.b.Name(), kvEntry, kid, alg)
}

func (s *KVStore) encode(keys []*Key) ([]byte, error) {
	doc := kvDocument{Version: 1, Keys: make([]sealedKey, 0, len(keys))}
	kek := s.ring.current
	for _, k := range keys {
		st, err := k.stored()
		if err != nil {
			return nil, err
		}
		nonce, sealed, err := kek.seal([]byte(st.PrivatePEM), s.aad(k.ID, k.Algorithm))
		if err != nil {
			return nil, fmt.Errorf("keys: seal %s: %w", k.ID, err)
		}
		doc.Keys = append(doc.Keys, sealedKey{
			ID: st.ID, Algorithm: st.Algorithm, Status: st.Status,
			Created: st.Created, Activated: st.Activated, Retired: st.Retired,
			KEK: kek.id, Nonce: nonce, Sealed: sealed,
		})
	}
	return json.Marshal(doc)
}

// decode opens a key set, and reports whether a key in it is sealed with
// a KEK other than the current one.
func (s *KVStore) decode(value []byte) (keys []*Key, stale bool, err error) {
	var doc kvDocument
	if err := json.Unmarshal(value, &doc); err != nil {
		return nil, false, fmt.Errorf("keys: bucket %s: %w", s.b.Name(), err)
	}
	if doc.Version != 1 {
		return nil, false, fmt.Errorf("keys: bucket %s: unsupported version %d", s.b.Name(), doc.Version)
	}
	for _, sk := range doc.Keys {
		kek := s.ring.byID[sk.KEK]
		if kek == nil {
			return nil, false, fmt.Errorf("keys: key %s is sealed with key-encryption key %s, which this replica does not have (current: %s); give it as the current or an old key-encryption key", sk.ID, sk.KEK, s.ring.current.id)
		}
		pemText, err := kek.open(sk.Nonce, sk.Sealed, s.aad(sk.ID, sk.Algorithm))
		if err != nil {
			return nil, false, fmt.Errorf("keys: key %s does not open with key-encryption key %s: it was altered, or sealed for another bucket or key", sk.ID, sk.KEK)
		}
		k, err := storedKey{
			ID: sk.ID, Algorithm: sk.Algorithm, Status: sk.Status,
			Created: sk.Created, Activated: sk.Activated, Retired: sk.Retired, PrivatePEM: string(pemText),
		}.key()
		if err != nil {
			return nil, false, fmt.Errorf("%w (in bucket %s)", err, s.b.Name())
		}
		keys = append(keys, k)
		stale = stale || kek != s.ring.current
	}
	return keys, stale, nil
}

// read returns the keys in the bucket and the revision a write replacing
// them expects.
func (s *KVStore) read(ctx context.Context) ([]*Key, uint64, bool, error) {
	e, err := s.b.Get(ctx, kvEntry)
	switch {
	case errors.Is(err, jskv.ErrNoKey):
		return nil, 0, false, nil
	case err != nil:
		return nil, 0, false, fmt.Errorf("keys: %w", err)
	case e.Deleted:
		return nil, e.Revision, false, nil
	}
	keys, stale, err := s.decode(e.Value)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrCannotOpen, err)
	}
	return keys, e.Revision, stale, err
}

// Load reads the key set. An empty bucket is an empty set.
func (s *KVStore) Load(ctx context.Context) (*Set, error) {
	keys, _, _, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	return newSet(keys)
}

// update runs change on the keys read and writes the result, when change
// reports a change, expecting the revision read. A lost compare-and-swap
// is tried again from a fresh read when retry is set, else it is
// ErrConflict with the set now in the bucket.
func (s *KVStore) update(ctx context.Context, retry bool, change func(keys []*Key, stale bool) ([]*Key, bool, error)) (*Set, error) {
	for i := range kvAttempts {
		if err := jskv.Backoff(ctx, i); err != nil {
			return nil, err
		}
		keys, rev, stale, err := s.read(ctx)
		if err != nil {
			return nil, err
		}
		keys, changed, err := change(keys, stale)
		if err != nil {
			return nil, err
		}
		set, err := newSet(keys)
		if err != nil || !changed {
			return set, err
		}
		value, err := s.encode(keys)
		if err != nil {
			return nil, err
		}
		if s.beforeWrite != nil {
			s.beforeWrite()
		}
		_, err = s.b.Put(ctx, jskv.Msg{Key: kvEntry, Value: value, Expect: rev})
		switch {
		case err == nil:
			return set, nil
		case !errors.Is(err, jskv.ErrConflict):
			return nil, fmt.Errorf("keys: %w", err)
		case !retry:
			return s.winner(ctx, rev)
		}
	}
	return nil, fmt.Errorf("keys: bucket %s: the key set changed concurrently %d times in a row", s.b.Name(), kvAttempts)
}

// winner returns, with ErrConflict, the key set that replaced revision
// lost. The write that won may still be in flight when the loser learns
// of it, so the loser waits (a little) for the bucket to show it.
func (s *KVStore) winner(ctx context.Context, lost uint64) (*Set, error) {
	var keys []*Key
	for i := range kvAttempts {
		if err := jskv.Backoff(ctx, i+1); err != nil {
			return nil, errors.Join(ErrConflict, err)
		}
		var rev uint64
		var err error
		if keys, rev, _, err = s.read(ctx); err != nil {
			return nil, errors.Join(ErrConflict, err)
		}
		if rev != lost {
			break
		}
	}
	set, err := newSet(keys)
	if err != nil {
		return nil, errors.Join(ErrConflict, err)
	}
	return set, ErrConflict
}

// Ensure makes sure every algorithm in algs has a current and a next key,
// generating what is missing, and returns the resulting set. Replicas
// starting together may all call it: one writes, the others find its keys.
func (s *KVStore) Ensure(ctx context.Context, algs []string, now time.Time) (*Set, error) {
	return s.update(ctx, true, func(keys []*Key, _ bool) ([]*Key, bool, error) { return ensureKeys(keys, algs, now) })
}

// Seed writes the keys of set into an empty bucket and returns the set
// the bucket then holds: set's when the bucket was empty, else the one it
// had (Seed changes nothing then). It moves a single process's key file
// into a cluster, so that tokens it signed keep validating.
func (s *KVStore) Seed(ctx context.Context, set *Set) (*Set, error) {
	return s.update(ctx, true, func(keys []*Key, _ bool) ([]*Key, bool, error) {
		if len(keys) > 0 {
			return keys, false, nil
		}
		return set.Keys(), len(set.Keys()) > 0, nil
	})
}

// Rotate rotates the keys as the file Store does. When another writer
// changed the set since it was read, Rotate returns the set now in the
// bucket with ErrConflict, and rotates nothing.
func (s *KVStore) Rotate(ctx context.Context, now time.Time, o RotateOptions) (*Set, error) {
	return s.update(ctx, false, func(keys []*Key, _ bool) ([]*Key, bool, error) {
		keys, err := rotateKeys(keys, now, o)
		return keys, err == nil, err
	})
}

// Reseal seals every key again with the keyring's current KEK, when any
// is sealed with an older one, after a change of KEK.
func (s *KVStore) Reseal(ctx context.Context) (*Set, error) {
	return s.update(ctx, true, func(keys []*Key, stale bool) ([]*Key, bool, error) { return keys, stale, nil })
}

// Update is a key set as Watch delivers it: a new Set, or the error that
// kept a revision from opening (the subscriber keeps serving the set it
// has, and says so).
type Update struct {
	Set      *Set
	Revision uint64
	Err      error
}

// Watch delivers the key set in the bucket now, if any, and then every
// new one, within milliseconds of its write (the watch rides out a change
// of the bucket's leader). A subscriber that has not taken an update when
// the next comes gets the newer one only. The channel closes when ctx
// ends, or if the watch itself stops; then watch again.
func (s *KVStore) Watch(ctx context.Context) (<-chan Update, error) {
	w, err := s.b.KV.Watch(ctx, kvEntry)
	if err != nil {
		return nil, fmt.Errorf("keys: watch bucket %s: %w", s.b.Name(), err)
	}
	out := make(chan Update, 1)
	go func() {
		defer close(out)
		defer w.Stop()
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-ctx.Done():
				return
			case e, ok = <-w.Updates():
			}
			if !ok {
				return
			}
			if e == nil {
				continue // the end of the values present at the start
			}
			u := Update{Revision: e.Revision()}
			if e.Operation() != jetstream.KeyValuePut {
				u.Err = fmt.Errorf("keys: the key set was deleted from bucket %s", s.b.Name())
			} else if keys, _, err := s.decode(e.Value()); err != nil {
				u.Err = err
			} else {
				u.Set, u.Err = newSet(keys)
			}
			select { // the newest wins
			case <-out:
			default:
			}
			out <- u
		}
	}()
	return out, nil
}
