package engine

import (
	"context"
	"errors"

	"github.com/scopeline/scopeline/engine/internal/text"
)

// DryRunRequest is a token request to run through the pipeline for its
// trace only: no client authentication, no token minted.
type DryRunRequest struct {
	// ClientID names the client. With UserID empty the request is a
	// client-credentials one (credentials-exchange); with UserID set, the
	// sign-in of that user through the client (post-login), as the hosted
	// pages run it before an authorization code is issued.
	ClientID string
	UserID   string
	// Audience names the API; "" is the tenant's default audience.
	Audience string
	// Scope is the scope parameter; ScopeSet tells it apart from absent.
	// For users it may hold OpenID Connect scopes too.
	Scope    string
	ScopeSet bool
	// By names who asked (a console user), for the audit record.
	By        string
	RequestID string
	IP        string
	UserAgent string
}

// GrantType is the grant whose rules the dry run follows:
// authorization_code for a user, else client_credentials.
func (r *DryRunRequest) GrantType() string {
	if r.UserID != "" {
		return GrantAuthorizationCode
	}
	return GrantClientCredentials
}

// DryRunner is a Grant that can run a request through its pipeline for
// the trace alone (Issuer.DryRun): it fills tx as Exchange does, with
// every rule of the grant but the checks of who is asking (no secret, no
// code), and runs the pipeline. It never mints, stores or records.
type DryRunner interface {
	Grant
	DryRun(ctx context.Context, s *Snapshot, r *DryRunRequest, tx *Transaction) error
}

// ErrDryRunNotRecorded wraps the error of a dry run whose decision the
// Auditor could not record: its result is withheld, as every decision of
// the issuer is on the audit stream.
var ErrDryRunNotRecorded = errors.New("engine: the dry run could not be recorded")

// DryRun runs r through the current snapshot's pipeline as a token
// request would go (the baseline, then every hook, their ops applied with
// the same rules) and records the decision, marked DryRun, with the
// Auditor, waiting for it as for an issued token. No client secret is
// checked and no token is minted: the Decision says what the request
// would have got (Outcome, Tx.Scopes, Tx.Trace) or the error it would
// have been answered (Err). Hooks do run: their metrics count the runs.
// The grant (r.GrantType) must be a DryRunner; the issuer's composed
// with package grant's are.
//
// The returned error is not nil only when the issuer is closed or the
// decision could not be recorded (ErrDryRunNotRecorded).
func (i *Issuer) DryRun(ctx context.Context, r *DryRunRequest) (*Decision, error) {
	s := i.Acquire()
	if s == nil {
		return nil, ErrTemporarilyUnavailable.WithDescription("the issuer is shutting down")
	}
	defer s.Release()
	tx := &Transaction{
		RequestID: r.RequestID, GrantType: r.GrantType(), ClientID: text.Truncate(r.ClientID, 256),
		IP: r.IP, UserAgent: text.Truncate(r.UserAgent, 256),
		Time: i.now(), Trace: make(Trace, 0, 8),
	}
	var err error
	if g, ok := i.grants[tx.GrantType].(DryRunner); ok {
		err = g.DryRun(ctx, s, r, tx)
	} else {
		err = ErrUnsupportedGrantType.WithDescription("this issuer cannot dry-run grant_type %q", tx.GrantType)
	}
	d := &Decision{Outcome: OutcomeIssued, Issuer: s.issuer, Time: i.now(), Tx: tx, DryRun: true, DryRunBy: text.Truncate(r.By, 256)}
	if err != nil {
		d.Outcome, d.Err = OutcomeDenied, AsError(err)
	}
	if i.auditor != nil {
		if err := i.auditor.Record(ctx, d); err != nil {
			return nil, errors.Join(ErrDryRunNotRecorded, err)
		}
	}
	i.log.Info("dry run", "request_id", tx.RequestID, "by", d.DryRunBy, "client_id", tx.ClientID, "user_id", text.Truncate(r.UserID, 64), "outcome", d.Outcome)
	return d, nil
}
