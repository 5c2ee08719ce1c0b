package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, dir string, opts Options) *Spool {
	t.Helper()
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.MaxRecords == 0 {
		opts.MaxRecords = 1 << 30
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s *Spool, from, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := from; i < from+n; i++ {
		seq, err := s.Append(fmt.Appendf(nil, "record-%d", i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

func readAll(t *testing.T, r *Reader) []string {
	t.Helper()
	var out []string
	for {
		recs, err := r.Next(7)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, rec := range recs {
			out = append(out, string(rec.Data))
		}
	}
}

func names(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("record-%d", i))
	}
	return out
}

func TestAppendReadAckAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 1})
	s.opts.SegmentBytes = 200 // force many small segments
	seqs := appendN(t, s, 0, 100)
	if seqs[0] != 1 || seqs[99] != 100 {
		t.Fatalf("sequences %d..%d", seqs[0], seqs[99])
	}
	r := s.Reader()
	defer r.Close()
	if got := readAll(t, r); !slices.Equal(got, names(0, 100)) {
		t.Fatalf("read %v", got)
	}
	segs := countSegments(t, dir)
	if segs < 5 {
		t.Fatalf("only %d segments", segs)
	}
	// Acknowledge out of order: nothing is freed until the oldest is acked.
	if err := s.Ack(seqs[50:]...); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Depth != 50 {
		t.Fatalf("depth %d, want 50", st.Depth)
	}
	if countSegments(t, dir) != segs {
		t.Fatal("segments freed before their records were acknowledged")
	}
	if err := s.Ack(seqs[:50]...); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Depth != 0 {
		t.Fatalf("depth %d, want 0", st.Depth)
	}
	if n := countSegments(t, dir); n != 1 {
		t.Fatalf("%d segments left, want only the active one", n)
	}
	// Appends after a drain are read by the same reader.
	appendN(t, s, 100, 3)
	if got := readAll(t, r); !slices.Equal(got, names(100, 3)) {
		t.Fatalf("read %v", got)
	}
}

func countSegments(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func TestRestartResendsOnlyUnacknowledged(t *testing.T) {
	for _, always := range []bool{false, true} {
		t.Run(fmt.Sprintf("SyncAlways=%v", always), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{MaxBytes: 1 << 30, MaxRecords: 1 << 30, SegmentBytes: 300, SyncAlways: always})
			if err != nil {
				t.Fatal(err)
			}
			seqs := appendN(t, s, 0, 40)
			if err := s.Ack(seqs[:25]...); err != nil {
				t.Fatal(err)
			}
			if err := s.Ack(seqs[30]); err != nil { // out of order: resent after a restart
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append([]byte("late")); !errors.Is(err, ErrClosed) {
				t.Fatalf("append after close: %v", err)
			}

			s2 := open(t, dir, Options{SegmentBytes: 300})
			if st := s2.Stats(); st.Depth != 15 {
				t.Fatalf("depth after restart %d, want 15", st.Depth)
			}
			r := s2.Reader()
			defer r.Close()
			if got := readAll(t, r); !slices.Equal(got, names(25, 15)) {
				t.Fatalf("after restart read %v", got)
			}
			next := appendN(t, s2, 40, 1)
			if next[0] != 41 {
				t.Fatalf("numbering restarted at %d, want 41", next[0])
			}
		})
	}
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MaxBytes: 1 << 30, MaxRecords: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 0, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, fmt.Sprintf("%020d.seg", 1))
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mess func(t *testing.T)
	}{
		{"half a header", func(t *testing.T) { appendBytes(t, seg, []byte{9, 0, 0}) }},
		{"short payload", func(t *testing.T) { appendBytes(t, seg, []byte{9, 0, 0, 0, 1, 2, 3, 4, 'a'}) }},
		{"bad checksum", func(t *testing.T) { appendBytes(t, seg, []byte{1, 0, 0, 0, 1, 2, 3, 4, 'a'}) }},
		{"absurd length", func(t *testing.T) { appendBytes(t, seg, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.mess(t)
			s := open(t, dir, Options{})
			r := s.Reader()
			if got := readAll(t, r); !slices.Equal(got, names(0, 5)) {
				t.Fatalf("read %v", got)
			}
			r.Close()
			if fi2, _ := os.Stat(seg); fi2.Size() != fi.Size() {
				t.Fatalf("segment is %d bytes, want the torn tail cut back to %d", fi2.Size(), fi.Size())
			}
			if seq := appendN(t, s, 5, 1); seq[0] != 6 {
				t.Fatalf("next sequence %d", seq[0])
			}
			s.Close()
			os.Truncate(seg, fi.Size())
		})
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestBounds(t *testing.T) {
	t.Run("records", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{MaxRecords: 10})
		seqs := appendN(t, s, 0, 10)
		if _, err := s.Append([]byte("x")); !errors.Is(err, ErrFull) {
			t.Fatalf("11th append: %v, want ErrFull", err)
		}
		if err := s.Ack(seqs[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append([]byte("x")); err != nil {
			t.Fatalf("append after an ack: %v", err)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{MaxBytes: 1 << 20})
		rec := make([]byte, 1000)
		var seqs []uint64
		for {
			seq, err := s.Append(rec)
			if errors.Is(err, ErrFull) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, seq)
		}
		if st := s.Stats(); st.Bytes > 1<<20 || st.Bytes < 1<<20-2016 {
			t.Fatalf("full at %d bytes", st.Bytes)
		}
		// Draining frees whole segments, so appends work again.
		if err := s.Ack(seqs...); err != nil {
			t.Fatal(err)
		}
		for range len(seqs) {
			if _, err := s.Append(rec); err != nil {
				t.Fatalf("after draining: %v (stats %+v)", err, s.Stats())
			}
		}
	})
	t.Run("record size", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{})
		if _, err := s.Append(make([]byte, maxRecordLen+1)); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("huge record: %v", err)
		}
	})
}

func TestConcurrentAppendsWithReader(t *testing.T) {
	for _, always := range []bool{false, true} {
		t.Run(fmt.Sprintf("SyncAlways=%v", always), func(t *testing.T) {
			s := open(t, t.TempDir(), Options{SyncAlways: always, SegmentBytes: 4096, SyncInterval: time.Millisecond})
			const writers, each = 8, 200
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() { appendN(t, s, w*each, each) })
			}
			seen := map[string]bool{}
			r := s.Reader()
			defer r.Close()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			finished := false
			for !finished || len(seen) < writers*each {
				select {
				case <-done:
					finished = true
				case <-s.Notify():
				case <-time.After(10 * time.Millisecond):
				}
				recs, err := r.Next(50)
				if err != nil {
					t.Fatal(err)
				}
				for _, rec := range recs {
					if seen[string(rec.Data)] {
						t.Fatalf("%s read twice", rec.Data)
					}
					seen[string(rec.Data)] = true
					if err := s.Ack(rec.Seq); err != nil {
						t.Fatal(err)
					}
				}
				if finished && len(recs) == 0 && len(seen) < writers*each {
					t.Fatalf("reader stuck at %d of %d", len(seen), writers*each)
				}
			}
			if st := s.Stats(); st.Depth != 0 {
				t.Fatalf("depth %d after draining", st.Depth)
			}
		})
	}
}

func TestDamagedCursorResendsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MaxBytes: 1 << 30, MaxRecords: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	seqs := appendN(t, s, 0, 4)
	s.Ack(seqs[:2]...)
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, cursorFile), []byte("garbage-garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, Options{})
	r := s2.Reader()
	defer r.Close()
	if got := readAll(t, r); !slices.Equal(got, names(0, 4)) {
		t.Fatalf("read %v: a damaged cursor must resend, never skip", got)
	}
}

// A damaged record in a full segment loses the records after it in that
// segment; the spool must carry on with the next segment rather than stop
// forwarding (and, once full, refuse every append).
func TestDamagedSegmentLeavesAGapNotAStop(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	s.opts.SegmentBytes = 200 // force many small segments
	appendN(t, s, 0, 40)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	slices.Sort(segs)
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff // a flipped bit in the middle of the first segment
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}

	s2 := open(t, dir, Options{})
	r := s2.Reader()
	defer r.Close()
	var got []string
	var seqs []uint64
	for {
		recs, err := r.Next(7)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			got = append(got, string(rec.Data))
			seqs = append(seqs, rec.Seq)
		}
	}
	if len(got) == 0 || got[0] != "record-0" || got[len(got)-1] != "record-39" || len(got) >= 40 {
		t.Fatalf("read %v: want the records before the damage and every later segment's", got)
	}
	if err := s2.Ack(seqs...); err != nil {
		t.Fatal(err)
	}
	if st := s2.Stats(); st.Depth != 0 {
		t.Fatalf("depth %d once every readable record is acknowledged, want 0", st.Depth)
	}
	if seq := appendN(t, s2, 40, 1); seq[0] != 41 {
		t.Fatalf("next sequence %d, want 41", seq[0])
	}
}

// An OS crash may keep a cursor written after records it lost the end of
// the segment of: the next process numbers its records from below that
// cursor, and they must not count as acknowledged if it crashes in turn
// before acknowledging anything.
func TestCursorAheadOfTheRecordsIsCorrected(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	seqs := appendN(t, s, 0, 5)
	if err := s.Ack(seqs...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, fmt.Sprintf("%020d.seg", 1))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, b[:2*(headerLen+len("record-0"))], 0o600); err != nil { // the last 3 records lost
		t.Fatal(err)
	}

	s2, err := Open(dir, Options{MaxBytes: 1 << 30, MaxRecords: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	appendN(t, s2, 100, 2)
	// s2 crashes here, before acknowledging anything: the next Open reads
	// what is on disk.
	s3, err := Open(dir, Options{MaxBytes: 1 << 30, MaxRecords: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if st := s3.Stats(); st.Depth != 2 {
		t.Errorf("depth %d, want the 2 records appended after the loss", st.Depth)
	}
	r := s3.Reader()
	defer r.Close()
	if got := readAll(t, r); !slices.Equal(got, names(100, 2)) {
		t.Fatalf("read %v", got)
	}
}
