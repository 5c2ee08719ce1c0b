package resource

import (
	"errors"
	"net/http"
)

// Error is a refusal of a request to a protected resource, as the Bearer
// token scheme defines them (RFC 6750 §3.1). Code and Description reach the
// client in the WWW-Authenticate challenge and the JSON body; the wrapped
// cause is for logs only. Neither ever contains the token.
type Error struct {
	// Code is the RFC 6750 error code, such as "invalid_token"; it is empty
	// when the request carried no token at all (RFC 6750 §3.1).
	Code string
	// Description is human-readable text safe to show the client.
	Description string
	// Status is the HTTP status of the response.
	Status int
	// Scopes are the scopes the request needs, for insufficient_scope.
	Scopes []string
	// Scheme is the authentication scheme whose challenge carries the
	// error: "DPoP" when the request used it or the token is DPoP-bound,
	// else "Bearer" (RFC 9449 §7.1).
	Scheme string
	// Nonce, for use_dpop_nonce, is the nonce to send in DPoP-Nonce.
	Nonce string
	cause error
}

// The refusals. Compare with errors.Is.
var (
	// ErrMissingToken: the request has no Bearer token (401 with a bare
	// challenge).
	ErrMissingToken = &Error{Code: "", Status: http.StatusUnauthorized,
		Description: "this resource needs an access token in an Authorization: Bearer header"}
	// ErrInvalidRequest: the Authorization header or the request is
	// malformed, or sends the token more than one way (400).
	ErrInvalidRequest = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	// ErrInvalidToken: the token is malformed, forged, expired, or not meant
	// for this API (401).
	ErrInvalidToken = &Error{Code: "invalid_token", Status: http.StatusUnauthorized}
	// ErrInsufficientScope: the token is valid but does not grant the
	// request (403).
	ErrInsufficientScope = &Error{Code: "insufficient_scope", Status: http.StatusForbidden}
	// ErrUnavailable: the issuer's keys cannot be had, so no token can be
	// checked (503). The request may be retried.
	ErrUnavailable = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable,
		Description: "the access token cannot be checked now; retry later"}
	// ErrInvalidDPoPProof: the DPoP proof is missing, malformed, for
	// another request, replayed, or by a key the token is not bound to
	// (RFC 9449 §7.1; 401).
	ErrInvalidDPoPProof = &Error{Code: "invalid_dpop_proof", Status: http.StatusUnauthorized, Scheme: schemeDPoP}
	// ErrUseDPoPNonce: the proof must carry the nonce sent in the
	// DPoP-Nonce header (RFC 9449 §9; 401).
	ErrUseDPoPNonce = &Error{Code: "use_dpop_nonce", Status: http.StatusUnauthorized, Scheme: schemeDPoP,
		Description: "the DPoP proof must carry the nonce in the DPoP-Nonce header"}
)

// Error describes the refusal, with its cause, for logs.
func (e *Error) Error() string {
	msg := "resource: "
	if e.Code != "" {
		msg += e.Code
	} else {
		msg += "missing token"
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Is reports whether target is an *Error with the same code and status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Status == e.Status
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.cause }

// in returns a copy whose challenge is of scheme.
func (e *Error) in(scheme string) *Error {
	c := *e
	c.Scheme = scheme
	return &c
}

// with returns a copy with a description and a cause.
func (e *Error) with(description string, cause error) *Error {
	c := *e
	c.Description, c.cause = description, cause
	return &c
}

// withCause returns a copy with a cause.
func (e *Error) withCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// asError converts any error into an *Error; anything unexpected is an
// invalid token, so that it fails closed.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInvalidToken.with("the access token is invalid", err)
}
