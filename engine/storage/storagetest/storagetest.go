// Package storagetest is the conformance suite every storage backend
// passes: Run it from the backend's tests with a constructor of empty
// stores (docs/design.md, "The storage conformance suite").
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/storage"
)

// Run runs the suite. open returns a new, empty store; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) storage.Storage) {
	t.Helper()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s storage.Storage)
	}{
		{"AuthRequests", testAuthRequests},
		{"AuthCodesAreSingleUse", testAuthCodes},
		{"ConcurrentCodeExchange", testConcurrentConsume},
		{"RefreshRotation", testRefreshRotation},
		{"RevokeBeforeCreate", testRevokeBeforeCreate},
		{"ConcurrentRotation", testConcurrentRotation},
		{"Sessions", testSessions},
		{"Consents", testConsents},
		{"DeleteExpired", testDeleteExpired},
		{"AccessTokenDenylist", testDenylist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			tc.run(t, s)
		})
	}
}

var (
	ctx = context.Background()
	t0  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Errorf("%s: error %v, want %v", what, got, want)
	}
}

func testAuthRequests(t *testing.T, s storage.Storage) {
	r := &storage.AuthRequest{ID: "r1", Expires: t0.Add(10 * time.Minute), Data: []byte(`{"a":1}`)}
	must(t, s.CreateAuthRequest(ctx, r, t0))
	wantErr(t, "create twice", s.CreateAuthRequest(ctx, r, t0), storage.ErrExists)
	r.Data[0] = 'X' // the store keeps its own copy
	got, err := s.GetAuthRequest(ctx, "r1", t0)
	must(t, err)
	if string(got.Data) != `{"a":1}` || !got.Expires.Equal(r.Expires) {
		t.Errorf("got %+v", got)
	}
	must(t, s.UpdateAuthRequest(ctx, &storage.AuthRequest{ID: "r1", Expires: t0.Add(5 * time.Minute), Data: []byte("b")}, t0))
	got, err = s.GetAuthRequest(ctx, "r1", t0)
	must(t, err)
	if string(got.Data) != "b" {
		t.Errorf("after update %q", got.Data)
	}
	_, err = s.GetAuthRequest(ctx, "r1", t0.Add(5*time.Minute))
	wantErr(t, "get expired", err, storage.ErrNotFound)
	wantErr(t, "update expired", s.UpdateAuthRequest(ctx, &storage.AuthRequest{ID: "r1", Expires: t0.Add(time.Hour)}, t0.Add(6*time.Minute)), storage.ErrNotFound)
	wantErr(t, "update missing", s.UpdateAuthRequest(ctx, &storage.AuthRequest{ID: "nope", Expires: t0.Add(time.Hour)}, t0), storage.ErrNotFound)
	must(t, s.DeleteAuthRequest(ctx, "r1"))
	must(t, s.DeleteAuthRequest(ctx, "r1"))
	_, err = s.GetAuthRequest(ctx, "r1", t0)
	wantErr(t, "get deleted", err, storage.ErrNotFound)
}

func testAuthCodes(t *testing.T, s storage.Storage) {
	c := &storage.AuthCode{Hash: storage.Hash("code"), Expires: t0.Add(time.Minute), Data: []byte("d")}
	must(t, s.CreateAuthCode(ctx, c))
	wantErr(t, "create twice", s.CreateAuthCode(ctx, c), storage.ErrExists)
	_, err := s.ConsumeAuthCode(ctx, storage.Hash("other"), "f0", t0)
	wantErr(t, "unknown code", err, storage.ErrNotFound)
	got, err := s.ConsumeAuthCode(ctx, c.Hash, "f1", t0)
	must(t, err)
	if string(got.Data) != "d" || got.FamilyID != "f1" {
		t.Errorf("first use %+v", got)
	}
	again, err := s.ConsumeAuthCode(ctx, c.Hash, "f2", t0.Add(time.Second))
	wantErr(t, "second use", err, storage.ErrConsumed)
	if again == nil || again.FamilyID != "f1" {
		t.Errorf("second use must name the first use's family, got %+v", again)
	}
	late := &storage.AuthCode{Hash: storage.Hash("late"), Expires: t0.Add(time.Minute)}
	must(t, s.CreateAuthCode(ctx, late))
	_, err = s.ConsumeAuthCode(ctx, late.Hash, "f3", t0.Add(time.Minute))
	wantErr(t, "expired code", err, storage.ErrNotFound)
}

func testConcurrentConsume(t *testing.T, s storage.Storage) {
	c := &storage.AuthCode{Hash: storage.Hash("race"), Expires: t0.Add(time.Minute)}
	must(t, s.CreateAuthCode(ctx, c))
	wins := race(t, storage.ErrConsumed, func(i int) error {
		_, err := s.ConsumeAuthCode(ctx, c.Hash, fmt.Sprint("f", i), t0)
		return err
	})
	if wins != 1 {
		t.Errorf("%d exchanges of one code succeeded, want 1", wins)
	}
}

// race runs 16 attempts at once and returns how many succeeded; the
// others must fail with lost.
func race(t *testing.T, lost error, attempt func(i int) error) int {
	t.Helper()
	const n = 16
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i] = attempt(i) })
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, lost):
			t.Errorf("unexpected %v", err)
		}
	}
	return wins
}

func newFamily(id, token string) *storage.RefreshFamily {
	return &storage.RefreshFamily{
		ID: id, ClientID: "c", UserID: "u", Current: storage.Hash(token),
		CurrentExpires: t0.Add(time.Hour), Created: t0, Expires: t0.Add(24 * time.Hour), Data: []byte("fd"),
	}
}

func testRefreshRotation(t *testing.T, s storage.Storage) {
	f := newFamily("fam", "rt1")
	must(t, s.CreateRefreshFamily(ctx, f))
	wantErr(t, "create twice", s.CreateRefreshFamily(ctx, f), storage.ErrExists)
	got, err := s.GetRefreshToken(ctx, storage.Hash("rt1"), t0)
	must(t, err)
	if got.ID != "fam" || got.Current != storage.Hash("rt1") || got.ClientID != "c" || got.UserID != "u" || string(got.Data) != "fd" || got.Revoked {
		t.Errorf("family %+v", got)
	}
	must(t, s.RotateRefreshToken(ctx, "fam", storage.Hash("rt1"), storage.Hash("rt2"), t0.Add(2*time.Hour), t0))
	wantErr(t, "rotate a rotated token", s.RotateRefreshToken(ctx, "fam", storage.Hash("rt1"), storage.Hash("rt3"), t0.Add(2*time.Hour), t0), storage.ErrConflict)
	// The old token still finds its family (so its reuse is detected).
	old, err := s.GetRefreshToken(ctx, storage.Hash("rt1"), t0)
	must(t, err)
	if old.Current != storage.Hash("rt2") || !old.CurrentExpires.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("after rotation %+v", old)
	}
	must(t, s.RevokeRefreshFamily(ctx, "fam", t0.Add(24*time.Hour)))
	for _, tok := range []string{"rt1", "rt2"} {
		f, err := s.GetRefreshToken(ctx, storage.Hash(tok), t0)
		must(t, err)
		if !f.Revoked {
			t.Errorf("%s: family not revoked", tok)
		}
	}
	wantErr(t, "rotate revoked", s.RotateRefreshToken(ctx, "fam", storage.Hash("rt2"), storage.Hash("rt4"), t0.Add(2*time.Hour), t0), storage.ErrRevoked)
	_, err = s.GetRefreshToken(ctx, storage.Hash("rt2"), t0.Add(24*time.Hour))
	wantErr(t, "expired family", err, storage.ErrNotFound)
	_, err = s.GetRefreshToken(ctx, storage.Hash("never"), t0)
	wantErr(t, "unknown token", err, storage.ErrNotFound)
	wantErr(t, "rotate unknown family", s.RotateRefreshToken(ctx, "ghost", "a", "b", t0.Add(time.Hour), t0), storage.ErrNotFound)
}

func testRevokeBeforeCreate(t *testing.T, s storage.Storage) {
	must(t, s.RevokeRefreshFamily(ctx, "early", t0.Add(time.Hour)))
	wantErr(t, "create after revoke", s.CreateRefreshFamily(ctx, newFamily("early", "rt")), storage.ErrExists)
}

func testConcurrentRotation(t *testing.T, s storage.Storage) {
	must(t, s.CreateRefreshFamily(ctx, newFamily("fam", "rt0")))
	wins := race(t, storage.ErrConflict, func(i int) error {
		return s.RotateRefreshToken(ctx, "fam", storage.Hash("rt0"), storage.Hash(fmt.Sprint("next", i)), t0.Add(time.Hour), t0)
	})
	if wins != 1 {
		t.Errorf("%d rotations of one token succeeded, want 1", wins)
	}
}

func testSessions(t *testing.T, s storage.Storage) {
	sess := &storage.Session{Hash: storage.Hash("cookie"), UserID: "alice", AuthTime: t0, Expires: t0.Add(time.Hour), Credential: "c1"}
	must(t, s.CreateSession(ctx, sess))
	wantErr(t, "create twice", s.CreateSession(ctx, sess), storage.ErrExists)
	got, err := s.GetSession(ctx, sess.Hash, t0.Add(time.Minute))
	must(t, err)
	if got.UserID != "alice" || !got.AuthTime.Equal(t0) || got.Credential != "c1" {
		t.Errorf("session %+v", got)
	}
	_, err = s.GetSession(ctx, sess.Hash, t0.Add(time.Hour))
	wantErr(t, "expired session", err, storage.ErrNotFound)
	must(t, s.DeleteSession(ctx, sess.Hash))
	must(t, s.DeleteSession(ctx, sess.Hash))
	_, err = s.GetSession(ctx, sess.Hash, t0)
	wantErr(t, "deleted session", err, storage.ErrNotFound)
}

func testConsents(t *testing.T, s storage.Storage) {
	c := &storage.Consent{UserID: "u", ClientID: "c", API: "https://api", Scopes: []string{"openid", "read"}, Expires: t0.Add(time.Hour)}
	must(t, s.PutConsent(ctx, c))
	c.Scopes[0] = "changed"
	got, err := s.GetConsent(ctx, "u", "c", "https://api", t0)
	must(t, err)
	if !slices.Equal(got.Scopes, []string{"openid", "read"}) {
		t.Errorf("consent %+v", got)
	}
	must(t, s.PutConsent(ctx, &storage.Consent{UserID: "u", ClientID: "c", API: "https://api", Scopes: []string{"write"}, Expires: t0.Add(time.Hour)}))
	got, err = s.GetConsent(ctx, "u", "c", "https://api", t0)
	must(t, err)
	if !slices.Equal(got.Scopes, []string{"write"}) {
		t.Errorf("replaced consent %+v", got)
	}
	for _, k := range [][3]string{{"u", "c", "https://other"}, {"u", "d", "https://api"}, {"v", "c", "https://api"}} {
		_, err := s.GetConsent(ctx, k[0], k[1], k[2], t0)
		wantErr(t, fmt.Sprint("consent ", k), err, storage.ErrNotFound)
	}
	_, err = s.GetConsent(ctx, "u", "c", "https://api", t0.Add(time.Hour))
	wantErr(t, "expired consent", err, storage.ErrNotFound)
}

func testDeleteExpired(t *testing.T, s storage.Storage) {
	must(t, s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "old", Expires: t0.Add(time.Minute)}, t0))
	must(t, s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "new", Expires: t0.Add(time.Hour)}, t0))
	must(t, s.CreateAuthCode(ctx, &storage.AuthCode{Hash: "c", Expires: t0.Add(time.Minute)}))
	old := newFamily("f-old", "rt-old")
	old.Expires = t0.Add(time.Minute)
	must(t, s.CreateRefreshFamily(ctx, old))
	must(t, s.CreateRefreshFamily(ctx, newFamily("f-new", "rt-new")))
	must(t, s.CreateSession(ctx, &storage.Session{Hash: "s", UserID: "u", AuthTime: t0, Expires: t0.Add(time.Minute)}))
	must(t, s.PutConsent(ctx, &storage.Consent{UserID: "u", ClientID: "c", API: "a", Expires: t0.Add(time.Minute)}))

	n, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute))
	must(t, err)
	if n != 5 {
		t.Errorf("deleted %d records, want 5", n)
	}
	if _, err := s.GetAuthRequest(ctx, "new", t0); err != nil {
		t.Errorf("live request deleted: %v", err)
	}
	if _, err := s.GetRefreshToken(ctx, storage.Hash("rt-new"), t0); err != nil {
		t.Errorf("live family deleted: %v", err)
	}
	// A reused id of a deleted family is free again.
	must(t, s.CreateRefreshFamily(ctx, newFamily("f-old", "rt-other")))
	if n, _ := s.DeleteExpired(ctx, t0.Add(2*time.Minute)); n != 0 {
		t.Errorf("second sweep deleted %d", n)
	}
}

func testDenylist(t *testing.T, s storage.Storage) {
	denied := func(jti string, now time.Time) bool {
		t.Helper()
		ok, err := s.AccessTokenDenied(ctx, jti, now)
		must(t, err)
		return ok
	}
	if denied("j1", t0) {
		t.Fatal("an unlisted token is denied")
	}
	must(t, s.DenyAccessToken(ctx, "j1", t0.Add(time.Hour)))
	switch {
	case !denied("j1", t0):
		t.Fatal("a listed token is not denied")
	case denied("j2", t0):
		t.Fatal("another token is denied")
	case denied("j1", t0.Add(time.Hour)):
		t.Fatal("a listing outlives the token's expiry")
	}
	// Listing again with an earlier expiry keeps the later one.
	must(t, s.DenyAccessToken(ctx, "j1", t0.Add(time.Minute)))
	if !denied("j1", t0.Add(30*time.Minute)) {
		t.Fatal("a second listing shortened the first")
	}
	// DeleteExpired removes expired listings and keeps live ones. (Whether
	// it saw the expired one is not asked: a replica's sweep may read a
	// server that has not caught up, and the key's TTL removes it anyway;
	// reads never report it once expired.)
	must(t, s.DenyAccessToken(ctx, "j3", t0.Add(time.Minute)))
	if _, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if denied("j3", t0.Add(2*time.Minute)) {
		t.Fatal("an expired listing is reported")
	}
	if !denied("j1", t0.Add(2*time.Minute)) {
		t.Fatal("DeleteExpired removed a live listing")
	}
}
