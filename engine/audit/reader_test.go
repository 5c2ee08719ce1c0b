package audit_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/settings"
)

// TestReader reads the stream on the publisher's own connection: by
// sequence, after a sequence, and its last sequence.
func TestReader(t *testing.T) {
	p := openPublisher(t, testAudit(t, settings.AuditAck))
	srv := startIssuer(t, p)
	c := newTokenClient(srv)
	r := newResults()
	for range 3 {
		c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users")
	}
	c.request(t, r, "demo-other", "demo-other-secret", "")
	rd := p.Reader()
	ctx := context.Background()
	var last uint64
	waitFor(t, "4 events", patience, func() bool {
		var err error
		last, err = rd.LastSeq(ctx)
		return err == nil && last >= 4
	})
	var seqs []uint64
	err := rd.Tail(ctx, audit.TailOptions{After: 1, Kinds: []audit.Kind{audit.KindIssued}}, func(e *audit.TailedEvent) error {
		seqs = append(seqs, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []uint64{2, 3}) {
		t.Errorf("issued after 1: %v", seqs)
	}
	e, err := rd.Event(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := e.Kind(); k != audit.KindDenied || e.Seq != 4 || e.Subject != "demo-other" || e.Stored.IsZero() {
		t.Errorf("event 4: %+v", e)
	}
	if _, err := rd.Event(ctx, last+10); !errors.Is(err, audit.ErrNoEvent) {
		t.Errorf("an event past the end: %v", err)
	}
}

// TestTailSinceFuture: a start time past the last event reads nothing
// (the server would deliver from the first).
func TestTailSinceFuture(t *testing.T) {
	p := openPublisher(t, testAudit(t, settings.AuditAck))
	srv := startIssuer(t, p)
	newTokenClient(srv).request(t, newResults(), "demo-m2m", "demo-m2m-secret", "read:users")
	rd := p.Reader()
	waitFor(t, "an event", patience, func() bool {
		last, err := rd.LastSeq(context.Background())
		return err == nil && last >= 1
	})
	n := 0
	err := rd.Tail(context.Background(), audit.TailOptions{Since: time.Now().Add(time.Hour)}, func(*audit.TailedEvent) error {
		n++
		return nil
	})
	if err != nil || n != 0 {
		t.Errorf("%d events since an hour from now (%v)", n, err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90m":                  now.Add(-90 * time.Minute),
		"0s":                   now,
		"2026-11-22":           time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		"2026-11-22T08:30:00Z": time.Date(2026, 11, 22, 8, 30, 0, 0, time.UTC),
		"2026-11-22T08:30:00":  time.Date(2026, 11, 22, 8, 30, 0, 0, time.UTC),
		"2026-11-22T08:30":     time.Date(2026, 11, 22, 8, 30, 0, 0, time.UTC),
	} {
		got, err := audit.ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-5m", "2999-01-01"} {
		if _, err := audit.ParseSince(bad, now); err == nil {
			t.Errorf("ParseSince(%q) accepted", bad)
		}
	}
}
