package tenantstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/scopeline/scopeline/engine/internal/jskv"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Names and sizes of what the store keeps in JetStream.
const (
	// DefaultBucket keeps the revision pointer (key "revision", with
	// History values); DefaultBucket + "_parts" keeps the parts, by digest.
	DefaultBucket = "scopeline_tenant"
	// DefaultModules is the object store of hook modules.
	DefaultModules = "scopeline_modules"
	// History is how many revisions the store keeps (the most JetStream
	// keeps per key).
	History = 64
	// MaxParts bounds a revision's list of parts, which is one value.
	MaxParts = 5000
	// PartGrace is how long a part no revision refers to is kept: a push
	// writes its parts before its revision, and must not lose them to
	// another push's sweep meanwhile.
	PartGrace = 10 * time.Minute
)

const revisionKey = "revision"

// Errors of the store. Compare with errors.Is.
var (
	// ErrConflict: the tenant changed since the revision a push or a
	// rollback read.
	ErrConflict = errors.New("tenantstore: the tenant changed since it was read")
	// ErrNoTenant: nothing was pushed yet.
	ErrNoTenant = errors.New("tenantstore: no tenant in the store (push one with `scopeline tenant push FILE`)")
	// ErrNoRevision: the revision is not in the store's history.
	ErrNoRevision = errors.New("tenantstore: no such revision")
)

// Revision is one pushed tenant: who pushed it and when, and the parts it
// is made of. Number is the key's revision in the bucket, which only grows.
type Revision struct {
	Number uint64 `json:"-"`
	// By is who pushed it, as the pusher said (scopeline tenant push --by);
	// Source the file pushed.
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Source string    `json:"source,omitempty"`
	// RollbackOf is the revision a rollback brought back.
	RollbackOf uint64    `json:"rollback_of,omitempty"`
	Parts      []PartRef `json:"parts"`
	// Modules are the digests of the hook modules the tenant runs.
	Modules []string `json:"modules,omitempty"`
	Counts  Counts   `json:"counts"`
}

// PartRef names a part of a revision: its YAML by Digest, and for a list
// section its compiled form (tenant.Compile) by Compiled, which is what
// replicas fetch.
type PartRef struct {
	Section  string `json:"s,omitempty"`
	Digest   string `json:"d"`
	Compiled string `json:"c,omitempty"`
	Entries  int    `json:"n,omitempty"`
	Size     int    `json:"b"`
}

// keys are the keys of the parts bucket the part uses.
func (p PartRef) keys() []string {
	if p.Compiled == "" {
		return []string{p.Digest}
	}
	return []string{p.Digest, p.Compiled}
}

// Counts are what a revision holds.
type Counts struct {
	APIs    int `json:"apis"`
	Clients int `json:"clients"`
	Grants  int `json:"grants"`
	Users   int `json:"users"`
	Hooks   int `json:"hooks"`
}

// CountsOf counts what t holds.
func CountsOf(t *tenant.Tenant) Counts {
	c := Counts{APIs: len(t.APIs), Clients: len(t.Clients), Grants: len(t.Grants), Users: len(t.Users)}
	for _, p := range t.Pipelines {
		c.Hooks += len(p.Hooks)
	}
	return c
}

// Size is the revision's size as a file, in bytes.
func (r Revision) Size() int {
	n := 0
	for _, p := range r.Parts {
		n += p.Size
	}
	return n
}

// Store is a tenant kept in JetStream: a key-value bucket of parts by
// digest, a key holding the latest revision (a list of parts) with its
// history, and an object store of hook modules (docs/design.md, "The
// tenant in the cluster").
type Store struct {
	revs    *jskv.Bucket
	parts   *jskv.Bucket
	modules jetstream.ObjectStore
	now     func() time.Time
}

// Option configures Open.
type Option func(*config)

type config struct {
	bucket, modules string
	replicas        int
	now             func() time.Time
}

// WithBucket names the buckets (default DefaultBucket; the parts are in
// NAME_parts).
func WithBucket(name string) Option { return func(c *config) { c.bucket = name } }

// WithModuleStore names the object store of hook modules (default
// DefaultModules).
func WithModuleStore(name string) Option { return func(c *config) { c.modules = name } }

// WithReplicas sets how many servers keep each bucket: 1, or 3 in a
// cluster. Without it, existing buckets are taken as they are and new ones
// get 1 (for the command line, which does not create the store).
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithClock sets the clock revisions are dated by (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Open creates the store's buckets or checks that they have the settings
// it needs; an existing bucket is never changed.
func Open(ctx context.Context, js jetstream.JetStream, opts ...Option) (*Store, error) {
	c := config{bucket: DefaultBucket, modules: DefaultModules, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if c.replicas == 0 {
		c.replicas = 1
		if st, err := js.Stream(ctx, "KV_"+c.bucket); err == nil {
			c.replicas = st.CachedInfo().Config.Replicas
		}
	}
	revs, err := jskv.Ensure(ctx, js, jskv.Spec{
		Bucket: c.bucket, Description: "Scopeline tenant revisions", Replicas: c.replicas, History: History,
	})
	if err != nil {
		return nil, fmt.Errorf("tenantstore: %w", err)
	}
	parts, err := jskv.Ensure(ctx, js, jskv.Spec{
		Bucket: c.bucket + "_parts", Description: "Scopeline tenant parts, by SHA-256", Replicas: c.replicas, History: 1, Direct: true,
	})
	if err != nil {
		return nil, fmt.Errorf("tenantstore: %w", err)
	}
	modules, err := ensureObjectStore(ctx, js, c.modules, c.replicas)
	if err != nil {
		return nil, err
	}
	return &Store{revs: revs, parts: parts, modules: modules, now: c.now}, nil
}

func ensureObjectStore(ctx context.Context, js jetstream.JetStream, name string, replicas int) (jetstream.ObjectStore, error) {
	os, err := js.ObjectStore(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		err = jskv.WhilePlacing(ctx, func() (err error) {
			os, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
				Bucket: name, Description: "Scopeline hook modules, by SHA-256", Replicas: replicas, Storage: jetstream.FileStorage,
			})
			return err
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			os, err = js.ObjectStore(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("tenantstore: object store %s: %w", name, err)
	}
	st, err := os.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenantstore: object store %s: %w", name, err)
	}
	stream, err := js.Stream(ctx, "OBJ_"+name) // the object store's stream, as nats.go names it
	if err == nil {
		err = jskv.WaitLeader(ctx, stream)
	}
	if err != nil {
		return nil, fmt.Errorf("tenantstore: object store %s: %w", name, err)
	}
	if st.Replicas() != replicas {
		return nil, fmt.Errorf("tenantstore: object store %s exists with other settings: replicas is %d, want %d (change the bucket or the configuration; Scopeline does not alter an existing bucket)", name, st.Replicas(), replicas)
	}
	return os, nil
}

// Head returns the latest revision (ErrNoTenant when none was pushed).
func (s *Store) Head(ctx context.Context) (Revision, error) {
	e, err := s.revs.Get(ctx, revisionKey)
	if errors.Is(err, jskv.ErrNoKey) || err == nil && e.Deleted {
		return Revision{}, ErrNoTenant
	}
	if err != nil {
		return Revision{}, fmt.Errorf("tenantstore: %w", err)
	}
	return decodeRevision(e.Value, e.Revision)
}

func decodeRevision(value []byte, number uint64) (Revision, error) {
	var r Revision
	if err := json.Unmarshal(value, &r); err != nil {
		return Revision{}, fmt.Errorf("tenantstore: revision %d: %w", number, err)
	}
	if len(r.Parts) == 0 || r.Parts[0].Section != "" {
		return Revision{}, fmt.Errorf("tenantstore: revision %d has no base part", number)
	}
	r.Number = number
	return r, nil
}

// Get returns revision n, if the store still has it.
func (s *Store) Get(ctx context.Context, n uint64) (Revision, error) {
	e, err := s.revs.KV.GetRevision(ctx, revisionKey, n)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Revision{}, fmt.Errorf("%w: %d (the store keeps the last %d; see `scopeline tenant history`)", ErrNoRevision, n, History)
	}
	if err != nil {
		return Revision{}, fmt.Errorf("tenantstore: revision %d: %w", n, err)
	}
	return decodeRevision(e.Value(), e.Revision())
}

// History returns the revisions the store keeps, oldest first.
func (s *Store) History(ctx context.Context) ([]Revision, error) {
	es, err := s.revs.KV.History(ctx, revisionKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tenantstore: history: %w", err)
	}
	out := make([]Revision, 0, len(es))
	for _, e := range es {
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		r, err := decodeRevision(e.Value(), e.Revision())
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Push stores a tenant, cut into parts (tenant.Split) and compiled
// (tenant.Compile), as the revision after expect: the revision the pusher
// read before it validated the file (0: the store must be empty). When
// another revision was pushed meanwhile, nothing is changed and the error
// wraps ErrConflict, naming it. Parts the store has are not written again.
func (s *Store) Push(ctx context.Context, parts []tenant.Part, meta Revision, expect uint64) (Revision, error) {
	if len(parts) == 0 || parts[0].Section != "" {
		return Revision{}, errors.New("tenantstore: the first part must be the base")
	}
	for _, p := range parts[1:] {
		if p.Compiled == nil {
			return Revision{}, errors.New("tenantstore: a list part is not compiled (tenant.Compile)")
		}
	}
	if len(parts) > MaxParts {
		return Revision{}, fmt.Errorf("tenantstore: %d parts, more than %d", len(parts), MaxParts)
	}
	head, err := s.Head(ctx)
	switch {
	case errors.Is(err, ErrNoTenant):
	case err != nil:
		return Revision{}, err
	}
	if head.Number != expect {
		return Revision{}, s.conflict(expect, head)
	}
	have := map[string]bool{}
	for _, p := range head.Parts {
		for _, k := range p.keys() {
			have[k] = true
		}
	}
	r := meta
	r.At = s.now().UTC()
	r.Parts = make([]PartRef, len(parts))
	var missing []jskv.Msg
	for i, p := range parts {
		ref := PartRef{Section: p.Section, Digest: p.Digest(), Entries: p.Entries, Size: len(p.Data)}
		values := [][]byte{p.Data}
		if p.Section != "" {
			ref.Compiled = p.CompiledDigest()
			values = append(values, p.Compiled)
		}
		r.Parts[i] = ref
		for j, k := range ref.keys() {
			if !have[k] {
				have[k] = true
				missing = append(missing, jskv.Msg{Key: k, Value: values[j], Expect: jskv.Any})
			}
		}
	}
	if err := forEach(ctx, len(missing), func(ctx context.Context, i int) error {
		if _, err := s.parts.Put(ctx, missing[i]); err != nil {
			return fmt.Errorf("tenantstore: writing a part: %w", err)
		}
		return nil
	}); err != nil {
		return Revision{}, err
	}
	return s.write(ctx, r, expect, head)
}

// write writes r as the revision after expect.
func (s *Store) write(ctx context.Context, r Revision, expect uint64, head Revision) (Revision, error) {
	value, err := json.Marshal(r)
	if err != nil {
		return Revision{}, err
	}
	n, err := s.revs.Put(ctx, jskv.Msg{Key: revisionKey, Value: value, Expect: expect})
	if errors.Is(err, jskv.ErrConflict) {
		now, herr := s.Head(ctx)
		if herr != nil {
			now = head
		}
		return Revision{}, s.conflict(expect, now)
	}
	if err != nil {
		return Revision{}, fmt.Errorf("tenantstore: writing the revision: %w", err)
	}
	r.Number = n
	return r, nil
}

func (s *Store) conflict(expect uint64, head Revision) error {
	if expect == 0 {
		return fmt.Errorf("%w: it was empty, and revision %d was pushed by %s at %s meanwhile; pull it, merge your change and push again",
			ErrConflict, head.Number, head.By, head.At.Format(time.RFC3339))
	}
	return fmt.Errorf("%w: you read revision %d, and revision %d was pushed by %s at %s meanwhile; pull it, merge your change and push again",
		ErrConflict, expect, head.Number, head.By, head.At.Format(time.RFC3339))
}

// Rollback makes revision n the latest again, as a new revision (so that
// the rollback itself is in the history), if the latest is still expect.
func (s *Store) Rollback(ctx context.Context, n uint64, by string, expect uint64) (Revision, error) {
	old, err := s.Get(ctx, n)
	if err != nil {
		return Revision{}, err
	}
	head, err := s.Head(ctx)
	if err != nil {
		return Revision{}, err
	}
	if head.Number != expect {
		return Revision{}, s.conflict(expect, head)
	}
	// The parts must still be there: a revision at the end of the history
	// may have lost its parts to a sweep.
	var keys []string
	for _, p := range old.Parts {
		keys = append(keys, p.keys()...)
	}
	if err := forEach(ctx, len(keys), func(ctx context.Context, i int) error {
		_, err := s.parts.Get(ctx, keys[i])
		if err != nil {
			return fmt.Errorf("tenantstore: revision %d cannot be brought back: part %s: %w", n, keys[i], err)
		}
		return nil
	}); err != nil {
		return Revision{}, err
	}
	r := old
	r.By, r.At, r.RollbackOf = by, s.now().UTC(), n
	return s.write(ctx, r, expect, head)
}

// Parts fetches the parts of r, checking each against its digest.
func (s *Store) Parts(ctx context.Context, r Revision) ([]tenant.Part, error) {
	out := make([]tenant.Part, len(r.Parts))
	err := forEach(ctx, len(r.Parts), func(ctx context.Context, i int) error {
		p, err := s.part(ctx, r.Parts[i])
		out[i] = p
		return err
	})
	return out, err
}

func (s *Store) part(ctx context.Context, ref PartRef) (tenant.Part, error) {
	data, err := s.value(ctx, ref.Digest)
	return tenant.Part{Section: ref.Section, Entries: ref.Entries, Data: data, Key: ref.Digest}, err
}

// value reads the value of key from the parts bucket, checking it against
// the key, its SHA-256.
func (s *Store) value(ctx context.Context, key string) ([]byte, error) {
	// Parts are read from any server (direct gets). One that has not yet
	// applied a part just written answers no key, and right after the
	// bucket is made no server may answer yet (no responders): wait and
	// ask again, for about a second.
	e, err := s.parts.Get(ctx, key)
	for attempt := 1; attempt < 24 && (errors.Is(err, jskv.ErrNoKey) || errors.Is(err, nats.ErrNoResponders)); attempt++ {
		if berr := jskv.Backoff(ctx, attempt+3); berr != nil {
			return nil, berr
		}
		e, err = s.parts.Get(ctx, key)
	}
	if err != nil {
		return nil, fmt.Errorf("tenantstore: part %s: %w", key, err)
	}
	if sum := sha256.Sum256(e.Value); hex.EncodeToString(sum[:]) != key {
		return nil, fmt.Errorf("tenantstore: part %s does not match its digest", key)
	}
	return e.Value, nil
}

// File returns revision r as a tenant file.
func (s *Store) File(ctx context.Context, r Revision) ([]byte, error) {
	parts, err := s.Parts(ctx, r)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tenant.Join(&buf, parts); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Diff is a unified diff of revision a to revision b, as tenant files.
// Only the parts that differ are fetched: the unchanged parts at both ends
// are left out, and hunks are numbered from the first part that differs.
func (s *Store) Diff(ctx context.Context, a, b Revision) (string, error) {
	pa, pb := a.Parts, b.Parts
	same := func(x, y PartRef) bool { return x.Digest == y.Digest && x.Section == y.Section }
	lead := 0
	for lead < len(pa) && lead < len(pb) && same(pa[lead], pb[lead]) {
		lead++
	}
	trail := 0
	for trail < len(pa)-lead && trail < len(pb)-lead && same(pa[len(pa)-1-trail], pb[len(pb)-1-trail]) {
		trail++
	}
	section := "" // the section the first part that differs continues
	if lead > 0 {
		section = pa[lead-1].Section
	}
	text := func(refs []PartRef) ([]string, error) {
		parts, err := s.Parts(ctx, Revision{Parts: refs})
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := tenant.JoinFrom(&buf, section, parts); err != nil {
			return nil, err
		}
		return difflib.SplitLines(buf.String()), nil
	}
	ta, err := text(pa[lead : len(pa)-trail])
	if err != nil {
		return "", err
	}
	tb, err := text(pb[lead : len(pb)-trail])
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: ta, B: tb, Context: 3,
		FromFile: fmt.Sprintf("revision %d", a.Number), ToFile: fmt.Sprintf("revision %d", b.Number),
	})
}

// Sweep removes parts that no revision in the history refers to and that
// were written more than PartGrace ago. Push does not sweep: the command
// line runs it after a push, and it is safe to run at any time.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	hist, err := s.History(ctx)
	if err != nil {
		return 0, err
	}
	used := map[string]bool{}
	for _, r := range hist {
		for _, p := range r.Parts {
			for _, k := range p.keys() {
				used[k] = true
			}
		}
	}
	lister, err := s.parts.KV.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return 0, nil
		}
		return 0, fmt.Errorf("tenantstore: sweep: %w", err)
	}
	var unused []string
	for k := range lister.Keys() {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	removed := 0
	for _, k := range unused {
		e, err := s.parts.KV.Get(ctx, k)
		if err != nil || s.now().Sub(e.Created()) < PartGrace {
			continue
		}
		if ok, err := s.parts.Delete(ctx, k, e.Revision()); err != nil {
			return removed, fmt.Errorf("tenantstore: sweep: %w", err)
		} else if ok {
			removed++
		}
	}
	return removed, nil
}

// forEach runs f for 0..n-1, eight at a time, and returns the first error.
func forEach(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(ctx, i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// Digest is the module-store name of bin: "sha256:<hex>".
func Digest(bin []byte) string {
	sum := sha256.Sum256(bin)
	return tenant.DigestPrefix + hex.EncodeToString(sum[:])
}

// validDigest reports whether d is "sha256:<64 lower-case hex digits>".
func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, tenant.DigestPrefix)
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// moduleDigests lists the digests of t's stored modules, sorted.
func moduleDigests(t *tenant.Tenant) []string {
	var out []string
	for _, p := range t.Pipelines {
		for _, h := range p.Hooks {
			if h.Digest != "" {
				out = append(out, h.Digest)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
