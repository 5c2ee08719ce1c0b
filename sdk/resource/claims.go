package resource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

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
