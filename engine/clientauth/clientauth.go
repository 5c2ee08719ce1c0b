package clientauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
	"github.com/scopeline/scopeline/sdk/resource/replay"
)

// AssertionType is the client_assertion_type of JWT client authentication
// (RFC 7523 §2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// ExplicitType is the typ of a client assertion under RFC 7523 as updated
// against audience injection: its aud must be the issuer alone.
const ExplicitType = "client-authentication+jwt"

// Bounds on an assertion.
const (
	// MaxAssertionBytes bounds a client_assertion.
	MaxAssertionBytes = 8 << 10
	maxIDBytes        = 256
)

// Error is a refused client authentication.
type Error struct {
	// Code is always invalid_client (RFC 6749 §5.2).
	Code        string
	Description string
	cause       error
}

// ErrInvalidClient is every refusal; compare with errors.Is.
var ErrInvalidClient = &Error{Code: "invalid_client", Description: "client authentication failed"}

// ErrUnavailable means the replay cache could not say whether the
// assertion was used before: the request fails as a server error.
var ErrUnavailable = errors.New("clientauth: the replay cache is unavailable")

// Error describes the refusal and its cause.
func (e *Error) Error() string {
	msg := "clientauth: " + e.Code + ": " + e.Description
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

func refuse(description string, cause error) *Error {
	c := *ErrInvalidClient
	c.Description, c.cause = description, cause
	return &c
}

// Config is what a Verifier needs besides the tenant.
type Config struct {
	// Issuer is the issuer identifier, the audience assertions name.
	Issuer string
	// Endpoints are the URLs of the endpoints that authenticate clients
	// (token, PAR, introspection, revocation): accepted as the audience
	// of assertions without the explicit typ.
	Endpoints []string
	// Replay remembers the jti of accepted assertions. Replicas must
	// share one.
	Replay replay.Cache
	// Keys fetches the key sets of clients that register a jwks_uri.
	Keys *RemoteKeys
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verifier authenticates clients by assertion. It is immutable and safe
// for concurrent use; the tenant is given at each call, so that one
// Verifier serves every snapshot.
type Verifier struct {
	cfg Config
}

// New returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	if err := tenant.ValidateIssuer(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("clientauth: %w", err)
	}
	if cfg.Replay == nil || cfg.Keys == nil {
		return nil, errors.New("clientauth: a replay cache and a key fetcher are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Endpoints = slices.Clone(cfg.Endpoints)
	return &Verifier{cfg: cfg}, nil
}

// Request is the client authentication part of a request.
type Request struct {
	// AssertionType and Assertion are client_assertion_type and
	// client_assertion.
	AssertionType string
	Assertion     string
	// ClientID is the client_id parameter, "" when the request sent none.
	ClientID string
	// Endpoint is the URL of the endpoint receiving the request: accepted
	// as the audience of an assertion without the explicit typ, besides
	// the issuer and Config.Endpoints.
	Endpoint string
}

// Result is an authenticated client.
type Result struct {
	Client *tenant.Client
	// Method is private_key_jwt or client_secret_jwt.
	Method string
	// Algorithm signed the assertion; KeyID is its kid ("" for none);
	// Thumbprint is the RFC 7638 thumbprint of the key (private_key_jwt).
	Algorithm  string
	KeyID      string
	Thumbprint string
	// ID is the assertion's jti; Expires its exp.
	ID      string
	Expires time.Time
}

// claims are an assertion's claims. aud is kept raw to tell a string from
// an array.
type claims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  json.RawMessage  `json:"aud"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// The claims are checked here, not by golang-jwt.
func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// Verify authenticates the client of an assertion in tenant t. Errors are
// ErrInvalidClient, or wrap ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, t *tenant.Tenant, r Request) (*Result, error) {
	switch {
	case r.AssertionType != AssertionType:
		return nil, refuse("client_assertion_type must be "+AssertionType, nil)
	case r.Assertion == "":
		return nil, refuse("client_assertion is empty", nil)
	case len(r.Assertion) > MaxAssertionBytes:
		return nil, refuse("client_assertion is too large", nil)
	}
	settings := t.Protocols.ClientAssertions
	algs := append(slices.Clone(settings.Algorithms), tenant.HS256)
	res := &Result{}
	var c claims
	parser := jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithoutClaimsValidation())
	tok, err := parser.ParseWithClaims(r.Assertion, &c, func(tok *jwt.Token) (any, error) {
		return v.key(ctx, t, r, tok, &c, res)
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, refuse("client_assertion is malformed or its signature is invalid", err)
	}
	if err := v.check(tok, &c, settings, r.Endpoint, res); err != nil {
		return nil, err
	}
	ok, err := v.cfg.Replay.Claim(ctx, "client_assertion\x00"+res.Client.ID+"\x00"+c.ID, res.Expires.Add(settings.ClockSkew))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case !ok:
		return nil, refuse("client_assertion was used before (jti)", nil)
	}
	return res, nil
}

// key finds the client the assertion names and the key that must have
// signed it. golang-jwt calls it with the claims decoded, before checking
// the signature; it has refused algorithms outside algs (none with them).
func (v *Verifier) key(ctx context.Context, t *tenant.Tenant, r Request, tok *jwt.Token, c *claims, res *Result) (any, error) {
	switch typ, _ := tok.Header["typ"].(string); {
	case typ == "", strings.EqualFold(typ, "JWT"), strings.EqualFold(typ, ExplicitType), strings.EqualFold(typ, "application/"+ExplicitType):
	default:
		return nil, refuse("client_assertion has the wrong typ (want JWT or "+ExplicitType+")", nil)
	}
	if _, ok := tok.Header["crit"]; ok {
		return nil, refuse("client_assertion has critical header parameters", nil)
	}
	switch {
	case c.Issuer == "" || c.Subject == "":
		return nil, refuse("client_assertion needs iss and sub, both the client id", nil)
	case c.Issuer != c.Subject:
		return nil, refuse("client_assertion's iss and sub must both be the client id", nil)
	case r.ClientID != "" && r.ClientID != c.Subject:
		return nil, refuse("client_id and the client_assertion name different clients", nil)
	}
	client, ok := t.Client(c.Subject)
	if !ok || !client.Auth.UsesAssertion() {
		return nil, refuse("client authentication failed", nil)
	}
	alg := tok.Method.Alg()
	kid, _ := tok.Header["kid"].(string)
	res.Client, res.Method, res.Algorithm, res.KeyID = client, client.Auth.Method, alg, kid
	if pin := client.Auth.SigningAlgorithm; pin != "" && alg != pin {
		return nil, refuse("client_assertion is not signed with the client's token_endpoint_auth_signing_alg", nil)
	}
	if client.Auth.Method == tenant.AuthClientSecretJWT {
		if alg != tenant.HS256 {
			return nil, refuse("a client_secret_jwt assertion is signed with HS256", nil)
		}
		keys := jwt.VerificationKeySet{}
		for _, s := range client.Auth.JWTSecrets {
			keys.Keys = append(keys.Keys, []byte(s.Reveal()))
		}
		return keys, nil
	}
	if alg == tenant.HS256 {
		return nil, refuse("a private_key_jwt assertion is signed with the client's private key, not HMAC", nil)
	}
	var (
		k   *jwk.Key
		err error
	)
	if client.Auth.JWKS != nil {
		k, err = client.Auth.JWKS.Find(kid, alg)
	} else {
		k, err = v.cfg.Keys.Find(ctx, client.Auth.JWKSURI, kid, alg)
	}
	switch {
	case errors.Is(err, jwk.ErrAmbiguous):
		return nil, refuse("client_assertion names no kid and several of the client's keys could verify it", nil)
	case errors.Is(err, ErrKeysUnavailable):
		return nil, refuse("the client's key set cannot be fetched", err)
	case err != nil:
		return nil, refuse("client_assertion is not signed with a key of the client", err)
	}
	res.Thumbprint = k.Thumbprint
	return k.Public, nil
}

// check applies the claims checks after the signature.
func (v *Verifier) check(tok *jwt.Token, c *claims, s tenant.ClientAssertions, endpoint string, res *Result) error {
	typ, _ := tok.Header["typ"].(string)
	explicit := strings.EqualFold(typ, ExplicitType) || strings.EqualFold(typ, "application/"+ExplicitType)
	if err := v.audience(c.Audience, explicit, endpoint); err != nil {
		return err
	}
	now := v.cfg.Now()
	switch {
	case c.ID == "" || len(c.ID) > maxIDBytes:
		return refuse(fmt.Sprintf("client_assertion needs a jti of 1 to %d bytes", maxIDBytes), nil)
	case c.ExpiresAt == nil:
		return refuse("client_assertion needs exp", nil)
	case !now.Before(c.ExpiresAt.Add(s.ClockSkew)):
		return refuse("client_assertion has expired", nil)
	case c.NotBefore != nil && c.NotBefore.After(now.Add(s.ClockSkew)):
		return refuse("client_assertion is not valid yet (nbf)", nil)
	case c.IssuedAt != nil && c.IssuedAt.After(now.Add(s.ClockSkew)):
		return refuse("client_assertion is issued in the future (iat)", nil)
	}
	start := now
	if c.IssuedAt != nil {
		start = c.IssuedAt.Time
	}
	if c.ExpiresAt.Sub(start) > s.MaxLifetime+s.ClockSkew {
		return refuse(fmt.Sprintf("client_assertion lives longer than %s", s.MaxLifetime), nil)
	}
	res.ID, res.Expires = c.ID, c.ExpiresAt.Time
	return nil
}

// audience checks aud: the issuer alone, as a string, for an explicitly
// typed assertion; else the issuer or an endpoint URL (one of
// Config.Endpoints, or the one receiving it), as a string or a
// one-element array.
func (v *Verifier) audience(raw json.RawMessage, explicit bool, endpoint string) error {
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		var list []string
		if explicit || json.Unmarshal(raw, &list) != nil || len(list) != 1 {
			if len(list) > 1 {
				return refuse("client_assertion's aud must be the issuer alone, not several audiences", nil)
			}
			return refuse("client_assertion's aud must be the issuer identifier, as a string", nil)
		}
		one = list[0]
	}
	switch {
	case one == v.cfg.Issuer:
		return nil
	case explicit:
		return refuse("a "+ExplicitType+" assertion's aud must be the issuer identifier", nil)
	case slices.Contains(v.cfg.Endpoints, one), endpoint != "" && one == endpoint:
		return nil
	}
	return refuse("client_assertion is not meant for this issuer (aud)", nil)
}

// UnverifiedSubject returns the sub of an assertion without verifying
// anything, "" when it has none or does not decode: the client id its
// failures are throttled under when the request sends no client_id.
func UnverifiedSubject(assertion string) string {
	parts := strings.Split(assertion, ".")
	if len(assertion) > MaxAssertionBytes || len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Subject string `json:"sub"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Subject
}
