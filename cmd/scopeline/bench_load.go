package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator of `scopeline bench --http`: a closed loop of
// workers, each with one request in flight on its own keep-alive
// connection, sending the same token request again as soon as the answer
// is read. It is built to cost little, since it shares the machine with the
// server it measures: each worker prepares its request once and reuses it
// and its response buffer; latencies go to a per-worker histogram of fixed
// size; for an http:// target each worker speaks HTTP/1.1 on its own
// connection (wireClient), and for https:// it calls net/http's transport
// directly (no http.Client redirect and cookie handling). The generator's
// own CPU time is measured anyway and reported beside the server's.

// tokenTarget is the request the generator sends.
type tokenTarget struct {
	url string
	// replicas, when set, are the token endpoints of one issuer's
	// replicas: worker i sends to replicas[i % len].
	replicas []string
	header   http.Header // Content-Type, and Authorization for client_secret_basic
	body     []byte      // the form
}

// loadGenerator drives one target with workers over one transport.
type loadGenerator struct {
	transport *http.Transport
	target    tokenTarget
	workers   []*loadWorker
}

// newLoadGenerator prepares concurrency workers for target.
func newLoadGenerator(ctx context.Context, tr *http.Transport, target tokenTarget, concurrency int) (*loadGenerator, error) {
	g := &loadGenerator{transport: tr, target: target}
	for i := range concurrency {
		t := target
		if n := len(target.replicas); n > 0 {
			t.url = target.replicas[i%n]
		}
		w, err := newLoadWorker(ctx, t)
		if err != nil {
			return nil, err
		}
		g.workers = append(g.workers, w)
	}
	return g, nil
}

// newBenchTransport is the generator's transport: keep-alive, room for
// every worker's idle connection to each server, no compression to undo.
func newBenchTransport(maxConcurrency int) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0, // no limit across servers
		MaxIdleConnsPerHost:   maxConcurrency,
		IdleConnTimeout:       5 * time.Minute,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// window is what the generator saw during one run.
type window struct {
	elapsed time.Duration
	tokens  int64
	// failures by HTTP status: 0 is a transport error, 200 an answer
	// without an access token.
	failures map[int]int64
	lastErr  string
	latency  *latencyHistogram
}

func (w *window) errors() int64 {
	var n int64
	for _, c := range w.failures {
		n += c
	}
	return n
}

// run sends requests from every worker until d has passed, and returns
// what they saw. Requests in flight when d ends are waited for and
// counted. started, when set, is called just before the workers start.
func (g *loadGenerator) run(ctx context.Context, d time.Duration, started func()) *window {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, w := range g.workers {
		w.reset()
	}
	if started != nil {
		started()
	}
	begin := time.Now()
	for _, w := range g.workers {
		wg.Go(func() {
			for !stop.Load() {
				w.once(g.transport)
			}
		})
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	stop.Store(true)
	wg.Wait()
	res := &window{elapsed: time.Since(begin), failures: map[int]int64{}, latency: &latencyHistogram{}}
	for _, w := range g.workers {
		res.tokens += w.tokens
		for code, n := range w.failures {
			res.failures[code] += n
		}
		if w.lastErr != "" {
			res.lastErr = w.lastErr
		}
		res.latency.merge(&w.latency)
	}
	return res
}

// close closes the workers' connections (the transport's are closed by
// its owner).
func (g *loadGenerator) close() {
	for _, w := range g.workers {
		if w.wire != nil {
			w.wire.close()
		}
	}
}

// loadWorker is one closed loop: one request at a time.
type loadWorker struct {
	target   tokenTarget
	wire     *wireClient // nil: through the transport, with req
	req      *http.Request
	body     requestBody
	buf      []byte // the last response
	latency  latencyHistogram
	tokens   int64
	failures map[int]int64
	lastErr  string
}

// requestBody is a form body read again for every request. The transport
// reads it fully into its write buffer (4 KiB) before the request leaves,
// hence before any answer can come back: resetting it once the response
// is read is safe. A larger body is given a fresh reader each time.
type requestBody struct{ bytes.Reader }

func (*requestBody) Close() error { return nil }

const reusableBodyMax = 2 << 10

func newLoadWorker(ctx context.Context, target tokenTarget) (*loadWorker, error) {
	w := &loadWorker{target: target, buf: make([]byte, 0, 4<<10), failures: map[int]int64{}}
	wire, err := newWireClient(target)
	if err != nil {
		return nil, err
	}
	w.wire = wire
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.url, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: --url %q: %w", target.url, err)
	}
	req.Header = target.header.Clone()
	req.ContentLength = int64(len(target.body))
	// GetBody lets the transport re-send the request on a fresh connection
	// when a kept-alive one turns out closed by the server.
	req.GetBody = func() (io.ReadCloser, error) { return w.freshBody(), nil }
	w.req = req
	return w, nil
}

func (w *loadWorker) freshBody() io.ReadCloser {
	if len(w.target.body) > reusableBodyMax {
		return io.NopCloser(bytes.NewReader(w.target.body))
	}
	w.body.Reset(w.target.body)
	return &w.body
}

func (w *loadWorker) reset() {
	w.latency = latencyHistogram{}
	w.tokens = 0
	clear(w.failures)
	w.lastErr = ""
}

var accessTokenMember = []byte(`"access_token"`)

// once sends one token request and reads its answer.
func (w *loadWorker) once(rt http.RoundTripper) {
	if w.wire != nil {
		start := time.Now()
		status, body, err := w.wire.roundTrip(w.buf)
		w.buf = body[:0]
		if err != nil {
			w.failures[0]++
			w.lastErr = err.Error()
			return
		}
		w.latency.add(time.Since(start))
		w.answered(status, body)
		return
	}
	w.req.Body = w.freshBody()
	start := time.Now()
	resp, err := rt.RoundTrip(w.req)
	if err != nil {
		w.failures[0]++
		w.lastErr = err.Error()
		return
	}
	w.buf = w.buf[:0]
	for {
		if len(w.buf) == cap(w.buf) {
			w.buf = append(w.buf, 0)[:len(w.buf)]
		}
		n, err := resp.Body.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		if err != nil {
			if err != io.EOF {
				resp.Body.Close()
				w.failures[0]++
				w.lastErr = err.Error()
				return
			}
			break
		}
	}
	resp.Body.Close()
	w.latency.add(time.Since(start))
	w.answered(resp.StatusCode, w.buf)
}

// answered counts an answer: a token, or a failure by status.
func (w *loadWorker) answered(status int, body []byte) {
	if status != http.StatusOK || !bytes.Contains(body, accessTokenMember) {
		w.failures[status]++
		w.lastErr = fmt.Sprintf("%d %s: %.200s", status, http.StatusText(status), body)
		return
	}
	w.tokens++
}

// latencyHistogram counts durations in buckets of at most 1/64 of their
// value (below 128 ns exactly): quantiles within 1.6 %, in a fixed 18 KiB
// that adding to never allocates.
type latencyHistogram struct {
	counts [latencyBuckets]uint64
	n      uint64
}

const (
	latencySub     = 64 // sub-buckets per power of two
	latencyMaxBits = 41 // durations of 2^41 ns (36 min) and more share the last bucket
	latencyBuckets = 2*latencySub + (latencyMaxBits-7)*latencySub
)

func latencyBucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 2*latencySub {
		return int(v)
	}
	shift := bits.Len64(v) - 7
	i := 2*latencySub + (shift-1)*latencySub + int(v>>shift) - latencySub
	return min(i, latencyBuckets-1)
}

// latencyValue is the middle of bucket i.
func latencyValue(i int) time.Duration {
	if i < 2*latencySub {
		return time.Duration(i)
	}
	shift := (i-2*latencySub)/latencySub + 1
	m := uint64((i-2*latencySub)%latencySub + latencySub)
	return time.Duration(m<<shift + (1<<shift)/2)
}

func (h *latencyHistogram) add(d time.Duration) {
	h.counts[latencyBucket(d)]++
	h.n++
}

func (h *latencyHistogram) merge(o *latencyHistogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the q-quantile (0 < q ≤ 1), 0 when empty.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return latencyValue(i)
		}
	}
	return latencyValue(latencyBuckets - 1)
}
