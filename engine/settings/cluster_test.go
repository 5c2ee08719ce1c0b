package settings_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/settings"
)

func TestClusterSettings(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"kek", "old-kek", "ca.pem", "n1.pem", "n1-key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := settings.Parse([]byte(`
cluster:
  kek_file: kek
  previous_kek_files: [old-kek]
nats:
  embedded:
    server_name: n1
    cluster:
      name: scopeline
      listen: 10.0.0.1:6222
      routes: [nats-route://10.0.0.1:6222, nats-route://10.0.0.2:6222, nats-route://10.0.0.3:6222]
      tls: {ca: ca.pem, cert: n1.pem, key: n1-key.pem}
`), "s.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	c, e := s.Cluster, s.Audit.NATS.Embedded
	if !c.Enabled || c.Replicas != 3 || c.KEKFile != filepath.Join(dir, "kek") || len(c.PreviousKEKFiles) != 1 {
		t.Errorf("cluster = %+v", c)
	}
	if !e.Cluster.Enabled() || e.Cluster.Name != "scopeline" || len(e.Cluster.Routes) != 3 || e.Cluster.TLS.CA == "" || e.ServerName != "n1" {
		t.Errorf("embedded = %+v", e)
	}
	// The audit stream follows the cluster, and the instance the server.
	if s.Audit.Stream.Replicas != 3 || s.Audit.Instance != "n1" || s.ServerName("host") != "n1" {
		t.Errorf("stream replicas %d, instance %q, server name %q", s.Audit.Stream.Replicas, s.Audit.Instance, s.ServerName("host"))
	}

	// No section: one process, as before.
	s, err = settings.Parse([]byte("audit: {mode: ack}\n"), "s.yaml", dir)
	if err != nil || s.Cluster.Enabled || s.Audit.Stream.Replicas != 1 {
		t.Errorf("without cluster settings: %+v, %v", s.Cluster, err)
	}
	// A cluster: section on one embedded server keeps one copy.
	s, err = settings.Parse([]byte("cluster: {}\n"), "s.yaml", dir)
	if err != nil || !s.Cluster.Enabled || s.Cluster.Replicas != 1 {
		t.Errorf("cluster on one embedded server: %+v, %v", s.Cluster, err)
	}
	// An explicit stream count stands.
	s, err = settings.Parse([]byte("nats: {url: nats://a:4222}\ncluster: {replicas: 3}\naudit: {stream: {replicas: 5}}\n"), "s.yaml", dir)
	if err != nil || s.Audit.Stream.Replicas != 5 || s.Cluster.Replicas != 3 {
		t.Errorf("explicit stream replicas: %d, %v", s.Audit.Stream.Replicas, err)
	}
}

func TestClusterErrors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"replicas", "cluster: {replicas: 2}\n", "t.yaml:1: cluster.replicas: replicas must be 1, 3 or 5"},
		{"replicas on one server", "cluster: {replicas: 3}\n", "a single embedded server keeps one copy"},
		{"kek file", "cluster: {kek_file: nope}\n", "cluster.kek_file: cannot read"},
		{"name", "nats:\n  embedded:\n    cluster: {name: 'a b', listen: '127.0.0.1:6222', routes: [nats-route://127.0.0.1:6222]}\n", "nats.embedded.cluster.name: name: must be"},
		{"no routes", "nats:\n  embedded:\n    cluster: {name: c, listen: '127.0.0.1:6222'}\n", "routes: list the route URL of every member"},
		{"route scheme", "nats:\n  embedded:\n    cluster: {name: c, listen: '127.0.0.1:6222', routes: [http://x:1]}\n", "is not a route URL"},
		{"listen", "nats:\n  embedded:\n    cluster: {name: c, listen: '6222', routes: [nats-route://x:6222]}\n", "listen: \"6222\" must be host:port"},
		{"tls off loopback", "nats:\n  embedded:\n    cluster: {name: c, listen: '0.0.0.0:6222', routes: [nats-route://x:6222]}\n", "must use TLS"},
		{"with url", "nats:\n  url: nats://a:4222\n  embedded:\n    cluster: {name: c, listen: '127.0.0.1:6222', routes: [nats-route://x:6222]}\n", "embedded applies only when nats.url is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := settings.Parse([]byte(tt.yaml), "t.yaml", t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

func TestClusterFlags(t *testing.T) {
	s := settings.Default()
	err := s.Apply(settings.Flags{ClusterName: "c", ClusterListen: "127.0.0.1:6222",
		ClusterRoutes: []string{"nats-route://127.0.0.1:6222", "nats-route://127.0.0.1:6223"}, Instance: "r1", KEKFile: "/k"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Cluster.Enabled || s.Cluster.Replicas != 3 || s.Audit.Stream.Replicas != 3 || s.Audit.Instance != "r1" || s.Cluster.KEKFile != "/k" || s.ServerName("h") != "r1" {
		t.Errorf("after flags: cluster %+v, stream replicas %d, instance %q", s.Cluster, s.Audit.Stream.Replicas, s.Audit.Instance)
	}
	s = settings.Default()
	if err := s.Apply(settings.Flags{ClusterName: "c"}); err == nil || !strings.Contains(err.Error(), "--cluster-listen") {
		t.Errorf("a name alone: %v", err)
	}
	ext, err := settings.Parse([]byte("nats: {url: nats://a:4222}\n"), "s.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Apply(settings.Flags{ClusterName: "c", ClusterListen: "127.0.0.1:6222", ClusterRoutes: []string{"nats-route://x:1"}}); err == nil || !strings.Contains(err.Error(), "external server") {
		t.Errorf("cluster flags with an external server: %v", err)
	}
}
