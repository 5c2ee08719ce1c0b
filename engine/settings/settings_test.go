package settings_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/settings"
)

func TestAuditDefaults(t *testing.T) {
	s, err := settings.Parse([]byte("# nothing set\n"), "s.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Audit, settings.DefaultAudit()) || !reflect.DeepEqual(settings.Default().Audit, s.Audit) {
		t.Errorf("audit = %+v\nwant the defaults %+v", s.Audit, settings.DefaultAudit())
	}
	a := s.Audit
	if a.Mode != settings.AuditAck || a.NATS.External() || a.NATS.Embedded.Listen != "127.0.0.1:4222" ||
		a.Stream.Name != "SCOPELINE_AUDIT" || a.Stream.DuplicateWindow < a.PublishTimeout {
		t.Errorf("defaults = %+v", a)
	}
}

func TestAuditSettings(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"audit.creds", "ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, a settings.Audit)
	}{
		{"external cluster", `
nats:
  url: [nats://a:4222, tls://b:4222]
  credentials: audit.creds
  tls: {ca: ca.pem, cert: cert.pem, key: key.pem}
audit:
  mode: buffered
  subject_prefix: acme.audit
  instance: issuer-1
  publish_timeout: 3s
  ack_timeout: 500ms
  max_in_flight: 128
  stream: {name: ACME, max_age: 720h, max_bytes: 10GiB, replicas: 3, duplicate_window: 10m}
  spool: {dir: spool, max_bytes: 64MiB, max_events: 5000, sync: always, ready_fill: 0.5}
`, func(t *testing.T, a settings.Audit) {
			want := settings.Audit{
				Mode: settings.AuditBuffered, SubjectPrefix: "acme.audit", Instance: "issuer-1",
				PublishTimeout: 3 * time.Second, AckTimeout: 500 * time.Millisecond, MaxInFlight: 128,
				Stream: settings.AuditStream{Name: "ACME", MaxAge: 720 * time.Hour, MaxBytes: 10 << 30, Replicas: 3, DuplicateWindow: 10 * time.Minute},
				Spool:  settings.AuditSpool{Dir: filepath.Join(dir, "spool"), MaxBytes: 64 << 20, MaxEvents: 5000, Sync: settings.Sync{Always: true}, ReadyFill: 0.5},
				NATS: settings.NATS{
					URLs: []string{"nats://a:4222", "tls://b:4222"}, Credentials: filepath.Join(dir, "audit.creds"),
					TLS:      settings.NATSTLS{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")},
					Embedded: settings.DefaultAudit().NATS.Embedded,
				},
			}
			if !reflect.DeepEqual(a, want) {
				t.Errorf("got  %+v\nwant %+v", a, want)
			}
		}},
		{"duplicate window, ack mode", "audit:\n  publish_timeout: 2s\n", func(t *testing.T, a settings.Audit) {
			if a.Stream.DuplicateWindow != 12*time.Second {
				t.Errorf("duplicate window %s, want 6 × publish_timeout", a.Stream.DuplicateWindow)
			}
		}},
		{"duplicate window, buffered mode", "audit:\n  mode: buffered\n", func(t *testing.T, a settings.Audit) {
			if a.Stream.DuplicateWindow != 2*time.Minute {
				t.Errorf("duplicate window %s, want 2m", a.Stream.DuplicateWindow)
			}
		}},
		{"duplicate window set", "audit:\n  stream: {duplicate_window: 10s}\n", func(t *testing.T, a settings.Audit) {
			if a.Stream.DuplicateWindow != 10*time.Second {
				t.Errorf("duplicate window %s, want 10s", a.Stream.DuplicateWindow)
			}
		}},
		{"one URL as a string", "nats:\n  url: nats://127.0.0.1:4222\n", func(t *testing.T, a settings.Audit) {
			if len(a.NATS.URLs) != 1 || !a.NATS.External() {
				t.Errorf("urls = %v", a.NATS.URLs)
			}
		}},
		{"embedded settings", "nats:\n  embedded: {listen: '[::1]:0', store_dir: /var/lib/nats, sync: 10s}\n", func(t *testing.T, a settings.Audit) {
			e := a.NATS.Embedded
			if e.Listen != "[::1]:0" || e.StoreDir != "/var/lib/nats" || e.Sync != (settings.Sync{Interval: 10 * time.Second}) || e.Sync.String() != "10s" {
				t.Errorf("embedded = %+v", e)
			}
		}},
		{"embedded port off", "nats:\n  embedded: {listen: off, sync: always}\n", func(t *testing.T, a settings.Audit) {
			if a.NATS.Embedded.Listen != "" || !a.NATS.Embedded.Sync.Always || a.NATS.Embedded.Sync.String() != "always" {
				t.Errorf("embedded = %+v", a.NATS.Embedded)
			}
		}},
		{"ack timeout capped by publish timeout", "audit: {publish_timeout: 1s, ack_timeout: 5s}\n", func(t *testing.T, a settings.Audit) {
			if a.AckTimeout != time.Second {
				t.Errorf("ack timeout = %s", a.AckTimeout)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := settings.Parse([]byte(tt.yaml), filepath.Join(dir, "t.yaml"), dir)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s.Audit)
		})
	}
}

func TestAuditErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"bad mode", "audit:\n  mode: async\n", `t.yaml:2: audit.mode: mode must be ack or buffered, not "async"`},
		{"unknown audit key", "audit:\n  modes: ack\n", "t.yaml:2: modes: unknown field in Audit"},
		{"unknown nats key", "nats:\n  urls: [nats://x]\n", "t.yaml:2: urls: unknown field in NATS"},
		{"url not a url", "nats:\n  url: [nats://a:4222, 'not a url']\n", `t.yaml:2: nats.url[1]: "not a url" is not a URL`},
		{"url scheme", "nats:\n  url: http://a:4222\n", "t.yaml:2: nats.url[0]: \"http://a:4222\": the scheme must be nats"},
		{"password in url", "nats:\n  url: nats://u:hunter2@a:4222\n", "nats.url[0]: put credentials in nats.credentials"},
		{"url of a mapping", "nats:\n  url: {a: b}\n", "t.yaml:2: want a string or a list of strings"},
		{"missing creds file", "nats:\n  url: nats://a\n  credentials: nope.creds\n", "t.yaml:3: nats.credentials: cannot read"},
		{"creds without url", "nats:\n  credentials: x.creds\n", "nats: credentials and tls apply to an external server"},
		{"cert without key", "nats:\n  url: nats://a\n  tls: {cert: c.pem}\n", "nats.tls: cert and key go together"},
		{"embedded with url", "nats:\n  url: nats://a\n  embedded: {listen: off}\n", "nats.embedded: embedded applies only when nats.url is empty"},
		{"embedded not loopback", "nats:\n  embedded: {listen: '0.0.0.0:4222'}\n", "t.yaml:2: nats.embedded.listen: listen \"0.0.0.0:4222\" must be a loopback address"},
		{"embedded no port", "nats:\n  embedded: {listen: localhost}\n", "must be host:port"},
		{"sync not a duration", "nats:\n  embedded: {sync: sometimes}\n", `t.yaml:2: sync must be "always" or a positive duration`},
		{"subject prefix wildcard", "audit:\n  subject_prefix: 'audit.>'\n", "audit.subject_prefix: subject_prefix must be"},
		{"subject prefix empty token", "audit:\n  subject_prefix: 'a..b'\n", "audit.subject_prefix"},
		{"bad instance", "audit:\n  instance: 'has space'\n", "audit.instance: instance must be"},
		{"publish timeout", "audit:\n  publish_timeout: 2h\n", "audit.publish_timeout: must be between 10ms and 1m0s"},
		{"in flight", "audit:\n  max_in_flight: -3\n", "audit.max_in_flight"},
		{"stream name", "audit:\n  stream: {name: 'A.B'}\n", "t.yaml:2: audit.stream.name: name must be"},
		{"replicas", "audit:\n  stream: {replicas: 2}\n", "audit.stream.replicas: replicas must be 1, 3 or 5"},
		{"replicas embedded", "audit:\n  stream: {replicas: 3}\n", "the embedded server is a single node"},
		{"max age", "audit:\n  stream: {max_age: 1s}\n", "audit.stream.max_age: max_age must be at least 1m"},
		{"stream bytes", "audit:\n  stream: {max_bytes: 1KiB}\n", "audit.stream.max_bytes: max_bytes must be at least 1MiB"},
		{"window below horizon", "audit:\n  publish_timeout: 30s\n  stream: {duplicate_window: 10s}\n", "audit.stream.duplicate_window: duplicate_window (10s) must be at least audit.publish_timeout (30s)"},
		{"spool events", "audit:\n  spool: {max_events: 5}\n", "audit.spool.max_events: max_events must be at least 100"},
		{"spool fill", "audit:\n  spool: {ready_fill: 1.5}\n", "audit.spool.ready_fill"},
		{"spool size", "audit:\n  spool: {max_bytes: 12PB}\n", "t.yaml:2: invalid size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := settings.Parse([]byte(tt.yaml), "t.yaml", t.TempDir())
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}
