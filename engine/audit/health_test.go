package audit_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/settings"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
)

// freezer is a TCP proxy to a NATS server that can stop passing bytes on,
// as a server stopped with SIGSTOP does: the connections stay open and the
// client's writes succeed, but nothing is answered. Thawing passes on what
// was held.
type freezer struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	gate  chan struct{} // closed while bytes flow
	conns []net.Conn
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, gate: make(chan struct{})}
	close(f.gate)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, s)
			f.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); f.pipe(s, c) }()
			go func() { defer wg.Done(); f.pipe(c, s) }()
		}
	}()
	t.Cleanup(func() {
		f.thaw()
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		wg.Wait()
	})
	return f
}

func (f *freezer) url() string { return "nats://" + f.ln.Addr().String() }

// pipe copies src to dst, holding what it read while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			gate := f.gate
			f.mu.Unlock()
			<-gate
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.gate:
		f.gate = make(chan struct{})
	default:
	}
}

func (f *freezer) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.gate:
	default:
		close(f.gate)
	}
}

// TestReadinessFollowsAServerThatStopsAnswering: in ack mode, with an
// external NATS server that keeps its connection open but answers nothing
// (stopped with SIGSTOP, here a frozen proxy), /healthz/ready fails — with
// no token request needed to notice — and token requests are refused;
// once the server answers again, readiness and tokens come back. Before,
// readiness looked at the connection state only and stayed 200.
func TestReadinessFollowsAServerThatStopsAnswering(t *testing.T) {
	ns := startNATS(t, "n1", 0, t.TempDir())
	proxy := startFreezer(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	cfg := failureAudit(t, settings.AuditAck, proxy.url())
	reg := metrics.NewSet()
	p := openPublisher(t, cfg, audit.WithMetrics(reg))
	srv := enginetest.Start(t, enginetest.Config{Server: server.Config{
		Auditor: p, Ready: []endpoint.Check{{Name: "audit", Check: p.Ready}},
	}})
	ready := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz/ready")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Failing map[string]string `json:"failing"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Failing["audit"]
	}
	tokens := newTokenClient(srv)
	token := func() int {
		r := newResults()
		tokens.request(t, r, "demo-m2m", clientSec, "read:users")
		for status := range r.statuses {
			return status
		}
		return 0
	}
	const within = 30 * time.Second

	waitFor(t, "ready", within, func() bool { s, _ := ready(); return s == http.StatusOK })
	if s := token(); s != http.StatusOK {
		t.Fatalf("token request answered %d before the freeze", s)
	}

	proxy.freeze()
	var why string
	waitFor(t, "not ready once the server stops answering", within, func() bool {
		s, w := ready()
		why = w
		return s == http.StatusServiceUnavailable
	})
	if !strings.Contains(why, "has not answered since") {
		t.Errorf("readiness says %q", why)
	}
	if n := metricValue(t, reg, "scopeline_audit_stream_answering"); n != 0 {
		t.Errorf("scopeline_audit_stream_answering = %v while frozen", n)
	}
	if s := token(); s != http.StatusServiceUnavailable {
		t.Errorf("token request answered %d while the server answers nothing, want 503", s)
	}
	if s, _ := ready(); s != http.StatusServiceUnavailable {
		t.Errorf("ready again (%d) while still frozen", s)
	}

	proxy.thaw()
	waitFor(t, "ready once the server answers again", within, func() bool { s, _ := ready(); return s == http.StatusOK })
	if s := token(); s != http.StatusOK {
		t.Errorf("token request answered %d after the thaw", s)
	}
	if n := metricValue(t, reg, "scopeline_audit_stream_answering"); n != 1 {
		t.Errorf("scopeline_audit_stream_answering = %v after the thaw", n)
	}
}
