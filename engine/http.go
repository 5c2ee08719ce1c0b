package engine

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
	"time"

	"github.com/scopeline/scopeline/engine/internal/form"
)

// MaxTokenRequestBytes bounds a token request body.
const MaxTokenRequestBytes = 64 << 10

// JWKSMaxAge is how long clients may cache the JWKS. A next key must be
// published at least this long before it signs.
const JWKSMaxAge = 5 * time.Minute

// Paths of the endpoints, below the issuer's path.
const (
	PathToken     = "/oauth/token"
	PathJWKS      = "/.well-known/jwks.json"
	PathOAuthMeta = "/.well-known/oauth-authorization-server"
	PathOIDCMeta  = "/.well-known/openid-configuration"
)

// Handler returns the issuer's HTTP endpoints: token, discovery, JWKS,
// health, and the end-user flows' authorize, login, consent and userinfo. Endpoints sit below the issuer URL's path; the RFC 8414 metadata
// also at its well-known location.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	prefix := i.pathPrefix()
	i.route(mux, "token", prefix+PathToken, i.cors(i.handleToken))
	i.route(mux, "jwks", prefix+PathJWKS, publicCORS(i.handleJWKS))
	i.route(mux, "discovery", PathOAuthMeta+prefix, publicCORS(i.handleDiscovery("oauth")))
	i.route(mux, "discovery", prefix+PathOIDCMeta, publicCORS(i.handleDiscovery("openid")))
	if prefix != "" {
		i.route(mux, "discovery", prefix+PathOAuthMeta, publicCORS(i.handleDiscovery("oauth")))
	}
	i.userRoutes(mux, prefix)
	i.route(mux, "health", "/healthz/live", i.handleLive)
	i.route(mux, "health", "/healthz/ready", i.handleReady)
	i.route(mux, "other", "/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
	})
	return mux
}

func (i *Issuer) pathPrefix() string { return i.prefix }

// issuerPath is the path of an issuer URL without its trailing slash: the
// prefix of every endpoint.
func issuerPath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// endpoint returns the absolute URL of a path below the issuer.
func (i *Issuer) endpoint(path string) string {
	return strings.TrimSuffix(i.issuer, "/") + path
}

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the id of the HTTP request ctx belongs to.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// route wraps a handler with a request id, metrics and panic recovery.
func (i *Issuer) route(mux *http.ServeMux, name, pattern string, h http.HandlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := i.requestID(r)
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				i.log.Error("panic serving request", "request_id", id, "route", name, "panic", p)
				if sw.status == 0 {
					writeError(sw, ErrServerError, false)
				}
			}
			i.metrics.httpReqs.WithLabelValues(name, strconv.Itoa(sw.code())).Inc()
			i.metrics.httpTime.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		h(sw, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// requestID is the id of request r: the X-Request-Id header when a trusted
// proxy (WithTrustedProxies) sent it, else a new random one. A client's
// own X-Request-Id is not believed: it would let the client name its
// requests in the audit trail, and pass for others'. It is logged, at
// debug level, as untrusted_request_id.
func (i *Issuer) requestID(r *http.Request) string {
	given := r.Header.Get("X-Request-Id")
	if given != "" && validRequestID.MatchString(given) && i.fromTrustedProxy(r) {
		return given
	}
	var b [12]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if given != "" {
		i.log.Debug("X-Request-Id not from a trusted proxy: replaced", "request_id", id, "untrusted_request_id", truncate(given, 128))
	}
	return id
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (i *Issuer) handleToken(w http.ResponseWriter, r *http.Request) {
	req, err := i.parseTokenRequest(r)
	if err != nil {
		tx := &Transaction{RequestID: RequestID(r.Context()), GrantType: req.GrantType, ClientID: req.ClientID,
			IP: req.IP, UserAgent: req.UserAgent, Time: i.now()}
		e := AsError(err)
		i.denied(r.Context(), tx, e)
		i.metrics.observeToken(req.GrantType, e.Code, 0)
		if e.Status == http.StatusRequestEntityTooLarge {
			w.Header().Set("Connection", "close") // the body is not read
		}
		writeError(w, e, req.AuthMethod == AuthSecretBasic)
		return
	}
	resp, err := i.Token(r.Context(), req)
	if err != nil {
		writeError(w, err, req.AuthMethod == AuthSecretBasic)
		return
	}
	noStore(w.Header())
	writeJSON(w, http.StatusOK, resp)
}

// parseTokenRequest reads a token request. It always returns a request
// (partly filled on error) so that refusals can be recorded.
func (i *Issuer) parseTokenRequest(r *http.Request) (*TokenRequest, error) {
	req := &TokenRequest{
		RequestID:  RequestID(r.Context()),
		IP:         i.clientIP(r),
		UserAgent:  truncate(r.UserAgent(), 256),
		AuthMethod: AuthNone,
	}
	if r.Method != http.MethodPost {
		return req, ErrInvalidRequest.WithDescription("the token endpoint accepts POST only").WithStatus(http.StatusMethodNotAllowed)
	}
	if r.URL.RawQuery != "" {
		return req, ErrInvalidRequest.WithDescription("parameters must be sent in the request body, not the URL")
	}
	params, err := readForm(r, MaxTokenRequestBytes, "resource")
	switch {
	case errors.Is(err, errNotForm):
		return req, ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded")
	case errors.Is(err, errFormTooLarge):
		return req, ErrInvalidRequest.WithDescription("request body larger than %d bytes", MaxTokenRequestBytes).WithStatus(http.StatusRequestEntityTooLarge)
	case errors.Is(err, errFormUnreadable):
		return req, ErrInvalidRequest.WithDescription("cannot read the request body")
	case err != nil:
		return req, ErrInvalidRequest.WithDescription("%s", err.Error())
	}
	req.Params = params
	req.GrantType = params.Get("grant_type")
	req.Scope, req.ScopeSet = params.Get("scope"), params.Has("scope")
	req.Audience = params.Get("audience")
	req.Resource = params["resource"]

	bodyID, bodySecret := params.Get("client_id"), params.Get("client_secret")
	if h := r.Header.Get("Authorization"); h != "" {
		req.AuthMethod = AuthSecretBasic
		id, secret, err := form.BasicAuth(h)
		if err != nil {
			return req, ErrInvalidClient.WithDescription("malformed Authorization header: use HTTP Basic with the client id and secret")
		}
		req.ClientID, req.ClientSecret = id, secret
		if bodySecret != "" {
			return req, ErrInvalidRequest.WithDescription("use one client authentication method, not both Basic and client_secret")
		}
		if bodyID != "" && bodyID != id {
			return req, ErrInvalidRequest.WithDescription("client_id does not match the Authorization header")
		}
		return req, nil
	}
	req.ClientID, req.ClientSecret = bodyID, bodySecret
	if bodySecret != "" {
		req.AuthMethod = AuthSecretPost
	}
	return req, nil
}

// The errors of readForm before the form itself is parsed; callers answer
// each in their own words.
var (
	errNotForm        = errors.New("not an application/x-www-form-urlencoded body")
	errFormTooLarge   = errors.New("form body too large")
	errFormUnreadable = errors.New("form body unreadable")
)

// readForm reads an application/x-www-form-urlencoded body of at most limit
// bytes, whose parameters may not repeat except those named repeatable. A
// body that announces more than limit (Content-Length) is refused at once,
// unread, rather than waited for.
func readForm(r *http.Request, limit int64, repeatable ...string) (url.Values, error) {
	return readFormMax(r, limit, form.MaxValueLen, repeatable...)
}

// readFormMax is readForm with values of up to maxValue bytes.
func readFormMax(r *http.Request, limit int64, maxValue int, repeatable ...string) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errNotForm
	}
	if r.ContentLength > limit {
		return nil, errFormTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errFormTooLarge
		}
		return nil, errFormUnreadable
	}
	return form.ParseMax(string(body), maxValue, repeatable...)
}

// peer is the address of the connection r came on.
func peer(r *http.Request) (string, netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	return host, addr, err == nil
}

// fromTrustedProxy reports whether r came on a connection from a trusted
// proxy.
func (i *Issuer) fromTrustedProxy(r *http.Request) bool {
	_, addr, ok := peer(r)
	return ok && i.trusted(addr)
}

// clientIP is the connection's address, or the nearest untrusted address in
// X-Forwarded-For when the connection comes from a trusted proxy.
func (i *Issuer) clientIP(r *http.Request) string {
	host, addr, ok := peer(r)
	if !ok || !i.trusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for j := len(hops) - 1; j >= 0; j-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
		if err != nil {
			break
		}
		addr = a.Unmap()
		if !i.trusted(addr) {
			break
		}
	}
	return addr.String()
}

func (i *Issuer) trusted(a netip.Addr) bool {
	for _, p := range i.proxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// writeError is the one place an error becomes an OAuth error response.
func writeError(w http.ResponseWriter, err error, basicAuth bool) {
	e := AsError(err)
	h := w.Header()
	noStore(h)
	if e.Code == ErrInvalidClient.Code && basicAuth {
		h.Set("WWW-Authenticate", `Basic realm="scopeline", charset="UTF-8"`)
	}
	if e.Status == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", retryAfter(e.RetryAfter))
	}
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description}
	if body.Description == "" && e.Code == ErrServerError.Code {
		body.Description = "the server could not handle the request"
	}
	writeJSON(w, e.Status, body)
}

// retryAfter formats a wait as whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}

func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func (i *Issuer) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	s := i.acquire()
	if s == nil {
		writeError(w, ErrTemporarilyUnavailable, false)
		return
	}
	defer s.release()
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(JWKSMaxAge/time.Second)))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(s.keys.jwks)
}

func (i *Issuer) handleDiscovery(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		s := i.acquire()
		if s == nil {
			writeError(w, ErrTemporarilyUnavailable, false)
			return
		}
		defer s.release()
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.discovery[kind])
	}
}

func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
	return false
}

func (i *Issuer) handleLive(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (i *Issuer) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	failing := map[string]string{}
	if i.snap.Load() == nil {
		failing["tenant"] = "no tenant loaded"
	}
	for _, c := range i.readiness {
		if err := c.check(ctx); err != nil {
			failing[c.name] = err.Error()
		}
	}
	if len(failing) > 0 {
		i.log.Warn("not ready", slog.Any("checks", failing))
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failing": failing})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
