// Package scope parses and checks OAuth 2.0 scope values (RFC 6749 §3.3).
package scope

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on a scope parameter: outside input is bounded.
const (
	MaxTokens   = 100
	MaxTokenLen = 256
)

// ErrEmpty is returned by Parse for a value with no scope tokens.
var ErrEmpty = errors.New("scope: empty")

// ValidToken reports whether s is a scope-token:
//
//	scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
func ValidToken(s string) error {
	if s == "" {
		return errors.New("scope: a scope name cannot be empty")
	}
	if len(s) > MaxTokenLen {
		return fmt.Errorf("scope: a scope name is at most %d characters", MaxTokenLen)
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) {
			return fmt.Errorf("scope: %q holds a character not allowed in a scope (RFC 6749 §3.3)", s)
		}
	}
	return nil
}

func tokenChar(c byte) bool {
	return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)
}

// Parse splits a space-delimited scope parameter into its tokens, in order,
// dropping repeats. Runs of spaces are tolerated; any other character outside
// the scope-token set is an error.
func Parse(s string) ([]string, error) {
	if len(s) > MaxTokens*(MaxTokenLen+1) {
		return nil, fmt.Errorf("scope: longer than %d characters", MaxTokens*(MaxTokenLen+1))
	}
	var out []string
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			continue
		}
		if err := ValidToken(tok); err != nil {
			return nil, err
		}
		if contains(out, tok) {
			continue
		}
		if len(out) == MaxTokens {
			return nil, fmt.Errorf("scope: more than %d scopes", MaxTokens)
		}
		out = append(out, tok)
	}
	if len(out) == 0 {
		return nil, ErrEmpty
	}
	return out, nil
}

// Join formats scopes as a scope parameter.
func Join(scopes []string) string { return strings.Join(scopes, " ") }

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
