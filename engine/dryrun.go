package engine

import (
	"context"
	"errors"

	"github.com/scopeline/scopeline/engine/tenant"
)

// DryRunRequest is a token request to run through the pipeline for its
// trace only: no client authentication, no token minted.
type DryRunRequest struct {
	// ClientID names the client. With UserID empty the request is a
	// client-credentials one (credentials-exchange); with UserID set, an
	// end-user one for that user through the client (post-login).
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
//
// The returned error is not nil only when the issuer is closed or the
// decision could not be recorded (ErrDryRunNotRecorded).
func (i *Issuer) DryRun(ctx context.Context, r *DryRunRequest) (*Decision, error) {
	s := i.acquire()
	if s == nil {
		return nil, ErrTemporarilyUnavailable.WithDescription("the issuer is shutting down")
	}
	defer s.release()
	tx := &Transaction{
		RequestID: r.RequestID, ClientID: truncate(r.ClientID, 256),
		IP: r.IP, UserAgent: truncate(r.UserAgent, 256),
		Time: i.now(), Trace: make(Trace, 0, 8),
	}
	err := i.dryRun(ctx, s, r, tx)
	d := &Decision{Outcome: OutcomeIssued, Issuer: s.issuer, Time: i.now(), Tx: tx, DryRun: true, DryRunBy: truncate(r.By, 256)}
	if err != nil {
		d.Outcome, d.Err = OutcomeDenied, AsError(err)
	}
	if i.auditor != nil {
		if err := i.auditor.Record(ctx, d); err != nil {
			return nil, errors.Join(ErrDryRunNotRecorded, err)
		}
	}
	i.log.Info("dry run", "request_id", tx.RequestID, "by", d.DryRunBy, "client_id", tx.ClientID, "user_id", r.UserID, "outcome", d.Outcome)
	return d, nil
}

// dryRun fills tx as the grant handlers do, without their checks of who
// is asking, and runs the pipeline.
func (i *Issuer) dryRun(ctx context.Context, s *snapshot, r *DryRunRequest, tx *Transaction) error {
	c, ok := s.tenant.Client(r.ClientID)
	if !ok {
		tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Reason: "no such client"})
		return ErrInvalidClient.WithDescription("no client has the id %q", truncate(r.ClientID, 64))
	}
	tr := &TokenRequest{Audience: r.Audience}
	api, err := resolveAPI(s.tenant, tr)
	if err != nil {
		return err
	}
	all, err := requestedScope(r.Scope, r.ScopeSet)
	if err != nil {
		return err
	}
	if r.UserID == "" {
		tx.GrantType, tx.Trigger = GrantClientCredentials, tenant.TriggerCredentialsExchange
		tx.Client, tx.ClientID, tx.Subject, tx.API, tx.Requested = c, c.ID, c.ID, api, all
		if !c.Type.Confidential() {
			return ErrUnauthorizedClient.WithDescription("a %s client cannot use client_credentials", c.Type)
		}
		return s.pipelines[tx.Trigger].Run(ctx, tx)
	}
	tx.GrantType, tx.Trigger = GrantAuthorizationCode, tenant.TriggerPostLogin
	u, ok := s.tenant.User(r.UserID)
	if !ok {
		tx.Client, tx.API = c, api
		tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Reason: "no such user"})
		return ErrInvalidRequest.WithDescription("no user has the id %q", truncate(r.UserID, 64))
	}
	if c.Type == tenant.ClientM2M {
		tx.Client, tx.API = c, api
		return ErrUnauthorizedClient.WithDescription("an m2m client has no users")
	}
	var identity, requested []string
	if all != nil {
		identity, requested = splitScopes(all)
	}
	userTransaction(tx, c, api, u, requested, identity)
	if err := s.pipelines[tx.Trigger].Run(ctx, tx); err != nil {
		return err
	}
	return checkUserResult(tx)
}
