package resource

import (
	"net/http"
	"net/url"
	"strings"
)

// MaxTokenBytes bounds the length of an access token the SDK looks at.
const MaxTokenBytes = 16 << 10

// The authorization schemes of access tokens.
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// credentials extracts the access token and its scheme from the
// Authorization header: Bearer (RFC 6750 §2.1) or DPoP (RFC 9449 §7.1).
// It is the only way accepted: a token in the URL query (RFC 6750 §2.3)
// is refused, since URLs end up in logs, and so is a request that carries
// more than one Authorization header. A header with another scheme counts
// as no token.
func credentials(r *http.Request) (scheme, token string, err error) {
	headers := r.Header.Values("Authorization")
	if hasQueryToken(r.URL.RawQuery) {
		if len(headers) > 0 {
			return "", "", ErrInvalidRequest.with("send the access token one way only, in the Authorization header", nil)
		}
		return "", "", ErrInvalidRequest.with("send the access token in the Authorization header, not in the URL", nil)
	}
	switch len(headers) {
	case 0:
		return "", "", ErrMissingToken
	case 1:
	default:
		return "", "", ErrInvalidRequest.with("the request has more than one Authorization header", nil)
	}
	scheme, token, _ = strings.Cut(strings.TrimLeft(headers[0], " \t"), " ")
	switch {
	case strings.EqualFold(scheme, schemeBearer):
		scheme = schemeBearer
	case strings.EqualFold(scheme, schemeDPoP):
		scheme = schemeDPoP
	default:
		return "", "", ErrMissingToken
	}
	token = strings.Trim(token, " \t")
	switch {
	case token == "":
		return "", "", ErrInvalidRequest.with("the "+scheme+" token is empty", nil).in(scheme)
	case len(token) > MaxTokenBytes:
		return "", "", ErrInvalidToken.with("the access token is too large", nil).in(scheme)
	case !isB64Token(token):
		return "", "", ErrInvalidRequest.with("the Authorization header must be `"+scheme+"` and one token", nil).in(scheme)
	}
	return scheme, token, nil
}

// isB64Token reports whether s is an RFC 6750 §2.1 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// hasQueryToken reports whether the raw query has an access_token
// parameter, however it is escaped.
func hasQueryToken(raw string) bool {
	if raw == "" {
		return false
	}
	for part := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if name == "access_token" {
			return true
		}
	}
	return false
}
