package engine

import (
	"context"
	"time"
)

// Outcome is how a token request ended.
type Outcome string

// The outcomes.
const (
	OutcomeIssued Outcome = "issued"
	OutcomeDenied Outcome = "denied"
)

// Decision is the record of one token request, handed to the Auditor. It
// holds no token, secret or password: only what the audit stream may carry.
type Decision struct {
	Outcome Outcome
	// Issuer is the `iss` of the tenant.
	Issuer string
	// Time is when the decision was taken.
	Time time.Time
	// Tx is the request's transaction: client, API, requested and granted
	// scopes, trace, hook logs and failures.
	Tx *Transaction
	// JTI and Expires describe the issued token (zero when denied).
	JTI     string
	Expires time.Time
	// Err is the error answered when denied.
	Err *Error
	// DryRun marks a request run through the pipeline for its trace only
	// (Issuer.DryRun): no token was minted, whatever Outcome says would
	// have happened. DryRunBy names who ran it.
	DryRun   bool
	DryRunBy string
}

// Auditor records decisions (package audit publishes them to NATS). For an
// issued token Record must return only once the decision is durable: when
// it fails, the token is withheld and the client gets
// temporarily_unavailable. For a denial a failure is logged and the denial
// is answered anyway.
type Auditor interface {
	Record(ctx context.Context, d *Decision) error
}

// LoginOutcome is how a sign-in attempt at the hosted login page ended.
type LoginOutcome string

// The sign-in outcomes.
const (
	LoginSucceeded LoginOutcome = "succeeded"
	LoginFailed    LoginOutcome = "failed"
	LoginThrottled LoginOutcome = "throttled"
)

// Login is the record of one sign-in attempt. It never holds the password;
// for a failure it holds the login name as typed, which may be a mistyped
// password: auditors should treat it as sensitive.
type Login struct {
	Outcome   LoginOutcome
	Issuer    string
	Time      time.Time
	RequestID string
	ClientID  string
	// UserID is set when the sign-in succeeded; LoginName is what was typed.
	UserID    string
	LoginName string
	IP        string
	UserAgent string
}

// LoginAuditor is an Auditor that also records sign-in attempts at the
// hosted login page, which uses it when its Auditor implements it.
type LoginAuditor interface {
	RecordLogin(ctx context.Context, l *Login) error
}
