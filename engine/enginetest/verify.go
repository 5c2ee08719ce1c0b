package enginetest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
)

// Discover reads the RFC 8414 metadata the way a client library would.
func Discover(t testing.TB, issuer string) endpoint.Metadata {
	t.Helper()
	u, _ := url.Parse(issuer)
	u.Path = endpoint.PathOAuthMeta + strings.TrimSuffix(u.Path, "/")
	var m endpoint.Metadata
	GetJSON(t, u.String(), &m)
	if m.Issuer != issuer {
		t.Fatalf("metadata issuer %q, want %q", m.Issuer, issuer)
	}
	return m
}

// GetJSON GETs u, which must answer 200, into v and returns the headers.
func GetJSON(t testing.TB, u string, v any) http.Header {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return resp.Header
}

// Verify checks a token against the JWKS found through discovery, as a
// resource server would, and returns its claims.
func Verify(t testing.TB, issuer, token string) (jwt.MapClaims, map[string]any) {
	t.Helper()
	m := Discover(t, issuer)
	return VerifyJWT(t, issuer, token, jwt.WithValidMethods(m.AccessTokenSigningAlgValuesSupported), jwt.WithExpirationRequired())
}

// VerifyJWT checks any JWT the issuer signed (an access token, a signed
// introspection answer) against its JWKS, with its iss and iat, and the
// further checks of opts; it returns the claims and the header.
func VerifyJWT(t testing.TB, issuer, token string, opts ...jwt.ParserOption) (jwt.MapClaims, map[string]any) {
	t.Helper()
	var set struct{ Keys []keys.JWK }
	GetJSON(t, Discover(t, issuer).JWKSURI, &set)
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == tok.Header["kid"] && k.Alg == tok.Method.Alg() {
				return k.PublicKey()
			}
		}
		return nil, errors.New("unknown kid")
	}, append([]jwt.ParserOption{jwt.WithIssuer(issuer), jwt.WithIssuedAt()}, opts...)...)
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	return claims, tok.Header
}
