// Package httpx is what the issuer's HTTP endpoints (package endpoint)
// and hosted pages (package pages) share: the router that gives every
// request an id, metrics and panic recovery; the client address behind
// trusted proxies; bounded form bodies; and WriteError, the one place an
// OAuth error becomes a JSON response.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/form"
	"github.com/scopeline/scopeline/engine/internal/text"
)

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the id of the HTTP request ctx belongs to.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Router routes requests to the issuer's handlers, each wrapped with a
// request id, metrics and panic recovery.
type Router struct {
	mux     *http.ServeMux
	log     *slog.Logger
	proxies Proxies
	metrics *metrics.Set
	routes  map[string]*routeSeries
}

// The router's metric families (docs/configuration.md).
const (
	metricRequests = "scopeline_http_requests_total"
	metricDuration = "scopeline_http_request_duration_seconds"
)

// routeSeries are the series of one route name: its latency histogram,
// and a counter per status code resolved on the code's first use, so that
// a request costs no label lookup.
type routeSeries struct {
	name  string
	set   *metrics.Set
	time  *metrics.PrometheusHistogram
	codes [600 - 100]atomic.Pointer[metrics.Counter] // by status code - 100
}

// NewRouter returns a router whose metrics are made in set (nil: a set
// of their own, which nothing exports).
func NewRouter(log *slog.Logger, proxies Proxies, set *metrics.Set) *Router {
	if set == nil {
		set = metrics.NewSet()
	}
	return &Router{mux: http.NewServeMux(), log: log, proxies: proxies, metrics: set, routes: map[string]*routeSeries{}}
}

// ServeHTTP serves a request.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

// Route serves pattern with h; name labels its metrics (routes may share
// a name).
func (rt *Router) Route(name, pattern string, h http.HandlerFunc) {
	rs := rt.routes[name]
	if rs == nil {
		rs = &routeSeries{name: name, set: rt.metrics,
			time: rt.metrics.NewPrometheusHistogramExt(engine.MetricName(metricDuration, "route", name), engine.LatencyBuckets)}
		rt.routes[name] = rs
	}
	rt.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := rt.requestID(r)
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		if r.ContentLength != 0 && r.ProtoMajor == 1 {
			sw.body = &bodyReader{ReadCloser: r.Body}
			r.Body = sw.body
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				rt.log.Error("panic serving request", "request_id", id, "route", name, "panic", p)
				if sw.status == 0 {
					WriteError(sw, engine.ErrServerError, false)
				}
			}
			if sw.status == 0 { // net/http answers 200 for the handler
				sw.closeUnread()
			}
			rs.code(sw.code()).Inc()
			rs.time.Update(time.Since(start).Seconds())
		}()
		h(sw, r)
	})
}

// bodyReader is a request body that tells whether it was read to its end.
type bodyReader struct {
	io.ReadCloser
	done bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.done = true
	}
	return n, err
}

// code returns the counter of the route's responses with status code.
func (rs *routeSeries) code(code int) *metrics.Counter {
	slot := code - 100
	if slot < 0 || slot >= len(rs.codes) { // not a status net/http writes
		return rs.set.GetOrCreateCounter(engine.MetricName(metricRequests, "route", rs.name, "code", strconv.Itoa(code)))
	}
	if c := rs.codes[slot].Load(); c != nil {
		return c
	}
	c := rs.set.GetOrCreateCounter(engine.MetricName(metricRequests, "route", rs.name, "code", strconv.Itoa(code)))
	rs.codes[slot].Store(c)
	return c
}

// requestID is the id of request r: the X-Request-Id header when a trusted
// proxy (Proxies) sent it, else a new random one. A client's own
// X-Request-Id is not believed: it would let the client name its requests
// in the audit trail, and pass for others'. It is logged, at debug level,
// as untrusted_request_id.
func (rt *Router) requestID(r *http.Request) string {
	given := r.Header.Get("X-Request-Id")
	if given != "" && validRequestID.MatchString(given) && rt.proxies.FromTrusted(r) {
		return given
	}
	var b [12]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if given != "" {
		rt.log.Debug("X-Request-Id not from a trusted proxy: replaced", "request_id", id, "untrusted_request_id", text.Truncate(given, 128))
	}
	return id
}

type statusWriter struct {
	http.ResponseWriter
	status int
	body   *bodyReader // an HTTP/1 request's body, nil when it has none
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.closeUnread()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
		w.closeUnread()
	}
	return w.ResponseWriter.Write(b)
}

// closeUnread closes the connection after an answer given before the
// request's body was read to its end (a form refused by its declared
// length, a refusal before the body is looked at). Else net/http reads
// up to 256 KiB of the body before it answers, and waits, until the read
// timeout, for a client that declared a body it does not send.
func (w *statusWriter) closeUnread() {
	if w.body != nil && !w.body.done {
		w.Header().Set("Connection", "close")
	}
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The errors of ReadForm before the form itself is parsed; callers answer
// each in their own words.
var (
	ErrNotForm        = errors.New("not an application/x-www-form-urlencoded body")
	ErrFormTooLarge   = errors.New("form body too large")
	ErrFormUnreadable = errors.New("form body unreadable")
)

// ReadForm reads an application/x-www-form-urlencoded body of at most limit
// bytes, whose parameters may not repeat except those named repeatable. A
// body that announces more than limit (Content-Length) is refused at once,
// unread, rather than waited for.
func ReadForm(r *http.Request, limit int64, repeatable ...string) (url.Values, error) {
	return ReadFormMax(r, limit, form.MaxValueLen, repeatable...)
}

// ReadFormMax is ReadForm with values of up to maxValue bytes.
func ReadFormMax(r *http.Request, limit int64, maxValue int, repeatable ...string) (url.Values, error) {
	return ReadFormLong(r, limit, maxValue, nil, repeatable...)
}

// ReadFormLong is ReadFormMax with longer values for the parameters long
// names (form.ParseLong).
func ReadFormLong(r *http.Request, limit int64, maxValue int, long map[string]int, repeatable ...string) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, ErrNotForm
	}
	if r.ContentLength > limit {
		return nil, ErrFormTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, ErrFormTooLarge
		}
		return nil, ErrFormUnreadable
	}
	return form.ParseLong(string(body), maxValue, long, repeatable...)
}

// Proxies are the networks of trusted reverse proxies, whose
// X-Forwarded-For and X-Request-Id headers are believed.
type Proxies []netip.Prefix

// peer is the address of the connection r came on.
func peer(r *http.Request) (string, netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	return host, addr, err == nil
}

// FromTrusted reports whether r came on a connection from a trusted
// proxy.
func (p Proxies) FromTrusted(r *http.Request) bool {
	_, addr, ok := peer(r)
	return ok && p.trusted(addr)
}

// ClientIP is the connection's address, or the nearest untrusted address in
// X-Forwarded-For when the connection comes from a trusted proxy.
func (p Proxies) ClientIP(r *http.Request) string {
	host, addr, ok := peer(r)
	if !ok || !p.trusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for j := len(hops) - 1; j >= 0; j-- {
		a, err := parseHop(hops[j])
		if err != nil {
			break
		}
		addr = a.Unmap()
		if !p.trusted(addr) {
			break
		}
	}
	return addr.String()
}

// parseHop reads one X-Forwarded-For entry: an address, or an address
// and port as some proxies write them ("192.0.2.7:50312",
// "[2001:db8::7]:443", "[2001:db8::7]").
func parseHop(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return netip.ParseAddr(s[1 : len(s)-1])
	}
	return netip.Addr{}, errors.New("httpx: not an address")
}

func (p Proxies) trusted(a netip.Addr) bool {
	for _, n := range p {
		if n.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// WriteError is the one place an error becomes an OAuth error response
// (RFC 6749 §5.2): a JSON body with the code and the description, never
// the cause; basicAuth asks for WWW-Authenticate on invalid_client.
func WriteError(w http.ResponseWriter, err error, basicAuth bool) {
	e := engine.AsError(err)
	h := w.Header()
	NoStore(h)
	if e.Code() == engine.ErrInvalidClient.Code() && basicAuth {
		h.Set("WWW-Authenticate", `Basic realm="scopeline", charset="UTF-8"`)
	}
	if e.Status() == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	if e.RetryAfter() > 0 {
		h.Set("Retry-After", text.RetryAfter(e.RetryAfter()))
	}
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code(), e.Description()}
	if body.Description == "" && e.Code() == engine.ErrServerError.Code() {
		body.Description = "the server could not handle the request"
	}
	WriteJSON(w, e.Status(), body)
}

// NoStore forbids caching a response (RFC 6749 §5.1).
func NoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	if a, ok := v.(JSONAppender); ok {
		buf := jsonBuffers.Get().(*[]byte)
		b := append(a.AppendJSON((*buf)[:0]), '\n')
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		w.Write(b)
		if cap(b) <= 16<<10 {
			*buf = b
			jsonBuffers.Put(buf)
		}
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// JSONAppender is a value that encodes itself as JSON without reflection,
// as encoding/json would (engine.TokenResponse): WriteJSON appends it to a
// reused buffer.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// jsonBuffers are WriteJSON's buffers for JSONAppenders: the response
// writer copies what it is given, so a buffer is free again once written.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

// GetOrHead answers 405 unless r is a GET or a HEAD, and says whether it
// is.
func GetOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
	return false
}
