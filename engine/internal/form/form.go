// Package form parses the outside input of the token endpoint: an
// application/x-www-form-urlencoded body whose parameters may not repeat
// (RFC 6749 §3.1, §3.2) and HTTP Basic client credentials whose parts are
// themselves form-encoded (RFC 6749 §2.3.1).
package form

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Limits on a form.
const (
	MaxParams   = 64
	MaxValueLen = 4096
)

// Parse decodes a form body. A parameter may appear once, except those
// named in repeatable; an empty value counts as absent (RFC 6749 §3.1).
// Values are at most MaxValueLen bytes.
func Parse(body string, repeatable ...string) (url.Values, error) {
	return ParseMax(body, MaxValueLen, repeatable...)
}

// ParseMax is Parse with values of up to maxValue bytes.
func ParseMax(body string, maxValue int, repeatable ...string) (url.Values, error) {
	return ParseLong(body, maxValue, nil, repeatable...)
}

// ParseLong is ParseMax where the parameters long names may be longer:
// up to long[key] bytes (the tokens a token exchange presents, say).
func ParseLong(body string, maxValue int, long map[string]int, repeatable ...string) (url.Values, error) {
	v := url.Values{}
	n := 0
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		if n++; n > MaxParams {
			return nil, fmt.Errorf("more than %d parameters", MaxParams)
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, errors.New("malformed form encoding")
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, errors.New("malformed form encoding")
		}
		if len(key) > 128 || (len(value) > maxValue && len(value) > long[key]) {
			return nil, fmt.Errorf("parameter %q is too long", truncate(key, 64))
		}
		if value == "" {
			continue
		}
		if _, dup := v[key]; dup && !contains(repeatable, key) {
			return nil, fmt.Errorf("parameter %q is repeated", truncate(key, 64))
		}
		v[key] = append(v[key], value)
	}
	return v, nil
}

// ErrNotBasic is returned by BasicAuth for an Authorization header of
// another scheme.
var ErrNotBasic = errors.New("not Basic authentication")

// BasicAuth decodes "Basic base64(urlenc(id):urlenc(secret))". Both parts
// are form-decoded, as RFC 6749 §2.3.1 requires and golang.org/x/oauth2
// sends them.
func BasicAuth(header string) (id, secret string, err error) {
	scheme, payload, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", ErrNotBasic
	}
	if len(payload) > 4*MaxValueLen {
		return "", "", errors.New("credentials too long")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
	if err != nil {
		return "", "", errors.New("malformed Basic credentials")
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("malformed Basic credentials")
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", errors.New("malformed Basic credentials")
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", errors.New("malformed Basic credentials")
	}
	return id, secret, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
