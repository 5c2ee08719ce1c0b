package engine

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine/internal/scope"
	"github.com/scopeline/scopeline/engine/internal/text"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// Client authentication methods a request presents (TokenRequest.AuthMethod).
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthNone        = "none"
	// AuthAssertion is a JWT client assertion (RFC 7523 §2.2): the
	// private_key_jwt or client_secret_jwt method, whichever the client
	// registered (Transaction.ClientAuth says which, once verified).
	AuthAssertion = "client_assertion"
)

// TokenRequest is a parsed token endpoint request. The issuer fills in
// what it learns while it handles one (the client's canonical id), so a
// request serves one call to Token at a time.
type TokenRequest struct {
	GrantType string
	// ClientID and ClientSecret come from the Authorization header
	// (AuthMethod client_secret_basic) or the body (client_secret_post);
	// AuthMethod none means no secret was presented; AuthAssertion that
	// ClientAssertion (of ClientAssertionType) was, with or without a
	// client_id.
	ClientID            string
	ClientSecret        string
	AuthMethod          string
	ClientAssertionType string
	ClientAssertion     string
	// Endpoint is the absolute URL the request was sent to, as the issuer
	// publishes it (the issuer URL and the endpoint's path): an
	// assertion's aud may name it, and a DPoP proof's htu must.
	Endpoint string
	// DPoP is the request's DPoP proof (RFC 9449 §4), "" when it has none.
	DPoP string
	// Scope is the scope parameter; ScopeSet tells it apart from absent.
	Scope    string
	ScopeSet bool
	// Audience names the API the hosted-issuer way; Resource the RFC 8707 way.
	Audience string
	Resource []string
	// Params holds every body parameter, for grant types that need more.
	Params url.Values

	RequestID string
	IP        string
	UserAgent string
}

// Token types of a token response (RFC 6750, RFC 9449 §5).
const (
	TokenTypeBearer = "Bearer"
	TokenTypeDPoP   = "DPoP"
)

// TokenResponse is a successful token response (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	// IssuedTokenType is the type of a token exchange's token (RFC 8693
	// §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`

	// Transaction is the request's transaction, with its trace.
	Transaction *Transaction `json:"-"`
}

// Grant handles one grant type at the token endpoint (RFC 6749 §4), as a
// handler of fosite's does: each grant is a type of its own with its
// dependencies (storage, clock, client authentication) given at
// construction, and the Issuer is composed with the grants it answers
// (WithGrants). Package grant has client_credentials, authorization_code
// and refresh_token; a new grant type is a new Grant, not a change here.
type Grant interface {
	// GrantType is the grant_type value the grant answers to.
	GrantType() string
	// Exchange authenticates the client and fills tx (client, API, user,
	// requested scopes), then runs the pipeline of tx's trigger, or takes
	// up its earlier result (a code's), leaving tx ready to mint. An
	// error refuses the request; an Extension, when not nil, adds to the
	// response (see Extension). The Issuer mints the access token and
	// records the decision: a grant never does either.
	Exchange(ctx context.Context, s *Snapshot, r *TokenRequest, tx *Transaction) (Extension, error)
}

// Extension adds to a token response what a grant gives besides the
// access token (an ID token, a refresh token), and keeps the state it
// stands for (a refresh-token family). Extend runs after the access token
// is minted and before the decision is recorded; Commit once the decision
// is durable, so that nothing is stored for a token the client never got.
type Extension interface {
	Extend(ctx context.Context, s *Snapshot, now time.Time, resp *TokenResponse) error
	Commit(ctx context.Context) error
}

// Token handles a token request: the in-process heart of the token endpoint.
// The returned error is an *Error when the request is refused. Every
// outcome is recorded with the Auditor.
func (i *Issuer) Token(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	start := i.now()
	tx := newTransaction(r, start)
	s := i.Acquire()
	if s == nil {
		return nil, ErrTemporarilyUnavailable.WithDescription("the issuer is shutting down").WithRetryAfter(RetryUnavailable)
	}
	defer s.Release()
	resp, err := i.exchange(ctx, s, r, tx)
	if err != nil {
		e := i.Deny(ctx, tx, err)
		i.metrics.observeToken(r.GrantType, e.code, i.now().Sub(start))
		return nil, e
	}
	i.metrics.observeToken(r.GrantType, "", i.now().Sub(start))
	return resp, nil
}

// newTransaction starts the transaction of r, arrived at now.
func newTransaction(r *TokenRequest, now time.Time) *Transaction {
	return &Transaction{
		RequestID: r.RequestID,
		GrantType: r.GrantType,
		ClientID:  r.ClientID,
		IP:        r.IP,
		UserAgent: r.UserAgent,
		Time:      now,
		Trace:     make(Trace, 0, 8),
	}
}

// exchange hands r to its grant, then mints.
func (i *Issuer) exchange(ctx context.Context, s *Snapshot, r *TokenRequest, tx *Transaction) (*TokenResponse, error) {
	g, ok := i.grants[r.GrantType]
	switch {
	case ok:
	case r.GrantType == "":
		return nil, ErrInvalidRequest.WithDescription("grant_type is required")
	default:
		return nil, ErrUnsupportedGrantType.WithDescription("grant_type %q is not supported", text.Truncate(r.GrantType, 64))
	}
	if err := s.bindDPoP(ctx, r, tx); err != nil {
		return nil, err
	}
	x, err := g.Exchange(ctx, s, r, tx)
	if err != nil {
		return nil, err
	}
	return i.issue(ctx, s, tx, x)
}

// Deny records a refused request: the one place a denial is logged and
// handed to the Auditor (a failure to record it is logged only). Token
// calls it for every refusal; so do the hosted pages, for a sign-in the
// post-login pipeline refused or a consent the user declined. It returns
// err as the *Error to answer with.
func (i *Issuer) Deny(ctx context.Context, tx *Transaction, err error) *Error {
	e := AsError(err)
	lvl := slog.LevelInfo
	if e.status >= 500 {
		lvl = slog.LevelError
	}
	i.log.Log(ctx, lvl, "token denied", "request_id", tx.RequestID, "grant_type", tx.GrantType,
		"client_id", tx.ClientID, "error", e.code, "description", e.description, "cause", errString(e.cause))
	if i.auditor == nil {
		return e
	}
	d := &Decision{Outcome: OutcomeDenied, Issuer: i.issuer, Time: i.now(), Tx: tx, Err: e}
	if err := i.auditor.Record(ctx, d); err != nil {
		i.log.Error("recording a denial failed", "request_id", tx.RequestID, "err", err)
	}
	return e
}

// Refuse records a token request refused before it could be handled (a
// body that does not parse, a wrong method), as Token records its own
// refusals, and returns the *Error to answer with. r holds what could be
// read of the request.
func (i *Issuer) Refuse(ctx context.Context, r *TokenRequest, err error) *Error {
	e := i.Deny(ctx, newTransaction(r, i.now()), err)
	i.metrics.observeToken(r.GrantType, e.code, 0)
	return e
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// RequestedScopes reads a scope parameter; set says whether it was sent.
// A malformed one is invalid_scope. The one rule for every grant and the
// authorization endpoint: a scope parameter that holds no scope token,
// empty ("scope=") or spaces only ("scope=%20%20"), is treated as absent
// (nil), as RFC 6749 §3.1 says of a parameter sent without a value.
func RequestedScopes(param string, set bool) ([]string, error) {
	if !set {
		return nil, nil
	}
	scopes, err := scope.Parse(param)
	if errors.Is(err, scope.ErrEmpty) {
		return nil, nil
	}
	if err != nil {
		return nil, ErrInvalidScope.WithDescription("%s", strings.TrimPrefix(err.Error(), "scope: "))
	}
	return scopes, nil
}

// Limits on the target parameters.
const maxTargetLen = 512

// ResolveAPI finds the API a request is for, from its audience or its
// resource (RFC 8707), falling back to the tenant's default audience.
func ResolveAPI(t *tenant.Tenant, audience string, resource []string) (*tenant.API, error) {
	if len(resource) > 1 {
		return nil, ErrInvalidTarget.WithDescription("one resource per token request")
	}
	var res string
	if len(resource) == 1 {
		res = resource[0]
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(res, "#") || len(res) > maxTargetLen {
			return nil, ErrInvalidTarget.WithDescription("resource must be an absolute URI without a fragment")
		}
	}
	if len(audience) > maxTargetLen || strings.ContainsFunc(audience, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return nil, ErrInvalidRequest.WithDescription("malformed audience")
	}
	if audience != "" && res != "" && audience != res {
		return nil, ErrInvalidRequest.WithDescription("audience and resource name different APIs")
	}
	id := audience
	if id == "" {
		id = res
	}
	if id == "" {
		id = t.DefaultAudience
	}
	if id == "" {
		return nil, ErrInvalidRequest.WithDescription("audience (or resource) is required")
	}
	api, ok := t.API(id)
	if !ok {
		return nil, ErrInvalidTarget.WithDescription("unknown API %q", id)
	}
	return api, nil
}

// issue mints the token for a transaction that passed its pipeline, records
// the decision and builds the response. No token leaves without its record.
// x, when set, adds to the response (ID and refresh tokens) before the
// decision is recorded, and commits its state once it is.
func (i *Issuer) issue(ctx context.Context, s *Snapshot, tx *Transaction, x Extension) (*TokenResponse, error) {
	now := i.now()
	m, err := s.mint(tx, now, i.rand)
	if err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	resp := &TokenResponse{
		AccessToken: m.token,
		TokenType:   TokenTypeBearer,
		ExpiresIn:   m.exp.Unix() - now.Unix(),
		Scope:       m.scope,
		Transaction: tx,
	}
	if tx.DPoPKey != "" {
		resp.TokenType = TokenTypeDPoP
	}
	if x != nil {
		if err := x.Extend(ctx, s, now, resp); err != nil {
			return nil, err
		}
	}
	if i.auditor != nil {
		d := &Decision{Outcome: OutcomeIssued, Issuer: s.issuer, Time: now, Tx: tx, JTI: m.jti, Expires: m.exp}
		if err := i.auditor.Record(ctx, d); err != nil {
			return nil, ErrTemporarilyUnavailable.WithDescription("the audit stream is unavailable; try again").WithRetryAfter(RetryUnavailable).Wrap(err)
		}
	}
	if x != nil {
		if err := x.Commit(ctx); err != nil {
			return nil, err
		}
	}
	if i.log.Enabled(ctx, slog.LevelDebug) {
		i.log.Debug("token issued", "request_id", tx.RequestID, "client_id", tx.ClientID, "aud", tx.API.Identifier,
			"scope", resp.Scope, "jti", m.jti, "trace", tx.Trace)
	}
	return resp, nil
}
