package resource

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
)

// Guard is a condition the validated claims must meet for a request to
// reach the handler. Make one with RequireScopes, RequireAnyScope or
// ClaimCheck; a request that fails it is refused with 403
// insufficient_scope.
type Guard struct {
	check func(*Claims) *Error
}

// RequireScopes is a Guard that lets a request through only when the token
// grants every one of scopes. It panics when given no scope or a string
// that is not a scope (RFC 6749 §3.3), as that is a programming error.
func RequireScopes(scopes ...string) Guard {
	scopes = checkScopes("RequireScopes", scopes)
	refusal := ErrInsufficientScope.with("the token lacks a scope this request needs", nil)
	refusal.Scopes = scopes
	return Guard{check: func(c *Claims) *Error {
		for _, s := range scopes {
			if !c.HasScope(s) {
				return refusal
			}
		}
		return nil
	}}
}

// RequireAnyScope is a Guard that lets a request through when the token
// grants at least one of scopes. It panics when given no scope or a string
// that is not a scope.
func RequireAnyScope(scopes ...string) Guard {
	scopes = checkScopes("RequireAnyScope", scopes)
	refusal := ErrInsufficientScope.with("the token needs one of the scopes listed in scope", nil)
	refusal.Scopes = scopes
	return Guard{check: func(c *Claims) *Error {
		if slices.ContainsFunc(scopes, c.HasScope) {
			return nil
		}
		return refusal
	}}
}

// ClaimCheck is a Guard that lets a request through when check returns
// true for the token's claims, such as a custom claim a hook set. It
// panics when check is nil.
func ClaimCheck(check func(Claims) bool) Guard {
	if check == nil {
		panic("resource: ClaimCheck(nil)")
	}
	refusal := ErrInsufficientScope.with("the token's claims do not allow this request", nil)
	return Guard{check: func(c *Claims) *Error {
		if check(*c) {
			return nil
		}
		return refusal
	}}
}

func checkScopes(fn string, scopes []string) []string {
	if len(scopes) == 0 {
		panic("resource: " + fn + " needs at least one scope")
	}
	for _, s := range scopes {
		if !isScopeToken(s) {
			panic(fmt.Sprintf("resource: %s: %q is not a scope", fn, s))
		}
	}
	return slices.Clone(scopes)
}

// Protect returns a handler that serves a request with next only when it
// carries a valid access token (RFC 6750 §2.1) whose claims pass every
// guard; the claims are then in the request's context (see ClaimsFrom).
// Refusals are answered per RFC 6750 §3: 401 with a bare challenge when
// there is no token, 400 invalid_request for a malformed request, 401
// invalid_token, 403 insufficient_scope with the scopes needed; and 503
// when the issuer's keys cannot be had. A request already authenticated by
// an outer Protect of the same Validator is not validated again; one
// authenticated by another Validator is.
func (v *Validator) Protect(next http.Handler, guards ...Guard) http.Handler {
	for i, g := range guards {
		if g.check == nil {
			panic(fmt.Sprintf("resource: Protect: guard %d is the zero Guard", i))
		}
	}
	guards = slices.Clone(guards)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, scheme, ok := claimsBy(r.Context(), v)
		if !ok {
			var err error
			c, scheme, err = v.authenticate(r)
			if err != nil {
				v.refuse(w, r, err)
				return
			}
			r = r.WithContext(withClaims(r.Context(), v, c, scheme))
			if n := v.dpop.Nonce(); n != "" && scheme == schemeDPoP {
				w.Header().Set("DPoP-Nonce", n) // RFC 9449 §9: a fresh nonce for the next request
			}
		}
		for _, g := range guards {
			if err := g.check(c); err != nil {
				v.refuse(w, r, err.in(scheme))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Authenticate is Protect without guards: any valid token may pass.
func (v *Validator) Authenticate(next http.Handler) http.Handler { return v.Protect(next) }

// Require returns Protect with guards as middleware, for routers that
// chain func(http.Handler) http.Handler.
func (v *Validator) Require(guards ...Guard) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return v.Protect(next, guards...) }
}

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "5"

// refuse is the one place a refusal becomes a response.
func (v *Validator) refuse(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	level := slog.LevelDebug
	if e.Status == http.StatusServiceUnavailable {
		level = slog.LevelWarn
	}
	v.log.LogAttrs(r.Context(), level, "resource: request refused",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", e.Status), slog.String("error", e.Code),
		slog.String("description", e.Description), slog.Any("cause", e.cause))

	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json; charset=utf-8")
	if e.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfter)
	} else {
		for _, c := range v.challenges(e) {
			h.Add("WWW-Authenticate", c)
		}
	}
	if e.Nonce != "" {
		h.Set("DPoP-Nonce", e.Nonce)
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error,omitempty"`
		Description string `json:"error_description,omitempty"`
		Scope       string `json:"scope,omitempty"`
	}{e.Code, e.Description, strings.Join(e.Scopes, " ")})
	w.WriteHeader(e.Status)
	w.Write(append(body, '\n'))
}

// challenges are the WWW-Authenticate values for e: one per scheme the
// API accepts, Bearer (RFC 6750 §3) unless DPoP is required and DPoP (RFC
// 9449 §7.1, with the algorithms it accepts); the error goes on the
// challenge of the scheme the request used, which comes first. A request
// without a token gets bare challenges.
func (v *Validator) challenges(e *Error) []string {
	schemes := []string{schemeBearer, schemeDPoP}
	if v.requireDPoP {
		schemes = []string{schemeDPoP}
	}
	at := e.Scheme
	if !slices.Contains(schemes, at) {
		at = schemes[0]
	}
	out := []string{v.challenge(at, e)}
	for _, s := range schemes {
		if s != at {
			out = append(out, v.challenge(s, ErrMissingToken))
		}
	}
	return out
}

// challenge is one WWW-Authenticate value of scheme for e: bare (realm,
// and algs for DPoP) when e has no code.
func (v *Validator) challenge(scheme string, e *Error) string {
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString(` realm="`)
	b.WriteString(v.realm)
	b.WriteByte('"')
	if scheme == schemeDPoP {
		fmt.Fprintf(&b, `, algs="%s"`, strings.Join(v.dpop.Algorithms(), " "))
	}
	if e.Code == "" {
		return b.String()
	}
	fmt.Fprintf(&b, `, error="%s"`, e.Code)
	if e.Description != "" {
		fmt.Fprintf(&b, `, error_description="%s"`, quotable(e.Description))
	}
	if len(e.Scopes) > 0 {
		fmt.Fprintf(&b, `, scope="%s"`, strings.Join(e.Scopes, " "))
	}
	return b.String()
}

// isQuotable reports whether s can go in a challenge's quoted string as
// is: printable ASCII other than the quote and backslash (RFC 6750 §3).
func isQuotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// quotable replaces what isQuotable refuses with '?'.
func quotable(s string) string {
	if isQuotable(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return string(b)
}

// isScopeToken reports whether s is an RFC 6749 §3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	return s != "" && !strings.Contains(s, " ") && isQuotable(s)
}
