package endpoint

import (
	"net/http"
	"strconv"
	"time"

	"github.com/scopeline/scopeline/engine/internal/httpx"
)

// JWKSMaxAge is how long clients may cache the JWKS. A next key must be
// published at least this long before it signs.
const JWKSMaxAge = 5 * time.Minute

// handleJWKS publishes the snapshot's keys (RFC 7517 §5).
func (e *Endpoints) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !httpx.GetOrHead(w, r) {
		return
	}
	s := e.acquire(w)
	if s == nil {
		return
	}
	defer s.Release()
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(JWKSMaxAge/time.Second)))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(s.JWKS())
}
