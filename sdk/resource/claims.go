package resource

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/sdk/resource/jsonmember"
)

// Claims are the validated claims of an access token (RFC 9068 §2.2).
// Treat them as read-only.
type Claims struct {
	// Issuer is `iss`, equal to the configured issuer.
	Issuer string
	// Subject is `sub`: the client id for client-credentials tokens, the
	// user for user tokens.
	Subject string
	// Audience is `aud`; it contains the configured audience.
	Audience []string
	// ClientID is `client_id`, the application the token was issued to.
	ClientID string
	// Scopes are the space-separated `scope` claim, split.
	Scopes []string
	// TokenID is `jti`, unique per token.
	TokenID string
	// IssuedAt is `iat`.
	IssuedAt time.Time
	// ExpiresAt is `exp`.
	ExpiresAt time.Time
	// NotBefore is `nbf`, zero when the token has none.
	NotBefore time.Time
	// KeyThumbprint is `cnf.jkt`: the RFC 7638 thumbprint of the key the
	// token is bound to by DPoP (RFC 9449 §6.1); "" for a bearer token.
	// A bound token passes only with a DPoP proof by that key.
	KeyThumbprint string

	payload string // the token's claims segment (base64url), for Custom
}

// HasScope reports whether the token grants scope.
func (c Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// Custom decodes the claim called name (such as one a hook set) into v,
// which must be a pointer, with encoding/json. It reports false when the
// token has no such claim.
func (c Claims) Custom(name string, v any) (bool, error) {
	payload, err := base64.RawURLEncoding.DecodeString(c.payload)
	if err != nil {
		return false, fmt.Errorf("resource: claims: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(payload, &all); err != nil {
		return false, fmt.Errorf("resource: claims: %w", err)
	}
	raw, ok := all[name]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("resource: claim %q: %w", name, err)
	}
	return true, nil
}

type claimsKey struct{}

// authn is what Protect stores in a request's context: the claims, the
// scheme they came with, and the Validator that validated them, so that
// only that Validator skips validating the same request again.
type authn struct {
	by     *Validator
	c      *Claims
	scheme string
}

// ClaimsFrom returns the validated claims of the request whose context is
// ctx, as stored by Validator.Protect; false when it was not authenticated.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	a, ok := ctx.Value(claimsKey{}).(authn)
	if !ok {
		return Claims{}, false
	}
	return *a.c, true
}

// claimsBy returns the claims in ctx and their scheme if v validated them.
func claimsBy(ctx context.Context, v *Validator) (*Claims, string, bool) {
	a, ok := ctx.Value(claimsKey{}).(authn)
	if !ok || a.by != v {
		return nil, "", false
	}
	return a.c, a.scheme, true
}

func withClaims(ctx context.Context, v *Validator, c *Claims, scheme string) context.Context {
	return context.WithValue(ctx, claimsKey{}, authn{by: v, c: c, scheme: scheme})
}

// tokenClaims is how the claims set is decoded; golang-jwt validates the
// registered claims through it.
type tokenClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	// JKT is cnf.jkt.
	JKT string
}

// registered are the claims an API takes as the issuer's word: the JWT
// registered claims (RFC 7519 §4.1) and those of RFC 9068 §2.2, OpenID
// Connect (auth_time, acr, amr) and RFC 7800 (cnf).
var registered = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "client_id", "auth_time", "acr", "amr", "cnf"}

// registeredKeys maps the folded name of each registered claim to it.
var registeredKeys = func() map[string]string {
	m := make(map[string]string, len(registered))
	for _, n := range registered {
		m[foldName(n)] = n
	}
	return m
}()

// The refusals of a claims set that decoders could read differently.
var (
	errAmbiguous = ErrInvalidToken.with("the access token's claims are ambiguous: a claim name is repeated, or equal to another one but for letter case", nil)
	errNotNumber = ErrInvalidToken.with("the access token's exp, nbf, iat or auth_time is not a number", nil)
	// errUnboundable refuses a token bound (cnf) to something other than
	// a DPoP key: this API cannot check that binding, so it fails closed.
	errUnboundable = ErrInvalidToken.with("the access token is bound (cnf) to a key this API cannot check; only DPoP (jkt) is supported", nil)
)

// UnmarshalJSON decodes the claims set strictly, in one pass; golang-jwt
// calls it through encoding/json (which has checked the syntax), before it
// checks the signature. encoding/json alone matches member names to fields
// without regard to case and lets the last of two equal names win; here
// each field is filled from the claim of exactly its name, and the claims
// set is refused when an object in it repeats a member name (RFC 7519 §4),
// two claims are equal under Unicode simple case folding (as encoding/json
// folds them: "scope", "Scope" and "ſcope"), a claim folds to a
// registered one without being it, or a NumericDate claim (exp, nbf, iat,
// auth_time) is not a JSON number. A token that reads one way to this API
// and another way to a decoder elsewhere is refused, not guessed at.
func (t *tokenClaims) UnmarshalJSON(b []byte) error {
	if i := bytes.IndexFunc(b, func(r rune) bool { return !strings.ContainsRune(" \t\n\r", r) }); i < 0 || b[i] != '{' {
		return errors.New("resource: the claims set is not a JSON object")
	}
	type member struct {
		object int
		key    string // folded at the top
	}
	seen := make(map[member]string, 16)
	return jsonmember.Walk(b, func(m jsonmember.Member) error {
		k := member{m.Object, m.Name}
		if m.Depth == 0 {
			k.key = foldName(m.Name)
		}
		if prev, ok := seen[k]; ok {
			return errAmbiguous.withCause(fmt.Errorf("members %q and %q of one object", prev, m.Name))
		}
		seen[k] = m.Name
		if m.Depth > 0 {
			return nil
		}
		if r, ok := registeredKeys[k.key]; ok && r != m.Name {
			return errAmbiguous.withCause(fmt.Errorf("claim %q folds to the registered claim %q", m.Name, r))
		}
		return t.set(m.Name, m.Value)
	})
}

// set decodes the value raw of the claim name into its field, if it has
// one; NumericDate claims must be JSON numbers.
func (t *tokenClaims) set(name string, raw []byte) error {
	switch name {
	case "exp", "nbf", "iat", "auth_time": // NumericDate (RFC 7519 §2)
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return errNotNumber.withCause(fmt.Errorf("claim %q is not a number", name))
		}
		d := new(jwt.NumericDate)
		if err := d.UnmarshalJSON(raw); err != nil {
			return err
		}
		switch name {
		case "exp":
			t.ExpiresAt = d
		case "nbf":
			t.NotBefore = d
		case "iat":
			t.IssuedAt = d
		}
	case "aud":
		return t.Audience.UnmarshalJSON(raw)
	case "cnf": // RFC 7800 §3.1; only jkt (RFC 9449 §6.1) can be checked here
		var cnf map[string]json.RawMessage
		if err := json.Unmarshal(raw, &cnf); err != nil || cnf == nil {
			return errUnboundable.withCause(errors.New("cnf is not an object"))
		}
		jkt, err := jsonmember.Unquote(cnf["jkt"])
		if len(cnf) != 1 || err != nil || jkt == "" {
			return errUnboundable.withCause(fmt.Errorf("cnf has members %v", slices.Sorted(maps.Keys(cnf))))
		}
		t.JKT = jkt
	case "iss", "sub", "jti", "client_id", "scope":
		if string(raw) == "null" { // as encoding/json: left unset
			return nil
		}
		v, err := jsonmember.Unquote(raw)
		if err != nil {
			return fmt.Errorf("resource: claim %q is not a string", name)
		}
		switch name {
		case "iss":
			t.Issuer = v
		case "sub":
			t.Subject = v
		case "jti":
			t.ID = v
		case "client_id":
			t.ClientID = v
		case "scope":
			t.Scope = v
		}
	}
	return nil
}

// foldName returns name under Unicode simple case folding, each character
// replaced by the smallest of its fold orbit: what encoding/json compares
// when it matches a member name to a field.
func foldName(name string) string {
	b := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= utf8.RuneSelf {
			return foldRunes(b, name[i:])
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// foldRunes appends the folded form of s to b, character by character.
func foldRunes(b []byte, s string) string {
	for _, r := range s {
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// claims returns the public view of t, whose claims segment in the
// token was payload.
func (t *tokenClaims) claims(payload string) *Claims {
	c := &Claims{
		Issuer:   t.Issuer,
		Subject:  t.Subject,
		Audience: t.Audience,
		ClientID: t.ClientID,
		Scopes:   strings.Fields(t.Scope),
		TokenID:  t.ID,
		payload:  payload,

		KeyThumbprint: t.JKT,
	}
	if t.IssuedAt != nil {
		c.IssuedAt = t.IssuedAt.Time
	}
	if t.ExpiresAt != nil {
		c.ExpiresAt = t.ExpiresAt.Time
	}
	if t.NotBefore != nil {
		c.NotBefore = t.NotBefore.Time
	}
	return c
}
