package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// front is the load balancer of the cluster tests: it sends each request
// to the next replica in turn (or to one replica while pinned), and to the
// next one when a replica refuses the connection, as a balancer with
// passive health checks does. It counts the 5xx answers and whether they
// carried Retry-After.
type front struct {
	*httptest.Server
	mu       sync.Mutex
	backends []string // host:port, "" for a replica taken out
	pinned   int      // -1: round robin
	next     atomic.Uint64
	client   *http.Client

	fivexx, noRetryAfter atomic.Int64
}

func newFront(t *testing.T) *front {
	f := &front{pinned: -1, client: &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Close)
	return f
}

func (f *front) setBackends(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backends = addrs
}

// remove takes replica i out of the rotation.
func (f *front) remove(i int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backends[i] = ""
}

// pin sends every request to replica i (-1: round robin again).
func (f *front) pin(i int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pinned = i
}

// order is the replicas to try for one request, the chosen one first.
func (f *front) order() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pinned >= 0 {
		return []string{f.backends[f.pinned]}
	}
	n := uint64(len(f.backends))
	start := f.next.Add(1)
	var out []string
	for i := range n {
		if b := f.backends[(start+i)%n]; b != "" {
			out = append(out, b)
		}
	}
	return out
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var resp *http.Response
	for _, b := range f.order() {
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+b+r.URL.RequestURI(), bytes.NewReader(body))
		out.Header = r.Header.Clone()
		if resp, err = f.client.Do(out); err == nil {
			break
		}
	}
	if resp == nil {
		f.fivexx.Add(1)
		f.noRetryAfter.Add(1)
		http.Error(w, "front: no replica answered", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		f.fivexx.Add(1)
		if resp.Header.Get("Retry-After") == "" {
			f.noRetryAfter.Add(1)
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}
