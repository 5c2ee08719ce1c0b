package engine

import (
	"context"
	"log/slog"
	"time"
)

// IntrospectionOutcome is how an introspection request (RFC 7662) ended.
type IntrospectionOutcome string

// The introspection outcomes. The client is told only active or inactive
// (RFC 7662 §2.2); why a token is inactive is for auditors alone.
const (
	// IntrospectionActive: the token is an active access token of an API
	// the client may introspect; its claims were answered.
	IntrospectionActive IntrospectionOutcome = "active"
	// IntrospectionInactive: answered {"active": false}; Reason says why
	// (expired, revoked, malformed or not this issuer's, an API the client
	// may not introspect, a refresh token).
	IntrospectionInactive IntrospectionOutcome = "inactive"
	// IntrospectionRefused: the request was refused (client
	// authentication, a client that may introspect nothing, no token).
	IntrospectionRefused IntrospectionOutcome = "refused"
)

// Introspection is the record of one introspection request, handed to an
// IntrospectionAuditor. It never holds the token: only, for a token that
// parsed as one of this issuer's, its jti and claims that identify it.
type Introspection struct {
	Outcome   IntrospectionOutcome
	Issuer    string
	Time      time.Time
	RequestID string
	// ClientID is the client that asked (authenticated unless refused).
	ClientID string
	// TokenType is access_token or refresh_token, once known.
	TokenType string
	// Owner is the client the token was issued to; Subject its sub;
	// Audience its API; JTI its id; Expires its exp. They are set when
	// the token is this issuer's, whatever the answer (a refresh token:
	// Owner, Subject and Expires).
	Owner    string
	Subject  string
	Audience string
	JTI      string
	Expires  time.Time
	// Reason says why, in words (never told to the client); Err is the
	// error answered when refused.
	Reason    string
	Err       *Error
	IP        string
	UserAgent string
}

// IntrospectionAuditor is an Auditor that also records introspection
// requests, which the introspection endpoint uses when the Issuer's
// Auditor implements it.
type IntrospectionAuditor interface {
	RecordIntrospection(ctx context.Context, r *Introspection) error
}

// RecordIntrospection logs an introspection request and hands it to the
// Auditor when it is an IntrospectionAuditor. An introspection is recorded
// before it is answered; a failure to record it is returned, and the
// endpoint answers 503 so that the client asks again (introspection
// changes nothing).
func (i *Issuer) RecordIntrospection(ctx context.Context, r *Introspection) error {
	r.Issuer = i.issuer
	if r.Time.IsZero() {
		r.Time = i.now()
	}
	i.log.Log(ctx, slog.LevelInfo, "token introspection", "request_id", r.RequestID, "client_id", r.ClientID, "outcome", r.Outcome,
		"token_type", r.TokenType, "owner", r.Owner, "audience", r.Audience, "jti", r.JTI, "reason", r.Reason)
	ia, ok := i.auditor.(IntrospectionAuditor)
	if !ok {
		return nil
	}
	return ia.RecordIntrospection(ctx, r)
}
