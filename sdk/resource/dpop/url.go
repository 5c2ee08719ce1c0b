package dpop

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxURLBytes bounds an htu.
const maxURLBytes = 4 << 10

// NormalizeURL returns the form of an htu that two URLs of one resource
// share (RFC 9449 §4.3 check 9): an absolute http or https URL, without
// its query and fragment, normalised per RFC 3986 §6.2.2 (case of the
// scheme and host, percent-encodings in upper case and decoded where they
// encode an unreserved character, dot segments removed) and §6.2.3 (the
// default port left out, an empty path made "/"). A URL with user
// information, a host that is not UTF-8, or a result longer than the
// input's bound is refused, so that the result normalises to itself.
func NormalizeURL(s string) (string, error) {
	if len(s) > maxURLBytes {
		return "", errors.New("dpop: URL too long")
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Host == "" || u.Opaque != "" {
		return "", errors.New("dpop: not an absolute http(s) URL")
	}
	if u.User != nil {
		return "", errors.New("dpop: URL with user information")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", errors.New("dpop: URL without a host")
	}
	if !utf8.ValidString(host) { // strings.ToLower would make each bad byte a 3-byte U+FFFD
		return "", errors.New("dpop: URL host is not UTF-8")
	}
	host = strings.ToLower(host)
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	path, err := normalizePath(u.EscapedPath())
	if err != nil {
		return "", err
	}
	n := scheme + "://" + host + removeDotSegments(path)
	if len(n) > maxURLBytes { // lower case can be longer than upper case
		return "", errors.New("dpop: URL too long")
	}
	return n, nil
}

// normalizePath upper-cases percent-encodings and decodes those of
// unreserved characters (RFC 3986 §6.2.2.1, §6.2.2.2); an empty path is
// "/" (§6.2.3).
func normalizePath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", errors.New("dpop: malformed percent-encoding")
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteString(strings.ToUpper(p[i : i+3]))
		}
		i += 2
	}
	return b.String(), nil
}

// removeDotSegments is RFC 3986 §5.2.4.
func removeDotSegments(in string) string {
	var out []string
	for seg := range strings.SplitSeq(in, "/") {
		switch seg {
		case ".":
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	res := strings.Join(out, "/")
	// A path ending in a dot segment keeps its trailing slash.
	if strings.HasSuffix(in, "/.") || strings.HasSuffix(in, "/..") {
		res += "/"
	}
	if !strings.HasPrefix(res, "/") {
		res = "/" + res
	}
	return res
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
