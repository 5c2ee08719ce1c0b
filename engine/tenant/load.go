package tenant

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scopeline/scopeline/engine/internal/scope"
	"github.com/scopeline/scopeline/engine/internal/yamlfile"
)

// MaxFileSize bounds a tenant file served from a file (serve --config).
const MaxFileSize = 64 << 20

// maxWholeSize bounds a tenant file read as one YAML tree (one whose lists
// use anchors or aliases): that tree costs about fifty times the file.
const maxWholeSize = 8 << 20

// MaxPushSize bounds a tenant file pushed to the cluster's store, which
// keeps it in parts (Split) and builds it part by part.
const MaxPushSize = 256 << 20

// ReadFile reads a tenant file of at most max bytes, and returns it with
// its absolute path.
func ReadFile(path string, max int) (data []byte, abs string, err error) {
	data, abs, _, err = yamlfile.Read(path, max, "tenant")
	return data, abs, err
}

// Option changes how a tenant file is read.
type Option func(*options)

type options struct {
	lookupEnv func(string) (string, bool)
	stat      func(string) error
	modules   ModuleResolver
	dir       string
}

// WithDir sets the directory relative module paths are resolved against
// when building from parts (Parse takes it as an argument).
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// ModuleResolver finds a hook module the tenant names in the cluster's
// module store rather than by path: ref is "sha256:<64 hex digits>" (a
// digest) or "store:NAME" (a name given at `scopeline hook push`). It
// returns the module's digest and the path of a local copy to load ("" when
// the caller only validates).
type ModuleResolver func(ref string) (digest, path string, err error)

// WithModules lets hooks name modules in the cluster's module store
// (module: sha256:<hex> or module: store:NAME), found by resolve. Without
// it, such a module is refused.
func WithModules(resolve ModuleResolver) Option {
	return func(o *options) { o.modules = resolve }
}

// IsModuleRef reports whether a hook's `module:` names a module in the
// cluster's module store (a digest or a stored name) rather than a file.
func IsModuleRef(module string) bool {
	return strings.HasPrefix(module, DigestPrefix) || strings.HasPrefix(module, StoreRefPrefix)
}

// StoreRefPrefix starts a hook's `module:` that names a module pushed to
// the cluster's module store under a name (scopeline hook push --name).
const StoreRefPrefix = "store:"

// WithLookupEnv sets where hook secrets are read from (default os.LookupEnv).
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(o *options) { o.lookupEnv = f }
}

// Load reads and validates the tenant file at path.
func Load(path string, opts ...Option) (*Tenant, error) {
	data, abs, dir, err := yamlfile.Read(path, MaxFileSize, "tenant")
	if err != nil {
		return nil, err
	}
	return Parse(data, abs, dir, opts...)
}

func defaultOptions(opts []Option) options {
	o := options{lookupEnv: os.LookupEnv, stat: func(p string) error { _, err := os.Stat(p); return err }}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Parse validates a tenant file's contents. source names the file in errors;
// dir is where relative hook module paths are resolved.
//
// The file is cut into parts (Split) and built part by part (Builder), so
// that no YAML tree of the whole file is held, with errors at the line of
// the field as ever. A file whose lists use YAML anchors or aliases, which
// parts cannot resolve apart, or that Split does not cut, is read whole.
func Parse(data []byte, source, dir string, opts ...Option) (*Tenant, error) {
	name := source
	if name == "" {
		name = "tenant"
	}
	if !anchorOrAlias.Match(data) {
		if parts, err := Split(data, name); err == nil {
			t, err := NewBuilder().Build(parts, name, append(opts[:len(opts):len(opts)], WithDir(dir))...)
			if err != nil {
				return nil, err
			}
			t.Source, t.Dir = source, dir
			sum := sha256.Sum256(data)
			t.Revision = hex.EncodeToString(sum[:])
			return t, nil
		}
	}
	if len(data) > maxWholeSize {
		return nil, fmt.Errorf("%s: %d bytes, and read whole (its lists use YAML anchors or aliases, or are not in block style): a file read whole may have %d at most", name, len(data), maxWholeSize)
	}
	return parseWhole(data, source, dir, opts...)
}

// anchorOrAlias matches what may be a YAML anchor (&a) or alias (*a), and
// things that only look like one: those files are read whole.
var anchorOrAlias = regexp.MustCompile(`(^|[\s\[{,:-])[&*][^\s,\[\]{}]`)

// parseWhole validates a tenant file read as one YAML tree.
func parseWhole(data []byte, source, dir string, opts ...Option) (*Tenant, error) {
	o := defaultOptions(opts)
	name := source
	if name == "" {
		name = "tenant"
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := processSettings(name, &root, nil); err != nil {
		return nil, err
	}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlfile.DecodeError(name, err, "tenant", sectionOf)
	}
	v := &validator{Checker: yamlfile.Checker{Name: name, Root: &root}, opts: o, dir: dir}
	t := v.tenant(&f)
	if err := v.Err(); err != nil {
		return nil, err
	}
	t.Source = source
	t.Dir = dir
	sum := sha256.Sum256(data)
	t.Revision = hex.EncodeToString(sum[:])
	return t, nil
}

func sectionOf(typ string) string {
	switch typ {
	case "file":
		return "the tenant (top level)"
	case "fileAPI":
		return "an API"
	case "fileScope":
		return "a scope"
	case "fileClient":
		return "a client"
	case "fileGrant":
		return "a grant"
	case "filePipeline":
		return "a pipeline"
	case "fileHook":
		return "a hook"
	case "fileClientAssertions":
		return "client_assertions"
	case "fileDPoP":
		return "dpop"
	case "filePAR":
		return "par"
	case "fileTokenExchange":
		return "a token exchange"
	}
	return strings.TrimPrefix(typ, "file")
}

// The shape of the YAML file. Field names are the documented keys.
type file struct {
	Issuer           string                  `yaml:"issuer"`
	SigningAlgorithm string                  `yaml:"signing_algorithm"`
	DefaultAudience  string                  `yaml:"default_audience"`
	APIs             []fileAPI               `yaml:"apis"`
	Clients          []fileClient            `yaml:"clients"`
	Grants           []fileGrant             `yaml:"grants"`
	Pipelines        map[string]filePipeline `yaml:"pipelines"`
	Roles            []fileRole              `yaml:"roles"`
	Users            []fileUser              `yaml:"users"`
	UserFlows        fileUserFlows           `yaml:"user_flows"`

	fileProtocolSections `yaml:",inline"` // client_assertions:, dpop:, par:, token_exchange: (protocols.go)

	// clientChunks and grantChunks follow Clients and Grants when a tenant
	// is built from parts: the entries as each part decoded them, shared
	// with the Builder's cache rather than copied (parts.go).
	clientChunks [][]fileClient
	grantChunks  [][]fileGrant
}

// eachEntry calls fn for every entry of list and then of chunks, with its
// index in the section.
func eachEntry[T any](list []T, chunks [][]T, fn func(i int, e *T)) {
	for i := range list {
		fn(i, &list[i])
	}
	n := len(list)
	for _, c := range chunks {
		for j := range c {
			fn(n, &c[j])
			n++
		}
	}
}

func chunksLen[T any](chunks [][]T) int {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	return n
}

type fileAPI struct {
	Identifier       string        `yaml:"identifier"`
	Name             string        `yaml:"name"`
	SigningAlgorithm string        `yaml:"signing_algorithm"`
	TokenLifetime    time.Duration `yaml:"token_lifetime"`
	RBAC             bool          `yaml:"rbac"`
	PermissionsClaim bool          `yaml:"permissions_claim"`
	Scopes           []fileScope   `yaml:"scopes"`

	fileAPIProtocols `yaml:",inline"` // protocols.go
}

type fileScope struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

type fileClient struct {
	ID           string            `yaml:"id"`
	Name         string            `yaml:"name"`
	Type         string            `yaml:"type"`
	Secrets      []string          `yaml:"secrets"`
	RedirectURIs []string          `yaml:"redirect_uris"`
	Metadata     map[string]string `yaml:"metadata"`
	FirstParty   *bool             `yaml:"first_party"`
	IDTokenAlg   string            `yaml:"id_token_signed_response_alg"`

	fileClientProtocols `yaml:",inline"` // protocols.go
}

type fileGrant struct {
	Client   string   `yaml:"client"`
	API      string   `yaml:"api"`
	Scopes   []string `yaml:"scopes"`
	Subjects []string `yaml:"subjects"`
}

type filePipeline struct {
	Timeout time.Duration `yaml:"timeout"`
	Hooks   []fileHook    `yaml:"hooks"`
}

type fileHook struct {
	Name             string            `yaml:"name"`
	Module           string            `yaml:"module"`
	Plugin           string            `yaml:"plugin"`
	Config           any               `yaml:"config"`
	Secrets          map[string]string `yaml:"secrets"`
	Timeout          time.Duration     `yaml:"timeout"`
	Memory           ByteSize          `yaml:"memory"`
	Failure          string            `yaml:"failure"`
	AllowExceedGrant bool              `yaml:"allow_exceed_grant"`
	Breaker          *fileBreaker      `yaml:"breaker"`
}

type fileBreaker struct {
	After    *int          `yaml:"after"`
	Cooldown time.Duration `yaml:"cooldown"`
}

// processSettings refuses the sections of a process's settings file that
// tenant files used to hold (nats:, audit:): they are fixed for the life
// of a process, so a reload could never change them; the tenant file is
// what reloads. The message says where they go.
func processSettings(name string, root *yaml.Node, rootLine func(int) int) error {
	c := yamlfile.Checker{Name: name, Root: root, RootLine: rootLine}
	for _, section := range []string{"nats", "audit"} {
		if c.Has(section) {
			c.Fail("a process setting, not tenant data: move the nats: and audit: sections to a settings file, "+
				"given to `scopeline serve --settings FILE` (docs/configuration.md, \"The settings file\")", section)
		}
	}
	return c.Err()
}

// FieldError is a problem with one field of a tenant file, at its line.
type FieldError = yamlfile.FieldError

// ByteSize is a size written as a number of bytes or with a unit
// (KiB, MiB, GiB; K, M, G and KB, MB, GB are read as the binary units).
type ByteSize = yamlfile.ByteSize

// ParseByteSize reads a size such as "16MiB" or "1048576".
func ParseByteSize(s string) (int64, error) { return yamlfile.ParseByteSize(s) }

// Limits on identifiers.
const (
	maxIDLen          = 255
	maxIdentifierLen  = 512
	maxDescriptionLen = 1024
	maxMetadataKeys   = 64
	maxMetadataValue  = 1024
)

// validator turns the decoded file into a Tenant, collecting every error.
type validator struct {
	yamlfile.Checker
	opts options
	dir  string
}

// fail records an error at a path such as ("grants", 2, "api").
func (v *validator) fail(msg string, path ...any) { v.Fail(msg, path...) }

func (v *validator) tenant(f *file) *Tenant {
	t := &Tenant{
		Issuer:          f.Issuer,
		Algorithm:       f.SigningAlgorithm,
		DefaultAudience: f.DefaultAudience,
		apis:            map[string]*API{},
		clients:         map[string]*Client{},
		grants:          map[grantKey]*Grant{},
		Pipelines:       map[Trigger]*Pipeline{},
	}
	if t.Issuer != "" {
		if err := ValidateIssuer(t.Issuer); err != nil {
			v.fail(err.Error(), "issuer")
		}
	}
	if t.Algorithm == "" {
		t.Algorithm = DefaultAlgorithm
	} else if !slices.Contains(SupportedAlgorithms, t.Algorithm) {
		v.fail(fmt.Sprintf("unsupported algorithm %q (want one of %s)", t.Algorithm, strings.Join(SupportedAlgorithms, ", ")), "signing_algorithm")
	}
	if len(f.APIs) == 0 {
		v.fail("a tenant needs at least one API", "apis")
	}
	for i := range f.APIs {
		if a := v.api(t, &f.APIs[i], i); a != nil {
			t.APIs = append(t.APIs, a)
		}
	}
	if t.DefaultAudience != "" {
		if _, ok := t.apis[t.DefaultAudience]; !ok {
			v.fail(fmt.Sprintf("no API has the identifier %q", t.DefaultAudience), "default_audience")
		}
	}
	t.Clients = make([]*Client, 0, len(f.Clients)+chunksLen(f.clientChunks))
	eachEntry(f.Clients, f.clientChunks, func(i int, fc *fileClient) {
		if c := v.client(t, fc, i); c != nil {
			t.Clients = append(t.Clients, c)
		}
	})
	t.Grants = make([]*Grant, 0, len(f.Grants)+chunksLen(f.grantChunks))
	eachEntry(f.Grants, f.grantChunks, func(i int, fg *fileGrant) {
		if g := v.grant(t, fg, i); g != nil {
			t.Grants = append(t.Grants, g)
		}
	})
	v.protocols(t, &f.fileProtocolSections)
	for _, trig := range Triggers {
		t.Pipelines[trig] = &Pipeline{Trigger: trig, Timeout: DefaultPipelineTimeout}
	}
	keys := make([]string, 0, len(f.Pipelines))
	for k := range f.Pipelines {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v.pipeline(t, k, f.Pipelines[k])
	}
	v.people(t, f)
	return t
}

// ValidateIssuer checks an issuer identifier per RFC 8414 §2: an https URL
// with no query or fragment (http is allowed for loopback hosts, for local
// development).
func ValidateIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("issuer %q must be an absolute URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("issuer %q must not have a query or fragment", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !yamlfile.LoopbackHost(u.Hostname()) {
			return fmt.Errorf("issuer %q must use https (http is only allowed for localhost)", s)
		}
	default:
		return fmt.Errorf("issuer %q must use https", s)
	}
	return nil
}

func (v *validator) api(t *Tenant, fa *fileAPI, i int) *API {
	a := &API{
		Identifier:    fa.Identifier,
		Name:          fa.Name,
		Algorithm:     fa.SigningAlgorithm,
		TokenLifetime: fa.TokenLifetime,
		RBAC:          fa.RBAC,
		Line:          v.Line("apis", i),
		scopes:        map[string]*Scope{},

		PermissionsClaim: fa.PermissionsClaim,
	}
	ok := true
	switch {
	case a.Identifier == "":
		v.fail("an API needs an identifier (its audience)", "apis", i, "identifier")
		ok = false
	case len(a.Identifier) > maxIdentifierLen || strings.ContainsFunc(a.Identifier, isSpaceOrControl):
		v.fail(fmt.Sprintf("identifier must be at most %d characters with no spaces or control characters", maxIdentifierLen), "apis", i, "identifier")
		ok = false
	case t.apis[a.Identifier] != nil:
		v.fail(fmt.Sprintf("identifier %q is used by another API", a.Identifier), "apis", i, "identifier")
		ok = false
	}
	if a.Algorithm == "" {
		a.Algorithm = t.Algorithm
	} else if !slices.Contains(SupportedAlgorithms, a.Algorithm) {
		v.fail(fmt.Sprintf("unsupported algorithm %q (want one of %s)", a.Algorithm, strings.Join(SupportedAlgorithms, ", ")), "apis", i, "signing_algorithm")
	}
	switch {
	case a.TokenLifetime == 0:
		a.TokenLifetime = DefaultTokenLifetime
	case a.TokenLifetime < time.Second || a.TokenLifetime > MaxTokenLifetime:
		v.fail(fmt.Sprintf("token_lifetime must be between 1s and %s", MaxTokenLifetime), "apis", i, "token_lifetime")
	case a.TokenLifetime%time.Second != 0:
		v.fail("token_lifetime must be a whole number of seconds", "apis", i, "token_lifetime")
	}
	seen := map[string]bool{}
	for j, fs := range fa.Scopes {
		if err := scope.ValidToken(fs.Name); err != nil {
			v.fail(err.Error(), "apis", i, "scopes", j, "name")
			continue
		}
		if seen[fs.Name] {
			v.fail(fmt.Sprintf("scope %q is defined twice", fs.Name), "apis", i, "scopes", j, "name")
			continue
		}
		seen[fs.Name] = true
		if len(fs.Description) > maxDescriptionLen {
			v.fail(fmt.Sprintf("description is longer than %d characters", maxDescriptionLen), "apis", i, "scopes", j, "description")
		}
		a.Scopes = append(a.Scopes, Scope(fs))
	}
	for j := range a.Scopes {
		a.scopes[a.Scopes[j].Name] = &a.Scopes[j]
	}
	v.apiProtocols(a, &fa.fileAPIProtocols)
	if !ok {
		return nil
	}
	t.apis[a.Identifier] = a
	return a
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// validClientID allows any printable text (ids may hold '.', '*', '>' or
// spaces; the audit stream encodes them) but no control characters.
func validClientID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for _, r := range id {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(id) == id
}

// DigestPrefix starts every client secret digest in a tenant file.
const DigestPrefix = "sha256:"

// ParseDigest reads a "sha256:<64 hex digits>" secret digest.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	hexPart, ok := strings.CutPrefix(s, DigestPrefix)
	if !ok {
		return d, errors.New(`must be a digest "sha256:<64 hex digits>" (make one with: scopeline secret new); plaintext secrets are not accepted`)
	}
	b, err := hex.DecodeString(hexPart)
	if err != nil || len(b) != len(d) {
		return d, errors.New(`must be "sha256:" followed by 64 hex digits`)
	}
	copy(d[:], b)
	return d, nil
}

// FormatDigest returns the tenant-file form of a secret's digest.
func FormatDigest(secret string) string {
	sum := Digest(sha256Sum(secret))
	return DigestPrefix + hex.EncodeToString(sum[:])
}

func (v *validator) client(t *Tenant, fc *fileClient, i int) *Client {
	c := &Client{
		ID:           fc.ID,
		Name:         fc.Name,
		Type:         ClientType(fc.Type),
		RedirectURIs: fc.RedirectURIs,
		Metadata:     fc.Metadata,
		Line:         v.Line("clients", i),
	}
	ok := true
	switch {
	case !validClientID(c.ID):
		v.fail(fmt.Sprintf("id must be 1 to %d printable characters with no leading or trailing space", maxIDLen), "clients", i, "id")
		ok = false
	case t.clients[c.ID] != nil:
		v.fail(fmt.Sprintf("client %q is defined twice", c.ID), "clients", i, "id")
		ok = false
	}
	switch c.Type {
	case ClientM2M, ClientSPA, ClientWeb, ClientNative:
	case "":
		v.fail("type is required (m2m, spa, web or native)", "clients", i, "type")
	default:
		v.fail(fmt.Sprintf("unknown type %q (want m2m, spa, web or native)", fc.Type), "clients", i, "type")
	}
	for j, s := range fc.Secrets {
		d, err := ParseDigest(s)
		if err != nil {
			v.fail(err.Error(), "clients", i, "secrets", j)
			continue
		}
		c.secrets = append(c.secrets, d)
	}
	if c.Type.Confidential() && len(fc.Secrets) == 0 && !fc.usesAssertion() {
		v.fail(fmt.Sprintf("a %s client needs at least one secret digest", c.Type), "clients", i, "secrets")
	}
	if (c.Type == ClientSPA || c.Type == ClientNative) && len(fc.Secrets) > 0 {
		v.fail(fmt.Sprintf("a %s client is public and cannot hold a secret", c.Type), "clients", i, "secrets")
	}
	for j, u := range c.RedirectURIs {
		if err := validRedirectURI(u, c.Type); err != nil {
			v.fail(err.Error(), "clients", i, "redirect_uris", j)
		}
	}
	if c.Type == ClientM2M && len(c.RedirectURIs) > 0 {
		v.fail("an m2m client has no redirect URIs", "clients", i, "redirect_uris")
	}
	if len(c.Metadata) > maxMetadataKeys {
		v.fail(fmt.Sprintf("at most %d metadata keys", maxMetadataKeys), "clients", i, "metadata")
	}
	for k, val := range c.Metadata {
		if len(k) > maxIDLen || len(val) > maxMetadataValue {
			v.fail(fmt.Sprintf("key %q: keys are at most %d and values at most %d characters", k, maxIDLen, maxMetadataValue), "clients", i, "metadata")
		}
	}
	c.FirstParty = true
	if fc.FirstParty != nil {
		c.FirstParty = *fc.FirstParty
	}
	switch {
	case c.Type == ClientM2M && fc.IDTokenAlg != "":
		v.fail("an m2m client gets no ID tokens", "clients", i, "id_token_signed_response_alg")
	case c.Type == ClientM2M:
	case fc.IDTokenAlg == "":
		c.IDTokenAlgorithm = t.Algorithm
	case !slices.Contains(SupportedAlgorithms, fc.IDTokenAlg):
		v.fail(fmt.Sprintf("unsupported algorithm %q (want one of %s)", fc.IDTokenAlg, strings.Join(SupportedAlgorithms, ", ")), "clients", i, "id_token_signed_response_alg")
	default:
		c.IDTokenAlgorithm = fc.IDTokenAlg
	}
	v.clientProtocols(t, c, &fc.fileClientProtocols, i)
	if !ok {
		return nil
	}
	t.clients[c.ID] = c
	return c
}

// validRedirectURI applies RFC 6749 §3.1.2 and RFC 9700 §2.1: absolute, no
// fragment, https unless loopback or a native app's private scheme.
func validRedirectURI(s string, typ ClientType) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("redirect URI %q must be an absolute URI", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("redirect URI %q must not have a fragment", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !yamlfile.LoopbackHost(u.Hostname()) {
			return fmt.Errorf("redirect URI %q must use https (http only for localhost)", s)
		}
	default:
		if typ != ClientNative {
			return fmt.Errorf("redirect URI %q must use https (custom schemes only for native clients)", s)
		}
	}
	return nil
}

func (v *validator) grant(t *Tenant, fg *fileGrant, i int) *Grant {
	c, cok := t.clients[fg.Client]
	if !cok {
		v.fail(fmt.Sprintf("no client has the id %q", fg.Client), "grants", i, "client")
	}
	a, aok := t.apis[fg.API]
	if !aok {
		v.fail(fmt.Sprintf("no API has the identifier %q", fg.API), "grants", i, "api")
	}
	if !cok || !aok {
		return nil
	}
	g := &Grant{Client: c, API: a, Line: v.Line("grants", i)}
	if _, dup := t.grants[grantKey{c.ID, a.Identifier}]; dup {
		v.fail(fmt.Sprintf("client %q already has a grant on %q", c.ID, a.Identifier), "grants", i)
		return nil
	}
	want := map[string]bool{}
	for j, s := range fg.Scopes {
		if !a.Defines(s) {
			v.fail(fmt.Sprintf("API %q does not define scope %q", a.Identifier, s), "grants", i, "scopes", j)
			continue
		}
		want[s] = true
	}
	for _, s := range a.Scopes { // keep the API's order
		if want[s.Name] {
			g.Scopes = append(g.Scopes, s.Name)
		}
	}
	subjects := fg.Subjects
	if len(subjects) == 0 {
		if c.Type == ClientM2M {
			subjects = []string{SubjectClient}
		} else {
			subjects = []string{SubjectUser}
		}
	}
	for j, s := range subjects {
		switch s {
		case SubjectClient:
			if !c.Type.Confidential() {
				v.fail(fmt.Sprintf("a %s client is public and cannot get client tokens", c.Type), "grants", i, "subjects", j)
			}
			g.ForClient = true
		case SubjectUser:
			if c.Type == ClientM2M {
				v.fail("an m2m client has no users; use subjects: [client]", "grants", i, "subjects", j)
			}
			g.ForUser = true
		default:
			v.fail(fmt.Sprintf("unknown subject %q (want client or user)", s), "grants", i, "subjects", j)
		}
	}
	t.grants[grantKey{c.ID, a.Identifier}] = g
	return g
}

func (v *validator) pipeline(t *Tenant, key string, fp filePipeline) {
	trig := Trigger(key)
	if !slices.Contains(Triggers, trig) {
		v.fail(fmt.Sprintf("unknown trigger %q (want credentials-exchange, post-login or token-exchange)", key), "pipelines", key)
		return
	}
	p := t.Pipelines[trig]
	switch {
	case fp.Timeout == 0:
	case fp.Timeout < time.Millisecond || fp.Timeout > 10*time.Second:
		v.fail("timeout must be between 1ms and 10s", "pipelines", key, "timeout")
	default:
		p.Timeout = fp.Timeout
	}
	names := map[string]bool{}
	for i := range fp.Hooks {
		fh := &fp.Hooks[i]
		at := []any{"pipelines", key, "hooks", i}
		h := &HookSpec{
			Name:             fh.Name,
			Plugin:           fh.Plugin,
			Timeout:          fh.Timeout,
			Memory:           int64(fh.Memory),
			Failure:          FailurePolicy(fh.Failure),
			AllowExceedGrant: fh.AllowExceedGrant,
			Breaker:          Breaker{After: DefaultBreakerAfter, Cooldown: DefaultBreakerCooldown},
			Trigger:          trig,
			Line:             v.Line(at...),
		}
		switch {
		case !validHookName(h.Name):
			v.fail("name must be 1 to 64 letters, digits, '-', '_' or '.'", append(at, "name")...)
		case names[h.Name]:
			v.fail(fmt.Sprintf("hook %q appears twice in this pipeline", h.Name), append(at, "name")...)
		}
		names[h.Name] = true
		switch {
		case fh.Module != "" && fh.Plugin != "":
			v.fail("set either module or plugin, not both", at...)
		case fh.Module == "" && fh.Plugin == "":
			v.fail("a hook needs a module (a .wasm path) or a plugin name", at...)
		case IsModuleRef(fh.Module):
			v.storedModule(h, fh.Module, append(at, "module"))
		case fh.Module != "":
			h.Module = fh.Module
			if !filepath.IsAbs(h.Module) {
				h.Module = filepath.Join(v.dir, h.Module)
			}
			if err := v.opts.stat(h.Module); err != nil {
				v.fail(fmt.Sprintf("cannot read module: %v", err), append(at, "module")...)
			}
		}
		if fh.Config != nil {
			cfg, err := json.Marshal(jsonable(fh.Config))
			if err != nil {
				v.fail(fmt.Sprintf("config cannot be expressed as JSON: %v", err), append(at, "config")...)
			}
			h.Config = cfg
		}
		for name, env := range fh.Secrets {
			if env == "" {
				v.fail(fmt.Sprintf("secret %q must name an environment variable", name), append(at, "secrets", name)...)
				continue
			}
			val, ok := v.opts.lookupEnv(env)
			if !ok {
				v.fail(fmt.Sprintf("secret %q: environment variable %s is not set", name, env), append(at, "secrets", name)...)
				continue
			}
			if h.Secrets == nil {
				h.Secrets = map[string]Secret{}
			}
			h.Secrets[name] = Secret(val)
		}
		switch {
		case h.Timeout == 0:
			h.Timeout = min(DefaultHookTimeout, p.Timeout)
		case h.Timeout < 0 || h.Timeout > p.Timeout:
			v.fail(fmt.Sprintf("timeout must be positive and at most the pipeline's (%s)", p.Timeout), append(at, "timeout")...)
		}
		switch {
		case h.Memory == 0:
			h.Memory = DefaultHookMemory
		case h.Memory < 64<<10 || h.Memory > MaxHookMemory:
			v.fail("memory must be between 64KiB and 1GiB", append(at, "memory")...)
		}
		switch h.Failure {
		case "":
			h.Failure = FailDeny
		case FailDeny, FailSkip:
		default:
			v.fail(fmt.Sprintf("failure must be deny or skip, not %q", fh.Failure), append(at, "failure")...)
		}
		if b := fh.Breaker; b != nil {
			if b.After != nil {
				h.Breaker.After = *b.After
				if h.Breaker.After < 0 || h.Breaker.After > 1000 {
					v.fail("after must be between 0 (no breaker) and 1000", append(at, "breaker", "after")...)
				}
			}
			if b.Cooldown != 0 {
				h.Breaker.Cooldown = b.Cooldown
				if b.Cooldown < 100*time.Millisecond || b.Cooldown > time.Hour {
					v.fail("cooldown must be between 100ms and 1h", append(at, "breaker", "cooldown")...)
				}
			}
		}
		p.Hooks = append(p.Hooks, h)
	}
}

// storedModule resolves a hook's module named by digest or stored name.
func (v *validator) storedModule(h *HookSpec, ref string, at []any) {
	if v.opts.modules == nil {
		v.fail(fmt.Sprintf("%q names a module in the cluster's module store: this tenant must be pushed with `scopeline tenant push` and served from the store", ref), at...)
		return
	}
	if hexPart, ok := strings.CutPrefix(ref, DigestPrefix); ok {
		if b, err := hex.DecodeString(hexPart); err != nil || len(b) != 32 || strings.ToLower(hexPart) != hexPart {
			v.fail(`a module digest must be "sha256:" followed by 64 lower-case hex digits`, at...)
			return
		}
	}
	digest, path, err := v.opts.modules(ref)
	if err != nil {
		v.fail(err.Error(), at...)
		return
	}
	h.Digest, h.Module = digest, path
}

var hookName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func validHookName(s string) bool { return hookName.MatchString(s) }

// jsonable converts YAML-decoded values (which may hold map[any]any) into
// values encoding/json accepts.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonable(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonable(e)
		}
		return v
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	return v
}
