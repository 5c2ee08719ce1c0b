// Package settings reads the settings file of a Scopeline process
// (`scopeline serve --settings FILE`): what is fixed for the life of a
// process, as opposed to the tenant file, which a reload swaps: the NATS
// system the process uses (the `nats:` section: an external server or
// cluster, or the embedded server, alone or a member of a cluster), the
// audit stream (`audit:`), and whether the process is one replica of a
// cluster whose state lives in NATS (`cluster:`). The file is parsed and
// validated once, with errors that name the line and the field.
package settings

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine/internal/yamlfile"
	"go.yaml.in/yaml/v3"
)

// Settings are a process's settings, from its settings file.
type Settings struct {
	// Audit is where and how decisions are published: the `nats:` and
	// `audit:` sections.
	Audit Audit
	// Cluster says whether the process is a replica of a cluster, whose
	// state (signing keys, end-user flows, throttles) lives in NATS.
	Cluster Cluster
	// Source is the file the settings were read from ("" for the
	// defaults).
	Source string
	// auditReplicasSet: the file sets audit.stream.replicas, which a
	// cluster's replicas then do not override.
	auditReplicasSet bool
}

// Default returns the settings of a process without a settings file.
func Default() *Settings { return &Settings{Audit: DefaultAudit()} }

// MaxFileSize bounds a settings file.
const MaxFileSize = 1 << 20

// Load reads and validates the settings file at path.
func Load(path string) (*Settings, error) {
	data, abs, dir, err := yamlfile.Read(path, MaxFileSize, "settings")
	if err != nil {
		return nil, err
	}
	return Parse(data, abs, dir)
}

// Parse validates a settings file's contents. source names the file in
// errors; dir is where relative paths are resolved.
func Parse(data []byte, source, dir string) (*Settings, error) {
	return parse(data, source, dir, func(p string) error { _, err := os.Stat(p); return err })
}

func parse(data []byte, source, dir string, stat func(string) error) (*Settings, error) {
	name := source
	if name == "" {
		name = "settings"
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlfile.DecodeError(name, err, "settings", sectionOf)
	}
	v := &validator{Checker: yamlfile.Checker{Name: name, Root: &root}, dir: dir, stat: stat}
	s := &Settings{Source: source}
	v.audit(s, &f)
	v.cluster(s, &f)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Sections are the top-level sections of a settings file.
var Sections = []string{"nats", "audit", "cluster"}

// file is the shape of the settings file.
type file struct {
	NATS    *fileNATS    `yaml:"nats"`
	Audit   *fileAudit   `yaml:"audit"`
	Cluster *fileCluster `yaml:"cluster"`
}

func sectionOf(typ string) string {
	if typ == "file" {
		return "the settings (top level)"
	}
	return strings.TrimPrefix(typ, "file")
}

// validator turns the decoded file into Settings, collecting every error.
type validator struct {
	yamlfile.Checker
	dir  string
	stat func(string) error
}

func (v *validator) fail(msg string, path ...any) { v.Fail(msg, path...) }

// Audit is where and how decisions are published: the `nats:` and `audit:`
// sections of the settings file, read at start only.
type Audit struct {
	// Mode is ack (the token waits for its event's acknowledgement) or
	// buffered (the token waits for the event to reach the local spool).
	Mode AuditMode
	// SubjectPrefix starts every event subject (default scopeline.audit).
	SubjectPrefix string
	// Instance names this issuer process in events (default: the host name).
	Instance string
	// PublishTimeout bounds how long a token request waits for its event in
	// ack mode, re-sends included; AckTimeout bounds one attempt.
	PublishTimeout time.Duration
	AckTimeout     time.Duration
	// MaxInFlight bounds events published and not yet acknowledged.
	MaxInFlight int
	Stream      AuditStream
	Spool       AuditSpool
	NATS        NATS
}

// AuditMode is a delivery mode.
type AuditMode string

// The delivery modes.
const (
	AuditAck      AuditMode = "ack"
	AuditBuffered AuditMode = "buffered"
)

// AuditStream is the JetStream stream events are stored in.
type AuditStream struct {
	Name string
	// MaxAge and MaxBytes bound the stream (0: unlimited); the oldest events
	// are discarded first.
	MaxAge   time.Duration
	MaxBytes int64
	Replicas int
	// DuplicateWindow is how long the stream remembers event ids to drop
	// re-sent copies. It must cover the retry horizon.
	DuplicateWindow time.Duration
}

// AuditSpool is buffered mode's local durable spool.
type AuditSpool struct {
	// Dir is where it lives ("": <data dir>/audit-spool).
	Dir       string
	MaxBytes  int64
	MaxEvents int64
	// Sync is how often the spool is flushed to stable storage.
	Sync Sync
	// ReadyFill is the fill ratio (bytes or events) above which the
	// issuer reports not ready, so that traffic moves elsewhere before the
	// spool is full.
	ReadyFill float64
}

// NATS is how to reach the NATS server. With no URLs, an embedded server
// runs in process.
type NATS struct {
	URLs []string
	// Credentials is a NATS credentials file (JWT and nkey seed).
	Credentials string
	TLS         NATSTLS
	Embedded    EmbeddedNATS
}

// External reports whether an external server or cluster is configured.
func (n *NATS) External() bool { return len(n.URLs) > 0 }

// NATSTLS holds TLS files for an external server (absolute paths).
type NATSTLS struct {
	CA   string
	Cert string
	Key  string
}

// EmbeddedNATS configures the in-process server.
type EmbeddedNATS struct {
	// Listen is the loopback host:port other processes (scopeline audit
	// tail, the nats CLI) connect to; empty when disabled ("off").
	Listen string
	// StoreDir is JetStream's directory ("": <data dir>/nats).
	StoreDir string
	// Sync is how often JetStream flushes to stable storage.
	Sync Sync
	// ServerName names the server among the members of its cluster
	// ("": the replica's instance name, see Audit.Instance).
	ServerName string
	// Cluster makes the server a member of a NATS cluster.
	Cluster EmbeddedCluster
}

// EmbeddedCluster makes the embedded server a member of a NATS cluster
// with the other replicas' embedded servers, joined by routes: three
// Scopeline processes and nothing else form a JetStream cluster.
type EmbeddedCluster struct {
	// Name is the cluster's name, the same on every member ("": the
	// server is alone).
	Name string
	// Listen is the host:port other members' routes connect to.
	Listen string
	// Routes are the route URLs of every member (nats-route://host:port),
	// this one's included, so that a member restarted later finds the
	// others.
	Routes []string
	// TLS secures the routes (required on an address that is not
	// loopback): each member presents Cert and Key and verifies the
	// others' against CA.
	TLS NATSTLS
}

// Enabled reports whether the embedded server is a cluster member.
func (c *EmbeddedCluster) Enabled() bool { return c.Name != "" }

// Sync is a flush policy: Always (flush every write before acknowledging
// it) or every Interval.
type Sync struct {
	Always   bool
	Interval time.Duration
}

// String returns "always" or the interval.
func (s Sync) String() string {
	if s.Always {
		return "always"
	}
	return s.Interval.String()
}

// Defaults of the audit settings.
const (
	DefaultAuditSubjectPrefix   = "scopeline.audit"
	DefaultAuditStream          = "SCOPELINE_AUDIT"
	DefaultAuditMaxAge          = 90 * 24 * time.Hour
	DefaultAuditDuplicateWindow = 2 * time.Minute // buffered mode; see DefaultDuplicateWindow
	DefaultAuditPublishTimeout  = 5 * time.Second
	DefaultAuditAckTimeout      = 2 * time.Second
	DefaultAuditMaxInFlight     = 4096
	DefaultSpoolMaxBytes        = 1 << 30
	DefaultSpoolMaxEvents       = 1_000_000
	DefaultSpoolSync            = time.Second
	DefaultSpoolReadyFill       = 0.8
	DefaultEmbeddedListen       = "127.0.0.1:4222"
	DefaultEmbeddedSync         = 2 * time.Minute
)

// DefaultDuplicateWindow is the stream's duplicate window in mode when the
// settings do not set one. In ack mode an event is re-sent only by the
// request waiting for it, for at most publishTimeout, and never after the
// process restarts (there is no spool): six times publishTimeout (30
// seconds by default) covers every re-send with room for a copy still on
// its way. In buffered mode the forwarder re-sends what the spool holds
// after a restart or an outage, later than any request waits: 2 minutes.
// The window costs the stream's memory for every event id it holds
// (docs/design.md, "The duplicate window").
func DefaultDuplicateWindow(mode AuditMode, publishTimeout time.Duration) time.Duration {
	if mode == AuditBuffered {
		return max(DefaultAuditDuplicateWindow, publishTimeout)
	}
	return 6 * publishTimeout
}

// DefaultAudit returns the audit settings of a settings file with no
// `nats:` or `audit:` section.
func DefaultAudit() Audit {
	return Audit{
		Mode:           AuditAck,
		SubjectPrefix:  DefaultAuditSubjectPrefix,
		PublishTimeout: DefaultAuditPublishTimeout,
		AckTimeout:     DefaultAuditAckTimeout,
		MaxInFlight:    DefaultAuditMaxInFlight,
		Stream: AuditStream{
			Name:            DefaultAuditStream,
			MaxAge:          DefaultAuditMaxAge,
			Replicas:        1,
			DuplicateWindow: DefaultDuplicateWindow(AuditAck, DefaultAuditPublishTimeout),
		},
		Spool: AuditSpool{
			MaxBytes:  DefaultSpoolMaxBytes,
			MaxEvents: DefaultSpoolMaxEvents,
			Sync:      Sync{Interval: DefaultSpoolSync},
			ReadyFill: DefaultSpoolReadyFill,
		},
		NATS: NATS{Embedded: EmbeddedNATS{
			Listen: DefaultEmbeddedListen,
			Sync:   Sync{Interval: DefaultEmbeddedSync},
		}},
	}
}

type fileNATS struct {
	URL         yamlfile.StringList `yaml:"url"`
	Credentials string              `yaml:"credentials"`
	TLS         *fileNATSTLS        `yaml:"tls"`
	Embedded    *fileNATSEmbedded   `yaml:"embedded"`
}

type fileNATSTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type fileNATSEmbedded struct {
	Listen     *string              `yaml:"listen"`
	StoreDir   string               `yaml:"store_dir"`
	Sync       *Sync                `yaml:"sync"`
	ServerName string               `yaml:"server_name"`
	Cluster    *fileEmbeddedCluster `yaml:"cluster"`
}

type fileEmbeddedCluster struct {
	Name   string              `yaml:"name"`
	Listen string              `yaml:"listen"`
	Routes yamlfile.StringList `yaml:"routes"`
	TLS    *fileNATSTLS        `yaml:"tls"`
}

type fileAudit struct {
	Mode           string           `yaml:"mode"`
	SubjectPrefix  string           `yaml:"subject_prefix"`
	Instance       string           `yaml:"instance"`
	PublishTimeout time.Duration    `yaml:"publish_timeout"`
	AckTimeout     time.Duration    `yaml:"ack_timeout"`
	MaxInFlight    int              `yaml:"max_in_flight"`
	Stream         *fileAuditStream `yaml:"stream"`
	Spool          *fileAuditSpool  `yaml:"spool"`
}

type fileAuditStream struct {
	Name            string            `yaml:"name"`
	MaxAge          time.Duration     `yaml:"max_age"`
	MaxBytes        yamlfile.ByteSize `yaml:"max_bytes"`
	Replicas        int               `yaml:"replicas"`
	DuplicateWindow time.Duration     `yaml:"duplicate_window"`
}

type fileAuditSpool struct {
	Dir       string            `yaml:"dir"`
	MaxBytes  yamlfile.ByteSize `yaml:"max_bytes"`
	MaxEvents int64             `yaml:"max_events"`
	Sync      *Sync             `yaml:"sync"`
	ReadyFill *float64          `yaml:"ready_fill"`
}

// UnmarshalYAML reads "always" or a duration such as "1s".
func (s *Sync) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: sync must be \"always\" or a duration such as 1s", n.Line)
	}
	if n.Value == "always" {
		*s = Sync{Always: true}
		return nil
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d <= 0 {
		return fmt.Errorf("line %d: sync must be \"always\" or a positive duration such as 1s, not %q", n.Line, n.Value)
	}
	*s = Sync{Interval: d}
	return nil
}

// Limits on the audit settings.
const (
	maxSubjectPrefixLen = 128
	maxInstanceLen      = 128
	maxStreamNameLen    = 64
)

var (
	// nameChars are those of a stream or consumer name and of a subject
	// token.
	nameChars       = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	serverNameChars = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	instanceChars   = regexp.MustCompile(`^[A-Za-z0-9._:@/-]+$`)
)

// ValidStreamName reports whether s may name the audit stream, or a durable
// consumer of it: 1 to 64 letters, digits, '-' or '_'.
func ValidStreamName(s string) bool {
	return len(s) <= maxStreamNameLen && nameChars.MatchString(s)
}

// audit validates the `nats:` and `audit:` sections into s.Audit.
func (v *validator) audit(s *Settings, f *file) {
	a := DefaultAudit()
	if n := f.NATS; n != nil {
		v.nats(&a.NATS, n)
	}
	if fa := f.Audit; fa != nil {
		switch AuditMode(fa.Mode) {
		case "":
		case AuditAck, AuditBuffered:
			a.Mode = AuditMode(fa.Mode)
		default:
			v.fail(fmt.Sprintf("mode must be ack or buffered, not %q", fa.Mode), "audit", "mode")
		}
		if fa.SubjectPrefix != "" {
			a.SubjectPrefix = fa.SubjectPrefix
			if !validSubjectPrefix(fa.SubjectPrefix) {
				v.fail(fmt.Sprintf("subject_prefix must be at most %d characters: dot-separated tokens of letters, digits, '-' and '_'", maxSubjectPrefixLen), "audit", "subject_prefix")
			}
		}
		if fa.Instance != "" {
			a.Instance = fa.Instance
			if len(fa.Instance) > maxInstanceLen || !instanceChars.MatchString(fa.Instance) {
				v.fail(fmt.Sprintf("instance must be 1 to %d letters, digits or . _ : @ / -", maxInstanceLen), "audit", "instance")
			}
		}
		v.Duration(&a.PublishTimeout, fa.PublishTimeout, 10*time.Millisecond, time.Minute, "audit", "publish_timeout")
		v.Duration(&a.AckTimeout, fa.AckTimeout, 10*time.Millisecond, time.Minute, "audit", "ack_timeout")
		switch {
		case fa.MaxInFlight == 0:
		case fa.MaxInFlight < 1 || fa.MaxInFlight > 1<<20:
			v.fail("max_in_flight must be between 1 and 1048576", "audit", "max_in_flight")
		default:
			a.MaxInFlight = fa.MaxInFlight
		}
		if s := fa.Stream; s != nil {
			v.auditStream(&a.Stream, s)
		}
		if s := fa.Spool; s != nil {
			v.auditSpool(&a.Spool, s)
		}
	}
	if f.Audit == nil || f.Audit.Stream == nil || f.Audit.Stream.DuplicateWindow == 0 {
		a.Stream.DuplicateWindow = DefaultDuplicateWindow(a.Mode, a.PublishTimeout)
	}
	if a.AckTimeout > a.PublishTimeout {
		a.AckTimeout = a.PublishTimeout
	}
	// The stream must remember an event id for as long as it may be re-sent
	// by a token request waiting in ack mode.
	if a.Stream.DuplicateWindow < a.PublishTimeout {
		v.fail(fmt.Sprintf("duplicate_window (%s) must be at least audit.publish_timeout (%s), the retry horizon", a.Stream.DuplicateWindow, a.PublishTimeout), "audit", "stream", "duplicate_window")
	}
	if !a.NATS.External() && !a.NATS.Embedded.Cluster.Enabled() && a.Stream.Replicas > 1 {
		v.fail("the embedded server is a single node: replicas must be 1 unless nats.url names a cluster or nats.embedded.cluster makes it a member of one", "audit", "stream", "replicas")
	}
	s.Audit = a
	s.auditReplicasSet = f.Audit != nil && f.Audit.Stream != nil && f.Audit.Stream.Replicas != 0
}

func (v *validator) nats(n *NATS, f *fileNATS) {
	for i, raw := range f.URL {
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Host == "":
			v.fail(fmt.Sprintf("%q is not a URL such as nats://host:4222", raw), "nats", "url", i)
		case u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss":
			v.fail(fmt.Sprintf("%q: the scheme must be nats, tls, ws or wss", raw), "nats", "url", i)
		case u.User != nil:
			v.fail("put credentials in nats.credentials, not in the URL (the tenant file is not a secret store)", "nats", "url", i)
		default:
			n.URLs = append(n.URLs, raw)
		}
	}
	n.Credentials = v.file(f.Credentials, "nats", "credentials")
	if tls := f.TLS; tls != nil {
		n.TLS.CA = v.file(tls.CA, "nats", "tls", "ca")
		n.TLS.Cert = v.file(tls.Cert, "nats", "tls", "cert")
		n.TLS.Key = v.file(tls.Key, "nats", "tls", "key")
		if (n.TLS.Cert == "") != (n.TLS.Key == "") {
			v.fail("cert and key go together", "nats", "tls")
		}
	}
	if len(f.URL) == 0 && (f.Credentials != "" || f.TLS != nil) {
		v.fail("credentials and tls apply to an external server: set nats.url too", "nats")
	}
	e := f.Embedded
	if e == nil {
		return
	}
	if len(f.URL) > 0 {
		v.fail("embedded applies only when nats.url is empty", "nats", "embedded")
	}
	if e.Listen != nil {
		switch l := strings.TrimSpace(*e.Listen); l {
		case "off", "":
			n.Embedded.Listen = ""
		default:
			if err := ValidateEmbeddedListen(l); err != nil {
				v.fail(err.Error(), "nats", "embedded", "listen")
			}
			n.Embedded.Listen = l
		}
	}
	if e.StoreDir != "" {
		n.Embedded.StoreDir = v.path(e.StoreDir)
	}
	if e.Sync != nil {
		n.Embedded.Sync = *e.Sync
	}
	if e.ServerName != "" {
		n.Embedded.ServerName = e.ServerName
		if !ValidServerName(e.ServerName) {
			v.fail(fmt.Sprintf("server_name must be 1 to %d letters, digits, '.', '-' or '_'", maxInstanceLen), "nats", "embedded", "server_name")
		}
	}
	if c := e.Cluster; c != nil {
		ec := EmbeddedCluster{Name: c.Name, Listen: c.Listen, Routes: c.Routes}
		if tls := c.TLS; tls != nil {
			ec.TLS.CA = v.file(tls.CA, "nats", "embedded", "cluster", "tls", "ca")
			ec.TLS.Cert = v.file(tls.Cert, "nats", "embedded", "cluster", "tls", "cert")
			ec.TLS.Key = v.file(tls.Key, "nats", "embedded", "cluster", "tls", "key")
		}
		for _, err := range ec.validate() {
			v.fail(err.field+": "+err.msg, "nats", "embedded", "cluster", err.field)
		}
		n.Embedded.Cluster = ec
	}
}

// clusterError is a fault of an embedded cluster's settings, in a field.
type clusterError struct{ field, msg string }

// validate checks a cluster's name, listen address, routes and TLS files.
func (c *EmbeddedCluster) validate() []clusterError {
	var errs []clusterError
	if !nameChars.MatchString(c.Name) || len(c.Name) > maxStreamNameLen {
		errs = append(errs, clusterError{"name", fmt.Sprintf("must be 1 to %d letters, digits, '-' or '_'", maxStreamNameLen)})
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 1 || p > 65535 {
		errs = append(errs, clusterError{"listen", fmt.Sprintf("%q must be host:port, with a port other members can be told", c.Listen)})
	} else if !yamlfile.LoopbackHost(host) && (c.TLS.Cert == "" || c.TLS.CA == "") {
		errs = append(errs, clusterError{"tls", fmt.Sprintf("routes on %q, which is not loopback, must use TLS: set ca, cert and key (a member that joins the cluster reads every bucket)", c.Listen)})
	}
	if len(c.Routes) == 0 {
		errs = append(errs, clusterError{"routes", "list the route URL of every member (nats-route://host:port), this one's included"})
	}
	for _, r := range c.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" || (u.Scheme != "nats-route" && u.Scheme != "nats") || u.User != nil {
			errs = append(errs, clusterError{"routes", fmt.Sprintf("%q is not a route URL such as nats-route://host:6222 (without credentials)", r)})
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		errs = append(errs, clusterError{"tls", "cert and key go together"})
	}
	if c.TLS.Cert != "" && c.TLS.CA == "" {
		errs = append(errs, clusterError{"tls", "ca is required to verify the other members"})
	}
	return errs
}

// ValidServerName reports whether s may name a NATS server or a replica:
// 1 to 128 letters, digits, '.', '-' or '_'.
func ValidServerName(s string) bool {
	return len(s) <= maxInstanceLen && serverNameChars.MatchString(s)
}

// ValidateEmbeddedListen accepts host:port on a loopback address: the
// embedded server lets local readers in without credentials, so it must
// not be reachable from the network.
func ValidateEmbeddedListen(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("listen %q must be host:port (or off)", hostport)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("listen %q: bad port", hostport)
	}
	if !yamlfile.LoopbackHost(host) {
		return fmt.Errorf("listen %q must be a loopback address (127.0.0.1, ::1 or localhost): anyone who can connect may read the audit stream; use an external NATS server for remote readers", hostport)
	}
	return nil
}

func (v *validator) auditStream(s *AuditStream, f *fileAuditStream) {
	if f.Name != "" {
		s.Name = f.Name
		if !ValidStreamName(f.Name) {
			v.fail(fmt.Sprintf("name must be 1 to %d letters, digits, '-' or '_'", maxStreamNameLen), "audit", "stream", "name")
		}
	}
	switch {
	case f.MaxAge == 0:
	case f.MaxAge < time.Minute:
		v.fail("max_age must be at least 1m (or absent for the default)", "audit", "stream", "max_age")
	default:
		s.MaxAge = f.MaxAge
	}
	v.maxBytes(&s.MaxBytes, f.MaxBytes, "audit", "stream", "max_bytes")
	switch f.Replicas {
	case 0:
	case 1, 3, 5:
		s.Replicas = f.Replicas
	default:
		v.fail("replicas must be 1, 3 or 5", "audit", "stream", "replicas")
	}
	switch {
	case f.DuplicateWindow == 0:
	case f.DuplicateWindow < time.Second || f.DuplicateWindow > 24*time.Hour:
		v.fail("duplicate_window must be between 1s and 24h", "audit", "stream", "duplicate_window")
	default:
		s.DuplicateWindow = f.DuplicateWindow
	}
}

func (v *validator) auditSpool(s *AuditSpool, f *fileAuditSpool) {
	if f.Dir != "" {
		s.Dir = v.path(f.Dir)
	}
	v.maxBytes(&s.MaxBytes, f.MaxBytes, "audit", "spool", "max_bytes")
	switch {
	case f.MaxEvents == 0:
	case f.MaxEvents < 100:
		v.fail("max_events must be at least 100", "audit", "spool", "max_events")
	default:
		s.MaxEvents = f.MaxEvents
	}
	if f.Sync != nil {
		s.Sync = *f.Sync
	}
	if f.ReadyFill != nil {
		if *f.ReadyFill <= 0 || *f.ReadyFill > 1 {
			v.fail("ready_fill must be a ratio above 0 and at most 1", "audit", "spool", "ready_fill")
		} else {
			s.ReadyFill = *f.ReadyFill
		}
	}
}

// maxBytes sets *dst to a max_bytes value b when b is set and at least 1MiB.
func (v *validator) maxBytes(dst *int64, b yamlfile.ByteSize, path ...any) {
	switch {
	case b == 0:
	case b < 1<<20:
		v.fail("max_bytes must be at least 1MiB", path...)
	default:
		*dst = int64(b)
	}
}

// path resolves p against the tenant file's directory.
func (v *validator) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.dir, p)
}

// file resolves p and checks it can be read; "" stays "".
func (v *validator) file(p string, at ...any) string {
	if p == "" {
		return ""
	}
	p = v.path(p)
	if err := v.stat(p); err != nil {
		v.fail(fmt.Sprintf("cannot read: %v", err), at...)
	}
	return p
}

func validSubjectPrefix(p string) bool {
	if len(p) > maxSubjectPrefixLen {
		return false
	}
	for _, tok := range strings.Split(p, ".") {
		if !nameChars.MatchString(tok) {
			return false
		}
	}
	return true
}
