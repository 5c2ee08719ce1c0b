package engine

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine/internal/scope"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
)

// Client authentication methods at the token endpoint.
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthNone        = "none"
)

// TokenRequest is a parsed token endpoint request.
type TokenRequest struct {
	GrantType string
	// ClientID and ClientSecret come from the Authorization header
	// (AuthMethod client_secret_basic) or the body (client_secret_post);
	// AuthMethod none means no secret was presented.
	ClientID     string
	ClientSecret string
	AuthMethod   string
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

// TokenResponse is a successful token response (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`

	// Transaction is the request's transaction, with its trace.
	Transaction *Transaction `json:"-"`
}

// grantHandler handles one grant type: it authenticates the client, fills
// the transaction, runs the pipeline and mints.
type grantHandler func(ctx context.Context, s *snapshot, r *TokenRequest, tx *Transaction) (*TokenResponse, error)

// Token handles a token request: the in-process heart of the token endpoint.
// The returned error is an *Error when the request is refused. Every
// outcome is recorded with the Auditor.
func (i *Issuer) Token(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	start := i.now()
	tx := &Transaction{
		RequestID: r.RequestID,
		GrantType: r.GrantType,
		ClientID:  r.ClientID,
		IP:        r.IP,
		UserAgent: r.UserAgent,
		Time:      start,
		Trace:     make(Trace, 0, 8),
	}
	s := i.acquire()
	if s == nil {
		return nil, ErrTemporarilyUnavailable.WithDescription("the issuer is shutting down")
	}
	defer s.release()

	var (
		resp *TokenResponse
		err  error
	)
	if h, ok := i.grants[r.GrantType]; ok {
		resp, err = h(ctx, s, r, tx)
	} else if r.GrantType == "" {
		err = ErrInvalidRequest.WithDescription("grant_type is required")
	} else {
		err = ErrUnsupportedGrantType.WithDescription("grant_type %q is not supported", truncate(r.GrantType, 64))
	}
	if err != nil {
		e := AsError(err)
		i.denied(ctx, tx, e)
		i.metrics.observeToken(r.GrantType, e.Code, i.now().Sub(start))
		return nil, e
	}
	i.metrics.observeToken(r.GrantType, "", i.now().Sub(start))
	return resp, nil
}

// denied records a refusal; a failure to record it is logged only.
func (i *Issuer) denied(ctx context.Context, tx *Transaction, e *Error) {
	lvl := slog.LevelInfo
	if e.Status >= 500 {
		lvl = slog.LevelError
	}
	i.log.Log(ctx, lvl, "token denied", "request_id", tx.RequestID, "grant_type", tx.GrantType,
		"client_id", tx.ClientID, "error", e.Code, "description", e.Description, "cause", errString(e.Unwrap()))
	if i.auditor == nil {
		return
	}
	d := &Decision{Outcome: OutcomeDenied, Issuer: i.issuer, Time: i.now(), Tx: tx, Err: e}
	if err := i.auditor.Record(ctx, d); err != nil {
		i.log.Error("recording a denial failed", "request_id", tx.RequestID, "err", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// clientCredentials handles grant_type=client_credentials (RFC 6749 §4.4).
func (i *Issuer) clientCredentials(ctx context.Context, s *snapshot, r *TokenRequest, tx *Transaction) (*TokenResponse, error) {
	tx.Trigger = tenant.TriggerCredentialsExchange
	c, err := i.authenticate(ctx, s.tenant, r, tx)
	if err != nil {
		return nil, err
	}
	tx.Client, tx.Subject = c, c.ID
	if !c.Type.Confidential() {
		return nil, ErrUnauthorizedClient.WithDescription("a %s client cannot use client_credentials", c.Type)
	}
	if tx.API, err = resolveAPI(s.tenant, r); err != nil {
		return nil, err
	}
	if tx.Requested, err = requestedScope(r.Scope, r.ScopeSet); err != nil {
		return nil, err
	}
	if err := s.pipelines[tx.Trigger].Run(ctx, tx); err != nil {
		return nil, err
	}
	return i.issue(ctx, s, tx, nil)
}

// requestedScope reads a scope parameter; set says whether it was sent. A
// malformed one is invalid_scope. The one rule for every grant and the
// authorization endpoint: a scope parameter that holds no scope token,
// empty ("scope=") or spaces only ("scope=%20%20"), is treated as absent
// (nil), as RFC 6749 §3.1 says of a parameter sent without a value.
func requestedScope(param string, set bool) ([]string, error) {
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

// authenticate checks a confidential client's secret. An unknown client and
// a wrong secret get the same answer after the same work.
//
// Failures are throttled, and a throttled attempt is refused without
// checking the secret, traced (so its audit record says why) and answered
// 429 with Retry-After. From a network the client has not authenticated
// from in the last day, failures count per client id (whether the client
// exists or not) and per network. From a network it has, they count only
// for that client on that network, with a larger allowance: so neither an
// attacker elsewhere nor a misconfigured sibling with an old secret can
// lock the real client out, and an attacker inside the client's own
// network is still limited.
func (i *Issuer) authenticate(ctx context.Context, t *tenant.Tenant, r *TokenRequest, tx *Transaction) (*tenant.Client, error) {
	if r.AuthMethod == AuthNone || r.ClientID == "" {
		return nil, ErrInvalidClient.WithDescription("client authentication is required")
	}
	th, now := i.throttles, i.now()
	id, network := "client:"+truncate(r.ClientID, 256), i.networkKey(r.IP)
	pair := id + "\x00" + network
	known := network != "" && th.clientKnown.Delay(ctx, pair, now) > 0
	var wait time.Duration
	switch {
	case known:
		wait = th.clientPair.Delay(ctx, pair, now)
	case network != "":
		wait = max(th.clientAuth.Delay(ctx, id, now), th.clientNetwork.Delay(ctx, network, now))
	default: // an in-process caller
		wait = th.clientAuth.Delay(ctx, id, now)
	}
	if wait > 0 {
		tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Reason: "client authentication throttled: too many failures for this client id or from this network"})
		return nil, ErrInvalidClient.WithDescription("too many failed client authentications; try again in %ss", retryAfter(wait)).
			WithStatus(http.StatusTooManyRequests).WithRetryAfter(wait)
	}
	c, _ := t.Client(r.ClientID)
	if !c.VerifySecret(r.ClientSecret) {
		switch {
		case known:
			th.clientPair.Fail(ctx, pair, now)
		case network != "":
			th.clientAuth.Fail(ctx, id, now)
			th.clientNetwork.Fail(ctx, network, now)
		default:
			th.clientAuth.Fail(ctx, id, now)
		}
		return nil, ErrInvalidClient.WithDescription("client authentication failed")
	}
	if network != "" {
		th.clientKnown.Fail(ctx, pair, now) // remembered for a day
	}
	return c, nil
}

// Limits on the target parameters.
const maxTargetLen = 512

// resolveAPI finds the API a request is for, from `audience` or `resource`
// (RFC 8707), falling back to the tenant's default audience.
func resolveAPI(t *tenant.Tenant, r *TokenRequest) (*tenant.API, error) {
	if len(r.Resource) > 1 {
		return nil, ErrInvalidTarget.WithDescription("one resource per token request")
	}
	var res string
	if len(r.Resource) == 1 {
		res = r.Resource[0]
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(res, "#") || len(res) > maxTargetLen {
			return nil, ErrInvalidTarget.WithDescription("resource must be an absolute URI without a fragment")
		}
	}
	aud := r.Audience
	if len(aud) > maxTargetLen || strings.ContainsFunc(aud, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return nil, ErrInvalidRequest.WithDescription("malformed audience")
	}
	if aud != "" && res != "" && aud != res {
		return nil, ErrInvalidRequest.WithDescription("audience and resource name different APIs")
	}
	id := aud
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
func (i *Issuer) issue(ctx context.Context, s *snapshot, tx *Transaction, x extras) (*TokenResponse, error) {
	now := i.now()
	m, err := s.mint(tx, now, i.rand)
	if err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	resp := &TokenResponse{
		AccessToken: m.token,
		TokenType:   "Bearer",
		ExpiresIn:   m.exp.Unix() - now.Unix(),
		Scope:       m.scope,
		Transaction: tx,
	}
	if x != nil {
		if err := x.add(ctx, s, now, resp); err != nil {
			return nil, err
		}
	}
	if i.auditor != nil {
		d := &Decision{Outcome: OutcomeIssued, Issuer: s.issuer, Time: now, Tx: tx, JTI: m.jti, Expires: m.exp}
		if err := i.auditor.Record(ctx, d); err != nil {
			return nil, ErrTemporarilyUnavailable.WithDescription("the audit stream is unavailable; try again").Wrap(err)
		}
	}
	if x != nil {
		if err := x.commit(ctx); err != nil {
			return nil, err
		}
	}
	if i.log.Enabled(ctx, slog.LevelDebug) {
		i.log.Debug("token issued", "request_id", tx.RequestID, "client_id", tx.ClientID, "aud", tx.API.Identifier,
			"scope", resp.Scope, "jti", m.jti, "trace", tx.Trace)
	}
	return resp, nil
}

var errNoKey = errors.New("engine: no signing key")
