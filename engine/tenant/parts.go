package tenant

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"runtime"
	"slices"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/scopeline/scopeline/engine/internal/yamlfile"
)

// PartSections are the top-level lists of a tenant file that are stored in
// parts of many entries each; everything else is the base part. They are
// what grows with a tenant (docs/design.md, "The tenant in the cluster").
var PartSections = []string{"apis", "clients", "grants", "roles", "users"}

// Part sizes. A part holds about PartEntries entries (its boundaries are
// chosen by the content of the entries, so that adding or removing one
// changes one part, not every part after it) and at most MaxPartSize
// bytes; one entry larger than that is refused.
const (
	PartEntries = 256
	MaxPartSize = 256 << 10
	// MaxBaseSize bounds the base part (everything but the lists).
	MaxBaseSize = 768 << 10
)

// Part is a piece of a tenant file: the base (Section "", every top-level
// key but the PartSections) or a run of consecutive entries of one
// section, as YAML. Parts are content-addressed by Digest.
type Part struct {
	Section string
	Entries int
	Data    []byte
	// Key is the part's digest when known (Builder.Build takes a part
	// with a Key and no Data when it has it decoded already).
	Key string
}

// Digest is the part's SHA-256, in hex.
func (p Part) Digest() string {
	sum := sha256.Sum256(p.Data)
	return hex.EncodeToString(sum[:])
}

// SplitOption changes how Split reads a file.
type SplitOption func(*splitOptions)

type splitOptions struct {
	moduleRef func(ref string) (string, error)
}

// WithModuleRefs rewrites each hook's `module:` that names the cluster's
// module store (IsModuleRef) to what rewrite returns: `tenant push` stores
// digests, never names, so that a revision always means the same modules.
func WithModuleRefs(rewrite func(ref string) (string, error)) SplitOption {
	return func(o *splitOptions) { o.moduleRef = rewrite }
}

// Split cuts a tenant file into parts: the base, then the entries of each
// of the PartSections it has, in file order. Validate the file first
// (Parse); Split only cuts. Joining the parts (Join) gives back the file,
// normalised (YAML re-encoded with its comments, two-space indents).
func Split(data []byte, name string, opts ...SplitOption) ([]Part, error) {
	var o splitOptions
	for _, opt := range opts {
		opt(&o)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a tenant file is a mapping", name)
	}
	root := doc.Content[0]
	if o.moduleRef != nil {
		if err := rewriteModules(root, o.moduleRef); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	base := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: root.HeadComment, FootComment: root.FootComment}
	var sections []Part
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, val := root.Content[i], root.Content[i+1]
		if !slices.Contains(PartSections, k.Value) || val.Kind != yaml.SequenceNode || len(val.Content) == 0 {
			base.Content = append(base.Content, k, val)
			continue
		}
		parts, err := splitSection(k.Value, val.Content)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		sections = append(sections, parts...)
	}
	b := Part{}
	if len(base.Content) > 0 || base.HeadComment != "" {
		doc.Content[0] = base
		var err error
		if b.Data, err = encodeYAML(&doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(b.Data) > MaxBaseSize {
		return nil, fmt.Errorf("%s: the tenant without its lists (%s) is %d bytes, more than %d", name, PartSections, len(b.Data), MaxBaseSize)
	}
	return append([]Part{b}, sections...), nil
}

// splitSection cuts one section's entries into parts. A part ends after an
// entry whose hash is 0 modulo PartEntries, or before one that would take
// it past MaxPartSize: boundaries that depend on the entries alone, so an
// edit changes the part it is in (and, rarely, its neighbour) only.
func splitSection(section string, items []*yaml.Node) ([]Part, error) {
	var parts []Part
	cur := Part{Section: section}
	for i, item := range items {
		text, err := encodeYAML(&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{item}})
		if err != nil {
			return nil, err
		}
		if len(text) > MaxPartSize {
			return nil, fmt.Errorf("%s[%d] (line %d): %d bytes, more than the %d an entry may take", section, i, item.Line, len(text), MaxPartSize)
		}
		if cur.Entries > 0 && len(cur.Data)+len(text) > MaxPartSize {
			parts = append(parts, cur)
			cur = Part{Section: section}
		}
		cur.Data = append(cur.Data, text...)
		cur.Entries++
		h := fnv.New32a()
		h.Write(text)
		if h.Sum32()%PartEntries == 0 {
			parts = append(parts, cur)
			cur = Part{Section: section}
		}
	}
	if cur.Entries > 0 {
		parts = append(parts, cur)
	}
	return parts, nil
}

func encodeYAML(n *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// rewriteModules rewrites pipelines.*.hooks[*].module where it names the
// module store.
func rewriteModules(root *yaml.Node, rewrite func(string) (string, error)) error {
	pipelines := mapValue(root, "pipelines")
	if pipelines == nil || pipelines.Kind != yaml.MappingNode {
		return nil
	}
	var errs []error
	for i := 1; i < len(pipelines.Content); i += 2 {
		hooks := mapValue(pipelines.Content[i], "hooks")
		if hooks == nil || hooks.Kind != yaml.SequenceNode {
			continue
		}
		for _, h := range hooks.Content {
			m := mapValue(h, "module")
			if m == nil || m.Kind != yaml.ScalarNode || !IsModuleRef(m.Value) {
				continue
			}
			ref, err := rewrite(m.Value)
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: module: %w", m.Line, err))
				continue
			}
			m.Value = ref
		}
	}
	return errors.Join(errs...)
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Join writes the tenant file the parts make: the base, then each
// section's entries under its key.
func Join(w io.Writer, parts []Part) error { return JoinFrom(w, "", parts) }

// JoinFrom is Join for parts that continue section (a part of it was
// written before them): its key is not written again.
func JoinFrom(w io.Writer, section string, parts []Part) error {
	for _, p := range parts {
		if p.Section != section && p.Section != "" {
			section = p.Section
			if _, err := fmt.Fprintf(w, "%s:\n", section); err != nil {
				return err
			}
		}
		if _, err := w.Write(p.Data); err != nil {
			return err
		}
	}
	return nil
}

// Build validates a tenant from its parts, as Parse validates a file, with
// the same rules and all errors at once; source names it in errors (a
// revision of the store), which give the line only for the base part.
// It is NewBuilder(opts...).Build(parts, source).
func Build(parts []Part, source string, opts ...Option) (*Tenant, error) {
	return NewBuilder().Build(parts, source, opts...)
}

// Builder builds tenants from parts, keeping the parts of its last build
// decoded, so that the next build decodes only the parts that changed:
// decoding YAML is most of the cost of a build, and a push that changes
// one client changes one part. Parts are decoded in parallel, each on its
// own, so no YAML tree of the whole tenant is ever held: that tree, not
// the tenant, was what made a large tenant file heavy to load
// (docs/design.md, "The tenant in the cluster").
//
// A Builder is safe for one goroutine at a time.
type Builder struct {
	decoded map[string]any // part digest → []fileAPI, []fileClient, ...
}

// NewBuilder returns a builder holding nothing decoded yet.
func NewBuilder() *Builder { return &Builder{decoded: map[string]any{}} }

// Has reports whether the builder holds the part of digest decoded: a
// build may then pass it with no Data.
func (b *Builder) Has(digest string) bool {
	_, ok := b.decoded[digest]
	return ok
}

// Build validates a tenant from parts, with opts. A part after the base
// may come with Key set and no Data when Has(Key).
func (b *Builder) Build(parts []Part, source string, opts ...Option) (*Tenant, error) {
	if len(parts) == 0 || parts[0].Section != "" {
		return nil, fmt.Errorf("%s: the first part must be the base", source)
	}
	o := defaultOptions(opts)
	var root yaml.Node
	if err := yaml.Unmarshal(parts[0].Data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", source, err)
	}
	if root.Kind == 0 {
		root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	if err := processSettings(source, &root); err != nil {
		return nil, err
	}
	var f file
	var errs []error
	if err := decodeStrict(parts[0].Data, &f); err != nil {
		errs = append(errs, yamlfile.DecodeError(source+" (base)", err, "tenant", sectionOf))
	}
	decoded, derrs := b.decode(parts[1:], source)
	errs = append(errs, derrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i, p := range parts[1:] {
		f.appendSection(p.Section, decoded[i])
	}
	v := &validator{Checker: yamlfile.Checker{Name: source, Root: &root, Unlined: PartSections}, opts: o}
	t := v.tenant(&f)
	if err := v.Err(); err != nil {
		// Keep what was decoded: the next revision likely shares most of it.
		for i, p := range parts[1:] {
			b.decoded[p.key()] = decoded[i]
		}
		return nil, err
	}
	b.decoded = make(map[string]any, len(parts))
	for i, p := range parts[1:] {
		b.decoded[p.key()] = decoded[i]
	}
	t.Source = source
	return t, nil
}

func (p Part) key() string {
	if p.Key != "" {
		return p.Key
	}
	return p.Digest()
}

// decode decodes the parts the builder lacks, a few at a time, and
// returns every part's entries in order.
func (b *Builder) decode(parts []Part, source string) ([]any, []error) {
	out := make([]any, len(parts))
	errs := make([]error, len(parts))
	var todo []int
	for i, p := range parts {
		if d, ok := b.decoded[p.key()]; ok {
			out[i] = d
			continue
		}
		todo = append(todo, i)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p := parts[i]
				d, err := decodeSection(p)
				if err != nil {
					errs[i] = yamlfile.DecodeError(fmt.Sprintf("%s (part %d, %s)", source, i+1, p.Section), err, "tenant", sectionOf)
				}
				out[i] = d
			}
		}()
	}
	for _, i := range todo {
		work <- i
	}
	close(work)
	wg.Wait()
	return out, slices.DeleteFunc(errs, func(e error) bool { return e == nil })
}

func decodeStrict(data []byte, into any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// decodeSection decodes a part's entries.
func decodeSection(p Part) (any, error) {
	if p.Data == nil {
		return nil, fmt.Errorf("part %s has no data", p.Key)
	}
	switch p.Section {
	case "apis":
		return decodeList[fileAPI](p.Data)
	case "clients":
		return decodeList[fileClient](p.Data)
	case "grants":
		return decodeList[fileGrant](p.Data)
	case "roles":
		return decodeList[fileRole](p.Data)
	case "users":
		return decodeList[fileUser](p.Data)
	}
	return nil, fmt.Errorf("unknown section %q", p.Section)
}

func decodeList[T any](data []byte) ([]T, error) {
	var items []T
	err := decodeStrict(data, &items)
	return items, err
}

// appendSection appends entries decoded by decodeSection to their section.
func (f *file) appendSection(section string, entries any) {
	switch section {
	case "apis":
		f.APIs = append(f.APIs, entries.([]fileAPI)...)
	case "clients":
		f.Clients = append(f.Clients, entries.([]fileClient)...)
	case "grants":
		f.Grants = append(f.Grants, entries.([]fileGrant)...)
	case "roles":
		f.Roles = append(f.Roles, entries.([]fileRole)...)
	case "users":
		f.Users = append(f.Users, entries.([]fileUser)...)
	}
}
