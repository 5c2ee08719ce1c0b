package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// How long fetched keys are used, whatever the issuer's Cache-Control says.
const (
	DefaultLifetime = jwk.DefaultCacheLifetime
	MinLifetime     = jwk.MinCacheLifetime
	MaxLifetime     = jwk.MaxCacheLifetime
	// MaxStale is how long expired keys keep being used while the issuer
	// cannot be reached (Scopeline's longest token lifetime).
	MaxStale = 24 * time.Hour
)

// Bounds on what is fetched.
const (
	maxMetadataBytes = 256 << 10
	maxJWKSBytes     = 1 << 20
	minBackoff       = time.Second
	maxBackoff       = time.Minute
)

// Well-known paths of the discovery documents.
const (
	oauthMetadataPath = "/.well-known/oauth-authorization-server"
	oidcMetadataPath  = "/.well-known/openid-configuration"
)

// ErrUnknownKey means that no key of the issuer has the requested id, even
// after refetching the JWK Set (or while refetching is rate-limited).
var ErrUnknownKey = errors.New("jwks: unknown key id")

// ErrUnavailable means that no usable keys could be had from the issuer.
var ErrUnavailable = errors.New("jwks: the issuer's keys are unavailable")

// errNotNow means a fetch was not started: one failed or ran too recently.
var errNotNow = errors.New("jwks: fetch rate-limited")

// Config says where the keys come from and how to fetch them.
type Config struct {
	// Issuer is the issuer identifier; the metadata's issuer must equal it.
	Issuer string
	// Algorithms the caller accepts, at least one (there is no default);
	// the set's algorithms are those the issuer advertises for access
	// tokens, restricted to these.
	Algorithms []string
	Client     *http.Client
	Now        func() time.Time
	Log        *slog.Logger
	// RefetchInterval is the least time between two fetches caused by an
	// unknown key id.
	RefetchInterval time.Duration
	// FetchTimeout bounds one refresh (metadata and JWK Set).
	FetchTimeout time.Duration
}

// Set is one immutable view of the issuer's keys.
type Set struct {
	Keys map[string]*Key
	// Algorithms that may sign access tokens.
	Algorithms []string
	// Expires is when the set should be refreshed.
	Expires time.Time
}

// usable reports whether the set may still verify tokens at now.
func (s *Set) usable(now time.Time) bool {
	return s != nil && !now.After(s.Expires.Add(MaxStale))
}

// Cache holds the issuer's keys, fetching them on first use, refreshing
// them in the background when they expire, and refetching at once when a
// token names an unknown key. Fetches are single-flight: every caller that
// needs one while it runs waits for the same one.
type Cache struct {
	cfg   Config
	set   atomic.Pointer[Set]
	meta  atomic.Pointer[metadata]
	mu    sync.Mutex // guards the fields below
	call  *call      // the fetch in flight, if any
	last  time.Time  // when the last fetch started
	fails int        // consecutive failed fetches
	err   error      // the last fetch's error
}

type call struct {
	done chan struct{}
	err  error
}

// New returns an empty cache; nothing is fetched until it is used.
func New(cfg Config) *Cache {
	return &Cache{cfg: cfg}
}

// Key returns the key with id kid and the set it belongs to.
func (c *Cache) Key(ctx context.Context, kid string) (*Key, *Set, error) {
	now := c.cfg.Now()
	s := c.set.Load()
	switch {
	case !s.usable(now):
		if err := c.wait(ctx, c.start(now, 0)); err != nil || !c.set.Load().usable(now) {
			return nil, nil, c.unavailable(err)
		}
		s = c.set.Load()
	case now.After(s.Expires):
		c.start(now, 0) // refresh in the background; the cached keys serve meanwhile
	}
	if k := s.Keys[kid]; k != nil {
		return k, s, nil
	}
	err := c.wait(ctx, c.start(now, c.cfg.RefetchInterval))
	if err != nil && !errors.Is(err, errNotNow) {
		// The issuer could not be asked: whether the key exists is unknown.
		return nil, nil, c.unavailable(err)
	}
	s = c.set.Load()
	if k := s.Keys[kid]; k != nil {
		return k, s, nil
	}
	return nil, s, ErrUnknownKey
}

// Ready fetches the keys unless fresh ones are cached, and reports an error
// when no usable keys are at hand.
func (c *Cache) Ready(ctx context.Context) error {
	now := c.cfg.Now()
	if s := c.set.Load(); s != nil && !now.After(s.Expires) {
		return nil
	}
	err := c.wait(ctx, c.start(now, 0))
	if !c.set.Load().usable(now) {
		return c.unavailable(err)
	}
	return nil
}

// unavailable wraps the reason no keys could be had.
func (c *Cache) unavailable(err error) error {
	if err == nil || errors.Is(err, errNotNow) {
		c.mu.Lock()
		err = c.err
		c.mu.Unlock()
	}
	if err == nil {
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// start returns the fetch in flight, or starts one unless the last fetch
// failed less than a backoff ago or started less than minGap ago; then it
// returns nil.
func (c *Cache) start(now time.Time, minGap time.Duration) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.call != nil {
		return c.call
	}
	if !c.last.IsZero() {
		gap := minGap
		if c.fails > 0 {
			gap = max(gap, min(minBackoff<<min(c.fails-1, 16), maxBackoff))
		}
		if now.Before(c.last.Add(gap)) {
			return nil
		}
	}
	cl := &call{done: make(chan struct{})}
	c.call, c.last = cl, now
	go c.run(cl)
	return cl
}

// wait waits for cl (nil means none was started) or for ctx.
func (c *Cache) wait(ctx context.Context, cl *call) error {
	if cl == nil {
		return errNotNow
	}
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run performs one fetch, detached from any request so that a caller
// giving up does not fail the others.
func (c *Cache) run(cl *call) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.FetchTimeout)
	defer cancel()
	s, err := c.fetch(ctx)
	if err == nil {
		c.set.Store(s)
	} else {
		c.cfg.Log.Warn("resource: cannot refresh the issuer's keys; using cached keys if any",
			"issuer", c.cfg.Issuer, "err", err)
	}
	c.mu.Lock()
	if err == nil {
		c.fails = 0
	} else {
		c.fails++
	}
	c.err, c.call, cl.err = err, nil, err
	c.mu.Unlock()
	close(cl.done)
}

// metadata is what the SDK reads of the authorization server metadata
// (RFC 8414 §2).
type metadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
	// AccessTokenAlgorithms is Scopeline's (unregistered)
	// access_token_signing_alg_values_supported.
	AccessTokenAlgorithms []string `json:"access_token_signing_alg_values_supported"`
	// IntrospectionEndpoint is RFC 8414 §2's introspection_endpoint.
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// IntrospectionEndpoint returns the issuer's introspection_endpoint,
// fetching the metadata first unless it is at hand; "" when the issuer
// advertises none.
func (c *Cache) IntrospectionEndpoint(ctx context.Context) (string, error) {
	if md := c.meta.Load(); md != nil {
		return md.IntrospectionEndpoint, nil
	}
	if err := c.Ready(ctx); err != nil {
		if md := c.meta.Load(); md != nil {
			return md.IntrospectionEndpoint, nil
		}
		return "", err
	}
	return c.meta.Load().IntrospectionEndpoint, nil
}

// fetch reads the metadata (keeping the previous one if that fails) and
// then the JWK Set.
func (c *Cache) fetch(ctx context.Context) (*Set, error) {
	md, err := c.discover(ctx)
	if err != nil {
		if md = c.meta.Load(); md == nil {
			return nil, err
		}
		c.cfg.Log.Warn("resource: cannot refresh the issuer's metadata; using the cached one", "issuer", c.cfg.Issuer, "err", err)
	} else {
		c.meta.Store(md)
	}
	algs := c.cfg.Algorithms
	if len(md.AccessTokenAlgorithms) > 0 {
		algs = slices.DeleteFunc(slices.Clone(algs), func(a string) bool { return !slices.Contains(md.AccessTokenAlgorithms, a) })
		if len(algs) == 0 {
			return nil, fmt.Errorf("jwks: the issuer signs access tokens with %s, none of which is accepted (%s)",
				strings.Join(md.AccessTokenAlgorithms, ", "), strings.Join(c.cfg.Algorithms, ", "))
		}
	}
	body, hdr, err := c.get(ctx, md.JWKSURI, maxJWKSBytes)
	if err != nil {
		return nil, err
	}
	keys, err := ParseSet(body, c.cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, md.JWKSURI)
	}
	return &Set{Keys: keys, Algorithms: algs, Expires: c.cfg.Now().Add(Lifetime(hdr))}, nil
}

// DiscoveryURLs returns where the metadata of issuer may be: the RFC 8414
// §3.1 location (the well-known path inserted before the issuer's path),
// then the OpenID Connect Discovery 1.0 §4 one (appended to it).
func DiscoveryURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, err
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	origin := u.Scheme + "://" + u.Host
	return []string{
		origin + oauthMetadataPath + path,
		origin + path + oidcMetadataPath,
	}, nil
}

// discover fetches the first metadata document that can be had and checks
// it belongs to the issuer (RFC 8414 §3.3).
func (c *Cache) discover(ctx context.Context) (*metadata, error) {
	urls, err := DiscoveryURLs(c.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, u := range urls {
		md, err := c.metadata(ctx, u)
		if err == nil {
			return md, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("jwks: no metadata for issuer %s: %w", c.cfg.Issuer, errors.Join(errs...))
}

func (c *Cache) metadata(ctx context.Context, u string) (*metadata, error) {
	body, _, err := c.get(ctx, u, maxMetadataBytes)
	if err != nil {
		return nil, err
	}
	var md metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("jwks: %s: malformed metadata: %w", u, err)
	}
	if md.Issuer != c.cfg.Issuer {
		return nil, fmt.Errorf("jwks: %s: metadata names issuer %q, not %q (they must be identical, trailing slash included)", u, md.Issuer, c.cfg.Issuer)
	}
	if err := CheckURL(md.JWKSURI); err != nil {
		return nil, fmt.Errorf("jwks: %s: jwks_uri: %w", u, err)
	}
	return &md, nil
}

// get fetches u, which must answer 200 with at most limit bytes.
func (c *Cache) get(ctx context.Context, u string, limit int64) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, nil, fmt.Errorf("jwks: GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: GET %s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("jwks: GET %s: response larger than %d bytes", u, limit)
	}
	return body, resp.Header, nil
}

// Lifetime is how long a response may be used: jwk.CacheLifetime.
func Lifetime(h http.Header) time.Duration { return jwk.CacheLifetime(h) }

// CheckURL accepts an absolute https URL without a fragment, or an http
// one whose host is a loopback address (for local development).
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("%q has a fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use https (http is only allowed for localhost)", s)
	}
	return fmt.Errorf("%q must use https", s)
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
