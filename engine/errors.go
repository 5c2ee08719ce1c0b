package engine

import (
	"errors"
	"fmt"
	"time"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2, RFC 6750 §3.1,
// RFC 8707 §2). Its code and description reach the client; the wrapped
// cause is for logs only. An Error is immutable: its fields are read
// through methods, and WithDescription, WithStatus, WithRetryAfter and
// Wrap return changed copies, so that no caller can change what a
// sentinel such as ErrAccessDenied answers for everybody else.
type Error struct {
	code        string
	description string
	status      int
	retryAfter  time.Duration
	cause       error
}

// HTTP statuses of the errors. The core does not import net/http: it is
// usable with no HTTP at all (see docs/design.md, "The core has no HTTP").
const (
	statusBadRequest          = 400
	statusUnauthorized        = 401
	statusForbidden           = 403
	statusInternalServerError = 500
	statusServiceUnavailable  = 503
)

// NewError returns an error with an OAuth error code and the HTTP status
// it is answered with, for codes that have no sentinel here.
func NewError(code string, status int) *Error { return &Error{code: code, status: status} }

// The errors the token endpoint answers with. Compare with errors.Is; add
// detail with WithDescription and Wrap, which return copies.
var (
	ErrInvalidRequest         = NewError("invalid_request", statusBadRequest)
	ErrInvalidClient          = NewError("invalid_client", statusUnauthorized)
	ErrInvalidGrant           = NewError("invalid_grant", statusBadRequest)
	ErrUnauthorizedClient     = NewError("unauthorized_client", statusBadRequest)
	ErrUnsupportedGrantType   = NewError("unsupported_grant_type", statusBadRequest)
	ErrInvalidScope           = NewError("invalid_scope", statusBadRequest)
	ErrInvalidTarget          = NewError("invalid_target", statusBadRequest)
	ErrAccessDenied           = NewError("access_denied", statusForbidden)
	ErrServerError            = NewError("server_error", statusInternalServerError)
	ErrTemporarilyUnavailable = NewError("temporarily_unavailable", statusServiceUnavailable)
	// ErrInvalidDPoPProof and ErrUseDPoPNonce are RFC 9449's (§5, §8):
	// a proof missing, malformed or refused; a proof without the server's
	// current nonce (the response carries it in DPoP-Nonce).
	ErrInvalidDPoPProof = NewError("invalid_dpop_proof", statusBadRequest)
	ErrUseDPoPNonce     = NewError("use_dpop_nonce", statusBadRequest)
)

// Code is the RFC error code, such as "invalid_scope".
func (e *Error) Code() string { return e.code }

// Description is human-readable text safe to show the client ("" when
// there is none).
func (e *Error) Description() string { return e.description }

// Status is the HTTP status of the response.
func (e *Error) Status() int { return e.status }

// RetryAfter, when above zero, is sent as the Retry-After header.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// Error formats the code, the description and the cause.
func (e *Error) Error() string {
	msg := e.code
	if e.description != "" {
		msg += ": " + e.description
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.code == e.code
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.cause }

// WithDescription returns a copy with a client-facing description.
func (e *Error) WithDescription(format string, args ...any) *Error {
	c := *e
	c.description = fmt.Sprintf(format, args...)
	return &c
}

// WithStatus returns a copy with another HTTP status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.status = status
	return &c
}

// WithRetryAfter returns a copy that tells the client when to try again.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.retryAfter = d
	return &c
}

// Wrap returns a copy carrying cause, which is logged but never sent.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// AsError converts any error into an *Error: OAuth errors pass through;
// a cause that says it is unavailable (storage.ErrUnavailable: a store
// not answering, which a retry may find back) becomes
// temporarily_unavailable with Retry-After; anything else becomes
// server_error (with the cause kept for logs).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var u interface{ Unavailable() bool }
	if errors.As(err, &u) && u.Unavailable() {
		return ErrTemporarilyUnavailable.WithDescription("a store the issuer depends on is unavailable; try again").
			WithRetryAfter(RetryUnavailable).Wrap(err)
	}
	return ErrServerError.Wrap(err)
}

// RetryUnavailable is the Retry-After of a temporarily_unavailable answer:
// long enough for a NATS client to reconnect elsewhere or a stream to elect
// a leader, short enough that clients do not give up.
const RetryUnavailable = time.Second
