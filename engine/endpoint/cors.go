package endpoint

import (
	"net/http"
	"net/url"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
)

// CORS lets the browser origins of the tenant's public clients call an
// endpoint (the token, PAR, revocation and userinfo endpoints, from
// single-page apps). Origins come from the redirect URIs of spa and
// native clients.
func (e *Endpoints) CORS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && e.allowedOrigin(origin) {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Add("Vary", "Origin")
			// A DPoP client reads the nonce and the challenge (RFC 9449 §8, §7.1).
			hd.Set("Access-Control-Expose-Headers", "DPoP-Nonce, WWW-Authenticate")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				hd.Set("Access-Control-Allow-Methods", "GET, POST")
				hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
				hd.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		h(w, r)
	}
}

func (e *Endpoints) allowedOrigin(origin string) bool {
	s := e.iss.Acquire()
	if s == nil {
		return false
	}
	defer s.Release()
	return e.origins.Of(s)[origin]
}

// corsOrigins are the browser origins of the redirect URIs of the spa and
// native clients of s's tenant, worked out once per snapshot.
func corsOrigins(s *engine.Snapshot) map[string]bool {
	t := s.Tenant()
	origins := map[string]bool{}
	for _, c := range t.Clients {
		if c.Type != tenant.ClientSPA && c.Type != tenant.ClientNative {
			continue
		}
		for _, ru := range c.RedirectURIs {
			if u, err := url.Parse(ru); err == nil {
				origins[u.Scheme+"://"+u.Host] = true
			}
		}
	}
	return origins
}

// publicCORS lets any origin read a public document (discovery, JWKS).
func publicCORS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h(w, r)
	}
}
