package grant

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"regexp"

	"github.com/scopeline/scopeline/engine"
)

// A code_verifier (RFC 7636 §4.1).
var validVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// checkPKCE verifies a code_verifier against the code's S256 challenge
// (RFC 7636 §4.6), and refuses a verifier for a code issued without a
// challenge: the PKCE downgrade of RFC 9700 §2.1.1.
func checkPKCE(challenge, verifier string) error {
	switch {
	case challenge == "" && verifier != "":
		return engine.ErrInvalidGrant.WithDescription("code_verifier sent, but the authorization request had no code_challenge (PKCE downgrade refused)")
	case challenge == "":
		return nil
	case verifier == "":
		return engine.ErrInvalidGrant.WithDescription("code_verifier is required: the authorization request had a code_challenge")
	case !validVerifier.MatchString(verifier):
		return engine.ErrInvalidGrant.WithDescription("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return engine.ErrInvalidGrant.WithDescription("code_verifier does not match the code_challenge")
	}
	return nil
}
