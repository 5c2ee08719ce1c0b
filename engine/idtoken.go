package engine

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/engine/tenant"
)

// mintIDToken signs an OpenID Connect ID token (OIDC Core §2) for the
// transaction's user and client, with the client's ID token algorithm
// (id_token_signed_response_alg, default the tenant's): at_hash binds it
// to the access token, nonce to the authorization request.
func (s *snapshot) mintIDToken(tx *Transaction, accessToken, nonce string, authTime, now time.Time) (string, error) {
	t := s.tenant
	alg := tx.Client.IDTokenAlgorithm
	if alg == "" {
		alg = t.Algorithm
	}
	sg, ok := s.keys.signers[alg]
	if !ok {
		return "", fmt.Errorf("%w for %s", errNoKey, alg)
	}
	claims := userClaims(tx.User, tx.Identity)
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

// userClaims are the claims about the user that the OpenID Connect scopes
// release (OIDC Core §5.4): profile claims with `profile`, email with
// `email`.
func userClaims(u *tenant.User, identity []string) map[string]any {
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

// MaxBearerTokenLen bounds an access token presented to userinfo.
const MaxBearerTokenLen = 16 << 10

// handleUserinfo is the OpenID Connect userinfo endpoint (OIDC Core §5.3):
// it takes an access token of this issuer that carries `openid` in the
// Authorization header (RFC 6750 §2.1).
func (i *Issuer) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	noStore(h)
	bearerError := func(status int, code, desc string) {
		v := `Bearer realm="scopeline"`
		if code != "" {
			v += `, error="` + code + `", error_description="` + desc + `"`
		}
		h.Set("WWW-Authenticate", v)
		body := map[string]string{}
		if code != "" {
			body["error"], body["error_description"] = code, desc
		}
		writeJSON(w, status, body)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		h.Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "use GET or POST"})
		return
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		bearerError(http.StatusUnauthorized, "", "")
		return
	}
	s := i.acquire()
	if s == nil {
		writeError(w, ErrTemporarilyUnavailable, false)
		return
	}
	defer s.release()
	claims, err := s.verifyAccessToken(strings.TrimSpace(token), i.now)
	if err != nil {
		bearerError(http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired")
		return
	}
	scopes := strings.Fields(fmt.Sprint(claims["scope"]))
	if !slices.Contains(scopes, "openid") {
		bearerError(http.StatusForbidden, "insufficient_scope", "the access token was not issued with the openid scope")
		return
	}
	sub, _ := claims["sub"].(string)
	u, ok := s.tenant.User(sub)
	if !ok {
		bearerError(http.StatusUnauthorized, "invalid_token", "the user of this access token no longer exists")
		return
	}
	out := userClaims(u, scopes)
	out["sub"] = u.ID
	writeJSON(w, http.StatusOK, out)
}

// verifyAccessToken checks an access token this issuer signed: a known
// key, an allowed algorithm, typ at+jwt, our iss, not expired.
func (s *snapshot) verifyAccessToken(token string, now func() time.Time) (jwt.MapClaims, error) {
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
		jwt.WithTimeFunc(now), jwt.WithLeeway(30*time.Second))
	if err != nil {
		return nil, err
	}
	return claims, nil
}
