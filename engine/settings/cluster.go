package settings

import (
	"errors"
	"fmt"
	"strings"

	"github.com/scopeline/scopeline/engine/internal/yamlfile"
)

// Cluster says whether the process is one replica of a cluster: any
// number of identical processes behind one URL, whose shared state (the
// signing keys, the end-user flows, the throttles) lives in JetStream
// buckets of the NATS system in the `nats:` section, an external cluster
// or the replicas' embedded servers joined by routes.
type Cluster struct {
	// Enabled: a `cluster:` section, or an embedded server that is a
	// cluster member.
	Enabled bool
	// Replicas is how many NATS servers keep each bucket and the audit
	// stream (default 3 in a cluster of NATS servers, 1 on a single
	// embedded server).
	Replicas int
	// KEKFile holds the key-encryption key that seals the private signing
	// keys in their bucket ("": the SCOPELINE_KEK environment variable);
	// PreviousKEKFiles hold former ones, which only open, while the keys
	// are sealed again after a change of KEK.
	KEKFile          string
	PreviousKEKFiles []string
}

type fileCluster struct {
	Replicas         int                 `yaml:"replicas"`
	KEKFile          string              `yaml:"kek_file"`
	PreviousKEKFiles yamlfile.StringList `yaml:"previous_kek_files"`
}

// cluster validates the `cluster:` section into s.Cluster.
func (v *validator) cluster(s *Settings, f *file) {
	c := &s.Cluster
	c.Enabled = f.Cluster != nil || s.Audit.NATS.Embedded.Cluster.Enabled()
	if fc := f.Cluster; fc != nil {
		switch fc.Replicas {
		case 0:
		case 1, 3, 5:
			c.Replicas = fc.Replicas
		default:
			v.fail("replicas must be 1, 3 or 5", "cluster", "replicas")
		}
		if fc.KEKFile != "" {
			c.KEKFile = v.file(fc.KEKFile, "cluster", "kek_file")
		}
		for i, p := range fc.PreviousKEKFiles {
			c.PreviousKEKFiles = append(c.PreviousKEKFiles, v.file(p, "cluster", "previous_kek_files", i))
		}
	}
	n := &s.Audit.NATS
	if c.Replicas > 1 && !n.External() && !n.Embedded.Cluster.Enabled() {
		v.fail("a single embedded server keeps one copy: replicas must be 1 unless nats.url names a cluster or nats.embedded.cluster makes the server a member of one", "cluster", "replicas")
	}
	s.finish()
}

// finish sets the defaults that depend on several sections. It is
// idempotent: Apply calls it again after the flags.
func (s *Settings) finish() {
	c, n := &s.Cluster, &s.Audit.NATS
	if !c.Enabled {
		return
	}
	if c.Replicas == 0 {
		c.Replicas = 3
		if !n.External() && !n.Embedded.Cluster.Enabled() {
			c.Replicas = 1
		}
	}
	if !s.auditReplicasSet {
		s.Audit.Stream.Replicas = c.Replicas
	}
	if s.Audit.Instance == "" {
		s.Audit.Instance = n.Embedded.ServerName
	}
}

// Flags are the settings `scopeline serve` takes on its command line; a
// flag given overrides the file.
type Flags struct {
	// ClusterName, ClusterListen and ClusterRoutes make the embedded
	// server a cluster member (--cluster-name, --cluster-listen,
	// --cluster-routes).
	ClusterName   string
	ClusterListen string
	ClusterRoutes []string
	// Instance names the replica in events and, unless the file names it
	// otherwise, its embedded server among the cluster's members
	// (--instance).
	Instance string
	// KEKFile is the key-encryption key's file (--kek-file).
	KEKFile string
}

// Apply overrides the settings with the flags given, and checks the
// result as the file's own settings are checked.
func (s *Settings) Apply(f Flags) error {
	var errs []error
	n := &s.Audit.NATS
	if f.ClusterName != "" || f.ClusterListen != "" || len(f.ClusterRoutes) > 0 {
		if n.External() {
			errs = append(errs, errors.New("--cluster-name, --cluster-listen and --cluster-routes make the embedded server a cluster member: the settings name an external server (nats.url)"))
		}
		c := &n.Embedded.Cluster
		if f.ClusterName != "" {
			c.Name = f.ClusterName
		}
		if f.ClusterListen != "" {
			c.Listen = f.ClusterListen
		}
		if len(f.ClusterRoutes) > 0 {
			c.Routes = f.ClusterRoutes
		}
		for _, e := range c.validate() {
			errs = append(errs, fmt.Errorf("--cluster-%s (or nats.embedded.cluster.%s): %s", e.field, e.field, e.msg))
		}
		s.Cluster.Enabled = true
	}
	if f.Instance != "" {
		if len(f.Instance) > maxInstanceLen || !instanceChars.MatchString(f.Instance) {
			errs = append(errs, fmt.Errorf("--instance must be 1 to %d letters, digits or . _ : @ / -", maxInstanceLen))
		}
		s.Audit.Instance = f.Instance
	}
	if f.KEKFile != "" {
		s.Cluster.KEKFile = f.KEKFile
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.finish()
	return nil
}

// ServerName is the name of the embedded server: the one the settings
// give, else the instance, else host (the host name), made a valid server
// name.
func (s *Settings) ServerName(host string) string {
	for _, name := range []string{s.Audit.NATS.Embedded.ServerName, s.Audit.Instance, host} {
		name = strings.Map(func(r rune) rune {
			if r < 128 && serverNameChars.MatchString(string(r)) {
				return r
			}
			return '-'
		}, name)
		if name != "" && ValidServerName(name) {
			return name
		}
	}
	return "scopeline"
}
