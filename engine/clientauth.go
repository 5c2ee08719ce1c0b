package engine

import (
	"context"
	"errors"
	"time"

	"github.com/scopeline/scopeline/engine/clientauth"
	"github.com/scopeline/scopeline/engine/internal/text"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/throttle"
)

// statusTooManyRequests answers a throttled client authentication.
const statusTooManyRequests = 429

// The throttles of client authentication (see ClientAuthenticator).
var (
	ruleClientAuth    = throttle.Rule{Name: "client-auth", Burst: 20, Refill: 3 * time.Second}
	ruleClientNetwork = throttle.Rule{Name: "client-auth-network", Burst: 20, Refill: 6 * time.Second}
	ruleClientPair    = throttle.Rule{Name: "client-auth-pair", Burst: 100, Refill: time.Second}
	// client-auth-known remembers, for a day, the networks a client
	// authenticated from: a one-attempt bucket charged at each success is
	// empty (Delay > 0) until a day after the last one.
	ruleClientKnown = throttle.Rule{Name: "client-auth-known", Burst: 1, Refill: 24 * time.Hour}
)

// ClientAuthenticator authenticates clients at every endpoint that does
// (token, PAR, revocation, introspection), for every grant: confidential
// clients by their secret or a JWT assertion (private_key_jwt,
// client_secret_jwt), with failures throttled alike; public clients by
// their id alone, where public clients are allowed. Grants and endpoints
// take one as a dependency and call Confidential or UserClient: there is
// no other way in.
type ClientAuthenticator struct {
	now        func() time.Time
	networks   throttle.Networks
	assertions *clientauth.Verifier
	// Failures count per client id and per network from networks the
	// client is not known in (auth, network), per client and network
	// from those it is (pair); known remembers the latter.
	auth, network, pair, known throttle.Throttle
}

// NewClientAuthenticator makes an authenticator whose throttles come from
// backend (nil: throttle.Local), counting clients per networks, at the
// time now tells (nil: time.Now), verifying client assertions with
// assertions (nil: assertions are refused).
func NewClientAuthenticator(backend throttle.Backend, networks throttle.Networks, now func() time.Time, assertions *clientauth.Verifier) *ClientAuthenticator {
	if backend == nil {
		backend = throttle.Local
	}
	if now == nil {
		now = time.Now
	}
	return &ClientAuthenticator{
		now: now, networks: networks, assertions: assertions,
		auth: backend(ruleClientAuth), network: backend(ruleClientNetwork),
		pair: backend(ruleClientPair), known: backend(ruleClientKnown),
	}
}

// Confidential authenticates a confidential client: by its secret
// (client_secret_basic, client_secret_post) or by a JWT assertion
// (private_key_jwt, client_secret_jwt; RFC 7523 §2.2), each only as the
// client registered (the two secret methods stand for one another). An
// unknown client and a wrong secret get the same answer after the same
// work. On success tx.ClientAuth names the method, and r.ClientID and
// tx.ClientID the client (an assertion need not come with a client_id).
//
// Failures are throttled, whatever the method, and a throttled attempt is
// refused without checking the credentials, traced (so its audit record
// says why) and answered 429 with Retry-After. From a network the client
// has not authenticated from in the last day, failures count per client id
// (whether the client exists or not) and per network. From a network it
// has, they count only for that client on that network, with a larger
// allowance: so neither an attacker elsewhere nor a misconfigured sibling
// with an old secret can lock the real client out, and an attacker inside
// the client's own network is still limited.
func (a *ClientAuthenticator) Confidential(ctx context.Context, t *tenant.Tenant, r *TokenRequest, tx *Transaction) (*tenant.Client, error) {
	claimed := r.ClientID
	if r.AuthMethod == AuthAssertion && claimed == "" {
		// Unverified: for counting failures and for the record only, as a
		// client_id parameter would be.
		claimed = text.Truncate(clientauth.UnverifiedSubject(r.ClientAssertion), 256)
		tx.ClientID = claimed
	}
	if r.AuthMethod == AuthNone || claimed == "" {
		return nil, ErrInvalidClient.WithDescription("client authentication is required")
	}
	now := a.now()
	id, network := "client:"+text.Truncate(claimed, 256), a.networks.Key(r.IP)
	pair := id + "\x00" + network
	known := network != "" && a.known.Delay(ctx, pair, now) > 0
	var wait time.Duration
	switch {
	case known:
		wait = a.pair.Delay(ctx, pair, now)
	case network != "":
		wait = max(a.auth.Delay(ctx, id, now), a.network.Delay(ctx, network, now))
	default: // an in-process caller
		wait = a.auth.Delay(ctx, id, now)
	}
	if wait > 0 {
		tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Reason: "client authentication throttled: too many failures for this client id or from this network"})
		return nil, ErrInvalidClient.WithDescription("too many failed client authentications; try again in %ss", text.RetryAfter(wait)).
			WithStatus(statusTooManyRequests).WithRetryAfter(wait)
	}
	c, method, err := a.verify(ctx, t, r)
	if err != nil {
		if errors.Is(err, clientauth.ErrUnavailable) { // not the client's fault: not counted
			return nil, ErrServerError.Wrap(err)
		}
		switch {
		case known:
			a.pair.Fail(ctx, pair, now)
		case network != "":
			a.auth.Fail(ctx, id, now)
			a.network.Fail(ctx, network, now)
		default:
			a.auth.Fail(ctx, id, now)
		}
		return nil, err
	}
	if network != "" {
		a.known.Fail(ctx, pair, now) // remembered for a day
	}
	r.ClientID, tx.ClientID, tx.ClientAuth = c.ID, c.ID, method
	return c, admit(c, r, tx)
}

// admit applies a client's rules for token requests (r.GrantType set):
// with require_dpop (RFC 9449 §5.2, dpop_bound_access_tokens), a verified
// DPoP proof. Other endpoints that authenticate clients (PAR, revocation,
// introspection) send no grant type and are not concerned.
func admit(c *tenant.Client, r *TokenRequest, tx *Transaction) error {
	if r.GrantType != "" && c.RequireDPoP && tx.DPoPKey == "" {
		tx.record(TraceEntry{Stage: StageBaseline, Op: OpDeny, Reason: "the client must present a DPoP proof (require_dpop)"})
		return ErrInvalidDPoPProof.WithDescription("this client's token requests must carry a DPoP proof (require_dpop)")
	}
	return nil
}

// errAuthFailed is the one answer to a wrong secret, an unknown client or
// a method the client did not register.
var errAuthFailed = ErrInvalidClient.WithDescription("client authentication failed")

// verify checks the credentials r presents, and returns the client and
// the method it authenticated with.
func (a *ClientAuthenticator) verify(ctx context.Context, t *tenant.Tenant, r *TokenRequest) (*tenant.Client, string, error) {
	if r.AuthMethod != AuthAssertion {
		c, _ := t.Client(r.ClientID)
		// VerifySecret first, so that every refusal costs the same work.
		if !c.VerifySecret(r.ClientSecret) || !c.Auth.Accepts(r.AuthMethod) {
			return nil, "", errAuthFailed
		}
		return c, r.AuthMethod, nil
	}
	if a.assertions == nil {
		return nil, "", ErrInvalidClient.WithDescription("client assertions are not accepted here")
	}
	res, err := a.assertions.Verify(ctx, t, clientauth.Request{
		AssertionType: r.ClientAssertionType, Assertion: r.ClientAssertion,
		ClientID: r.ClientID, Endpoint: r.Endpoint,
	})
	var e *clientauth.Error
	switch {
	case errors.As(err, &e):
		return nil, "", ErrInvalidClient.WithDescription("%s", e.Description).Wrap(err)
	case err != nil:
		return nil, "", err
	}
	return res.Client, res.Method, nil
}

// UserClient authenticates a client for an end-user grant: confidential
// clients with their secret (Confidential), public ones by client_id
// alone (their codes are bound by PKCE). A machine client has no users.
func (a *ClientAuthenticator) UserClient(ctx context.Context, t *tenant.Tenant, r *TokenRequest, tx *Transaction) (*tenant.Client, error) {
	c, ok := t.Client(r.ClientID)
	if !ok || c.Type.Confidential() {
		c, err := a.Confidential(ctx, t, r, tx)
		if err != nil {
			return nil, err
		}
		if c.Type == tenant.ClientM2M {
			what := r.GrantType
			if what == "" { // the PAR endpoint
				what = "pushed authorization requests"
			}
			return nil, ErrUnauthorizedClient.WithDescription("an m2m client has no users; it cannot use %s", what)
		}
		return c, nil
	}
	if r.ClientSecret != "" || r.AuthMethod == AuthAssertion { // the answer of a wrong secret: it does not tell the client's type
		return nil, errAuthFailed
	}
	tx.ClientAuth = AuthNone
	return c, admit(c, r, tx)
}
