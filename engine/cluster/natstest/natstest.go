// Package natstest runs NATS servers with JetStream inside a test process:
// one standalone server, or a cluster of several joined by routes, each
// with its file store under the test's temporary directory and listening
// on 127.0.0.1 only.
//
// A test can stop a node and start it again on the same store, to see
// what a replica or a client does while a stream or key-value bucket
// elects another leader. Everything waits on progress (polling a
// condition with a generous deadline), never on a fixed sleep.
//
// Clusters of more than one node are slow to form and to fail over, so
// Start skips the calling test under `go test -short`.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/cluster"
)

// Deadline bounds every wait of this package: for a node to start, a
// leader to be elected, a replica to catch up. It is generous because the
// test machines are small and shared; waits end as soon as the condition
// holds.
const Deadline = 60 * time.Second

// Cluster is a set of in-process NATS servers with JetStream.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*node
}

type node struct {
	opts *server.Options
	srv  *server.Server // nil while stopped
}

// Start starts n servers (1, or an odd number for a cluster) and waits
// until JetStream is ready on all of them: a meta leader elected and every
// node current. Each configure changes every server's options before it
// starts (SyncAlways, say). The servers are shut down when the test ends.
// A cluster (n > 1) skips the test under -short.
func Start(t testing.TB, n int, configure ...func(*server.Options)) *Cluster {
	t.Helper()
	if n < 1 || n > 1 && n%2 == 0 {
		t.Fatalf("natstest: %d nodes: want 1 or an odd number", n)
	}
	if n > 1 && testing.Short() {
		t.Skipf("natstest: a %d-node cluster is slow; skipped under -short", n)
	}
	dir := t.TempDir() // before the shutdown, so removed after it
	c := &Cluster{t: t}
	t.Cleanup(c.shutdown)
	for attempt := 1; ; attempt++ {
		c.nodes = newNodes(t, dir, n, configure)
		err := c.startAll()
		if err == nil {
			break
		}
		c.shutdown()
		if !errors.Is(err, cluster.ErrFatal) || attempt == startAttempts {
			t.Fatal(err)
		}
		// A route port found free was taken before its server
		// listened on it: start over on other ports and empty stores.
		for _, nd := range c.nodes {
			if err := os.RemoveAll(nd.opts.StoreDir); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.WaitReady()
	return c
}

// startAttempts bounds how many times Start starts a cluster over on
// other route ports.
const startAttempts = 5

// newNodes configures n servers storing under dir, on route ports free
// now.
func newNodes(t testing.TB, dir string, n int, configure []func(*server.Options)) []*node {
	var routes []*url.URL
	clusterPorts := make([]int, n)
	if n > 1 {
		// Every node lists the routes to all, as a production
		// configuration would, so a node restarted later finds the others.
		for i := range clusterPorts {
			clusterPorts[i] = FreePort(t)
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", clusterPorts[i])})
		}
	}
	nodes := make([]*node, n)
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i)),
			NoSigs:     true,
			NoLog:      true,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: clusterPorts[i]}
			opts.Routes = routes
		}
		for _, f := range configure {
			f(opts)
		}
		nodes[i] = &node{opts: opts}
	}
	return nodes
}

// startAll starts every node at once (each waits for the others'
// routes) and returns the first node's error.
func (c *Cluster) startAll() error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, nd := range c.nodes {
		wg.Go(func() { errs[i] = nd.start() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// FreePort finds a loopback port nothing listens on, for a route: routes
// are configured before the servers start, so they cannot use port 0.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (n *node) start() error {
	srv, err := server.NewServer(n.opts)
	if err != nil {
		return fmt.Errorf("natstest: %s: %w", n.opts.ServerName, err)
	}
	log := &startLog{}
	if err := cluster.StartServer(srv, log, Deadline); err != nil {
		if errors.Is(err, cluster.ErrFatal) {
			return fmt.Errorf("natstest: %s: %w", n.opts.ServerName, err)
		}
		return fmt.Errorf("natstest: %s: %w; its last errors and warnings: %q", n.opts.ServerName, err, log.last())
	}
	// A restart listens on the same ports, so that clients find it again
	// at the address they know.
	n.opts.Port = srv.Addr().(*net.TCPAddr).Port
	n.srv = srv
	return nil
}

// startLog keeps a server's last few errors and warnings, to say why it
// did not start, and drops the rest of its log.
type startLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *startLog) Fatalf(format string, v ...any) { l.keep("fatal: " + fmt.Sprintf(format, v...)) }
func (l *startLog) Errorf(format string, v ...any) { l.keep("error: " + fmt.Sprintf(format, v...)) }
func (l *startLog) Warnf(format string, v ...any)  { l.keep("warning: " + fmt.Sprintf(format, v...)) }
func (*startLog) Noticef(string, ...any)           {}
func (*startLog) Debugf(string, ...any)            {}
func (*startLog) Tracef(string, ...any)            {}

func (l *startLog) keep(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 5 {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, line)
}

func (l *startLog) last() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (c *Cluster) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.srv != nil {
			n.srv.Shutdown()
			n.srv.WaitForShutdown()
			n.srv = nil
		}
	}
}

// StoreDir is node i's JetStream store directory, to look at what the
// node keeps on disk.
func (c *Cluster) StoreDir(i int) string { return c.nodes[i].opts.StoreDir }

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.nodes) }

// Server returns node i's server, or nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

func (c *Cluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*server.Server
	for _, n := range c.nodes {
		if n.srv != nil {
			out = append(out, n.srv)
		}
	}
	return out
}

// URL lists the client URLs of every node, comma-separated, as
// nats.Connect takes them; a client reconnects to another node when the
// one it uses stops.
func (c *Cluster) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port)
	}
	return strings.Join(urls, ",")
}

// Connect connects to the cluster over TCP, reconnecting for as long as
// the test runs; the connection is closed when the test ends.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(c.URL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ConnectInProcess connects to node i without a socket, as a replica
// connects to the server it embeds.
func (c *Cluster) ConnectInProcess(t testing.TB, i int, opts ...nats.Option) *nats.Conn {
	t.Helper()
	srv := c.Server(i)
	if srv == nil {
		t.Fatalf("natstest: node %d is stopped", i)
	}
	nc, err := nats.Connect("", append([]nats.Option{nats.InProcessServer(srv)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context on a new connection to the
// cluster.
func (c *Cluster) JetStream(t testing.TB, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(c.Connect(t, opts...))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Stop shuts node i down, as abruptly as an in-process server allows:
// its clients are disconnected and it stops answering; its store stays
// for Restart.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	srv := n.srv
	n.srv = nil
	c.mu.Unlock()
	if srv == nil {
		c.t.Fatalf("natstest: node %d is already stopped", i)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart starts a stopped node i again on its store and ports, and
// waits until JetStream is current on every running node.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	if n.srv != nil {
		c.mu.Unlock()
		c.t.Fatalf("natstest: node %d is running", i)
	}
	err := n.start()
	c.mu.Unlock()
	if err != nil {
		c.t.Fatal(err)
	}
	c.WaitReady()
}

// WaitReady waits until JetStream has a meta leader among the running
// nodes that sees every running node online, and every running node is
// current with it.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	c.waitFor("JetStream ready", func() bool {
		srvs := c.running()
		if len(srvs) == 1 && !srvs[0].JetStreamIsClustered() {
			return srvs[0].JetStreamEnabled()
		}
		leader := false
		for _, s := range srvs {
			if !s.JetStreamIsCurrent() {
				return false
			}
			if s.JetStreamIsLeader() {
				// The leader places new streams only on peers it sees
				// online.
				leader = len(s.JetStreamClusterPeers()) == len(srvs)
			}
		}
		return leader
	})
}

// WaitStream waits until stream (in the default account) has a leader
// among the running nodes and every running node that holds a replica of
// it is current, and returns the leader's index. A key-value bucket B is
// the stream KV_B.
func (c *Cluster) WaitStream(stream string) int {
	c.t.Helper()
	leader := -1
	c.waitFor("a leader for stream "+stream, func() bool {
		leader = c.StreamLeader(stream)
		if leader < 0 {
			return false
		}
		for _, s := range c.running() {
			if s.JetStreamIsClustered() && s.JetStreamIsStreamAssigned(server.DEFAULT_GLOBAL_ACCOUNT, stream) &&
				!s.JetStreamIsStreamCurrent(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
				return false
			}
		}
		return true
	})
	return leader
}

// StreamLeader returns the index of the running node that leads stream,
// or -1 when none does. A single server leads every stream.
func (c *Cluster) StreamLeader(stream string) int {
	for i := range c.nodes {
		s := c.Server(i)
		if s == nil {
			continue
		}
		if !s.JetStreamIsClustered() {
			return i // a single server leads every stream it has
		}
		if s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// WaitFor polls cond until it holds, failing the test after Deadline.
func (c *Cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	if err := Poll(context.Background(), Deadline, cond); err != nil {
		c.t.Fatalf("natstest: waiting for %s: %v", what, err)
	}
}

// Poll calls cond every few milliseconds until it returns true, ctx ends
// or timeout passes.
func Poll(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("still false after %s", timeout)
		case <-tick.C:
		}
	}
	return nil
}
