package resource

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestCredentials(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_~+/=="
	tests := []struct {
		name    string
		headers []string
		query   string
		token   string
		err     *Error
	}{
		{"bearer", []string{"Bearer " + tok}, "", tok, nil},
		{"dpop", []string{"DPoP " + tok}, "", tok, nil},
		{"dpop, any case", []string{"dpop " + tok}, "", tok, nil},
		{"dpop only", []string{"DPoP"}, "", "", ErrInvalidRequest},
		{"dpop two tokens", []string{"DPoP a b"}, "", "", ErrInvalidRequest},
		{"bearer and dpop headers", []string{"Bearer " + tok, "DPoP " + tok}, "", "", ErrInvalidRequest},
		{"case-insensitive scheme", []string{"bEaReR " + tok}, "", tok, nil},
		{"extra spaces", []string{"Bearer   " + tok + "  "}, "", tok, nil},
		{"leading space", []string{" Bearer " + tok}, "", tok, nil},
		{"other query parameters", []string{"Bearer " + tok}, "page=2&q=access_token", tok, nil},
		{"none", nil, "", "", ErrMissingToken},
		{"empty header", []string{""}, "", "", ErrMissingToken},
		{"basic", []string{"Basic YTpi"}, "", "", ErrMissingToken},
		{"scheme glued to token", []string{"Bearer" + tok}, "", "", ErrMissingToken},
		{"scheme only", []string{"Bearer"}, "", "", ErrInvalidRequest},
		{"scheme and spaces", []string{"Bearer    "}, "", "", ErrInvalidRequest},
		{"two tokens", []string{"Bearer a b"}, "", "", ErrInvalidRequest},
		{"comma", []string{"Bearer a,b"}, "", "", ErrInvalidRequest},
		{"quoted", []string{`Bearer "` + tok + `"`}, "", "", ErrInvalidRequest},
		{"only padding", []string{"Bearer ==="}, "", "", ErrInvalidRequest},
		{"padding inside", []string{"Bearer a=b"}, "", "", ErrInvalidRequest},
		{"non-ASCII", []string{"Bearer tök"}, "", "", ErrInvalidRequest},
		{"tab inside", []string{"Bearer a\tb"}, "", "", ErrInvalidRequest},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, "", "", ErrInvalidRequest},
		{"bearer and basic headers", []string{"Bearer " + tok, "Basic YTpi"}, "", "", ErrInvalidRequest},
		{"query only", nil, "access_token=" + tok, "", ErrInvalidRequest},
		{"query and header", []string{"Bearer " + tok}, "access_token=" + tok, "", ErrInvalidRequest},
		{"query, empty value", nil, "access_token=", "", ErrInvalidRequest},
		{"query, no value", nil, "x=1&access_token", "", ErrInvalidRequest},
		{"query, escaped name", nil, "%61ccess_token=x", "", ErrInvalidRequest},
		{"too large", []string{"Bearer " + strings.Repeat("a", MaxTokenBytes+1)}, "", "", ErrInvalidToken},
		{"largest", []string{"Bearer " + strings.Repeat("a", MaxTokenBytes)}, "", strings.Repeat("a", MaxTokenBytes), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/", RawQuery: tt.query}}
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			scheme, got, err := credentials(r)
			if tt.err == nil {
				if err != nil || got != tt.token || !strings.EqualFold(scheme, strings.Fields(tt.headers[0])[0]) {
					t.Fatalf("got %s %q, %v; want %q", scheme, got, err, tt.token)
				}
				return
			}
			if !errors.Is(err, tt.err) || got != "" {
				t.Fatalf("got %q, %v; want %v", got, err, tt.err)
			}
		})
	}
}

// FuzzBearerToken feeds arbitrary Authorization headers and queries to the
// token extraction: it must never panic, return only a well-formed token
// taken from the single header, and refuse with an RFC 6750 error that
// does not repeat the input.
func FuzzBearerToken(f *testing.F) {
	f.Add("Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "", "")
	f.Add("bearer  abc== ", "", "page=1")
	f.Add("Basic YTpi", "", "")
	f.Add("DPoP eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "", "")
	f.Add("Bearer a", "Bearer b", "")
	f.Add("Bearer a b", "", "access_token=x")
	f.Add("", "", "%zz&access_token")
	f.Fuzz(func(t *testing.T, h1, h2, query string) {
		r := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/", RawQuery: query}}
		var sent []string
		for _, h := range []string{h1, h2} {
			if h != "" {
				r.Header.Add("Authorization", h)
				sent = append(sent, h)
			}
		}
		_, tok, err := credentials(r)
		if err == nil {
			if !isB64Token(tok) || len(tok) > MaxTokenBytes || len(sent) != 1 || !strings.Contains(sent[0], tok) {
				t.Fatalf("token %q from %q, %q", tok, h1, h2)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || (e.Status != 400 && e.Status != 401) || tok != "" {
			t.Fatalf("error %v, token %q", err, tok)
		}
		if len(h1) > 8 && strings.Contains(e.Description, h1) {
			t.Fatalf("the refusal repeats the header")
		}
	})
}
