package replay_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scopeline/scopeline/sdk/resource/replay"
	"github.com/scopeline/scopeline/sdk/resource/replay/replaytest"
)

func TestMemoryConformance(t *testing.T) {
	clk := replaytest.NewClock(time.Unix(1_700_000_000, 0))
	replaytest.Run(t, replaytest.Harness{
		New:     func(*testing.T) replay.Cache { return replay.NewMemory(0, clk.Now) },
		Now:     clk.Now,
		Advance: clk.Advance,
	})
}

func TestMemoryBound(t *testing.T) {
	ctx := context.Background()
	clk := replaytest.NewClock(time.Unix(1_700_000_000, 0))
	m := replay.NewMemory(3, clk.Now)
	for i := range 3 {
		if ok, err := m.Claim(ctx, fmt.Sprint(i), clk.Now().Add(time.Duration(i+1)*time.Second)); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	// Full of unexpired keys: refused, not forgotten.
	if ok, err := m.Claim(ctx, "x", clk.Now().Add(time.Minute)); ok || !errors.Is(err, replay.ErrFull) {
		t.Fatalf("claim into a full cache: %v, %v", ok, err)
	}
	if ok, _ := m.Claim(ctx, "0", clk.Now().Add(time.Minute)); ok {
		t.Fatal("a key was forgotten when the cache was full")
	}
	// Once one expires, there is room again, and it is dropped.
	clk.Advance(1500 * time.Millisecond)
	if ok, err := m.Claim(ctx, "x", clk.Now().Add(time.Minute)); !ok || err != nil {
		t.Fatalf("claim after an expiry: %v, %v", ok, err)
	}
	if m.Len() != 3 {
		t.Errorf("Len = %d, want 3", m.Len())
	}
	// A key whose expiry has passed is not kept.
	if ok, _ := m.Claim(ctx, "late", clk.Now().Add(-time.Second)); !ok || m.Len() != 3 {
		t.Errorf("an expired claim: %v, len %d", ok, m.Len())
	}
	// A key claimed again after expiring but before being swept.
	clk.Advance(time.Hour)
	if ok, _ := m.Claim(ctx, "x", clk.Now().Add(time.Minute)); !ok {
		t.Error("an expired key was refused")
	}
	if ok, _ := m.Claim(ctx, "x", clk.Now().Add(time.Minute)); ok {
		t.Error("a reclaimed key was accepted twice")
	}
}

func BenchmarkMemoryClaim(b *testing.B) {
	m := replay.NewMemory(1<<20, nil)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	b.ReportAllocs()
	var i int
	for b.Loop() {
		i++
		m.Claim(ctx, fmt.Sprint("jti-", i), exp)
	}
}
