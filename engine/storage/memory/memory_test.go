package memory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/memory"
	"github.com/scopeline/scopeline/engine/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Storage { return memory.New() })
}

func TestAuthRequestsAreBounded(t *testing.T) {
	s := memory.New(memory.WithMaxAuthRequests(3))
	now := time.Now()
	for i := range 3 {
		if err := s.CreateAuthRequest(t.Context(), &storage.AuthRequest{ID: fmt.Sprint(i), Expires: now.Add(time.Minute)}, now); err != nil {
			t.Fatal(err)
		}
	}
	err := s.CreateAuthRequest(t.Context(), &storage.AuthRequest{ID: "x", Expires: now.Add(time.Minute)}, now)
	if !errors.Is(err, storage.ErrFull) {
		t.Fatalf("fourth request: %v, want ErrFull", err)
	}
	// Once the others expired, there is room again.
	if err := s.CreateAuthRequest(t.Context(), &storage.AuthRequest{ID: "x", Expires: now.Add(2 * time.Minute)}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteExpiredSweepsTheDenylist(t *testing.T) {
	s := memory.New()
	now := time.Now()
	if err := s.DenyAccessToken(t.Context(), "j", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpired(t.Context(), now.Add(2*time.Minute)); n != 1 || err != nil {
		t.Fatalf("swept %d, %v; want the expired listing", n, err)
	}
}
