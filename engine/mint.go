package engine

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
)

// TokenType is the JWT `typ` of Scopeline access tokens (RFC 9068 §2.1).
const TokenType = "at+jwt"

// keyring is an immutable key set prepared for signing: one signer per
// algorithm, with its JWS header encoded once, and the JWKS to publish.
type keyring struct {
	set     *keys.Set
	signers map[string]*signer
	jwks    []byte
}

type signer struct {
	key *keys.Key
	// header and idHeader are the base64url protected headers, with the
	// trailing '.', of access tokens (typ at+jwt) and ID tokens (typ JWT).
	header   string
	idHeader string
}

// jwsHeader encodes a protected header once, for every token it starts.
func jwsHeader(alg, kid, typ string) (string, error) {
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, typ})
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(hdr) + ".", nil
}

// sign makes a compact JWS of payload under header (one of s's headers).
func (s *signer) sign(header string, payload []byte) (string, error) {
	input := make([]byte, 0, len(header)+b64.EncodedLen(len(payload))+1+b64.EncodedLen(512))
	input = append(input, header...)
	input = b64.AppendEncode(input, payload)
	sig, err := s.key.Sign(string(input))
	if err != nil {
		return "", fmt.Errorf("engine: sign: %w", err)
	}
	input = append(input, '.')
	input = b64.AppendEncode(input, sig)
	return string(input), nil
}

var b64 = base64.RawURLEncoding

// newKeyring prepares ks for tenant t at now, failing when t uses an
// algorithm ks has no current key for.
func newKeyring(ks *keys.Set, t *tenant.Tenant, now time.Time) (*keyring, error) {
	if ks == nil {
		return nil, fmt.Errorf("%w: no key set", errNoKey)
	}
	kr := &keyring{set: ks, signers: map[string]*signer{}}
	for _, alg := range t.Algorithms() {
		k, ok := ks.Signing(alg)
		if !ok {
			return nil, fmt.Errorf("%w for %s", errNoKey, alg)
		}
		at, err := jwsHeader(alg, k.ID, TokenType)
		if err != nil {
			return nil, err
		}
		id, err := jwsHeader(alg, k.ID, "JWT")
		if err != nil {
			return nil, err
		}
		kr.signers[alg] = &signer{key: k, header: at, idHeader: id}
	}
	kr.jwks = ks.JWKS(now, t.LongestTokenLifetime()+keys.Leeway)
	return kr, nil
}

// minted is a signed token and what the audit record needs of it.
type minted struct {
	token string
	jti   string
	exp   time.Time
	scope string // the scope claim, also the response's scope
}

// mint signs the access token for tx (RFC 9068 §2.2): iss, sub, aud,
// client_id, iat, exp, jti and scope, then the hooks' custom claims. The
// issuer and the key are the snapshot's, the one tx.API comes from; now
// and random (for the token id) are the caller's.
func (s *Snapshot) mint(tx *Transaction, now time.Time, random io.Reader) (minted, error) {
	sg, ok := s.keys.signers[tx.API.Algorithm]
	if !ok {
		return minted{}, fmt.Errorf("%w for %s", errNoKey, tx.API.Algorithm)
	}
	var id [16]byte
	if _, err := io.ReadFull(random, id[:]); err != nil {
		return minted{}, fmt.Errorf("engine: token id: %w", err)
	}
	m := minted{jti: b64.EncodeToString(id[:]), exp: now.Add(tx.API.TokenLifetime).Truncate(time.Second)}

	buf := make([]byte, 0, 512)
	buf = append(buf, `{"iss":`...)
	buf = appendString(buf, s.issuer)
	buf = append(buf, `,"sub":`...)
	buf = appendString(buf, tx.Subject)
	buf = append(buf, `,"aud":`...)
	buf = appendString(buf, tx.API.Identifier)
	buf = append(buf, `,"client_id":`...)
	buf = appendString(buf, tx.Client.ID)
	buf = append(buf, `,"iat":`...)
	buf = strconv.AppendInt(buf, now.Unix(), 10)
	buf = append(buf, `,"exp":`...)
	buf = strconv.AppendInt(buf, m.exp.Unix(), 10)
	buf = append(buf, `,"jti":`...)
	buf = appendString(buf, m.jti)
	buf = append(buf, `,"scope":`...)
	m.scope = tx.scopeClaim()
	buf = appendString(buf, m.scope)
	if x := tx.Exchange; x != nil && len(x.act) > 0 {
		buf = append(buf, `,"act":`...)
		buf = append(buf, x.act...)
	}
	if tx.DPoPKey != "" { // RFC 9449 §6.1
		buf = append(buf, `,"cnf":{"jkt":`...)
		buf = appendString(buf, tx.DPoPKey)
		buf = append(buf, '}')
	}
	if len(tx.Claims) > 0 {
		names := make([]string, 0, len(tx.Claims))
		for k := range tx.Claims {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			buf = append(buf, ',')
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = append(buf, tx.Claims[k]...)
		}
	}
	buf = append(buf, '}')

	var err error
	if m.token, err = sg.sign(sg.header, buf); err != nil {
		return minted{}, err
	}
	return m, nil
}

// appendString appends s as a JSON string, byte for byte as encoding/json
// writes it.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			b, _ := json.Marshal(s) // rare: let encoding/json escape
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// jsonPlain are the bytes encoding/json writes as they are in a string:
// printable ASCII but for '"', '\\' and the HTML-escaped '<', '>' and '&'.
var jsonPlain = func() (plain [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		plain[c] = !strings.ContainsRune(`"\\<>&`, rune(c))
	}
	return plain
}()

var errNoKey = errors.New("engine: no signing key")

// MintIDToken signs an OpenID Connect ID token (OIDC Core §2) for the
// transaction's user and client, with the client's ID token algorithm
// (id_token_signed_response_alg, default the tenant's): at_hash binds it
// to the access token, nonce to the authorization request.
func (s *Snapshot) MintIDToken(tx *Transaction, accessToken, nonce string, authTime, now time.Time) (string, error) {
	t := s.tenant
	alg := tx.Client.IDTokenAlgorithm
	if alg == "" {
		alg = t.Algorithm
	}
	sg, ok := s.keys.signers[alg]
	if !ok {
		return "", fmt.Errorf("%w for %s", errNoKey, alg)
	}
	claims := UserClaims(tx.User, tx.Identity)
	claims["iss"] = s.issuer
	claims["sub"] = tx.Subject
	claims["aud"] = tx.Client.ID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(t.Flows.IDTokenLifetime).Unix()
	claims["auth_time"] = authTime.Unix()
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		claims["at_hash"] = leftHalfHash(sg.key.Algorithm, accessToken)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return sg.sign(sg.idHeader, payload)
}

// leftHalfHash is at_hash (OIDC Core §3.1.3.6): the left half of the hash
// of the token, with the hash of the signing algorithm (SHA-512 for
// Ed25519).
func leftHalfHash(alg, token string) string {
	var h hash.Hash
	if alg == tenant.EdDSA {
		h = sha512.New()
	} else {
		h = sha256.New()
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return b64.EncodeToString(sum[:len(sum)/2])
}

// UserClaims are the claims about the user that the OpenID Connect scopes
// release (OIDC Core §5.4): profile claims with `profile`, email with
// `email`. ID tokens and the userinfo endpoint carry them.
func UserClaims(u *tenant.User, identity []string) map[string]any {
	out := map[string]any{}
	if slices.Contains(identity, "profile") {
		for _, k := range tenant.ProfileClaims {
			if v, ok := u.Profile[k]; ok {
				out[k] = v
			}
		}
		if _, ok := out["preferred_username"]; !ok && u.Username != "" {
			out["preferred_username"] = u.Username
		}
	}
	if slices.Contains(identity, "email") && u.Email != "" {
		out["email"] = u.Email
		out["email_verified"] = u.EmailVerified
	}
	return out
}

// MaxBearerTokenLen bounds an access token presented back to the issuer.
const MaxBearerTokenLen = 16 << 10

// VerifyAccessToken checks an access token this issuer signed: a known
// key of the snapshot, an algorithm the tenant signs access tokens with,
// typ at+jwt, the snapshot's iss, not expired at now (with 30 seconds of
// leeway). It returns the token's claims.
func (s *Snapshot) VerifyAccessToken(token string, now time.Time) (jwt.MapClaims, error) {
	claims, err := s.verifyAccessToken(token, now)
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// verifyAccessToken is VerifyAccessToken, returning the claims read even
// when the token is refused.
func (s *Snapshot) verifyAccessToken(token string, now time.Time) (jwt.MapClaims, error) {
	if len(token) > MaxBearerTokenLen {
		return nil, errors.New("engine: token too long")
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); !strings.EqualFold(typ, TokenType) && !strings.EqualFold(typ, "application/"+TokenType) {
			return nil, errors.New("not an access token")
		}
		kid, _ := tok.Header["kid"].(string)
		for _, k := range s.keys.set.Keys() {
			if k.ID == kid && k.Algorithm == tok.Method.Alg() {
				return k.Public(), nil
			}
		}
		return nil, errors.New("unknown key")
	}, jwt.WithValidMethods(s.tenant.AccessTokenAlgorithms()), jwt.WithIssuer(s.issuer), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(30*time.Second))
	return claims, err
}

// ErrAccessTokenExpired is ActiveAccessToken's error for an access token
// this issuer signed that has expired.
var ErrAccessTokenExpired = errors.New("engine: the token has expired")

// IntrospectionType is the JWT typ of signed introspection answers (RFC
// 9701 §5).
const IntrospectionType = "token-introspection+jwt"

// SignIntrospection signs an introspection answer as a JWT (RFC 9701 §5)
// for the client audience, with alg (the client's
// introspection_signed_response_alg, or "" for the tenant's): iss, aud,
// iat and token_introspection, the answer's members.
func (s *Snapshot) SignIntrospection(alg, audience string, answer map[string]any, now time.Time) (string, error) {
	if alg == "" {
		alg = s.tenant.Algorithm
	}
	sg, ok := s.keys.signers[alg]
	if !ok {
		return "", fmt.Errorf("%w for %s", errNoKey, alg)
	}
	header, err := jwsHeader(alg, sg.key.ID, IntrospectionType)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(map[string]any{"iss": s.issuer, "aud": audience, "iat": now.Unix(), "token_introspection": answer})
	if err != nil {
		return "", err
	}
	return sg.sign(header, payload)
}

// ActiveAccessToken checks an access token presented back to the issuer
// (a subject or actor token of an exchange, a token introspected or
// revoked): VerifyAccessToken, then not expired at now without the
// leeway resource servers get (the issuer's clock is the one that
// counts), and for an API of the tenant (a single aud). It returns the
// claims and the API. A token this issuer signed that has expired is
// ErrAccessTokenExpired, returned with the token's claims (to record
// which token it was, never to trust them).
func (s *Snapshot) ActiveAccessToken(token string, now time.Time) (jwt.MapClaims, *tenant.API, error) {
	claims, err := s.verifyAccessToken(token, now)
	if err != nil {
		// Signed by one of the snapshot's keys, with its iss: only the
		// expiry is wrong.
		if errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenInvalidIssuer) && !errors.Is(err, jwt.ErrTokenSignatureInvalid) &&
			!errors.Is(err, jwt.ErrTokenUnverifiable) && !errors.Is(err, jwt.ErrTokenMalformed) {
			return claims, nil, ErrAccessTokenExpired
		}
		return nil, nil, err
	}
	if exp, err := claims.GetExpirationTime(); err != nil || exp == nil || !now.Before(exp.Time) {
		return claims, nil, ErrAccessTokenExpired
	}
	aud, _ := claims["aud"].(string)
	api, ok := s.tenant.API(aud)
	if !ok {
		return nil, nil, errors.New("engine: the token is not for an API of this tenant")
	}
	return claims, api, nil
}
