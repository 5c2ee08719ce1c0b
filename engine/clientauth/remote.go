package clientauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// Defaults of RemoteKeys.
const (
	// DefaultRefetchInterval is the least time between two fetches of one
	// key set caused by assertions naming a key it lacks: a client that
	// rotates its key is heard within it, and forged kids cannot make the
	// issuer hammer the client's server.
	DefaultRefetchInterval = 30 * time.Second
	// DefaultFetchTimeout bounds one fetch.
	DefaultFetchTimeout = 5 * time.Second
	// MaxStale is how long an expired key set keeps being used while the
	// client's server cannot be reached.
	MaxStale = time.Hour
	// MaxRemoteSets bounds how many key sets are held (one per jwks_uri).
	MaxRemoteSets = 10_000
	minBackoff    = time.Second
	maxBackoff    = time.Minute
)

// ErrKeysUnavailable means a client's key set could not be fetched and no
// usable copy is cached.
var ErrKeysUnavailable = errors.New("clientauth: the client's key set is unavailable")

// errNotNow means a fetch was not started: one ran too recently.
var errNotNow = errors.New("clientauth: fetch rate-limited")

// RemoteKeys fetches the key sets of clients that register a jwks_uri
// (RFC 7591 §2) and caches each as long as its Cache-Control says (within
// jwk.MinCacheLifetime and jwk.MaxCacheLifetime). An assertion naming a
// key the cached set lacks refetches it at once, at most once per refetch
// interval; fetches of one set are single-flight, and failures back off.
// Make one per issuer process and keep it across tenant reloads; Retain
// drops the sets of URLs no longer configured. Safe for concurrent use.
type RemoteKeys struct {
	client   *http.Client
	now      func() time.Time
	log      *slog.Logger
	interval time.Duration

	mu   sync.Mutex
	sets map[string]*remoteSet
}

// NewRemoteKeys returns an empty cache that fetches with client (nil: a
// client with DefaultFetchTimeout), refetching a set for an unknown key
// at most once per interval (0: DefaultRefetchInterval).
func NewRemoteKeys(client *http.Client, interval time.Duration, now func() time.Time, log *slog.Logger) *RemoteKeys {
	if client == nil {
		client = &http.Client{Timeout: DefaultFetchTimeout, CheckRedirect: checkRedirect}
	}
	if interval == 0 {
		interval = DefaultRefetchInterval
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RemoteKeys{client: client, now: now, log: log, interval: interval, sets: map[string]*remoteSet{}}
}

// checkRedirect follows at most three redirects, each to a URL a jwks_uri
// could be (https, or http on a loopback host).
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	return tenant.ValidateHTTPSURL(req.URL.String())
}

// remoteSet is the cached key set of one URL.
type remoteSet struct {
	url string

	mu      sync.Mutex
	set     *jwk.Set
	expires time.Time
	last    time.Time     // when the last fetch started
	fails   int           // consecutive failed fetches
	err     error         // the last fetch's error
	flight  chan struct{} // closed when the fetch in flight ends
}

// Find returns the key of the set at url that verifies alg and is called
// kid (see jwk.Set.Find).
func (r *RemoteKeys) Find(ctx context.Context, url, kid, alg string) (*jwk.Key, error) {
	s, err := r.get(url)
	if err != nil {
		return nil, err
	}
	now := r.now()
	set, err := s.current(ctx, r, now)
	if err != nil {
		return nil, err
	}
	k, err := set.Find(kid, alg)
	if !errors.Is(err, jwk.ErrNoKey) {
		return k, err
	}
	// A key the set lacks: the client may have rotated. Refetch, unless
	// one ran less than an interval ago.
	if err := s.fetch(ctx, r, now, r.interval); err != nil && !errors.Is(err, errNotNow) {
		r.log.Warn("clientauth: cannot refetch a client's key set", "jwks_uri", url, "err", err)
	}
	s.mu.Lock()
	set = s.set
	s.mu.Unlock()
	return set.Find(kid, alg)
}

// Retain drops the cached sets whose URL keep rejects.
func (r *RemoteKeys) Retain(keep func(url string) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for u := range r.sets {
		if !keep(u) {
			delete(r.sets, u)
		}
	}
}

func (r *RemoteKeys) get(url string) (*remoteSet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sets[url]
	if s == nil {
		if len(r.sets) >= MaxRemoteSets {
			return nil, fmt.Errorf("%w: more than %d key set URLs", ErrKeysUnavailable, MaxRemoteSets)
		}
		s = &remoteSet{url: url}
		r.sets[url] = s
	}
	return s, nil
}

// current returns the cached set, fetching it when there is none usable,
// and refreshing it in the background when it has expired.
func (s *remoteSet) current(ctx context.Context, r *RemoteKeys, now time.Time) (*jwk.Set, error) {
	s.mu.Lock()
	set, expires := s.set, s.expires
	s.mu.Unlock()
	switch {
	case set == nil || now.After(expires.Add(MaxStale)):
		if err := s.fetch(ctx, r, now, 0); err != nil {
			s.mu.Lock()
			set, expires = s.set, s.expires
			s.mu.Unlock()
			if set == nil || now.After(expires.Add(MaxStale)) {
				return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
			}
		}
		s.mu.Lock()
		set = s.set
		s.mu.Unlock()
	case now.After(expires):
		go s.fetch(context.Background(), r, now, 0) // the cached set serves meanwhile
	}
	return set, nil
}

// fetch joins the fetch in flight or starts one, unless the last started
// less than minGap ago or failed less than a backoff ago (errNotNow), and
// waits for it or for ctx.
func (s *remoteSet) fetch(ctx context.Context, r *RemoteKeys, now time.Time, minGap time.Duration) error {
	s.mu.Lock()
	flight := s.flight
	if flight == nil {
		gap := minGap
		if s.fails > 0 {
			gap = max(gap, min(minBackoff<<min(s.fails-1, 16), maxBackoff))
		}
		if !s.last.IsZero() && now.Before(s.last.Add(gap)) {
			err := s.err
			s.mu.Unlock()
			if err != nil {
				return fmt.Errorf("%w: %w", errNotNow, err)
			}
			return errNotNow
		}
		flight = make(chan struct{})
		s.flight, s.last = flight, now
		go s.run(r, flight)
	}
	s.mu.Unlock()
	select {
	case <-flight:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run fetches the set, detached from any request so that a caller giving
// up does not fail the others.
func (s *remoteSet) run(r *RemoteKeys, flight chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultFetchTimeout)
	defer cancel()
	set, lifetime, err := r.download(ctx, s.url)
	s.mu.Lock()
	if err == nil {
		s.set, s.expires, s.fails = set, r.now().Add(lifetime), 0
	} else {
		s.fails++
	}
	s.err, s.flight = err, nil
	s.mu.Unlock()
	close(flight)
}

// download GETs a JWK Set.
func (r *RemoteKeys) download(ctx context.Context, url string) (*jwk.Set, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwk.MaxSetBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	set, skipped, err := jwk.ParseSet(body)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	for _, e := range skipped {
		r.log.Debug("clientauth: skipping a key of a client's key set", "jwks_uri", url, "reason", e)
	}
	if len(set.Keys) == 0 {
		return nil, 0, fmt.Errorf("GET %s: the key set has no usable key", url)
	}
	return set, jwk.CacheLifetime(resp.Header), nil
}
