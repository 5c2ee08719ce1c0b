// Package cluster is the NATS system a Scopeline process uses: the
// embedded server (alone, or a member of a cluster with the other
// replicas' embedded servers, joined by routes) or an external server or
// cluster. A Node gives every part that needs NATS the same thing in all
// modes: a JetStream context for the stores (signing keys, end-user
// flows, throttles, and whatever else a replica shares) and new
// connections for parts that manage their own (the audit publisher).
//
// One code path serves every topology: the stores create or check their
// buckets with the replica count of the settings, and never learn whether
// the servers are embedded.
package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/scopeline/scopeline/engine/internal/jskv"
	"github.com/scopeline/scopeline/engine/settings"
)

// Config is what Start needs.
type Config struct {
	// NATS says which NATS system: an external one (URLs), else the
	// embedded server, a cluster member when NATS.Embedded.Cluster is set.
	NATS settings.NATS
	// ServerName names the embedded server; it must be unique among the
	// cluster's members (default "scopeline-embedded").
	ServerName string
	// StoreDir is the embedded server's JetStream directory.
	StoreDir string
	// ReaderStream is the stream that connections without credentials on
	// the embedded server's loopback listener may read (the audit stream,
	// for `scopeline audit tail` and the nats CLI).
	ReaderStream string
	// AdminKeyFile, when set, is where the seed of an nkey with every
	// permission on the embedded server is written (mode 0600), for the
	// commands that manage the cluster's state from the same machine
	// (`scopeline keys rotate`). The file is replaced at every start.
	AdminKeyFile string
	// MaxPayload bounds a message (default: the server's).
	MaxPayload int32
	// Name names the connections (default "scopeline").
	Name string
	Log  *slog.Logger
	Rand io.Reader
}

// Node is the process's place in the NATS system: its embedded server,
// if any, and a shared connection with its JetStream context.
type Node struct {
	cfg Config
	srv *server.Server // nil for an external system
	// key signs in to the embedded server, in process.
	key nkeys.KeyPair
	url string // the embedded server's loopback client URL ("": none)
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
}

// Start starts the embedded server (when the settings name no external
// one) and connects to the NATS system. The connection reconnects
// forever; Start does not wait for JetStream (see WaitJetStream).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Name == "" {
		cfg.Name = "scopeline"
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "scopeline-embedded"
	}
	n := &Node{cfg: cfg, log: cfg.Log}
	if !cfg.NATS.External() {
		if err := n.startServer(); err != nil {
			return nil, err
		}
	}
	var err error
	n.nc, err = n.Connect(
		nats.Name(cfg.Name+" stores"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				n.log.Warn("nats: disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { n.log.Info("nats: reconnected", "server", nc.ConnectedUrlRedacted()) }),
	)
	if err == nil {
		n.js, err = jetstream.New(n.nc)
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("nats: %w", err)
	}
	return n, nil
}

// startServer starts the embedded server.
func (n *Node) startServer() error {
	cfg := n.cfg
	e := cfg.NATS.Embedded
	key, err := nkeys.CreatePairWithRand(nkeys.PrefixByteUser, cfg.Rand)
	if err != nil {
		return fmt.Errorf("nats: embedded server key: %w", err)
	}
	n.key = key
	pub, err := key.PublicKey()
	if err != nil {
		return fmt.Errorf("nats: embedded server key: %w", err)
	}
	users := []*server.NkeyUser{{Nkey: pub}}
	if cfg.AdminKeyFile != "" {
		adminPub, err := writeAdminKey(cfg.AdminKeyFile, cfg.Rand)
		if err != nil {
			return err
		}
		users = append(users, &server.NkeyUser{Nkey: adminPub})
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o700); err != nil {
		return fmt.Errorf("nats: embedded server store: %w", err)
	}
	opts := &server.Options{
		ServerName:   cfg.ServerName,
		JetStream:    true,
		StoreDir:     cfg.StoreDir,
		SyncInterval: e.Sync.Interval,
		SyncAlways:   e.Sync.Always,
		NoSigs:       true,
		DontListen:   e.Listen == "",
		MaxPayload:   cfg.MaxPayload,
		Nkeys:        users,
		// The reader has no password: it is what anonymous connections are.
		Users:      []*server.User{{Username: ReaderUser, Permissions: readerPermissions(cfg.ReaderStream)}},
		NoAuthUser: ReaderUser,
	}
	if e.Listen != "" {
		if opts.Host, opts.Port, err = hostPort(e.Listen); err != nil {
			return fmt.Errorf("nats: embedded listen: %w", err)
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	if c := e.Cluster; c.Enabled() {
		if err := clusterOptions(opts, c); err != nil {
			return err
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats: embedded server: %w", err)
	}
	if err := StartServer(srv, Logger{n.log.With("component", "nats")}, 30*time.Second); err != nil {
		if errors.Is(err, ErrFatal) {
			return fmt.Errorf("%w (for an address in use, set nats.embedded.listen or nats.embedded.cluster.listen to another)", err)
		}
		return err
	}
	n.srv = srv
	if e.Listen != "" {
		n.url = srv.ClientURL()
	}
	n.log.Info("nats: embedded server started", "server_name", cfg.ServerName, "store_dir", cfg.StoreDir,
		"client_url", n.url, "sync", e.Sync.String(), "cluster", e.Cluster.Name, "cluster_listen", e.Cluster.Listen)
	return nil
}

// clusterOptions makes the server a member of cluster c.
func clusterOptions(opts *server.Options, c settings.EmbeddedCluster) error {
	host, port, err := hostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("nats: cluster listen: %w", err)
	}
	opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
	for _, r := range c.Routes {
		u, err := url.Parse(r)
		if err != nil {
			return fmt.Errorf("nats: cluster route %q: %w", r, err)
		}
		u.Scheme = "nats-route"
		opts.Routes = append(opts.Routes, u)
	}
	if c.TLS.Cert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, CaFile: c.TLS.CA, Verify: true})
		if err != nil {
			return fmt.Errorf("nats: cluster tls: %w", err)
		}
		// Each member is both client and server of the others' routes:
		// both sides verify against the CA.
		tc.RootCAs = tc.ClientCAs
		opts.Cluster.TLSConfig = tc
		opts.Cluster.TLSTimeout = 2
	}
	return nil
}

func hostPort(hp string) (string, int, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", hp, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("%q: bad port", hp)
	}
	return host, p, nil
}

// writeAdminKey writes a new admin nkey's seed to path (0600) and returns
// its public key.
func writeAdminKey(path string, rnd io.Reader) (string, error) {
	kp, err := nkeys.CreatePairWithRand(nkeys.PrefixByteUser, rnd)
	if err != nil {
		return "", fmt.Errorf("nats: admin key: %w", err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("nats: admin key: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(seed, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("nats: admin key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("nats: admin key: %w", err)
	}
	return pub, nil
}

// Connect makes a new connection to the NATS system with opts: in process
// to the embedded server, else to the external URLs with the settings'
// credentials and TLS files.
func (n *Node) Connect(opts ...nats.Option) (*nats.Conn, error) {
	url, base := n.options(false)
	return nats.Connect(url, append(base, opts...)...)
}

// ConnectTCP is Connect through the embedded server's loopback listener
// rather than in process: only to measure the difference.
func (n *Node) ConnectTCP(opts ...nats.Option) (*nats.Conn, error) {
	url, base := n.options(true)
	return nats.Connect(url, append(base, opts...)...)
}

func (n *Node) options(overTCP bool) (string, []nats.Option) {
	if n.srv == nil {
		return ClientOptions(n.cfg.NATS)
	}
	pub, _ := n.key.PublicKey()
	opts := []nats.Option{nats.Nkey(pub, n.key.Sign)}
	if overTCP {
		return n.url, opts
	}
	return "", append(opts, nats.InProcessServer(n.srv))
}

// JetStream is the JetStream context of the node's shared connection, for
// the stores: the same in every mode.
func (n *Node) JetStream() jetstream.JetStream { return n.js }

// Conn is the node's shared connection.
func (n *Node) Conn() *nats.Conn { return n.nc }

// Server is the embedded server (nil for an external system).
func (n *Node) Server() *server.Server { return n.srv }

// ClientURL is the embedded server's loopback URL ("" when there is no
// embedded server or it does not listen).
func (n *Node) ClientURL() string { return n.url }

// Embedded reports whether the node runs the NATS server in process.
func (n *Node) Embedded() bool { return n.srv != nil }

// WaitJetStream waits until JetStream answers (a cluster has elected its
// meta leader), saying every few seconds what it waits for, or ctx ends.
func (n *Node) WaitJetStream(ctx context.Context) error {
	return Retry(ctx, n.log, "JetStream", func(ctx context.Context) error {
		_, err := n.js.AccountInfo(ctx)
		return err
	})
}

// Ready reports whether the node can serve, for /healthz/ready: its
// connection is up and, for a member of an embedded cluster, its server
// is current with the cluster's JetStream metadata (a member that has
// just restarted reports not ready until it caught up, which is what a
// rolling upgrade waits for before the next member).
func (n *Node) Ready(context.Context) error {
	if !n.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	if n.srv != nil && n.srv.JetStreamIsClustered() && !n.srv.JetStreamIsCurrent() {
		return errors.New("this member's JetStream is not current with the cluster yet")
	}
	return nil
}

// Close closes the shared connection and shuts the embedded server down.
// Close the parts that made their own connections first.
func (n *Node) Close() {
	if n.nc != nil {
		n.nc.Close()
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}

// Retry calls try until it succeeds, ctx ends, or it fails with an error
// that waiting cannot fix (a bucket or stream whose settings differ from
// what the process needs, or an error marked Permanent). While it waits (a cluster
// forming, a server not yet there) it logs what it waits for, once per
// distinct error. Each call gets 10 seconds.
func Retry(ctx context.Context, log *slog.Logger, what string, try func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	last := ""
	for {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := try(tctx)
		cancel()
		var perm permanent
		switch {
		case err == nil:
			return nil
		case errors.As(err, &perm):
			return perm.err
		case errors.Is(err, jskv.ErrMismatch):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), err)
		}
		if msg := err.Error(); msg != last {
			log.Warn("waiting for "+what, "err", err)
			last = msg
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// Permanent marks an error that Retry returns at once: a setting to
// change, not a server to wait for.
func Permanent(err error) error { return permanent{err} }

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }
