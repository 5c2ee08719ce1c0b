// Package spool is buffered mode's local outbox: a bounded, durable FIFO of
// records on disk that one reader drains and acknowledges, possibly out of
// order (docs/design.md, "The audit spool").
//
// Records are appended to segment files (NNNNNNNNNNNNNNNNNNNN.seg, named
// after their first sequence number), each framed as
//
//	uint32 length | uint32 CRC-32C of the payload | payload
//
// (little endian). A segment is deleted once every record in it has been
// acknowledged; the file "cursor" keeps the sequence below which everything
// is acknowledged, so a restart resends only what was not. After a crash,
// a torn last record (short or failing its CRC) is cut off; a record is
// only ever reported appended after its write(2) returned, so a process
// crash loses nothing and an OS crash loses at most what was written since
// the last fsync (every Options.SyncInterval, or nothing with SyncAlways).
package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors returned by Append.
var (
	ErrFull     = errors.New("spool: full")
	ErrClosed   = errors.New("spool: closed")
	ErrTooLarge = errors.New("spool: record too large")
)

// Options bound and tune a spool.
type Options struct {
	// MaxBytes bounds the segment files on disk; MaxRecords the records
	// not yet acknowledged. Append fails with ErrFull beyond either.
	MaxBytes   int64
	MaxRecords int64
	// SegmentBytes is the size at which a new segment file is started
	// (default 8 MiB).
	SegmentBytes int64
	// SyncAlways makes Append return only once its record is on stable
	// storage (concurrent appends share one fsync). Otherwise the spool is
	// synced every SyncInterval (default 1s).
	SyncAlways   bool
	SyncInterval time.Duration
	Log          *slog.Logger
}

// Record is one spooled record.
type Record struct {
	Seq  uint64
	Data []byte
}

const (
	headerLen     = 8
	maxRecordLen  = 16 << 20
	segmentSuffix = ".seg"
	cursorFile    = "cursor"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Spool is a durable FIFO. Append is safe for concurrent use; Reader and
// Ack are meant for one draining goroutine (and are safe alongside Append).
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu         sync.Mutex
	segs       []*segment // by first sequence; the last one is active
	active     *os.File
	next       uint64              // sequence of the next append
	lowWater   uint64              // every sequence below it is acknowledged
	ackedAbove map[uint64]struct{} // acknowledged sequences >= lowWater
	// gaps are the sequences above lowWater that no segment holds, in
	// order: the records lost with a damaged or missing segment, found at
	// recovery. They count as acknowledged.
	gaps      []gap
	diskBytes int64
	cursor    *os.File
	closed    bool
	err       error // a failed write or sync: the spool refuses appends

	synced   uint64 // every sequence below it is on stable storage
	syncCond *sync.Cond
	dirty    bool
	// syncMu is held around fsync calls made without mu, so that a segment
	// roll does not close the file being synced.
	syncMu sync.Mutex
	notify chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

type segment struct {
	first uint64 // sequence of its first record
	count uint64 // records in it
	size  int64  // bytes
	path  string
}

func (s *segment) end() uint64 { return s.first + s.count }

// gap is the sequences from (included) to to (excluded).
type gap struct{ from, to uint64 }

// Open opens (or creates) the spool in dir, recovering what a previous
// process left: unacknowledged records are read again, a torn tail is cut.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 8 << 20
	}
	// Several segments fit in the bound, so acknowledged ones can be freed.
	opts.SegmentBytes = max(min(opts.SegmentBytes, opts.MaxBytes/8), 64<<10)
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{
		dir: dir, opts: opts, log: opts.Log,
		ackedAbove: map[uint64]struct{}{},
		notify:     make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	s.syncCond = sync.NewCond(&s.mu)
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.synced = s.next
	s.wg.Add(1)
	go s.syncEvery()
	if opts.SyncAlways {
		s.wg.Add(1)
		go s.groupCommit()
	}
	return s, nil
}

// recover reads the cursor and every segment, cutting torn records.
func (s *Spool) recover() error {
	var err error
	s.cursor, err = os.OpenFile(filepath.Join(s.dir, cursorFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	lowWater := s.readCursor()

	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var firsts []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil || first == 0 {
			s.log.Warn("spool: ignoring a file that is not a segment", "file", e.Name())
			continue
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	for i, first := range firsts {
		seg := &segment{first: first, path: s.segmentPath(first)}
		if prev := s.lastSegment(); prev != nil && prev.end() != first {
			// A gap or overlap means a segment was lost or damaged: keep
			// what is readable and carry on from the later numbering.
			s.log.Error("spool: segments do not follow each other; records may have been lost", "previous_end", prev.end(), "next_first", first)
			if prev.end() < first {
				s.gaps = append(s.gaps, gap{prev.end(), first})
			}
		}
		last := i == len(firsts)-1
		if err := s.scan(seg, last); err != nil {
			return err
		}
		if seg.end() <= lowWater && !last {
			// Fully acknowledged before the crash: finish deleting it.
			if err := os.Remove(seg.path); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			continue
		}
		s.segs = append(s.segs, seg)
		s.diskBytes += seg.size
	}
	if len(s.segs) == 0 {
		start := max(lowWater, 1)
		seg := &segment{first: start, path: s.segmentPath(start)}
		s.segs = append(s.segs, seg)
	}
	first := s.segs[0].first
	s.lowWater = max(lowWater, first)
	s.next = s.lastSegment().end()
	if s.lowWater > s.next {
		// The cursor outlived records it passed (an OS crash lost the end
		// of a segment): the sequences from next on are numbered again,
		// so the cursor must stop counting them acknowledged at once.
		s.lowWater = s.next
		if err := s.writeCursor(); err != nil {
			return fmt.Errorf("spool: cursor: %w", err)
		}
		if err := s.cursor.Sync(); err != nil {
			return fmt.Errorf("spool: cursor: %w", err)
		}
	}
	s.skipGaps()
	s.active, err = os.OpenFile(s.lastSegment().path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return s.syncDir()
}

// scan counts a segment's records, cutting a torn or corrupt tail.
func (s *Spool) scan(seg *segment, last bool) error {
	f, err := os.OpenFile(seg.path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := &frameReader{f: f}
	for {
		_, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !last {
				s.log.Error("spool: a damaged record in a full segment; the records after it in that segment are lost", "file", filepath.Base(seg.path), "offset", r.off, "err", err)
			} else {
				s.log.Warn("spool: cutting a torn record at the end (a crash during a write)", "file", filepath.Base(seg.path), "offset", r.off)
			}
			if err := f.Truncate(r.off); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			break
		}
		seg.count++
	}
	seg.size = r.off
	return nil
}

func (s *Spool) segmentPath(first uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", first, segmentSuffix))
}

func (s *Spool) lastSegment() *segment {
	if len(s.segs) == 0 {
		return nil
	}
	return s.segs[len(s.segs)-1]
}

// readCursor returns the acknowledged low-water mark, 0 when unknown.
func (s *Spool) readCursor() uint64 {
	var b [12]byte
	if n, _ := s.cursor.ReadAt(b[:], 0); n < len(b) {
		return 0
	}
	v := binary.LittleEndian.Uint64(b[:8])
	if crc32.Checksum(b[:8], crcTable) != binary.LittleEndian.Uint32(b[8:]) {
		s.log.Warn("spool: the cursor file is damaged; unacknowledged records will be resent from the oldest segment")
		return 0
	}
	return v
}

func (s *Spool) writeCursor() error {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], s.lowWater)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], crcTable))
	_, err := s.cursor.WriteAt(b[:], 0)
	return err
}

// Append adds a record. It returns once the record is written (and, with
// SyncAlways, synced). It fails with ErrFull when a bound would be passed.
func (s *Spool) Append(data []byte) (uint64, error) {
	if len(data) > maxRecordLen {
		return 0, ErrTooLarge
	}
	frame := make([]byte, headerLen+len(data))
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(data)))
	binary.LittleEndian.PutUint32(frame[4:8], crc32.Checksum(data, crcTable))
	copy(frame[headerLen:], data)

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return 0, ErrClosed
	case s.err != nil:
		return 0, s.err
	case s.depthLocked() >= s.opts.MaxRecords, s.diskBytes+int64(len(frame)) > s.opts.MaxBytes:
		return 0, ErrFull
	}
	seg := s.lastSegment()
	full := seg.size+int64(len(frame)) > s.opts.SegmentBytes
	drained := s.lowWater == s.next && seg.size >= s.opts.SegmentBytes/2
	if seg.count > 0 && (full || drained) {
		if err := s.roll(); err != nil {
			s.err = err
			return 0, err
		}
		seg = s.lastSegment()
	}
	if n, err := s.active.Write(frame); err != nil {
		// Leave the file as it was, so later appends stay readable.
		if n > 0 {
			if terr := s.active.Truncate(seg.size); terr != nil {
				s.err = fmt.Errorf("spool: a failed write could not be undone: %w", terr)
			}
		}
		return 0, fmt.Errorf("spool: %w", err)
	}
	seq := s.next
	s.next++
	seg.count++
	seg.size += int64(len(frame))
	s.diskBytes += int64(len(frame))
	s.dirty = true
	select {
	case s.notify <- struct{}{}:
	default:
	}
	if s.opts.SyncAlways {
		s.syncCond.Broadcast() // wake the syncer
		for s.synced <= seq && s.err == nil && !s.closed {
			s.syncCond.Wait()
		}
		if s.synced <= seq {
			if s.err != nil {
				return 0, s.err
			}
			return 0, ErrClosed
		}
	}
	return seq, nil
}

// roll starts a new segment. The caller holds mu.
func (s *Spool) roll() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.active.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	seg := &segment{first: s.next, path: s.segmentPath(s.next)}
	f, err := os.OpenFile(seg.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.active = f
	s.segs = append(s.segs, seg)
	s.collectLocked()
	return s.syncDir()
}

func (s *Spool) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// groupCommit serves SyncAlways appenders: one fsync covers every record
// written before it started.
func (s *Spool) groupCommit() {
	defer s.wg.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for s.synced >= s.next && !s.closed {
			s.syncCond.Wait()
		}
		if s.closed {
			return
		}
		target, f := s.next, s.active
		s.syncMu.Lock()
		s.mu.Unlock()
		err := f.Sync()
		s.syncMu.Unlock()
		s.mu.Lock()
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("spool: sync: %w", err)
		}
		if err == nil && target > s.synced {
			s.synced = target
		}
		s.syncCond.Broadcast()
		if s.err != nil {
			return
		}
	}
}

// syncEvery flushes appends and the cursor every SyncInterval.
func (s *Spool) syncEvery() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Sync(); err != nil {
				s.log.Error("spool: sync failed", "err", err)
			}
		}
	}
}

// Sync flushes appended records and the cursor to stable storage.
func (s *Spool) Sync() error {
	s.mu.Lock()
	if !s.dirty || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.dirty = false
	target, f, c := s.next, s.active, s.cursor
	s.syncMu.Lock()
	s.mu.Unlock()
	err := errors.Join(f.Sync(), c.Sync())
	s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.dirty = true
		return fmt.Errorf("spool: sync: %w", err)
	}
	s.synced = max(s.synced, target)
	return nil
}

// Notify is signalled (without blocking) after each append.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

// Ack marks records as delivered. Segments whose records are all
// acknowledged are deleted.
func (s *Spool) Ack(seqs ...uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	moved := false
	for _, seq := range seqs {
		if seq < s.lowWater || seq >= s.next {
			continue
		}
		if seq == s.lowWater {
			s.lowWater++
			moved = true
			continue
		}
		s.ackedAbove[seq] = struct{}{}
	}
	if !moved {
		return nil
	}
	for {
		s.skipGaps()
		if _, ok := s.ackedAbove[s.lowWater]; !ok {
			break
		}
		delete(s.ackedAbove, s.lowWater)
		s.lowWater++
	}
	s.dirty = true
	if err := s.writeCursor(); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	return s.collectLocked()
}

// collectLocked deletes full segments that are entirely acknowledged.
func (s *Spool) collectLocked() error {
	var errs []error
	for len(s.segs) > 1 && s.segs[0].end() <= s.lowWater {
		seg := s.segs[0]
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("spool: %w", err))
			break
		}
		s.diskBytes -= seg.size
		s.segs = s.segs[1:]
	}
	return errors.Join(errs...)
}

// Stats describe the spool.
type Stats struct {
	// Depth is the number of records not yet acknowledged.
	Depth int64
	// Bytes is the size of the segment files on disk.
	Bytes int64
}

// Stats returns the current depth and size.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Depth: s.depthLocked(), Bytes: s.diskBytes}
}

func (s *Spool) depthLocked() int64 {
	n := int64(s.next-s.lowWater) - int64(len(s.ackedAbove))
	for _, g := range s.gaps {
		n -= int64(g.to - g.from)
	}
	return n
}

// skipGaps moves lowWater past the gaps it has reached: their records are
// lost, and nothing will acknowledge them. The caller holds mu.
func (s *Spool) skipGaps() {
	for len(s.gaps) > 0 && s.gaps[0].from <= s.lowWater {
		s.lowWater = max(s.lowWater, s.gaps[0].to)
		s.gaps = s.gaps[1:]
	}
}

// Err returns the error that stopped the spool accepting appends, if any.
func (s *Spool) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close syncs and closes the spool. Records not acknowledged are read
// again by the next Open.
func (s *Spool) Close() error {
	err := s.Sync()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.syncCond.Broadcast()
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(err, s.writeCursor(), s.cursor.Sync(), s.closeFiles())
}

func (s *Spool) closeFiles() error {
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Close())
	}
	if s.cursor != nil {
		errs = append(errs, s.cursor.Close())
	}
	return errors.Join(errs...)
}

// Reader reads records in order, from the oldest not acknowledged when it
// was created. Only one goroutine may use a Reader.
type Reader struct {
	s    *Spool
	seq  uint64 // next sequence to read
	f    *os.File
	fseg uint64 // first sequence of the open segment
	fr   frameReader
}

// Reader returns a reader positioned at the oldest unacknowledged record.
func (s *Spool) Reader() *Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Reader{s: s, seq: s.lowWater}
}

// Next returns up to max records appended and not yet returned (none when
// the reader has caught up).
func (r *Reader) Next(max int) ([]Record, error) {
	var out []Record
	for len(out) < max {
		r.s.mu.Lock()
		if r.s.closed {
			r.s.mu.Unlock()
			return out, ErrClosed
		}
		if r.seq >= r.s.next {
			r.s.mu.Unlock()
			return out, nil
		}
		var seg segment
		found := false
		for _, sg := range r.s.segs {
			if r.seq >= sg.first && r.seq < sg.end() {
				seg, found = *sg, true
				break
			}
		}
		if !found && r.seq < r.s.lowWater {
			r.seq = r.s.lowWater
			r.s.mu.Unlock()
			continue
		}
		if !found {
			// In a gap (records lost with a damaged segment): go on
			// with the next segment.
			for _, sg := range r.s.segs {
				if sg.first > r.seq {
					r.seq, found = sg.first, true
					break
				}
			}
			if found {
				r.s.mu.Unlock()
				continue
			}
		}
		r.s.mu.Unlock()
		if !found {
			return out, fmt.Errorf("spool: record %d is in no segment", r.seq)
		}
		if r.f == nil || r.fseg != seg.first {
			if err := r.open(&seg); err != nil {
				return out, err
			}
		}
		r.fr.limit = seg.size
		data, err := r.fr.next()
		if err != nil {
			return out, fmt.Errorf("spool: reading record %d: %w", r.seq, err)
		}
		out = append(out, Record{Seq: r.seq, Data: data})
		r.seq++
	}
	return out, nil
}

// open positions the reader at r.seq inside seg.
func (r *Reader) open(seg *segment) error {
	r.Close()
	f, err := os.Open(seg.path)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	r.f, r.fseg = f, seg.first
	r.fr = frameReader{f: f, limit: seg.size}
	for i := seg.first; i < r.seq; i++ {
		if _, err := r.fr.next(); err != nil {
			return fmt.Errorf("spool: skipping to record %d: %w", r.seq, err)
		}
	}
	return nil
}

// Close releases the reader's file.
func (r *Reader) Close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// frameReader reads frames from a segment file, from offset off, through
// a buffer of whole chunks (one read for many small records).
type frameReader struct {
	f   *os.File
	off int64 // offset of the next frame
	// limit, when set, is the end of what was committed: bytes past it may
	// be a write in progress (or one undone), so they are never buffered.
	limit int64
	buf   []byte // file bytes from at
	at    int64
}

var errCorrupt = errors.New("corrupt record")

const readChunk = 64 << 10

// window returns n bytes at off, reading more of the file when the buffer
// does not hold them; fewer than n at the end of the file.
func (fr *frameReader) window(off int64, n int) ([]byte, error) {
	if off >= fr.at && off+int64(n) <= fr.at+int64(len(fr.buf)) {
		return fr.buf[off-fr.at : off-fr.at+int64(n)], nil
	}
	size := max(n, readChunk)
	if fr.limit > 0 {
		size = int(max(min(int64(size), fr.limit-off), 0))
	}
	if cap(fr.buf) < size {
		fr.buf = make([]byte, size)
	}
	fr.buf = fr.buf[:size]
	m, err := fr.f.ReadAt(fr.buf, off)
	fr.buf, fr.at = fr.buf[:m], off
	if m >= n {
		return fr.buf[:n], nil
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	return fr.buf, nil
}

func (fr *frameReader) next() ([]byte, error) {
	h, err := fr.window(fr.off, headerLen)
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, io.EOF
	}
	if len(h) < headerLen {
		return nil, io.ErrUnexpectedEOF
	}
	size := binary.LittleEndian.Uint32(h[0:4])
	sum := binary.LittleEndian.Uint32(h[4:8])
	if size > maxRecordLen {
		return nil, errCorrupt
	}
	frame, err := fr.window(fr.off, headerLen+int(size))
	if err != nil {
		return nil, err
	}
	if len(frame) < headerLen+int(size) {
		return nil, io.ErrUnexpectedEOF
	}
	data := bytes.Clone(frame[headerLen:])
	if crc32.Checksum(data, crcTable) != sum {
		return nil, errCorrupt
	}
	fr.off += headerLen + int64(size)
	return data, nil
}
