package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/cluster/natstest"
)

func openKV(t *testing.T, js jetstream.JetStream, ring *Keyring, opts ...KVOption) *KVStore {
	t.Helper()
	s, err := OpenKV(t.Context(), js, ring, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kids(set *Set, st Status) []string {
	var out []string
	for _, k := range set.Keys() {
		if k.Status == st {
			out = append(out, k.ID)
		}
	}
	slices.Sort(out)
	return out
}

func TestKVEnsureLoadRotate(t *testing.T) {
	js := natstest.Start(t, 1).JetStream(t)
	ring := NewKeyring(newTestKEK(t))
	s := openKV(t, js, ring)
	ctx := t.Context()
	set, err := s.Ensure(ctx, []string{"ES256", "EdDSA"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys()) != 4 {
		t.Fatalf("want current and next for two algorithms, got %d keys", len(set.Keys()))
	}
	// Another replica finds the same keys, and Ensure writes nothing new.
	other := openKV(t, js, ring)
	again, err := other.Ensure(ctx, []string{"ES256", "EdDSA"}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kids(again, StatusCurrent), kids(set, StatusCurrent)) || !slices.Equal(kids(again, StatusNext), kids(set, StatusNext)) {
		t.Fatalf("a second replica made other keys")
	}
	loaded, err := other.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := loaded.Signing("ES256")
	orig, _ := set.Signing("ES256")
	if es.ID != orig.ID || !es.private.(*ecdsa.PrivateKey).Equal(orig.private) {
		t.Fatal("the loaded key is not the one stored")
	}

	rotated, err := s.Rotate(ctx, t0.Add(2*time.Hour), RotateOptions{Retain: time.Hour, MinPublished: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kids(rotated, StatusCurrent), kids(set, StatusNext)) || !slices.Equal(kids(rotated, StatusRetired), kids(set, StatusCurrent)) {
		t.Fatal("rotation did not promote the next keys and retire the current ones")
	}
	// The set handed out before is unchanged: it may be serving.
	if k, _ := set.Signing("ES256"); k.Status != StatusCurrent {
		t.Fatal("rotation changed a key of an earlier set")
	}
	// A retired key stays published until its retention has passed.
	jwks := string(rotated.JWKS(t0.Add(2*time.Hour), time.Hour))
	for _, kid := range kids(set, StatusCurrent) {
		if !strings.Contains(jwks, kid) {
			t.Errorf("retired %s not published", kid)
		}
	}
	if _, err := s.Rotate(ctx, t0.Add(2*time.Hour), RotateOptions{Retain: time.Hour, MinPublished: time.Hour}); err == nil || !strings.Contains(err.Error(), "less than the JWKS cache lifetime") {
		t.Fatalf("a second rotation before the next key is known: %v", err)
	}
	late, err := s.Rotate(ctx, t0.Add(5*time.Hour), RotateOptions{Retain: time.Hour, MinPublished: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(kids(late, StatusRetired)) != 2 { // those retired at +2h stayed until +3h
		t.Errorf("retired keys after retention: %v", kids(late, StatusRetired))
	}
}

// Two replicas on one bucket of a three-server cluster rotate at the same
// time: one wins, the other loses cleanly and gets the winner's set.
func TestKVConcurrentRotation(t *testing.T) {
	c := natstest.Start(t, 3)
	ring := NewKeyring(newTestKEK(t))
	a := openKV(t, c.JetStream(t), ring, WithReplicas(3))
	b := openKV(t, c.JetStream(t), ring, WithReplicas(3))
	if _, err := a.Ensure(t.Context(), []string{"ES256"}, t0); err != nil {
		t.Fatal(err)
	}
	// Both read before either writes.
	var read sync.WaitGroup
	read.Add(2)
	for _, s := range []*KVStore{a, b} {
		s.beforeWrite = func() { read.Done(); read.Wait() }
	}
	type result struct {
		set *Set
		err error
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i, s := range []*KVStore{a, b} {
		wg.Go(func() {
			set, err := s.Rotate(t.Context(), t0.Add(time.Hour), RotateOptions{Retain: time.Hour})
			results[i] = result{set, err}
		})
	}
	wg.Wait()
	var won, lost []result
	for _, r := range results {
		switch {
		case r.err == nil:
			won = append(won, r)
		case errors.Is(r.err, ErrConflict):
			lost = append(lost, r)
		default:
			t.Fatalf("rotate: %v", r.err)
		}
	}
	if len(won) != 1 || len(lost) != 1 {
		t.Fatalf("%d won, %d lost; want one each", len(won), len(lost))
	}
	if !slices.Equal(kids(lost[0].set, StatusNext), kids(won[0].set, StatusNext)) {
		t.Error("the loser did not get the winner's set")
	}
	now, err := a.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kids(now, StatusNext), kids(won[0].set, StatusNext)) || len(kids(now, StatusRetired)) != 1 {
		t.Error("the bucket does not hold the winner's rotation alone")
	}
}

// Every replica watching the bucket gets each new key set, also while the
// bucket's leader is down.
func TestKVWatch(t *testing.T) {
	c := natstest.Start(t, 3)
	ring := NewKeyring(newTestKEK(t))
	a := openKV(t, c.JetStream(t), ring, WithReplicas(3))
	b := openKV(t, c.JetStream(t), ring, WithReplicas(3))
	first, err := a.Ensure(t.Context(), []string{"EdDSA"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	updates, err := b.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func(want string) *Set {
		t.Helper()
		deadline := time.After(natstest.Deadline)
		for {
			select {
			case u := <-updates:
				if u.Err != nil {
					t.Fatal(u.Err)
				}
				if k, ok := u.Set.Signing("EdDSA"); ok && k.ID == want {
					return u.Set
				}
			case <-deadline:
				t.Fatalf("no key set signing with %s", want)
			}
		}
	}
	cur, _ := first.Signing("EdDSA")
	next(cur.ID) // the set present at the start

	rotated, err := a.Rotate(t.Context(), t0.Add(time.Hour), RotateOptions{Retain: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := rotated.Signing("EdDSA")
	got := next(k.ID)
	if !strings.Contains(string(got.JWKS(t0.Add(time.Hour), time.Hour)), cur.ID) {
		t.Error("the watched set does not publish the retired key")
	}

	c.Stop(c.WaitStream("KV_" + DefaultBucket))
	c.WaitStream("KV_" + DefaultBucket)
	rotated, err = a.Rotate(t.Context(), t0.Add(2*time.Hour), RotateOptions{Retain: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	k, _ = rotated.Signing("EdDSA")
	next(k.ID)

	cancel()
	for range updates { // closed once the watch ends
	}
}

func TestKVWrongKEK(t *testing.T) {
	js := natstest.Start(t, 1).JetStream(t)
	old, current := newTestKEK(t), newTestKEK(t)
	if _, err := openKV(t, js, NewKeyring(old)).Ensure(t.Context(), []string{"ES256"}, t0); err != nil {
		t.Fatal(err)
	}
	// A replica without the KEK the keys are sealed with says which one
	// it lacks.
	_, err := openKV(t, js, NewKeyring(current)).Load(t.Context())
	if err == nil || !strings.Contains(err.Error(), "sealed with key-encryption key "+old.ID()+", which this replica does not have") {
		t.Fatalf("wrong KEK: %v", err)
	}
	// Given the old KEK as old, it opens the keys, and reseals them with
	// the current one; then the old KEK is no longer needed.
	s := openKV(t, js, NewKeyring(current, old))
	if _, err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reseal(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := openKV(t, js, NewKeyring(current)).Load(t.Context()); err != nil {
		t.Fatalf("after reseal: %v", err)
	}
	if _, err := openKV(t, js, NewKeyring(old)).Load(t.Context()); err == nil {
		t.Fatal("the old KEK alone still opens the resealed keys")
	}

	// A sealed key moved to another key id does not open.
	kv, err := js.KeyValue(t.Context(), DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), kvEntry)
	if err != nil {
		t.Fatal(err)
	}
	var doc kvDocument
	if err := json.Unmarshal(e.Value(), &doc); err != nil {
		t.Fatal(err)
	}
	doc.Keys[0].Sealed, doc.Keys[1].Sealed = doc.Keys[1].Sealed, doc.Keys[0].Sealed
	doc.Keys[0].Nonce, doc.Keys[1].Nonce = doc.Keys[1].Nonce, doc.Keys[0].Nonce
	swapped, _ := json.Marshal(doc)
	if _, err := kv.Put(t.Context(), kvEntry, swapped); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "does not open with key-encryption key") {
		t.Fatalf("swapped keys: %v", err)
	}
}

// Neither the private keys nor anything derived from them without the KEK
// is in any message of the bucket's stream, nor in any file any server
// keeps (stream blocks, Raft logs, snapshots), on one server and on three.
func TestKVNoPlaintextInNATS(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d servers", n), func(t *testing.T) { testNoPlaintext(t, n) })
	}
}

func testNoPlaintext(t *testing.T, n int) {
	c := natstest.Start(t, n)
	js := c.JetStream(t)
	s := openKV(t, js, NewKeyring(newTestKEK(t)), WithReplicas(n))
	var all []*Key
	set, err := s.Ensure(t.Context(), []string{"RS256", "ES256", "EdDSA"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, set.Keys()...)
	if set, err = s.Rotate(t.Context(), t0.Add(time.Hour), RotateOptions{Retain: time.Hour}); err != nil {
		t.Fatal(err)
	}
	all = append(all, set.Keys()...)

	// What would give a key away: a fragment of its PKCS#8 DER, of its
	// PEM text, of its secret scalar, each also as base64 would carry it
	// (as JSON carries bytes), at every alignment.
	var secrets [][]byte
	for _, k := range all {
		der, err := x509.MarshalPKCS8PrivateKey(k.private)
		if err != nil {
			t.Fatal(err)
		}
		st, err := k.stored()
		if err != nil {
			t.Fatal(err)
		}
		pemBody := strings.SplitN(st.PrivatePEM, "\n", 3)[1] // the first line of base64
		var scalar []byte
		switch p := k.private.(type) {
		case *rsa.PrivateKey:
			scalar = p.D.Bytes()
		case *ecdsa.PrivateKey:
			scalar, _ = p.Bytes()
		case ed25519.PrivateKey:
			scalar = p.Seed()
		}
		for _, b := range [][]byte{der[len(der)-24:], []byte(pemBody[16:48]), scalar[:16], []byte("PRIVATE KEY")} {
			secrets = append(secrets, b)
			secrets = append(secrets, base64Forms(b)...)
		}
	}
	check := func(where string, raw []byte) {
		t.Helper()
		if bytes.Contains(raw, []byte("PRIVATE KEY")) {
			t.Fatalf("%s holds a PEM private key", where)
		}
		for _, s := range secrets {
			if bytes.Contains(raw, s) {
				t.Fatalf("%s holds private key material", where)
			}
		}
	}

	stream, err := js.Stream(t.Context(), "KV_"+DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		t.Fatal("no message to scan")
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			continue // removed by the history limit
		}
		raw := append([]byte(m.Subject), m.Data...)
		for k, v := range m.Header {
			raw = append(raw, k...)
			raw = append(raw, strings.Join(v, "")...)
		}
		check(fmt.Sprintf("message %d", seq), raw)
	}
	// The servers' files hold the key set as written (so the scan would
	// see a private key if one were there): each has a file naming a key.
	// A follower writes what it replicates a little later than the leader
	// acknowledges it, so each server's files are scanned until they name
	// the last key, within a generous deadline.
	kid := []byte(all[len(all)-1].ID)
	for i := range n {
		deadline := time.Now().Add(30 * time.Second)
		for {
			named := false
			err := filepath.WalkDir(c.StoreDir(i), func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				raw, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				named = named || bytes.Contains(raw, kid)
				check(path, raw)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if named {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no file of server %d holds the key set", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestOpenKVNeedsAKEK(t *testing.T) {
	js := natstest.Start(t, 1).JetStream(t)
	if _, err := OpenKV(t.Context(), js, nil); err == nil || !strings.Contains(err.Error(), "key-encryption key is required") {
		t.Fatalf("no KEK: %v", err)
	}
}

// base64Forms returns what stays the same of needle's base64 (standard
// and URL alphabets) wherever it starts in the encoded data: its encoding
// at each of the three alignments, without the characters that depend on
// the bytes around it.
func base64Forms(needle []byte) [][]byte {
	var out [][]byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for pad := range 3 {
			e := enc.EncodeToString(append(make([]byte, pad), needle...))
			// Drop the characters that hold padding bytes, and the last
			// group, which the next bytes change.
			start := (pad*8 + 5) / 6
			end := (len(needle)+pad)/3*4 - 4
			if end > start {
				out = append(out, []byte(e[start:end]))
			}
		}
	}
	return out
}
