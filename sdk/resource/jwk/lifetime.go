package jwk

import (
	"net/http"
	"strings"
	"time"
)

// How long a fetched JWK Set is used, whatever its Cache-Control says.
const (
	// DefaultCacheLifetime applies when the response has no usable max-age.
	DefaultCacheLifetime = 5 * time.Minute
	// MinCacheLifetime is the floor, so that max-age=0 or no-store does
	// not turn every request into a fetch.
	MinCacheLifetime = time.Minute
	// MaxCacheLifetime is the ceiling, so that a key withdrawn stops being
	// trusted within the hour.
	MaxCacheLifetime = time.Hour
)

// CacheLifetime is how long a response may be used according to its
// Cache-Control max-age (less its Age), clamped to [MinCacheLifetime,
// MaxCacheLifetime]; DefaultCacheLifetime when it gives none.
func CacheLifetime(h http.Header) time.Duration {
	d, ok := maxAge(h.Values("Cache-Control"))
	if !ok {
		return DefaultCacheLifetime
	}
	if age, ok := deltaSeconds(strings.TrimSpace(h.Get("Age"))); ok {
		d -= age
	}
	return min(max(d, MinCacheLifetime), MaxCacheLifetime)
}

// maxAge finds the max-age directive (RFC 9111 §5.2.2.1); no-store and
// no-cache count as zero.
func maxAge(values []string) (time.Duration, bool) {
	var (
		d     time.Duration
		found bool
	)
	for _, v := range values {
		for dir := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				if secs, ok := deltaSeconds(strings.Trim(strings.TrimSpace(arg), `"`)); ok {
					d, found = secs, true
				}
			}
		}
	}
	return d, found
}

// deltaSeconds parses RFC 9111 §1.2.2 delta-seconds, capping overflow at
// 2^31 seconds as it says.
func deltaSeconds(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int64(c-'0'), 1<<31)
	}
	return time.Duration(n) * time.Second, true
}
