package audit_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/settings"
)

// The failure tests run real NATS servers in the test process and drive
// token requests through a real issuer while the servers fail. For each
// delivery mode they check the promise: every token handed out has exactly
// one event in the stream, no event is stored twice, and during the outage
// token requests behave as documented: ack mode answers 503
// temporarily_unavailable, buffered mode keeps issuing and the events
// arrive after recovery.

// failureAudit are settings with short timeouts, so that outages show
// within a test's patience.
func failureAudit(t *testing.T, mode settings.AuditMode, urls ...string) settings.Audit {
	a := testAudit(t, mode, urls...)
	a.PublishTimeout = time.Second
	a.AckTimeout = 250 * time.Millisecond
	return a
}

const (
	workers   = 8
	batch     = 150 // tokens between the steps of a scenario
	patience  = 90 * time.Second
	clientSec = "demo-m2m-secret"
)

// scenario runs load against an issuer publishing to urls while disrupt
// breaks and repairs the servers, then checks the stream through readURL.
type scenario struct {
	t     *testing.T
	mode  settings.AuditMode
	p     *audit.Publisher
	reg   *metrics.Set
	r     *results
	stop  chan struct{}
	wait  func()
	start time.Time
}

func runLoad(t *testing.T, mode settings.AuditMode, cfg settings.Audit) *scenario {
	reg := metrics.NewSet()
	p := openPublisher(t, cfg, audit.WithMetrics(reg))
	srv := startIssuer(t, p)
	sc := &scenario{t: t, mode: mode, p: p, reg: reg, r: newResults(), stop: make(chan struct{}), start: time.Now()}
	sc.wait = load(t, newTokenClient(srv), sc.r, workers, 0, sc.stop)
	t.Cleanup(sc.finish)
	return sc
}

// issued waits until n more tokens were handed out.
func (sc *scenario) issued(n int, what string) {
	sc.t.Helper()
	target := sc.r.count(200) + n
	waitFor(sc.t, fmt.Sprintf("%d tokens %s", n, what), patience, func() bool { return sc.r.count(200) >= target })
}

// outage waits until the outage shows in the answers: 503s in ack mode,
// tokens still flowing (into the spool) in buffered mode.
func (sc *scenario) outage() {
	sc.t.Helper()
	if sc.mode == settings.AuditAck {
		target := sc.r.count(503) + workers
		waitFor(sc.t, "503 answers during the outage", patience, func() bool { return sc.r.count(503) >= target })
		return
	}
	sc.issued(batch, "during the outage")
	if sc.p.Backlog() == 0 {
		sc.t.Error("buffered mode issued tokens during the outage with an empty spool")
	}
}

func (sc *scenario) finish() {
	select {
	case <-sc.stop:
		return
	default:
	}
	close(sc.stop)
	sc.wait()
}

// check stops the load, waits for the spool to drain and checks the stream.
func (sc *scenario) check(readURL string) {
	t := sc.t
	t.Helper()
	sc.finish()
	waitFor(t, "the spool to drain", patience, func() bool { return sc.p.Backlog() == 0 })
	events := streamEvents(t, readURL)
	checkExactlyOnce(t, sc.r, events, sc.mode == settings.AuditAck, clientSec)
	sc.r.mu.Lock()
	defer sc.r.mu.Unlock()
	for status, n := range sc.r.statuses {
		switch {
		case status == 200:
		case status == 503 && sc.mode == settings.AuditAck:
		default:
			t.Errorf("%d answers with status %d in %s mode: %v", n, status, sc.mode, sc.r.bodies[:min(3, len(sc.r.bodies))])
		}
	}
	for code := range sc.r.errors {
		if code != "temporarily_unavailable" {
			t.Errorf("error %q answered", code)
		}
	}
	retries, dups := metricValue(t, sc.reg, "scopeline_audit_publish_retries_total"), metricValue(t, sc.reg, "scopeline_audit_duplicates_total")
	t.Logf("%s mode, %s: answers %v; %v re-sends, %v of them already stored", sc.mode, time.Since(sc.start).Round(time.Millisecond), sc.r.statuses, retries, dups)
	// (buffered mode holds back while disconnected, so it may never need
	// to re-send: its outage shows as the spool's backlog, checked above.)
	if retries == 0 && sc.mode == settings.AuditAck {
		t.Error("no event was ever re-sent: the outage did not reach the publisher")
	}
}

var modes = []settings.AuditMode{settings.AuditAck, settings.AuditBuffered}

func TestServerRestartMidLoad(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			ns := startNATS(t, "n1", 0, dir)
			port, u := ns.port(), ns.ClientURL()
			sc := runLoad(t, mode, failureAudit(t, mode, u))

			sc.issued(batch, "before the restart")
			ns.stop()
			sc.outage()
			ns = startNATS(t, "n1", port, dir)
			sc.issued(batch, "after the restart")
			sc.check(ns.ClientURL())
		})
	}
}

func TestUnreachableAtStartAndDuringLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out reconnects of a server that comes and goes: runs without -short (and in CI)")
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			port := natstest.FreePort(t)
			u := fmt.Sprintf("nats://127.0.0.1:%d", port)
			sc := runLoad(t, mode, failureAudit(t, mode, u))

			// Nothing listens yet.
			sc.outage()
			if mode == settings.AuditAck && sc.r.count(200) != 0 {
				t.Fatalf("%d tokens handed out before the stream existed", sc.r.count(200))
			}
			if err := sc.p.Ready(context.Background()); err == nil && mode == settings.AuditAck {
				t.Error("ready while NATS is unreachable in ack mode")
			}
			ns := startNATS(t, "n1", port, dir)
			sc.issued(batch, "once the server is up")
			ns.stop()
			sc.outage()
			ns = startNATS(t, "n1", port, dir)
			sc.issued(batch, "after the server came back")
			sc.check(ns.ClientURL())
		})
	}
}

func TestClusterLeaderKilledMidLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster losing its leader, about 30 s: runs without -short (and in CI)")
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			c := natstest.Start(t, 3)
			var urls []string
			for i := range c.Size() {
				urls = append(urls, c.Server(i).ClientURL())
			}
			cfg := failureAudit(t, mode, urls...)
			cfg.Stream.Replicas = 3
			// Leader elections take seconds: let ack mode wait them out.
			cfg.PublishTimeout = 10 * time.Second
			sc := runLoad(t, mode, cfg)
			waitFor(t, "the R3 stream", patience, func() bool { return streamLeader(t, urls) != "" })

			sc.issued(batch, "before the leader is killed")
			leader := streamLeader(t, urls)
			var survivor string
			for i := range c.Size() {
				if s := c.Server(i); s.Name() == leader {
					c.Stop(i)
				} else {
					survivor = s.ClientURL()
				}
			}
			t.Logf("killed the stream leader %s", leader)
			waitFor(t, "a new stream leader", patience, func() bool {
				l := streamLeader(t, []string{survivor})
				return l != "" && l != leader
			})
			sc.issued(batch, "after the new leader took over")
			sc.check(survivor)
		})
	}
}

// TestEventThatCannotBeBuilt checks that an event that cannot be built (no
// randomness for its id) is refused with ErrUnavailable and counted as
// failed, whatever its kind.
func TestEventThatCannotBeBuilt(t *testing.T) {
	rnd := &breakableRand{}
	reg := metrics.NewSet()
	p := openPublisher(t, testAudit(t, settings.AuditAck), audit.WithRand(rnd), audit.WithMetrics(reg))
	rnd.broken.Store(true)
	if err := p.Reloaded(context.Background(), audit.Reload{Source: "t.yaml", Err: errors.New("t.yaml:3: bogus")}); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Reloaded = %v, want an ErrUnavailable", err)
	}
	if n := metricValue(t, reg, "scopeline_audit_events_failed_total"); n != 1 {
		t.Errorf("failed events = %v, want 1", n)
	}
}

// breakableRand is crypto/rand until broken.
type breakableRand struct{ broken atomic.Bool }

func (r *breakableRand) Read(b []byte) (int, error) {
	if r.broken.Load() {
		return 0, errors.New("no randomness")
	}
	return rand.Read(b)
}

// metricValue sums a metric's samples.
func metricValue(t *testing.T, set *metrics.Set, name string) float64 {
	t.Helper()
	return enginetest.Metrics(t, set).Sum(name)
}

// streamLeader returns the name of the audit stream's leader, "" while
// there is none (or no server answers).
func streamLeader(t *testing.T, urls []string) string {
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Timeout(time.Second))
	if err != nil {
		return ""
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := js.Stream(ctx, settings.DefaultAuditStream)
	if err != nil {
		return ""
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// Events left in the spool are sent at the next start even when the
// settings changed the subject prefix meanwhile (they apply at a
// restart): the stream then captures only the new prefix, and a spooled
// event sent on the old one would be refused for ever, holding back every
// event behind it.
func TestSpooledEventsSurviveANewSubjectPrefix(t *testing.T) {
	port := natstest.FreePort(t)
	u := fmt.Sprintf("nats://127.0.0.1:%d", port)
	cfg := testAudit(t, settings.AuditBuffered, u)
	cfg.SubjectPrefix = "old.audit"
	p, err := audit.Open(context.Background(), cfg, audit.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := p.Reloaded(context.Background(), audit.Reload{Source: "t.yaml"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	p.Close(ctx) // nothing listens: the events stay in the spool
	cancel()

	ns := startNATS(t, "n1", port, t.TempDir())
	cfg.SubjectPrefix = "new.audit"
	p2 := openPublisher(t, cfg)
	if p2.Backlog() != 3 {
		t.Fatalf("backlog %d at the restart, want 3", p2.Backlog())
	}
	waitFor(t, "the spooled events in the stream", 20*time.Second, func() bool { return p2.Backlog() == 0 })
	if n := streamMsgCount(t, ns.ClientURL()); n != 3 {
		t.Fatalf("%d events in the stream, want 3", n)
	}
}
