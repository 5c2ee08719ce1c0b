package resource

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/scopeline/scopeline/sdk/resource/dpop"
)

// WithDPoP configures how DPoP proofs are checked (RFC 9449 §7): their
// algorithms, iat window, clock skew, replay cache and nonces, with the
// options of package dpop. Without it, proofs are checked with that
// package's defaults and an in-memory replay cache: give a shared
// replay.Cache when several replicas serve the API.
func WithDPoP(opts ...dpop.Option) Option {
	return func(o *options) { o.dpop = append(o.dpop, opts...) }
}

// WithRequireDPoP accepts DPoP-bound tokens only: every request must use
// the DPoP scheme with a proof, and only the DPoP challenge is sent.
func WithRequireDPoP() Option { return func(o *options) { o.requireDPoP = true } }

// WithPublicURL sets the URL clients reach the API at (scheme, host, port
// and any path prefix a proxy strips), which DPoP proofs name in htu: a
// request's htu is this base followed by the request's path. Default: https
// or http by whether the request came over TLS, and its Host header, which
// is wrong behind a proxy that terminates TLS.
func WithPublicURL(base string) Option { return func(o *options) { o.publicURL = base } }

// requestURL is the URL a DPoP proof for r must name.
func (v *Validator) requestURL(r *http.Request) string {
	path := r.URL.EscapedPath()
	if v.publicURL != "" {
		return strings.TrimSuffix(v.publicURL, "/") + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// bind enforces the token's binding (RFC 9449 §7.1, §7.2): a DPoP-bound
// token (cnf.jkt) passes only with the DPoP scheme and a proof by its key
// for this request and this token; an unbound one only with the Bearer
// scheme, and not at all when DPoP is required.
func (v *Validator) bind(ctx context.Context, scheme, token string, c *Claims, req dpopRequest) *Error {
	switch {
	case c.KeyThumbprint == "" && scheme == schemeDPoP:
		return ErrInvalidToken.with("the access token is not DPoP-bound: send it with the Bearer scheme", nil).in(schemeDPoP)
	case c.KeyThumbprint == "" && v.requireDPoP:
		return ErrInvalidToken.with("this API accepts DPoP-bound access tokens only", nil).in(schemeDPoP)
	case c.KeyThumbprint == "":
		return nil
	case scheme != schemeDPoP:
		// A bound token sent as a bearer token: refused, or stealing it
		// would be enough to use it.
		return ErrInvalidToken.with("the access token is DPoP-bound: send it with the DPoP scheme and a proof", nil).in(schemeDPoP)
	}
	if req.err != nil {
		return ErrInvalidDPoPProof.with("the request has more than one DPoP header", req.err)
	}
	_, err := v.dpop.Verify(ctx, req.proof, dpop.Request{Method: req.method, URL: req.url, AccessToken: token, Thumbprint: c.KeyThumbprint})
	var e *dpop.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dpop.ErrUseNonce):
		refusal := ErrUseDPoPNonce.withCause(err)
		refusal.Nonce = v.dpop.Nonce()
		return refusal
	case errors.As(err, &e):
		return ErrInvalidDPoPProof.with(e.Description, err)
	}
	return ErrUnavailable.with(ErrUnavailable.Description, err).in(schemeDPoP)
}

// dpopRequest is what a DPoP proof is checked against.
type dpopRequest struct {
	proof, method, url string
	err                error // more than one DPoP header
}

func (v *Validator) dpopRequest(r *http.Request) dpopRequest {
	proof, err := dpop.ProofFrom(r.Header)
	return dpopRequest{proof: proof, method: r.Method, url: v.requestURL(r), err: err}
}

// ValidateRequest authenticates r as Protect does, without guards: the
// access token of its Authorization header (Bearer or DPoP), and for a
// DPoP-bound token the request's DPoP proof. Errors are *Error values.
func (v *Validator) ValidateRequest(r *http.Request) (Claims, error) {
	c, _, err := v.authenticate(r)
	if err != nil {
		return Claims{}, err
	}
	return *c, nil
}

// ValidateDPoP checks a DPoP-bound access token and its proof, for
// requests that are not net/http ones: method and url are the request's
// (url as the client addressed it, its query ignored). Errors are *Error
// values.
func (v *Validator) ValidateDPoP(ctx context.Context, token, proof, method, url string) (Claims, error) {
	c, err := v.claimsOf(ctx, token)
	if err != nil {
		return Claims{}, asError(err).in(schemeDPoP)
	}
	if e := v.bind(ctx, schemeDPoP, token, c, dpopRequest{proof: proof, method: method, url: url}); e != nil {
		return Claims{}, e
	}
	return *c, nil
}

// authenticate extracts and checks r's credentials, returning the claims
// and the scheme used.
func (v *Validator) authenticate(r *http.Request) (*Claims, string, error) {
	scheme, token, err := credentials(r)
	if err != nil {
		return nil, scheme, err
	}
	c, err := v.claimsOf(r.Context(), token)
	if err != nil {
		e := asError(err)
		if e.Scheme == "" {
			e = e.in(scheme)
		}
		return nil, scheme, e
	}
	if e := v.bind(r.Context(), scheme, token, c, v.dpopRequest(r)); e != nil {
		return nil, scheme, e
	}
	return c, scheme, nil
}
