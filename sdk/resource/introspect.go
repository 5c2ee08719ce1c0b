package resource

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/sdk/resource/internal/jwks"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// Introspection is how the API asks the issuer about a token (RFC 7662):
// its client credentials at the introspection endpoint, and how answers
// are cached.
type Introspection struct {
	// ClientID is the API's client at the issuer, which must be allowed
	// to introspect tokens of the audience.
	ClientID string
	// ClientSecret authenticates it with client_secret_basic; or
	// ClientKey, KeyID and KeyAlgorithm (ES256, EdDSA, RS256 or PS256)
	// with private_key_jwt. Exactly one of ClientSecret and ClientKey.
	ClientSecret string
	ClientKey    crypto.Signer
	KeyID        string
	KeyAlgorithm string
	// Endpoint overrides the issuer metadata's introspection_endpoint.
	Endpoint string
	// JWT asks for signed answers (RFC 9701), verified with the issuer's
	// keys, so that an answer can be trusted past a TLS-terminating
	// proxy.
	JWT bool
	// CacheTTL is how long an active answer is reused (default
	// DefaultIntrospectionCacheTTL; never past the token's exp): the
	// longest a revocation can go unnoticed. CacheSize bounds the answers
	// kept (default DefaultIntrospectionCacheSize). Inactive answers are
	// not cached.
	CacheTTL  time.Duration
	CacheSize int
}

// Defaults of Introspection.
const (
	DefaultIntrospectionCacheTTL  = 30 * time.Second
	MaxIntrospectionCacheTTL      = 10 * time.Minute
	DefaultIntrospectionCacheSize = 10_000
	maxIntrospectionBytes         = 64 << 10
)

// Media types of introspection answers (RFC 7662 §2.2, RFC 9701 §5).
const (
	introspectionJWTType  = "token-introspection+jwt"
	introspectionJWTMedia = "application/token-introspection+jwt"
)

// WithIntrospection makes the Validator ask the issuer's introspection
// endpoint about every token (RFC 7662) instead of validating it locally:
// a revoked token is refused as soon as the issuer knows, at the cost of
// a round trip per token and per CacheTTL. The answer must be active,
// from the issuer (iss) and for this API (aud), and unexpired.
func WithIntrospection(in Introspection) Option {
	return func(o *options) { o.introspection = &in }
}

// Denylist says whether an access token that validated was revoked before
// its expiry (RFC 7009), such as by its jti.
type Denylist interface {
	Revoked(ctx context.Context, token string, c Claims) (bool, error)
}

// WithDenylist makes the Validator consult d for every token that
// validated locally: a revoked one is refused with invalid_token, and an
// error of d with 503 (fail closed).
func WithDenylist(d Denylist) Option { return func(o *options) { o.denylist = d } }

// WithRevocationCheck validates tokens locally and then consults the
// issuer's introspection endpoint (a Denylist): a revoked token is refused
// within in.CacheTTL. It costs one introspection request per distinct
// token and CacheTTL, as WithIntrospection does; what it adds is that the
// token's signature and claims are checked here too.
func WithRevocationCheck(in Introspection) Option {
	return func(o *options) { o.revocationCheck = &in }
}

// introspector is an RFC 7662 client.
type introspector struct {
	in       Introspection
	issuer   string
	audience string
	keys     *jwks.Cache
	algs     []string
	client   *http.Client
	now      func() time.Time
	leeway   time.Duration
	cache    *answers
}

func newIntrospector(in Introspection, issuer, audience string, o *options, keys *jwks.Cache) (*introspector, error) {
	switch {
	case in.ClientID == "":
		return nil, errors.New("resource: introspection needs the API's client id")
	case (in.ClientSecret == "") == (in.ClientKey == nil):
		return nil, errors.New("resource: introspection needs exactly one of a client secret and a client key")
	case in.ClientKey != nil && !keySuits(in.ClientKey, in.KeyAlgorithm):
		return nil, fmt.Errorf("resource: the introspection client key cannot sign %q", in.KeyAlgorithm)
	case in.CacheTTL < 0 || in.CacheTTL > MaxIntrospectionCacheTTL:
		return nil, fmt.Errorf("resource: the introspection cache TTL must be between 0 and %s", MaxIntrospectionCacheTTL)
	case in.CacheSize < 0:
		return nil, errors.New("resource: negative introspection cache size")
	}
	if in.Endpoint != "" {
		if err := jwks.CheckURL(in.Endpoint); err != nil {
			return nil, fmt.Errorf("resource: introspection endpoint: %w", err)
		}
	}
	if in.CacheTTL == 0 {
		in.CacheTTL = DefaultIntrospectionCacheTTL
	}
	if in.CacheSize == 0 {
		in.CacheSize = DefaultIntrospectionCacheSize
	}
	return &introspector{in: in, issuer: issuer, audience: audience, keys: keys, algs: o.algs, client: o.client,
		now: o.now, leeway: o.leeway, cache: &answers{max: in.CacheSize, m: map[[sha256.Size]byte]*answer{}}}, nil
}

// keySuits reports whether k can sign alg with golang-jwt.
func keySuits(k crypto.Signer, alg string) bool {
	j, err := jwk.FromPublicKey(k.Public(), alg, "")
	return err == nil && alg != "" && jwk.Method(alg) != nil && j.Kty != ""
}

// claims introspects token.
func (in *introspector) claims(ctx context.Context, token string) (*Claims, error) {
	if token == "" || len(token) > MaxTokenBytes {
		return nil, ErrInvalidToken.with("the access token is empty or too large", nil)
	}
	key := sha256.Sum256([]byte(token))
	now := in.now()
	if c := in.cache.get(key, now); c != nil {
		return c, nil
	}
	body, err := in.post(ctx, token)
	if err != nil {
		return nil, err
	}
	c, err := in.parse(body, now)
	if err != nil {
		return nil, err
	}
	until := now.Add(in.in.CacheTTL)
	if c.ExpiresAt.Before(until) {
		until = c.ExpiresAt
	}
	in.cache.put(key, c, until)
	return c, nil
}

// answer is a JSON introspection answer, or a JWT one's
// token_introspection member.
type answerBody struct {
	raw []byte
}

// post sends the introspection request and returns the answer's JSON
// object.
func (in *introspector) post(ctx context.Context, token string) (*answerBody, error) {
	endpoint := in.in.Endpoint
	if endpoint == "" {
		var err error
		if endpoint, err = in.keys.IntrospectionEndpoint(ctx); err != nil {
			return nil, ErrUnavailable.with(ErrUnavailable.Description, err)
		}
		if endpoint == "" {
			return nil, ErrUnavailable.with(ErrUnavailable.Description, errors.New("resource: the issuer advertises no introspection_endpoint"))
		}
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if in.in.ClientKey != nil {
		a, err := in.assertion()
		if err != nil {
			return nil, ErrUnavailable.with(ErrUnavailable.Description, err)
		}
		form.Set("client_id", in.in.ClientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, ErrUnavailable.with(ErrUnavailable.Description, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if in.in.JWT {
		req.Header.Set("Accept", introspectionJWTMedia)
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if in.in.ClientSecret != "" {
		// RFC 6749 §2.3.1: each form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(in.in.ClientID), url.QueryEscape(in.in.ClientSecret))
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, ErrUnavailable.with(ErrUnavailable.Description, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBytes+1))
	switch {
	case err != nil:
		return nil, ErrUnavailable.with(ErrUnavailable.Description, err)
	case resp.StatusCode != http.StatusOK:
		return nil, ErrUnavailable.with(ErrUnavailable.Description, fmt.Errorf("resource: introspection answered %s", resp.Status))
	case len(raw) > maxIntrospectionBytes:
		return nil, ErrUnavailable.with(ErrUnavailable.Description, errors.New("resource: introspection answer too large"))
	}
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case in.in.JWT && media != introspectionJWTMedia:
		return nil, ErrUnavailable.with(ErrUnavailable.Description, fmt.Errorf("resource: a signed introspection answer was asked for, got %q", media))
	case in.in.JWT:
		obj, err := in.verifyJWT(ctx, string(raw))
		if err != nil {
			return nil, err
		}
		return &answerBody{raw: obj}, nil
	}
	return &answerBody{raw: raw}, nil
}

// assertion makes a private_key_jwt client assertion for the issuer.
func (in *introspector) assertion() (string, error) {
	var id [16]byte
	rand.Read(id[:])
	now := in.now()
	tok := jwt.NewWithClaims(jwk.Method(in.in.KeyAlgorithm), jwt.RegisteredClaims{
		Issuer:    in.in.ClientID,
		Subject:   in.in.ClientID,
		Audience:  jwt.ClaimStrings{in.issuer},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
	})
	if in.in.KeyID != "" {
		tok.Header["kid"] = in.in.KeyID
	}
	return tok.SignedString(in.in.ClientKey)
}

// jwtAnswer is a signed introspection answer's claims (RFC 9701 §5).
type jwtAnswer struct {
	jwt.RegisteredClaims
	TokenIntrospection json.RawMessage `json:"token_introspection"`
}

// verifyJWT checks a signed answer with the issuer's keys and returns its
// token_introspection object.
func (in *introspector) verifyJWT(ctx context.Context, raw string) ([]byte, error) {
	var a jwtAnswer
	_, err := jwt.NewParser(
		jwt.WithValidMethods(in.algs),
		jwt.WithIssuer(in.issuer),
		jwt.WithAudience(in.in.ClientID),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(in.leeway),
		jwt.WithTimeFunc(in.now),
	).ParseWithClaims(raw, &a, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, introspectionJWTType) && !strings.EqualFold(typ, introspectionJWTMedia) {
			return nil, errors.New("resource: the signed introspection answer's typ is not token-introspection+jwt")
		}
		kid, _ := t.Header["kid"].(string)
		k, _, err := in.keys.Key(ctx, kid)
		if err != nil {
			return nil, err
		}
		if alg, _ := t.Header["alg"].(string); k.Algorithm != alg {
			return nil, errors.New("resource: the signed introspection answer's algorithm is not its key's")
		}
		return k.Public, nil
	})
	switch {
	case err != nil:
		return nil, ErrUnavailable.with(ErrUnavailable.Description, fmt.Errorf("resource: signed introspection answer: %w", err))
	case a.IssuedAt == nil || len(a.TokenIntrospection) == 0:
		return nil, ErrUnavailable.with(ErrUnavailable.Description, errors.New("resource: the signed introspection answer lacks iat or token_introspection"))
	}
	return a.TokenIntrospection, nil
}

// parse reads an introspection answer (RFC 7662 §2.2) into the claims of
// an active token, decoding the claims as strictly as a token's.
func (in *introspector) parse(b *answerBody, now time.Time) (*Claims, error) {
	var top map[string]json.RawMessage // exact member names
	if err := json.Unmarshal(b.raw, &top); err != nil {
		return nil, ErrUnavailable.with(ErrUnavailable.Description, fmt.Errorf("resource: malformed introspection answer: %w", err))
	}
	if string(top["active"]) != "true" {
		return nil, ErrInvalidToken.with("the access token is not active: revoked, expired or unknown to the issuer", nil)
	}
	var tc tokenClaims
	if err := json.Unmarshal(b.raw, &tc); err != nil {
		return nil, ErrInvalidToken.with("the introspection answer's claims are malformed", err)
	}
	switch {
	case tc.Issuer != in.issuer:
		return nil, ErrInvalidToken.with("the token was issued by another issuer", nil)
	case !slices.Contains(tc.Audience, in.audience):
		return nil, ErrInvalidToken.with("the token is not meant for this API (aud)", nil)
	case tc.ExpiresAt == nil:
		return nil, ErrInvalidToken.with("the introspection answer has no exp", nil)
	case !now.Before(tc.ExpiresAt.Add(in.leeway)):
		return nil, ErrInvalidToken.with("the token has expired", nil)
	case tc.NotBefore != nil && tc.NotBefore.After(now.Add(in.leeway)):
		return nil, ErrInvalidToken.with("the token is not valid yet (nbf)", nil)
	}
	return tc.claims(base64.RawURLEncoding.EncodeToString(b.raw)), nil
}

// introspectionDenylist is the Denylist of WithRevocationCheck.
type introspectionDenylist struct{ in *introspector }

func (d introspectionDenylist) Revoked(ctx context.Context, token string, _ Claims) (bool, error) {
	_, err := d.in.claims(ctx, token)
	if errors.Is(err, ErrInvalidToken) {
		return true, nil
	}
	return false, err
}

// answers caches active introspection answers, bounded: when full, the
// oldest entry goes (a positive answer forgotten only costs a request).
type answers struct {
	max   int
	mu    sync.Mutex
	m     map[[sha256.Size]byte]*answer
	order [][sha256.Size]byte // insertion order, for eviction
}

type answer struct {
	c     *Claims
	until time.Time
}

func (a *answers) get(key [sha256.Size]byte, now time.Time) *Claims {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.m[key]
	if e == nil || !now.Before(e.until) {
		return nil
	}
	return e.c
}

func (a *answers) put(key [sha256.Size]byte, c *Claims, until time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.m[key]; !ok {
		for len(a.m) >= a.max && len(a.order) > 0 {
			delete(a.m, a.order[0])
			a.order = a.order[1:]
		}
		a.order = append(a.order, key)
	}
	a.m[key] = &answer{c: c, until: until}
}
