package tenantstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/tenant"
)

// Follower keeps a replica on the store's latest revision: it watches the
// revision key, builds each new revision (fetching only the parts and
// modules it does not have) and hands the tenant to Apply, which swaps it
// in. A revision that cannot be built or applied leaves the replica on the
// one it serves; Ready says so, Report is told, and the build is retried
// with a growing delay until it succeeds or a newer revision comes.
type Follower struct {
	store *Store
	cfg   FollowConfig
	log   *slog.Logger

	mu      sync.Mutex
	serving Revision
	failed  *Outcome

	building sync.Mutex // one build at a time, with builder
	builder  *tenant.Builder
}

// FollowConfig is what a Follower needs.
type FollowConfig struct {
	// Dir keeps what the replica fetched: parts (Dir/parts) and modules
	// (Dir/modules), so that a restart fetches only what changed.
	Dir string
	// Tenant are options for every build (where hook secrets are read).
	Tenant []tenant.Option
	Log    *slog.Logger
	// Retry is the first delay before a failed revision is tried again
	// (default 1s); it doubles up to a minute.
	Retry time.Duration
}

// Apply swaps a built tenant in: the issuer's Reload, with its keys.
type Apply func(ctx context.Context, r Revision, t *tenant.Tenant) error

// Report is told the outcome of every revision a follower tried, applied
// or not (for the tenant-reloaded event).
type Report func(ctx context.Context, o Outcome)

// Outcome is what came of one revision on this replica.
type Outcome struct {
	Revision Revision
	// Tenant is what was applied; nil with Err.
	Tenant *tenant.Tenant
	Err    error
	Took   time.Duration
}

// Follow returns a follower of s. Call Load, then Run.
func (s *Store) Follow(cfg FollowConfig) *Follower {
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Follower{store: s, cfg: cfg, log: log, builder: tenant.NewBuilder()}
}

// Load builds the latest revision, for the replica to start with, and
// records it as the one served. It applies nothing.
func (f *Follower) Load(ctx context.Context) (Revision, *tenant.Tenant, error) {
	r, err := f.store.Head(ctx)
	if err != nil {
		return Revision{}, nil, err
	}
	t, err := f.Build(ctx, r)
	if err != nil {
		return Revision{}, nil, err
	}
	f.mu.Lock()
	f.serving = r
	f.mu.Unlock()
	f.prune(r)
	return r, t, nil
}

// Serving is the revision the replica serves.
func (f *Follower) Serving() Revision {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.serving
}

// Ready is an advisory readiness check: nil while the replica serves the
// latest revision it saw, else why it serves an older one.
func (f *Follower) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed == nil || f.failed.Revision.Number <= f.serving.Number {
		return nil
	}
	r := f.failed.Revision
	return fmt.Errorf("serving tenant revision %d: revision %d (pushed by %s) cannot be applied, retrying: %v",
		f.serving.Number, r.Number, r.By, f.failed.Err)
}

// Build builds revision r's tenant, fetching the parts and modules Dir
// lacks, and decoding only the parts the previous build did not have. It
// swaps nothing in.
func (f *Follower) Build(ctx context.Context, r Revision) (*tenant.Tenant, error) {
	f.building.Lock()
	defer f.building.Unlock()
	parts := make([]tenant.Part, len(r.Parts))
	dir := filepath.Join(f.cfg.Dir, "parts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tenantstore: %w", err)
	}
	err := forEach(ctx, len(r.Parts), func(ctx context.Context, i int) error {
		ref := r.Parts[i]
		parts[i] = tenant.Part{Section: ref.Section, Entries: ref.Entries, Key: ref.Digest}
		if i > 0 && f.builder.Has(ref.Digest) {
			return nil
		}
		// The base as YAML; a list part compiled (what builds fastest).
		key := ref.Digest
		if ref.Compiled != "" {
			key = ref.Compiled
		}
		data, err := f.cached(ctx, dir, key)
		if ref.Compiled != "" {
			parts[i].Compiled = data
		} else {
			parts[i].Data = data
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	modules := filepath.Join(f.cfg.Dir, "modules")
	resolve := func(ref string) (string, string, error) {
		digest := ref
		if !validDigest(ref) {
			d, err := f.store.ModuleDigest(ctx, ref)
			if err != nil {
				return "", "", err
			}
			digest = d
		}
		path, err := f.store.FetchModule(ctx, digest, modules)
		return digest, path, err
	}
	opts := append(append([]tenant.Option(nil), f.cfg.Tenant...), tenant.WithModules(resolve))
	return f.builder.Build(parts, fmt.Sprintf("tenant revision %d", r.Number), opts...)
}

// cached reads the part value of key from dir, or else from the store,
// keeping a copy in dir.
func (f *Follower) cached(ctx context.Context, dir, key string) ([]byte, error) {
	path := filepath.Join(dir, key)
	if data, err := os.ReadFile(path); err == nil {
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) == key {
			return data, nil
		}
	}
	data, err := f.store.value(ctx, key)
	if err != nil {
		return nil, err
	}
	return data, writeFile(path, data)
}

// writeFile writes data to path through a temporary file renamed over
// it, so that a reader never sees half a file.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("tenantstore: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("tenantstore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tenantstore: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tenantstore: %w", err)
	}
	return nil
}

// prune removes the parts Dir keeps that r does not use.
func (f *Follower) prune(r Revision) {
	dir := filepath.Join(f.cfg.Dir, "parts")
	keep := map[string]bool{}
	for _, p := range r.Parts {
		for _, k := range p.keys() {
			keep[k] = true
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Run follows the store until ctx is done, giving apply every revision
// newer than the one served, and report (when not nil) what came of each.
func (f *Follower) Run(ctx context.Context, apply Apply, report Report) error {
	w, err := f.store.revs.KV.Watch(ctx, revisionKey)
	if err != nil {
		return fmt.Errorf("tenantstore: watching the tenant: %w", err)
	}
	defer w.Stop()
	var (
		pending *Revision // the latest revision not applied
		retry   <-chan time.Time
		delay   = f.cfg.Retry
	)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("tenantstore: the watch of the tenant ended")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut || e.Revision() <= f.Serving().Number {
				continue
			}
			r, err := decodeRevision(e.Value(), e.Revision())
			if err != nil {
				f.fail(ctx, report, Outcome{Revision: Revision{Number: e.Revision()}, Err: err})
				continue
			}
			pending, delay, retry = &r, f.cfg.Retry, nil
		case <-retry:
			retry = nil
		}
		if pending == nil || retry != nil {
			continue
		}
		// Coalesce: a newer revision already waiting replaces this one.
		if newer := f.latest(w, pending); newer != nil {
			pending = newer
		}
		if f.apply(ctx, *pending, apply, report) {
			pending = nil
			continue
		}
		retry = time.After(delay)
		delay = min(2*delay, time.Minute)
	}
}

// latest takes what the watch has ready without waiting, and returns the
// newest revision among it (nil if none is newer than r).
func (f *Follower) latest(w jetstream.KeyWatcher, r *Revision) *Revision {
	var newest *Revision
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return newest
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut || e.Revision() <= r.Number {
				continue
			}
			if n, err := decodeRevision(e.Value(), e.Revision()); err == nil {
				newest = &n
			}
		default:
			return newest
		}
	}
}

// apply builds and applies r, and reports whether it now serves.
func (f *Follower) apply(ctx context.Context, r Revision, apply Apply, report Report) bool {
	start := time.Now()
	t, err := f.Build(ctx, r)
	if err == nil {
		err = apply(ctx, r, t)
	}
	o := Outcome{Revision: r, Err: err, Took: time.Since(start)}
	if err != nil {
		f.fail(ctx, report, o)
		return false
	}
	o.Tenant = t
	f.mu.Lock()
	f.serving, f.failed = r, nil
	f.mu.Unlock()
	f.prune(r)
	f.log.Info("tenant revision applied", "revision", r.Number, "by", r.By, "clients", len(t.Clients), "took", o.Took.Round(time.Microsecond))
	if report != nil {
		report(ctx, o)
	}
	return true
}

// fail records that o's revision cannot be applied. A retry that fails
// the same way is logged at debug level and not reported again.
func (f *Follower) fail(ctx context.Context, report Report, o Outcome) {
	f.mu.Lock()
	again := f.failed != nil && f.failed.Revision.Number == o.Revision.Number && f.failed.Err.Error() == o.Err.Error()
	f.failed = &o
	serving := f.serving.Number
	f.mu.Unlock()
	if again {
		f.log.Debug("tenant revision still cannot be applied", "revision", o.Revision.Number, "err", o.Err)
		return
	}
	f.log.Error("tenant revision cannot be applied; the previous one keeps serving", "revision", o.Revision.Number, "by", o.Revision.By, "serving", serving, "err", o.Err)
	if report != nil {
		report(ctx, o)
	}
}
