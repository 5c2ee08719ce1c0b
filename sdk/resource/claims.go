package resource

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
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

// authn is what Protect stores in a request's context: the claims, and the
// Validator that validated them, so that only that Validator skips
// validating the same request again.
type authn struct {
	by *Validator
	c  *Claims
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

// claimsBy returns the claims in ctx if v validated them.
func claimsBy(ctx context.Context, v *Validator) (*Claims, bool) {
	a, ok := ctx.Value(claimsKey{}).(authn)
	if !ok || a.by != v {
		return nil, false
	}
	return a.c, true
}

func withClaims(ctx context.Context, v *Validator, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, authn{by: v, c: c})
}

// tokenClaims is how the claims set is decoded; golang-jwt validates the
// registered claims through it.
type tokenClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
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
)

// UnmarshalJSON decodes the claims set strictly; golang-jwt calls it
// through encoding/json, before it checks the signature. Unlike
// encoding/json, which matches member names to fields without regard to
// case and lets the last of two equal names win, it matches names
// exactly, and refuses a claims set in which any object repeats a member
// name (RFC 7519 §4), two claims are equal under Unicode simple case
// folding (as encoding/json folds them: "scope", "Scope" and "ſcope"), or
// a claim folds to a registered one without being it; and one whose
// NumericDate claims (exp, nbf, iat, auth_time) are not JSON numbers.
// A token that reads one way to this API and another way to a decoder
// elsewhere is refused, not guessed at.
func (t *tokenClaims) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("resource: the claims set is not a JSON object")
	}
	seen := make(map[string]string, 16) // folded name -> name
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := tok.(string)
		key := foldName(name)
		if prev, ok := seen[key]; ok {
			return errAmbiguous.withCause(fmt.Errorf("claims %q and %q", prev, name))
		}
		seen[key] = name
		if r, ok := registeredKeys[key]; ok && r != name {
			return errAmbiguous.withCause(fmt.Errorf("claim %q folds to the registered claim %q", name, r))
		}
		switch name {
		case "iss":
			err = dec.Decode(&t.Issuer)
		case "sub":
			err = dec.Decode(&t.Subject)
		case "aud":
			err = dec.Decode(&t.Audience)
		case "jti":
			err = dec.Decode(&t.ID)
		case "client_id":
			err = dec.Decode(&t.ClientID)
		case "scope":
			err = dec.Decode(&t.Scope)
		case "exp":
			t.ExpiresAt, err = numericDate(dec, name)
		case "nbf":
			t.NotBefore, err = numericDate(dec, name)
		case "iat":
			t.IssuedAt, err = numericDate(dec, name)
		case "auth_time":
			_, err = numericDate(dec, name)
		default:
			err = skipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("resource: data after the claims set")
	}
	return nil
}

// numericDate reads a NumericDate (RFC 7519 §2), which must be a JSON
// number: golang-jwt alone also takes a string holding one.
func numericDate(dec *json.Decoder, name string) (*jwt.NumericDate, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	n, ok := tok.(json.Number)
	if !ok {
		return nil, errNotNumber.withCause(fmt.Errorf("claim %q is a %T", name, tok))
	}
	d := new(jwt.NumericDate)
	if err := d.UnmarshalJSON([]byte(n)); err != nil {
		return nil, err
	}
	return d, nil
}

// skipValue reads one JSON value, refusing an object in it that repeats a
// member name.
func skipValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	var seen map[string]bool
	for dec.More() {
		if d == '{' {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name := tok.(string)
			if seen[name] {
				return errAmbiguous.withCause(fmt.Errorf("member %q repeated in a claim's value", name))
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[name] = true
		}
		if err := skipValue(dec); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
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
