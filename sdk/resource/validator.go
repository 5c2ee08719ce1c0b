package resource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/sdk/resource/dpop"
	"github.com/scopeline/scopeline/sdk/resource/internal/jwks"
)

// Defaults and bounds of the options.
const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest leeway WithLeeway accepts.
	MaxLeeway = 5 * time.Minute
	// DefaultRefetchInterval is the least time between two JWK Set fetches
	// caused by tokens naming an unknown key.
	DefaultRefetchInterval = 30 * time.Second
	// DefaultFetchTimeout bounds one fetch of the metadata and keys.
	DefaultFetchTimeout = 10 * time.Second
)

// The JWT `typ` values of access tokens (RFC 9068 §2.1, §4).
const (
	tokenType      = "at+jwt"
	tokenMediaType = "application/at+jwt"
)

// Validator validates the access tokens of one issuer for one API (the
// audience), and protects HTTP handlers with them. It is safe for
// concurrent use; make one per API and share it.
type Validator struct {
	realm  string
	log    *slog.Logger
	algs   []string
	keys   *jwks.Cache
	parser *jwt.Parser
	// dpop checks DPoP proofs; requireDPoP refuses unbound tokens;
	// publicURL is the API's URL as clients see it (dpop.go).
	dpop        *dpop.Verifier
	requireDPoP bool
	publicURL   string
	// introspect, when set, replaces local validation; denylist is
	// consulted after it (introspect.go).
	introspect *introspector
	denylist   Denylist
}

// Option configures a Validator.
type Option func(*options)

type options struct {
	client          *http.Client
	leeway          time.Duration
	now             func() time.Time
	log             *slog.Logger
	realm           string
	algs            []string
	refetchInterval time.Duration
	dpop            []dpop.Option
	requireDPoP     bool
	publicURL       string
	introspection   *Introspection
	revocationCheck *Introspection
	denylist        Denylist
}

// WithHTTPClient sets the client that fetches the issuer's metadata and
// keys (default: a client with a 10 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithLeeway sets the clock skew tolerated on exp, nbf and iat (default
// DefaultLeeway, at most MaxLeeway).
func WithLeeway(d time.Duration) Option { return func(o *options) { o.leeway = d } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets where refusals (at debug level) and key refresh
// problems (at warn level) are logged; tokens never are. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRealm sets the realm of the WWW-Authenticate challenges (default:
// the audience).
func WithRealm(realm string) Option { return func(o *options) { o.realm = realm } }

// WithAlgorithms restricts the signing algorithms accepted, among RS256,
// ES256 and EdDSA. Whatever is set, only algorithms the issuer advertises
// for access tokens are accepted, and each key only for its own algorithm.
func WithAlgorithms(algs ...string) Option {
	return func(o *options) { o.algs = slices.Clone(algs) }
}

// WithRefetchInterval sets the least time between two fetches of the JWK
// Set caused by tokens naming an unknown key (default
// DefaultRefetchInterval); it keeps forged key ids from hammering the
// issuer. Zero refetches for every unknown key, one fetch at a time.
func WithRefetchInterval(d time.Duration) Option {
	return func(o *options) { o.refetchInterval = d }
}

// New returns a Validator for tokens that issuer (the exact issuer
// identifier, such as "https://auth.example.com/") issues for audience (the
// API identifier). Nothing is fetched until the first token arrives or
// Ready is called.
func New(issuer, audience string, opts ...Option) (*Validator, error) {
	o := options{
		leeway:          DefaultLeeway,
		now:             time.Now,
		log:             slog.New(slog.DiscardHandler),
		algs:            jwks.Algorithms,
		refetchInterval: DefaultRefetchInterval,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: DefaultFetchTimeout}
	}
	if err := o.validate(issuer, audience); err != nil {
		return nil, err
	}
	if o.realm == "" {
		o.realm = audience
	}
	verifier, err := dpop.NewVerifier(append([]dpop.Option{dpop.WithClock(o.now)}, o.dpop...)...)
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	v := &Validator{
		realm:       o.realm,
		log:         o.log,
		algs:        o.algs,
		dpop:        verifier,
		requireDPoP: o.requireDPoP,
		publicURL:   o.publicURL,
		denylist:    o.denylist,
		keys: jwks.New(jwks.Config{
			Issuer:          issuer,
			Algorithms:      o.algs,
			Client:          o.client,
			Now:             o.now,
			Log:             o.log,
			RefetchInterval: o.refetchInterval,
			FetchTimeout:    DefaultFetchTimeout,
		}),
		parser: jwt.NewParser(
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(o.leeway),
			jwt.WithTimeFunc(o.now),
			jwt.WithStrictDecoding(),
		),
	}
	if o.introspection != nil {
		if v.introspect, err = newIntrospector(*o.introspection, issuer, audience, &o, v.keys); err != nil {
			return nil, err
		}
	}
	if o.revocationCheck != nil {
		in, err := newIntrospector(*o.revocationCheck, issuer, audience, &o, v.keys)
		if err != nil {
			return nil, err
		}
		v.denylist = introspectionDenylist{in}
	}
	return v, nil
}

func (o *options) validate(issuer, audience string) error {
	if err := jwks.CheckURL(issuer); err != nil {
		return fmt.Errorf("resource: issuer: %w", err)
	}
	if strings.Contains(issuer, "?") {
		return fmt.Errorf("resource: issuer %q must not have a query", issuer)
	}
	if audience == "" {
		return errors.New("resource: the audience (API identifier) is required")
	}
	if o.leeway < 0 || o.leeway > MaxLeeway {
		return fmt.Errorf("resource: leeway %s is outside [0, %s]", o.leeway, MaxLeeway)
	}
	if o.refetchInterval < 0 {
		return errors.New("resource: the refetch interval cannot be negative")
	}
	if len(o.algs) == 0 {
		return errors.New("resource: no signing algorithm accepted")
	}
	for _, a := range o.algs {
		if !slices.Contains(jwks.Algorithms, a) {
			return fmt.Errorf("resource: unsupported algorithm %q (want %s)", a, strings.Join(jwks.Algorithms, ", "))
		}
	}
	if o.now == nil || o.log == nil {
		return errors.New("resource: nil clock or logger")
	}
	if !isQuotable(o.realm) {
		return fmt.Errorf("resource: realm %q has characters a challenge cannot carry", o.realm)
	}
	if !isQuotable(audience) {
		return fmt.Errorf("resource: audience %q has characters a challenge cannot carry", audience)
	}
	if o.publicURL != "" {
		if err := jwks.CheckURL(o.publicURL); err != nil || strings.ContainsAny(o.publicURL, "?#") {
			return fmt.Errorf("resource: public URL %q must be an absolute https URL without query or fragment", o.publicURL)
		}
	}
	modes := 0
	for _, set := range []bool{o.introspection != nil, o.revocationCheck != nil, o.denylist != nil} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		return errors.New("resource: choose one of WithIntrospection, WithRevocationCheck and WithDenylist")
	}
	return nil
}

// Ready fetches the issuer's metadata and keys unless fresh ones are
// cached, and reports whether tokens can be validated. Call it at start-up
// to fail fast, or from a readiness probe.
func (v *Validator) Ready(ctx context.Context) error {
	if err := v.keys.Ready(ctx); err != nil {
		return fmt.Errorf("resource: %w", err)
	}
	return nil
}

// Validate checks an access token per RFC 9068 §4 and returns its claims:
// typ at+jwt, a signature by a current key of the issuer with an
// algorithm the issuer advertises (never none or HMAC), iss equal to the
// issuer, aud containing the audience, exp, nbf and iat within the leeway,
// the required claims (iss, sub, aud, client_id, iat, exp, jti) present,
// and a claims set that no decoder can read differently (see the package
// documentation). With WithIntrospection, the issuer is asked instead;
// with a denylist, it is consulted too. A DPoP-bound token is refused:
// it is valid only with its proof (ValidateRequest, ValidateDPoP).
// Errors are *Error values: ErrInvalidToken, or ErrUnavailable when the
// issuer's keys (or answer) cannot be had.
func (v *Validator) Validate(ctx context.Context, token string) (Claims, error) {
	c, err := v.claimsOf(ctx, token)
	if err != nil {
		return Claims{}, err
	}
	if c.KeyThumbprint != "" {
		return Claims{}, ErrInvalidToken.with("the access token is DPoP-bound: validate it with its proof", nil).in(schemeDPoP)
	}
	return *c, nil
}

// claimsOf checks a token by whichever means the Validator uses: local
// validation, then the denylist if any; or introspection.
func (v *Validator) claimsOf(ctx context.Context, token string) (*Claims, error) {
	if v.introspect != nil {
		return v.introspect.claims(ctx, token)
	}
	c, err := v.validate(ctx, token)
	if err != nil || v.denylist == nil {
		return c, err
	}
	revoked, err := v.denylist.Revoked(ctx, token, *c)
	switch {
	case err != nil:
		return nil, ErrUnavailable.with(ErrUnavailable.Description, err)
	case revoked:
		return nil, ErrInvalidToken.with("the access token was revoked", nil)
	}
	return c, nil
}

func (v *Validator) validate(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, ErrInvalidToken.with("the access token is empty", nil)
	}
	if len(token) > MaxTokenBytes {
		return nil, ErrInvalidToken.with("the access token is too large", nil)
	}
	var tc tokenClaims
	_, err := v.parser.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return nil, tokenError(err)
	}
	for _, c := range []struct {
		name    string
		present bool
	}{
		{"sub", tc.Subject != ""},
		{"client_id", tc.ClientID != ""},
		{"jti", tc.ID != ""},
		{"iat", tc.IssuedAt != nil},
	} {
		if !c.present {
			return nil, ErrInvalidToken.with("the access token lacks the "+c.name+" claim", nil)
		}
	}
	_, rest, _ := strings.Cut(token, ".")
	payload, _, _ := strings.Cut(rest, ".")
	return tc.claims(payload), nil
}

// key checks the JOSE header and finds the key that must have signed the
// token. golang-jwt calls it before verifying the signature, and the
// algorithm check here is what keeps "none", HMAC and anything the issuer
// does not advertise out.
func (v *Validator) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	if !slices.Contains(v.algs, alg) {
		return nil, ErrInvalidToken.with("the token's signing algorithm is not accepted", nil)
	}
	if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, tokenType) && !strings.EqualFold(typ, tokenMediaType) {
		return nil, ErrInvalidToken.with("the token is not an access token (typ must be at+jwt)", nil)
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, ErrInvalidToken.with("the token has critical header parameters this API does not understand", nil)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, ErrInvalidToken.with("the token names no signing key (kid)", nil)
	}
	k, set, err := v.keys.Key(ctx, kid)
	switch {
	case errors.Is(err, jwks.ErrUnknownKey):
		return nil, ErrInvalidToken.with("the token was signed with a key the issuer does not publish", err)
	case err != nil:
		return nil, ErrUnavailable.with(ErrUnavailable.Description, err)
	}
	if k.Algorithm != alg || !slices.Contains(set.Algorithms, alg) {
		return nil, ErrInvalidToken.with("the token's signing algorithm is not accepted", nil)
	}
	return k.Public, nil
}

// tokenError turns a golang-jwt error into the refusal to send. A refusal
// that key returned, which golang-jwt wraps, is sent as it is, and an error
// of no known kind is an invalid token; asError does both.
func tokenError(err error) *Error {
	if errors.As(err, new(*Error)) {
		return asError(err)
	}
	for _, m := range []struct {
		err  error
		desc string
	}{
		{jwt.ErrTokenMalformed, "the access token is malformed"},
		{jwt.ErrTokenSignatureInvalid, "the token's signature is invalid"},
		{jwt.ErrTokenUnverifiable, "the token's signing algorithm is not accepted"},
		{jwt.ErrTokenInvalidIssuer, "the token was issued by another issuer"},
		{jwt.ErrTokenInvalidAudience, "the token is not meant for this API (aud)"},
		{jwt.ErrTokenExpired, "the token has expired"},
		{jwt.ErrTokenNotValidYet, "the token is not valid yet (nbf)"},
		{jwt.ErrTokenUsedBeforeIssued, "the token's issue time (iat) is in the future"},
		{jwt.ErrTokenRequiredClaimMissing, "the access token lacks a required claim (iss, aud or exp)"},
	} {
		if errors.Is(err, m.err) {
			return ErrInvalidToken.with(m.desc, err)
		}
	}
	return asError(err)
}
