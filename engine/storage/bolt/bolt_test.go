package bolt_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/bolt"
	"github.com/scopeline/scopeline/engine/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, err := bolt.Open(t.TempDir(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	s, err := bolt.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f := &storage.RefreshFamily{ID: "f", Current: storage.Hash("rt"), CurrentExpires: now.Add(time.Hour), Created: now, Expires: now.Add(time.Hour)}
	if err := s.CreateRefreshFamily(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	// A second process cannot open the file while the first holds it.
	if _, err := bolt.Open(dir, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = bolt.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetRefreshToken(t.Context(), storage.Hash("rt"), now)
	if err != nil || got.ID != "f" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

func TestAuthRequestsAreBounded(t *testing.T) {
	s, err := bolt.Open(t.TempDir(), time.Second, bolt.WithMaxAuthRequests(2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	for i := range 2 {
		if err := s.CreateAuthRequest(t.Context(), &storage.AuthRequest{ID: fmt.Sprint(i), Expires: now.Add(time.Minute)}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAuthRequest(t.Context(), &storage.AuthRequest{ID: "x", Expires: now.Add(time.Minute)}, now); !errors.Is(err, storage.ErrFull) {
		t.Fatalf("third: %v, want ErrFull", err)
	}
	if err := s.DeleteAuthRequest(t.Context(), "0"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAuthRequest(t.Context(), &storage.AuthRequest{ID: "x", Expires: now.Add(time.Minute)}, now); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	if err := s.CreateAuthRequest(t.Context(), &storage.AuthRequest{ID: "y", Expires: now.Add(2 * time.Minute)}, now.Add(time.Minute)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestDeleteExpiredSweepsTheDenylist(t *testing.T) {
	s, err := bolt.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	if err := s.DenyAccessToken(t.Context(), "j", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpired(t.Context(), now.Add(2*time.Minute)); n != 1 || err != nil {
		t.Fatalf("swept %d, %v; want the expired listing", n, err)
	}
}
