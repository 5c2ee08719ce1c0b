package engine

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2, RFC 6750 §3.1,
// RFC 8707 §2). Code and Description reach the client; the wrapped cause
// is for logs only.
type Error struct {
	// Code is the RFC error code, such as "invalid_scope".
	Code string
	// Description is human-readable text safe to show the client.
	Description string
	// Status is the HTTP status of the response.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter time.Duration
	cause      error
}

// The errors the token endpoint answers with. Compare with errors.Is; add
// detail with WithDescription and Wrap, which return copies.
var (
	ErrInvalidRequest         = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrInvalidClient          = &Error{Code: "invalid_client", Status: http.StatusUnauthorized}
	ErrInvalidGrant           = &Error{Code: "invalid_grant", Status: http.StatusBadRequest}
	ErrUnauthorizedClient     = &Error{Code: "unauthorized_client", Status: http.StatusBadRequest}
	ErrUnsupportedGrantType   = &Error{Code: "unsupported_grant_type", Status: http.StatusBadRequest}
	ErrInvalidScope           = &Error{Code: "invalid_scope", Status: http.StatusBadRequest}
	ErrInvalidTarget          = &Error{Code: "invalid_target", Status: http.StatusBadRequest}
	ErrAccessDenied           = &Error{Code: "access_denied", Status: http.StatusForbidden}
	ErrServerError            = &Error{Code: "server_error", Status: http.StatusInternalServerError}
	ErrTemporarilyUnavailable = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable}
)

// Error formats the code, the description and the cause.
func (e *Error) Error() string {
	msg := e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.cause }

// WithDescription returns a copy with a client-facing description.
func (e *Error) WithDescription(format string, args ...any) *Error {
	c := *e
	c.Description = fmt.Sprintf(format, args...)
	return &c
}

// WithStatus returns a copy with another HTTP status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// WithRetryAfter returns a copy that tells the client when to try again.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// Wrap returns a copy carrying cause, which is logged but never sent.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// AsError converts any error into an *Error: OAuth errors pass through,
// anything else becomes server_error (with the cause kept for logs).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrServerError.Wrap(err)
}
