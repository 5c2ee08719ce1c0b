package tenant

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strings"
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
	// Compiled is the part's entries decoded and encoded as JSON
	// (Compile), which replicas decode many times faster than YAML.
	Compiled []byte
	// Line and Lines are where the part comes from in the file Split
	// read: its first line and the line of each entry, or for the base
	// the line of each of its lines. Errors of a Build at push name them;
	// they are not stored.
	Line    int
	Lines   []int
	offsets []int // where each entry starts in Data
}

// Digest is the part's SHA-256, in hex.
func (p Part) Digest() string {
	sum := sha256.Sum256(p.Data)
	return hex.EncodeToString(sum[:])
}

// CompiledDigest is the SHA-256 of the compiled form, in hex.
func (p Part) CompiledDigest() string {
	sum := sha256.Sum256(p.Compiled)
	return hex.EncodeToString(sum[:])
}

// sectionKey matches a top-level key that starts a block-style list
// section: the key, a colon, and nothing after it but a comment.
var sectionKey = regexp.MustCompile(`^(apis|clients|grants|roles|users):[ \t]*(#.*)?\r?\n?$`)

// Split cuts a tenant file into parts: the base, then the entries of each
// of the PartSections it has, in file order. It reads lines, not YAML: a
// list section written in block style (`clients:` alone on its line, one
// `- ` per entry at one indentation) is cut at its entries, keeping their
// text as written (comments too); anything else stays in the base.
// Building the parts (Builder.Build) validates them; Split only cuts, so
// it never holds a YAML tree of the whole file. Joining the parts (Join)
// gives back the file, with the list sections after the rest.
func Split(data []byte, name string) ([]Part, error) {
	lines := splitLines(data)
	var (
		base    Part
		parts   []Part
		seen    = map[string]bool{}
		addBase = func(from, to int) {
			for i := from; i < to; i++ {
				base.Data = append(base.Data, lines[i]...)
				base.Lines = append(base.Lines, i+1)
			}
		}
	)
	topLevel := func(l []byte) bool {
		return len(l) > 0 && !strings.ContainsRune(" \t#-\r\n", rune(l[0])) && !bytes.HasPrefix(l, []byte("..."))
	}
	i := 0
	for i < len(lines) {
		end := i + 1
		for end < len(lines) && !topLevel(lines[end]) {
			end++
		}
		m := sectionKey.FindSubmatch(lines[i])
		if !topLevel(lines[i]) || m == nil {
			addBase(i, end)
			i = end
			continue
		}
		section := string(m[1])
		if seen[section] {
			return nil, fmt.Errorf("%s:%d: %s: the key appears twice", name, i+1, section)
		}
		seen[section] = true
		sp, ok, err := splitSection(section, lines, i+1, end)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if ok {
			parts = append(parts, sp...)
		} else {
			addBase(i, end)
		}
		i = end
	}
	if len(base.Data) > MaxBaseSize {
		return nil, fmt.Errorf("%s: the tenant without its lists in block style (%s) is %d bytes, more than %d", name, PartSections, len(base.Data), MaxBaseSize)
	}
	return append([]Part{base}, parts...), nil
}

// splitLines cuts data after each newline; the last line gets one.
func splitLines(data []byte) [][]byte {
	var lines [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, append(data[:len(data):len(data)], '\n'))
			break
		}
		lines = append(lines, data[:i+1])
		data = data[i+1:]
	}
	return lines
}

// splitSection cuts the entries of a section, lines[from:to], into parts,
// or reports !ok when the lines are not one block sequence (they then stay
// in the base). An entry starts at a line of the first entry's indentation
// beginning with "-"; comments and blank lines go with the entry before
// them (the first entry takes those above it). A part ends after an entry
// whose hash is 0 modulo PartEntries, or before one that would take it
// past MaxPartSize: boundaries that depend on the entries alone, so an
// edit changes the part it is in (and, rarely, its neighbour) only.
func splitSection(section string, lines [][]byte, from, to int) ([]Part, bool, error) {
	indent := -1
	var starts []int
	for i := from; i < to; i++ {
		l := lines[i]
		trimmed := bytes.TrimLeft(l, " ")
		if len(bytes.TrimSpace(l)) == 0 || trimmed[0] == '#' {
			continue
		}
		ind := len(l) - len(trimmed)
		isItem := trimmed[0] == '-' && (len(trimmed) == 1 || trimmed[1] == ' ' || trimmed[1] == '\n' || trimmed[1] == '\r')
		switch {
		case indent < 0 && isItem:
			indent = ind
			starts = append(starts, i)
		case indent < 0:
			return nil, false, nil // not a block sequence
		case ind == indent && isItem:
			starts = append(starts, i)
		case ind <= indent:
			return nil, false, nil
		}
	}
	if len(starts) == 0 {
		return nil, false, nil
	}
	starts[0] = from
	var parts []Part
	cur := Part{Section: section, Line: from + 1}
	for k, start := range starts {
		end := to
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		size := 0
		for i := start; i < end; i++ {
			size += len(lines[i])
		}
		if size > MaxPartSize {
			return nil, false, fmt.Errorf("%d: %s[%d]: %d bytes, more than the %d an entry may take", start+1, section, k, size, MaxPartSize)
		}
		if cur.Entries > 0 && len(cur.Data)+size > MaxPartSize {
			parts = append(parts, cur)
			cur = Part{Section: section, Line: start + 1}
		}
		h := fnv.New32a()
		cur.offsets = append(cur.offsets, len(cur.Data))
		for i := start; i < end; i++ {
			cur.Data = append(cur.Data, lines[i]...)
			h.Write(lines[i])
		}
		cur.Entries++
		cur.Lines = append(cur.Lines, firstContent(lines, start, end)+1)
		if h.Sum32()%PartEntries == 0 {
			parts = append(parts, cur)
			cur = Part{Section: section, Line: end + 1}
		}
	}
	if cur.Entries > 0 {
		parts = append(parts, cur)
	}
	return parts, true, nil
}

// firstContent is the first line of lines[from:to] that is neither blank
// nor a comment (from when there is none).
func firstContent(lines [][]byte, from, to int) int {
	for i := from; i < to; i++ {
		t := bytes.TrimSpace(lines[i])
		if len(t) > 0 && t[0] != '#' {
			return i
		}
	}
	return from
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

// RewriteModules rewrites each hook's `module:` in the base part that names
// the cluster's module store (IsModuleRef) to what rewrite returns:
// `tenant push` stores digests, never names, so that a revision always
// means the same modules. A base it changes is re-encoded, and loses its
// Lines: rewrite after validating.
func RewriteModules(base *Part, rewrite func(string) (string, error)) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(base.Data, &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil // the build reports it
	}
	pipelines := mapValue(doc.Content[0], "pipelines")
	if pipelines == nil || pipelines.Kind != yaml.MappingNode {
		return nil
	}
	var errs []error
	changed := false
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
				errs = append(errs, fmt.Errorf("module at line %d: %w", m.Line, err))
				continue
			}
			changed = changed || ref != m.Value
			m.Value = ref
		}
	}
	if len(errs) > 0 || !changed {
		return errors.Join(errs...)
	}
	data, err := encodeYAML(&doc)
	if err != nil {
		return err
	}
	base.Data, base.Lines = data, nil
	return nil
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
	base := parts[0]
	var rootLine func(int) int
	if base.Lines != nil {
		rootLine = func(l int) int {
			if l < 1 || l > len(base.Lines) {
				return 0
			}
			return base.Lines[l-1]
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(base.Data, &root); err != nil {
		if base.Lines != nil {
			err = remapLines(err, base.Lines)
		}
		return nil, fmt.Errorf("%s: %s", source, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if root.Kind == 0 {
		root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	if err := processSettings(source, &root, rootLine); err != nil {
		return nil, err
	}
	var f file
	var errs []error
	if err := decodeStrict(base.Data, &f); err != nil {
		if base.Lines != nil {
			errs = append(errs, yamlfile.DecodeError(source, remapLines(err, base.Lines), "tenant", sectionOf))
		} else {
			errs = append(errs, yamlfile.DecodeError(source+" (base)", err, "tenant", sectionOf))
		}
	}
	decoded, derrs := b.decode(parts[1:], source)
	errs = append(errs, derrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	f.presize(parts[1:])
	for i, p := range parts[1:] {
		f.appendSection(p.Section, decoded[i])
	}
	v := &validator{Checker: yamlfile.Checker{Name: source, Root: &root, Unlined: PartSections, RootLine: rootLine}, opts: o, dir: o.dir}
	if entries := sectionEntries(parts[1:]); entries != nil {
		v.EntryLine = entries.line
	}
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
	forEachPart(len(todo), func(k int) {
		i := todo[k]
		p := parts[i]
		d, err := decodeSection(p)
		switch {
		case err != nil && p.Line > 0:
			errs[i] = yamlfile.DecodeErrorAt(source, err, "tenant", sectionOf, p.Line-1)
		case err != nil:
			errs[i] = yamlfile.DecodeError(fmt.Sprintf("%s (part %d, %s)", source, i+1, p.Section), err, "tenant", sectionOf)
		}
		out[i] = d
	})
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

// decodeSection decodes a part's entries: from its compiled form when it
// has one, else from its YAML.
func decodeSection(p Part) (any, error) {
	if p.Data == nil && p.Compiled == nil {
		return nil, fmt.Errorf("part %s has no data", p.Key)
	}
	switch p.Section {
	case "apis":
		return decodeList[fileAPI](p)
	case "clients":
		return decodeList[fileClient](p)
	case "grants":
		return decodeList[fileGrant](p)
	case "roles":
		return decodeList[fileRole](p)
	case "users":
		return decodeList[fileUser](p)
	}
	return nil, fmt.Errorf("unknown section %q", p.Section)
}

func decodeList[T any](p Part) ([]T, error) {
	var items []T
	if p.Compiled != nil {
		err := json.Unmarshal(p.Compiled, &items)
		return items, err
	}
	err := decodeStrict(p.Data, &items)
	return items, err
}

// Compile gives every section part its compiled form: its entries decoded
// from YAML (with the loader's strictness: unknown fields are errors, at
// their line of the file Split read) and encoded as JSON. A replica builds
// a revision from compiled parts, decoding JSON, several times faster than
// YAML; since what is compiled is exactly what the build decodes, the
// validation at push and on the replicas see the same values.
func Compile(parts []Part, source string) error {
	errs := make([]error, len(parts))
	forEachPart(len(parts), func(i int) {
		p := &parts[i]
		if p.Section == "" || p.Compiled != nil {
			return
		}
		entries, err := decodeSection(*p)
		if err == nil {
			p.Compiled, err = json.Marshal(entries)
		}
		switch {
		case err != nil && p.Line > 0:
			errs[i] = yamlfile.DecodeErrorAt(source, err, "tenant", sectionOf, p.Line-1)
		case err != nil:
			errs[i] = fmt.Errorf("%s: part %d (%s): %w", source, i, p.Section, err)
		}
	})
	return errors.Join(errs...)
}

// forEachPart runs f for 0..n-1 on as many goroutines as there are CPUs.
func forEachPart(n int, f func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f(i)
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// entryIndex finds an entry of a section among the parts Split made, for
// the line of an error about it.
type entryIndex map[string][]entryRef

type entryRef struct {
	part *Part
	j    int // the entry's index in the part
}

// sectionEntries indexes the entries of parts that know their lines; nil
// when none does (parts read from the store).
func sectionEntries(parts []Part) entryIndex {
	var out entryIndex
	for k := range parts {
		p := &parts[k]
		if p.Lines == nil {
			continue
		}
		if out == nil {
			out = entryIndex{}
		}
		for j := range p.Lines {
			out[p.Section] = append(out[p.Section], entryRef{p, j})
		}
	}
	return out
}

// line is the line of the field at rest in entry i of section: the
// entry's text is parsed again to find it (errors are rare; no tree of
// the whole section is kept for them).
func (x entryIndex) line(section string, i int, rest []any) int {
	refs := x[section]
	if i >= len(refs) {
		return 0
	}
	p, j := refs[i].part, refs[i].j
	if len(rest) == 0 || p.offsets == nil {
		return p.Lines[j]
	}
	end := len(p.Data)
	if j+1 < len(p.offsets) {
		end = p.offsets[j+1]
	}
	text := p.Data[p.offsets[j]:end]
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return p.Lines[j]
	}
	first := p.Line + bytes.Count(p.Data[:p.offsets[j]], []byte("\n"))
	return first + yamlfile.LineOf(&doc, append([]any{0}, rest...)...) - 1
}

// remapLines rewrites "line N" in a YAML error of the base to the line of
// the file the base was cut from.
func remapLines(err error, lines []int) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := &yaml.TypeError{Errors: make([]string, len(te.Errors))}
		for i, e := range te.Errors {
			out.Errors[i] = remapLines(errors.New(e), lines).Error()
		}
		return out
	}
	msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
		var n int
		fmt.Sscanf(m, "line %d", &n)
		if n >= 1 && n <= len(lines) {
			return fmt.Sprintf("line %d", lines[n-1])
		}
		return m
	})
	return errors.New(msg)
}

var yamlLine = regexp.MustCompile(`line \d+`)

// presize makes room for the entries of parts in their sections at once:
// growing them entry by entry would copy them several times. Clients and
// grants, the sections that grow large, are not copied at all
// (clientChunks, grantChunks).
func (f *file) presize(parts []Part) {
	n := map[string]int{}
	for _, p := range parts {
		n[p.Section] += p.Entries
	}
	f.APIs = slices.Grow(f.APIs, n["apis"])
	f.Roles = slices.Grow(f.Roles, n["roles"])
	f.Users = slices.Grow(f.Users, n["users"])
}

// appendSection appends entries decoded by decodeSection to their section.
func (f *file) appendSection(section string, entries any) {
	switch section {
	case "apis":
		f.APIs = append(f.APIs, entries.([]fileAPI)...)
	case "clients":
		f.clientChunks = append(f.clientChunks, entries.([]fileClient))
	case "grants":
		f.grantChunks = append(f.grantChunks, entries.([]fileGrant))
	case "roles":
		f.Roles = append(f.Roles, entries.([]fileRole)...)
	case "users":
		f.Users = append(f.Users, entries.([]fileUser)...)
	}
}
