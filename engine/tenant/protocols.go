package tenant

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine/internal/yamlfile"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// This file holds the settings of the standard endpoints and grants: client
// authentication (RFC 6749 §2.3, RFC 7523, OpenID Connect Core §9), DPoP
// (RFC 9449), pushed authorization requests (RFC 9126), introspection (RFC
// 7662, RFC 9701), revocation (RFC 7009) and token exchange (RFC 8693).

// Client authentication methods (RFC 7591 §2, OpenID Connect Core §9).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthClientSecretJWT   = "client_secret_jwt"
	AuthNone              = "none"
)

// Algorithms of client assertions: PS256 besides the issuer's own for
// private_key_jwt; HS256, keyed with the client's secret, for
// client_secret_jwt (RFC 7518 §3).
const (
	PS256 = "PS256"
	HS256 = "HS256"
)

// AssertionAlgorithms lists the algorithms a private_key_jwt assertion may
// be signed with.
var AssertionAlgorithms = []string{RS256, PS256, ES256, EdDSA}

// Bounds of the client assertion and DPoP settings.
const (
	DefaultAssertionMaxLifetime = 5 * time.Minute
	MaxAssertionMaxLifetime     = time.Hour
	DefaultAssertionClockSkew   = 30 * time.Second
	MaxClockSkew                = 5 * time.Minute
	DefaultDPoPIATWindow        = time.Minute
	MaxDPoPIATWindow            = 10 * time.Minute
	DefaultDPoPClockSkew        = 10 * time.Second
	DefaultDPoPNoncePeriod      = 5 * time.Minute
	DefaultReplayCacheSize      = 100_000
	MaxReplayCacheSize          = 10_000_000
	DefaultPARLifetime          = time.Minute
	// MinJWTSecretBytes is the least length of a client_secret_jwt secret:
	// an HS256 key has at least 256 bits (RFC 7518 §3.2).
	MinJWTSecretBytes = 32
)

// ClientAuth is how a client authenticates at the endpoints that
// authenticate clients (token, PAR, introspection, revocation).
type ClientAuth struct {
	// Method is the client's token_endpoint_auth_method: client_secret_basic
	// (the default of confidential clients), client_secret_post,
	// private_key_jwt, client_secret_jwt, or none (that of public clients).
	Method string
	// SigningAlgorithm pins the alg of the client's assertions (its
	// token_endpoint_auth_signing_alg); "" accepts any of the tenant's
	// client_assertions.signing_algorithms (HS256 for client_secret_jwt).
	SigningAlgorithm string
	// JWKS is a private_key_jwt client's inline key set; JWKSURI is where
	// its key set is fetched from instead. Exactly one is set for
	// private_key_jwt.
	JWKS    *jwk.Set
	JWKSURI string
	// JWTSecrets are a client_secret_jwt client's secrets, read from the
	// environment at load (HMAC needs the secret itself, while `secrets`
	// keeps only digests). Several allow rotation. Never log them.
	JWTSecrets []Secret
}

// Accepts reports whether the client may authenticate with method:
// its own, where client_secret_basic and client_secret_post stand for one
// another (both present the secret, in a header or in the body).
func (a ClientAuth) Accepts(method string) bool {
	secret := func(m string) bool { return m == AuthClientSecretBasic || m == AuthClientSecretPost }
	return method == a.Method || (secret(method) && secret(a.Method))
}

// UsesAssertion reports whether the client authenticates with a JWT
// assertion (RFC 7523 §2.2).
func (a ClientAuth) UsesAssertion() bool {
	return a.Method == AuthPrivateKeyJWT || a.Method == AuthClientSecretJWT
}

// ClientIntrospection says which tokens besides its own a client may
// introspect (RFC 7662) or revoke (RFC 7009): those of the APIs listed.
type ClientIntrospection struct {
	// Introspect lists the APIs (identifiers) whose access tokens the
	// client may introspect.
	Introspect []string
	// Revoke lists the APIs whose access tokens the client may revoke,
	// besides the tokens issued to itself.
	Revoke []string
	// SignedResponseAlg, when set, is the algorithm of the client's JWT
	// introspection responses (RFC 9701 §6, introspection_signed_response_alg).
	SignedResponseAlg string
}

// MayIntrospect reports whether the client may introspect tokens of api.
func (i ClientIntrospection) MayIntrospect(api string) bool {
	return slices.Contains(i.Introspect, api)
}

// MayRevoke reports whether the client may revoke tokens of api issued to
// other clients.
func (i ClientIntrospection) MayRevoke(api string) bool { return slices.Contains(i.Revoke, api) }

// ClientAssertions are the tenant's rules for client assertions.
type ClientAssertions struct {
	// MaxLifetime bounds exp - iat (or exp - now when there is no iat).
	MaxLifetime time.Duration
	// ClockSkew is tolerated on exp, nbf and iat.
	ClockSkew time.Duration
	// Algorithms may sign private_key_jwt assertions.
	Algorithms []string
	// ReplayCacheSize bounds the in-memory cache of assertion ids.
	ReplayCacheSize int
}

// DPoP are the tenant's DPoP settings (RFC 9449).
type DPoP struct {
	// Algorithms may sign proofs (dpop_signing_alg_values_supported).
	Algorithms []string
	// Nonce makes every proof carry a server nonce (§8), each valid for
	// one NoncePeriod and the next.
	Nonce       bool
	NoncePeriod time.Duration
	// IATWindow is how old a proof may be; ClockSkew how far in the future.
	IATWindow time.Duration
	ClockSkew time.Duration
	// ReplayCacheSize bounds the in-memory cache of proof ids.
	ReplayCacheSize int
}

// PAR are the tenant's pushed authorization request settings (RFC 9126).
type PAR struct {
	// Lifetime is how long a request_uri lives (its expires_in).
	Lifetime time.Duration
	// Required makes every authorization request pushed first
	// (require_pushed_authorization_requests in discovery).
	Required bool
}

// TokenExchange lets a client exchange access tokens this issuer minted
// for one API (the subject token's audience) for tokens of another
// (RFC 8693). Without one, a token exchange is refused.
type TokenExchange struct {
	Client *Client
	// From are the APIs whose tokens the client may exchange.
	From []*API
	// To is the API of the new token.
	To *API
	// Scopes is the ceiling, in To's order.
	Scopes []string
	// CapBySubjectScopes keeps in the new token only scopes the subject
	// token also has (default true). Off, the ceiling alone bounds it: for
	// APIs whose scopes have different names.
	CapBySubjectScopes bool
	// ForUser and ForClient say whose subject tokens may be exchanged:
	// user tokens, client-credentials tokens.
	ForUser   bool
	ForClient bool
	// Actors are the subjects that may act (the sub of an actor_token);
	// none means an actor_token is refused. RequireActor refuses an
	// exchange without one.
	Actors       []string
	RequireActor bool
	// RequireMayAct refuses a subject token whose may_act claim (RFC 8693
	// §4.4) does not name the actor (the actor token's subject, or the
	// client when there is no actor token). A may_act claim is honoured
	// whatever this says; this refuses subject tokens without one.
	RequireMayAct bool
}

// Allows reports whether scope is within the exchange's ceiling.
func (x *TokenExchange) Allows(scope string) bool { return slices.Contains(x.Scopes, scope) }

// MayAct reports whether subject may be the actor.
func (x *TokenExchange) MayAct(subject string) bool { return slices.Contains(x.Actors, subject) }

type exchangeKey struct{ client, from, to string }

// TokenExchange returns what lets client exchange tokens of the API from
// for tokens of the API to, if anything does.
func (t *Tenant) TokenExchange(client, from, to string) (*TokenExchange, bool) {
	x, ok := t.Protocols.exchanges[exchangeKey{client, from, to}]
	return x, ok
}

// Protocols holds the tenant-wide settings of the standard endpoints and
// its token exchanges.
type Protocols struct {
	ClientAssertions ClientAssertions
	DPoP             DPoP
	PAR              PAR
	TokenExchanges   []*TokenExchange

	exchanges map[exchangeKey]*TokenExchange
}

// The YAML of the settings above.

// fileClientProtocols are the client keys of this file, inlined into a
// client.
type fileClientProtocols struct {
	AuthMethod             string              `yaml:"token_endpoint_auth_method"`
	AuthSigningAlg         string              `yaml:"token_endpoint_auth_signing_alg"`
	JWKS                   any                 `yaml:"jwks"`
	JWKSURI                string              `yaml:"jwks_uri"`
	SecretEnv              yamlfile.StringList `yaml:"secret_env"`
	RequireDPoP            bool                `yaml:"require_dpop"`
	RequirePAR             bool                `yaml:"require_pushed_authorization_requests"`
	Introspect             []string            `yaml:"introspect"`
	Revoke                 []string            `yaml:"revoke"`
	IntrospectionSignedAlg string              `yaml:"introspection_signed_response_alg"`
}

// usesAssertion reports whether the client is declared to authenticate
// with assertions (and so needs no secret digest).
func (f *fileClientProtocols) usesAssertion() bool {
	return f.AuthMethod == AuthPrivateKeyJWT || f.AuthMethod == AuthClientSecretJWT
}

// fileAPIProtocols are the API keys of this file, inlined into an API.
type fileAPIProtocols struct {
	AccessTokenDenylist bool `yaml:"access_token_denylist"`
}

// fileProtocolSections are the top-level sections of this file.
type fileProtocolSections struct {
	ClientAssertions *fileClientAssertions `yaml:"client_assertions"`
	DPoP             *fileDPoP             `yaml:"dpop"`
	PAR              *filePAR              `yaml:"par"`
	TokenExchange    []fileTokenExchange   `yaml:"token_exchange"`
}

type fileClientAssertions struct {
	MaxLifetime     time.Duration  `yaml:"max_lifetime"`
	ClockSkew       *time.Duration `yaml:"clock_skew"`
	Algorithms      []string       `yaml:"signing_algorithms"`
	ReplayCacheSize int            `yaml:"replay_cache_size"`
}

type fileDPoP struct {
	Algorithms      []string       `yaml:"signing_algorithms"`
	Nonce           bool           `yaml:"nonce"`
	NoncePeriod     time.Duration  `yaml:"nonce_period"`
	IATWindow       time.Duration  `yaml:"iat_window"`
	ClockSkew       *time.Duration `yaml:"clock_skew"`
	ReplayCacheSize int            `yaml:"replay_cache_size"`
}

type filePAR struct {
	Lifetime time.Duration `yaml:"lifetime"`
	Required bool          `yaml:"required"`
}

type fileTokenExchange struct {
	Client             string              `yaml:"client"`
	From               yamlfile.StringList `yaml:"from"`
	To                 string              `yaml:"to"`
	Scopes             []string            `yaml:"scopes"`
	Subjects           []string            `yaml:"subjects"`
	CapBySubjectScopes *bool               `yaml:"cap_by_subject_scopes"`
	Actors             []string            `yaml:"actors"`
	RequireActor       bool                `yaml:"require_actor"`
	RequireMayAct      bool                `yaml:"require_may_act"`
}

// clientProtocols validates a client's keys of this file; c has its type
// and secrets already.
func (v *validator) clientProtocols(t *Tenant, c *Client, fc *fileClientProtocols, i int) {
	at := func(field string, rest ...any) []any { return append([]any{"clients", i, field}, rest...) }
	a := &c.Auth
	a.Method = fc.AuthMethod
	switch {
	case a.Method == "" && c.Type.Confidential():
		a.Method = AuthClientSecretBasic
	case a.Method == "":
		a.Method = AuthNone
	case !slices.Contains([]string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthClientSecretJWT, AuthNone}, a.Method):
		v.fail(fmt.Sprintf("unknown method %q (want client_secret_basic, client_secret_post, private_key_jwt, client_secret_jwt or none)", a.Method), at("token_endpoint_auth_method")...)
		return
	case c.Type.Confidential() && a.Method == AuthNone:
		v.fail(fmt.Sprintf("a %s client is confidential: it must authenticate (none is for spa and native clients)", c.Type), at("token_endpoint_auth_method")...)
	case !c.Type.Confidential() && a.Method != AuthNone && c.Type != "":
		v.fail(fmt.Sprintf("a %s client is public: its method is none", c.Type), at("token_endpoint_auth_method")...)
	}
	if a.UsesAssertion() && c.HasSecret() {
		v.fail(fmt.Sprintf("a %s client authenticates with assertions only: drop its secrets (client_secret_jwt reads its secret from secret_env)", a.Method), at("secrets")...)
	}

	// private_key_jwt: a key set, inline or by URL.
	hasJWKS := fc.JWKS != nil
	switch {
	case a.Method != AuthPrivateKeyJWT && (hasJWKS || fc.JWKSURI != ""):
		field := "jwks"
		if !hasJWKS {
			field = "jwks_uri"
		}
		v.fail("a key set is only for token_endpoint_auth_method: private_key_jwt", at(field)...)
	case a.Method == AuthPrivateKeyJWT && hasJWKS == (fc.JWKSURI != ""):
		v.fail("a private_key_jwt client needs exactly one of jwks and jwks_uri", at("token_endpoint_auth_method")...)
	case hasJWKS:
		a.JWKS = v.clientJWKS(fc.JWKS, at("jwks"))
	case fc.JWKSURI != "":
		if err := ValidateHTTPSURL(fc.JWKSURI); err != nil {
			v.fail(err.Error(), at("jwks_uri")...)
		}
		a.JWKSURI = fc.JWKSURI
	}

	// client_secret_jwt: secrets from the environment.
	switch {
	case a.Method != AuthClientSecretJWT && len(fc.SecretEnv) > 0:
		v.fail("secret_env is only for token_endpoint_auth_method: client_secret_jwt", at("secret_env")...)
	case a.Method == AuthClientSecretJWT && len(fc.SecretEnv) == 0:
		v.fail("a client_secret_jwt client needs secret_env: the environment variable holding its secret", at("token_endpoint_auth_method")...)
	}
	for j, env := range fc.SecretEnv {
		if a.Method != AuthClientSecretJWT {
			break
		}
		val, ok := v.opts.lookupEnv(env)
		switch {
		case env == "":
			v.fail("must name an environment variable", at("secret_env", j)...)
		case !ok:
			v.fail(fmt.Sprintf("environment variable %s is not set", env), at("secret_env", j)...)
		case len(val) < MinJWTSecretBytes:
			v.fail(fmt.Sprintf("the secret in %s has %d bytes; HS256 needs at least %d (make one with: scopeline secret new)", env, len(val), MinJWTSecretBytes), at("secret_env", j)...)
		default:
			a.JWTSecrets = append(a.JWTSecrets, Secret(val))
		}
	}

	if fc.AuthSigningAlg != "" {
		switch a.Method {
		case AuthPrivateKeyJWT:
			if !slices.Contains(AssertionAlgorithms, fc.AuthSigningAlg) {
				v.fail(fmt.Sprintf("unsupported algorithm %q (want one of %s)", fc.AuthSigningAlg, strings.Join(AssertionAlgorithms, ", ")), at("token_endpoint_auth_signing_alg")...)
			}
		case AuthClientSecretJWT:
			if fc.AuthSigningAlg != HS256 {
				v.fail("client_secret_jwt assertions are signed with HS256", at("token_endpoint_auth_signing_alg")...)
			}
		default:
			v.fail("an assertion algorithm is only for private_key_jwt and client_secret_jwt", at("token_endpoint_auth_signing_alg")...)
		}
		a.SigningAlgorithm = fc.AuthSigningAlg
		if a.JWKS != nil && !slices.ContainsFunc(a.JWKS.Keys, func(k *jwk.Key) bool { return k.Verifies(a.SigningAlgorithm) }) {
			v.fail(fmt.Sprintf("no key of jwks can verify %s", a.SigningAlgorithm), at("jwks")...)
		}
	}

	c.RequireDPoP = fc.RequireDPoP
	c.RequirePAR = fc.RequirePAR
	if c.RequirePAR && c.Type == ClientM2M {
		v.fail("an m2m client makes no authorization requests", at("require_pushed_authorization_requests")...)
	}
	for _, list := range []struct {
		field string
		ids   []string
		out   *[]string
	}{
		{"introspect", fc.Introspect, &c.Introspection.Introspect},
		{"revoke", fc.Revoke, &c.Introspection.Revoke},
	} {
		if len(list.ids) > 0 && !c.Type.Confidential() {
			v.fail(fmt.Sprintf("a %s client is public: it cannot be trusted with other clients' tokens", c.Type), at(list.field)...)
			continue
		}
		for j, id := range list.ids {
			switch {
			case t.apis[id] == nil:
				v.fail(fmt.Sprintf("no API has the identifier %q", id), at(list.field, j)...)
			case slices.Contains(*list.out, id):
				v.fail(fmt.Sprintf("API %q is listed twice", id), at(list.field, j)...)
			default:
				*list.out = append(*list.out, id)
			}
		}
	}
	if alg := fc.IntrospectionSignedAlg; alg != "" {
		switch {
		case !slices.Contains(SupportedAlgorithms, alg):
			v.fail(fmt.Sprintf("unsupported algorithm %q (want one of %s)", alg, strings.Join(SupportedAlgorithms, ", ")), at("introspection_signed_response_alg")...)
		case len(fc.Introspect) == 0:
			v.fail("the client may introspect no token (introspect is empty)", at("introspection_signed_response_alg")...)
		}
		c.Introspection.SignedResponseAlg = alg
	}
}

// clientJWKS decodes a client's inline key set; every key must decode.
func (v *validator) clientJWKS(doc any, path []any) *jwk.Set {
	raw, err := json.Marshal(jsonable(doc))
	if err != nil {
		v.fail(fmt.Sprintf("cannot be expressed as JSON: %v", err), path...)
		return nil
	}
	s, skipped, err := jwk.ParseSet(raw)
	if err != nil {
		v.fail(strings.TrimPrefix(err.Error(), "jwk: invalid key: "), path...)
		return nil
	}
	for _, e := range skipped {
		v.fail(strings.Replace(e.Error(), "jwk: invalid key: ", "", 1), path...)
	}
	if len(s.Keys) == 0 && len(skipped) == 0 {
		v.fail("the key set has no key", path...)
		return nil
	}
	return s
}

// ValidateHTTPSURL checks a URL the issuer fetches (a client's jwks_uri):
// absolute https with no fragment (http only for loopback hosts).
func ValidateHTTPSURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q must be an absolute URL", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("%q must not have a fragment", s)
	case u.User != nil:
		return fmt.Errorf("%q must not hold user information", s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && yamlfile.LoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q must use https (http is only allowed for localhost)", s)
}

// apiProtocols validates an API's keys of this file.
func (v *validator) apiProtocols(a *API, fa *fileAPIProtocols) {
	a.AccessTokenDenylist = fa.AccessTokenDenylist
}

// protocols validates the top-level sections of this file, after the APIs
// and clients.
func (v *validator) protocols(t *Tenant, f *fileProtocolSections) {
	p := &t.Protocols
	p.ClientAssertions = ClientAssertions{MaxLifetime: DefaultAssertionMaxLifetime, ClockSkew: DefaultAssertionClockSkew,
		Algorithms: AssertionAlgorithms, ReplayCacheSize: DefaultReplayCacheSize}
	if fa := f.ClientAssertions; fa != nil {
		ca := &p.ClientAssertions
		v.Duration(&ca.MaxLifetime, fa.MaxLifetime, time.Second, MaxAssertionMaxLifetime, "client_assertions", "max_lifetime")
		if fa.ClockSkew != nil {
			ca.ClockSkew = *fa.ClockSkew
			if ca.ClockSkew < 0 || ca.ClockSkew > MaxClockSkew {
				v.fail(fmt.Sprintf("clock_skew must be between 0 and %s", MaxClockSkew), "client_assertions", "clock_skew")
			}
		}
		if fa.Algorithms != nil {
			ca.Algorithms = v.algorithms(fa.Algorithms, AssertionAlgorithms, "client_assertions", "signing_algorithms")
		}
		v.cacheSize(&ca.ReplayCacheSize, fa.ReplayCacheSize, "client_assertions", "replay_cache_size")
	}
	for i, c := range t.Clients {
		if alg := c.Auth.SigningAlgorithm; c.Auth.Method == AuthPrivateKeyJWT && alg != "" && !slices.Contains(p.ClientAssertions.Algorithms, alg) {
			v.fail(fmt.Sprintf("%s is not among client_assertions.signing_algorithms", alg), "clients", i, "token_endpoint_auth_signing_alg")
		}
	}

	p.DPoP = DPoP{Algorithms: []string{ES256, EdDSA, PS256, RS256}, NoncePeriod: DefaultDPoPNoncePeriod,
		IATWindow: DefaultDPoPIATWindow, ClockSkew: DefaultDPoPClockSkew, ReplayCacheSize: DefaultReplayCacheSize}
	if fd := f.DPoP; fd != nil {
		d := &p.DPoP
		if fd.Algorithms != nil {
			d.Algorithms = v.algorithms(fd.Algorithms, AssertionAlgorithms, "dpop", "signing_algorithms")
		}
		d.Nonce = fd.Nonce
		v.Duration(&d.NoncePeriod, fd.NoncePeriod, time.Second, time.Hour, "dpop", "nonce_period")
		v.Duration(&d.IATWindow, fd.IATWindow, time.Second, MaxDPoPIATWindow, "dpop", "iat_window")
		if fd.ClockSkew != nil {
			d.ClockSkew = *fd.ClockSkew
			if d.ClockSkew < 0 || d.ClockSkew > MaxClockSkew {
				v.fail(fmt.Sprintf("clock_skew must be between 0 and %s", MaxClockSkew), "dpop", "clock_skew")
			}
		}
		v.cacheSize(&d.ReplayCacheSize, fd.ReplayCacheSize, "dpop", "replay_cache_size")
	}

	p.PAR = PAR{Lifetime: DefaultPARLifetime}
	if fp := f.PAR; fp != nil {
		v.Duration(&p.PAR.Lifetime, fp.Lifetime, 5*time.Second, 10*time.Minute, "par", "lifetime")
		if p.PAR.Lifetime%time.Second != 0 {
			v.fail("lifetime must be a whole number of seconds", "par", "lifetime")
		}
		p.PAR.Required = fp.Required
	}

	p.exchanges = map[exchangeKey]*TokenExchange{}
	for i := range f.TokenExchange {
		if x := v.tokenExchange(t, &f.TokenExchange[i], i); x != nil {
			p.TokenExchanges = append(p.TokenExchanges, x)
		}
	}
}

func (v *validator) cacheSize(n *int, val int, path ...any) {
	if val == 0 {
		return
	}
	if val < 1000 || val > MaxReplayCacheSize {
		v.fail(fmt.Sprintf("must be between 1000 and %d", MaxReplayCacheSize), path...)
		return
	}
	*n = val
}

// algorithms checks a non-empty list drawn from allowed, without repeats.
func (v *validator) algorithms(algs, allowed []string, path ...any) []string {
	if len(algs) == 0 {
		v.fail("list at least one algorithm", path...)
	}
	var out []string
	for j, a := range algs {
		switch {
		case !slices.Contains(allowed, a):
			v.fail(fmt.Sprintf("unsupported algorithm %q (want one of %s)", a, strings.Join(allowed, ", ")), append(slices.Clone(path), j)...)
		case slices.Contains(out, a):
			v.fail(fmt.Sprintf("%s is listed twice", a), append(slices.Clone(path), j)...)
		default:
			out = append(out, a)
		}
	}
	return out
}

func (v *validator) tokenExchange(t *Tenant, fx *fileTokenExchange, i int) *TokenExchange {
	at := func(field string, rest ...any) []any { return append([]any{"token_exchange", i, field}, rest...) }
	x := &TokenExchange{CapBySubjectScopes: true, RequireActor: fx.RequireActor, RequireMayAct: fx.RequireMayAct}
	ok := true
	c, found := t.clients[fx.Client]
	switch {
	case !found:
		v.fail(fmt.Sprintf("no client has the id %q", fx.Client), at("client")...)
		ok = false
	case !c.Type.Confidential():
		v.fail(fmt.Sprintf("a %s client is public: token exchange needs an authenticated client", c.Type), at("client")...)
		ok = false
	}
	x.Client = c
	if x.To, found = t.apis[fx.To]; !found {
		v.fail(fmt.Sprintf("no API has the identifier %q", fx.To), at("to")...)
		ok = false
	}
	if len(fx.From) == 0 {
		v.fail("name the API (or APIs) whose tokens may be exchanged", at("from")...)
		ok = false
	}
	for j, id := range fx.From {
		a, found := t.apis[id]
		switch {
		case !found:
			v.fail(fmt.Sprintf("no API has the identifier %q", id), at("from", j)...)
			ok = false
		case slices.Contains(x.From, a):
			v.fail(fmt.Sprintf("API %q is listed twice", id), at("from", j)...)
		default:
			x.From = append(x.From, a)
		}
	}
	if x.To != nil {
		want := map[string]bool{}
		for j, s := range fx.Scopes {
			if !x.To.Defines(s) {
				v.fail(fmt.Sprintf("API %q does not define scope %q", x.To.Identifier, s), at("scopes", j)...)
				continue
			}
			want[s] = true
		}
		for _, s := range x.To.Scopes {
			if want[s.Name] {
				x.Scopes = append(x.Scopes, s.Name)
			}
		}
		if len(fx.Scopes) == 0 {
			v.fail("a token exchange needs a scope ceiling", at("scopes")...)
		}
	}
	if fx.CapBySubjectScopes != nil {
		x.CapBySubjectScopes = *fx.CapBySubjectScopes
	}
	subjects := fx.Subjects
	if len(subjects) == 0 {
		subjects = []string{SubjectUser}
	}
	for j, s := range subjects {
		switch s {
		case SubjectUser:
			x.ForUser = true
		case SubjectClient:
			x.ForClient = true
		default:
			v.fail(fmt.Sprintf("unknown subject %q (want client or user)", s), at("subjects", j)...)
		}
	}
	for j, a := range fx.Actors {
		switch {
		case !validClientID(a):
			v.fail(fmt.Sprintf("an actor is a subject: 1 to %d printable characters with no leading or trailing space", maxIDLen), at("actors", j)...)
		case slices.Contains(x.Actors, a):
			v.fail(fmt.Sprintf("actor %q is listed twice", a), at("actors", j)...)
		default:
			x.Actors = append(x.Actors, a)
		}
	}
	if x.RequireActor && len(fx.Actors) == 0 {
		v.fail("require_actor needs actors: the subjects that may act", at("require_actor")...)
	}
	if !ok {
		return nil
	}
	for _, from := range x.From {
		k := exchangeKey{c.ID, from.Identifier, x.To.Identifier}
		if t.Protocols.exchanges[k] != nil {
			v.fail(fmt.Sprintf("client %q may already exchange tokens of %q for %q", c.ID, from.Identifier, x.To.Identifier), at("from")...)
			continue
		}
		t.Protocols.exchanges[k] = x
	}
	return x
}
