package engine

import (
	"context"
	"log/slog"
	"time"
)

// RevocationOutcome is how a revocation request (RFC 7009) ended.
type RevocationOutcome string

// The revocation outcomes. A request that revoked nothing is still
// answered 200 (RFC 7009 §2.2), except a refused one.
const (
	// RevocationRevoked: the token (a refresh token's whole family, or an
	// access token by its jti) is revoked.
	RevocationRevoked RevocationOutcome = "revoked"
	// RevocationIgnored: nothing to revoke: the token is unknown, expired,
	// malformed, or was revoked before.
	RevocationIgnored RevocationOutcome = "ignored"
	// RevocationNotOwner: the token belongs to another client, which the
	// caller may not revoke for; nothing is revoked.
	RevocationNotOwner RevocationOutcome = "not-owner"
	// RevocationRefused: the request was refused (client authentication,
	// an access token of an API without a denylist).
	RevocationRefused RevocationOutcome = "refused"
)

// Revocation is the record of one revocation request, handed to a
// RevocationAuditor. It never holds the token: only its jti (access
// tokens) or its family id (refresh tokens).
type Revocation struct {
	Outcome   RevocationOutcome
	Issuer    string
	Time      time.Time
	RequestID string
	// ClientID is the client that asked (authenticated unless refused).
	ClientID string
	// TokenType is access_token or refresh_token, once known.
	TokenType string
	// Owner is the client the token was issued to; Subject its sub (or
	// the user of a refresh token); Audience its API.
	Owner    string
	Subject  string
	Audience string
	// JTI is an access token's id; FamilyID a refresh token's family.
	JTI      string
	FamilyID string
	// Expires is when the revoked token would have expired.
	Expires time.Time
	// Reason says why, in words; Err is the error answered when refused.
	Reason    string
	Err       *Error
	IP        string
	UserAgent string
}

// RevocationAuditor is an Auditor that also records revocations, which
// the revocation endpoint uses when the Issuer's Auditor implements it.
type RevocationAuditor interface {
	RecordRevocation(ctx context.Context, r *Revocation) error
}

// RecordRevocation logs a revocation and hands it to the Auditor when it
// is a RevocationAuditor. A revocation is recorded before it is answered;
// a failure to record it is returned, and the endpoint answers 503 so
// that the client tries again (the revocation itself is done and
// idempotent).
func (i *Issuer) RecordRevocation(ctx context.Context, r *Revocation) error {
	r.Issuer = i.issuer
	if r.Time.IsZero() {
		r.Time = i.now()
	}
	lvl := slog.LevelInfo
	if r.Outcome == RevocationNotOwner {
		lvl = slog.LevelWarn
	}
	i.log.Log(ctx, lvl, "token revocation", "request_id", r.RequestID, "client_id", r.ClientID, "outcome", r.Outcome,
		"token_type", r.TokenType, "owner", r.Owner, "jti", r.JTI, "family_id", r.FamilyID, "reason", r.Reason)
	ra, ok := i.auditor.(RevocationAuditor)
	if !ok {
		return nil
	}
	return ra.RecordRevocation(ctx, r)
}
