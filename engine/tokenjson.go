package engine

import (
	"encoding/json"
	"reflect"
	"strconv"
)

// AppendJSON appends the token response as encoding/json would encode it
// (RFC 6749 §5.1), without reflection: the token endpoint answers every
// request with one, and encoding/json's reflection and HTML-escaping scan
// of the token cost several microseconds each time (docs/performance.md,
// "Where the server's time goes"). A field added to TokenResponse makes
// tokenResponseByHand false, and AppendJSON falls back to encoding/json
// until it writes that field too (TestTokenResponseJSON fails meanwhile).
func (r *TokenResponse) AppendJSON(b []byte) []byte {
	if !tokenResponseByHand {
		out, _ := json.Marshal(r) // strings and an integer: cannot fail
		return append(b, out...)
	}
	b = append(b, `{"access_token":`...)
	b = appendString(b, r.AccessToken)
	b = append(b, `,"token_type":`...)
	b = appendString(b, r.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, r.ExpiresIn, 10)
	if r.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendString(b, r.Scope)
	}
	if r.RefreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendString(b, r.RefreshToken)
	}
	if r.IDToken != "" {
		b = append(b, `,"id_token":`...)
		b = appendString(b, r.IDToken)
	}
	return append(b, '}')
}

// tokenResponseByHand says that AppendJSON knows every field of
// TokenResponse: the six of RFC 6749 §5.1 and OIDC it writes, and the
// Transaction, which is never encoded.
var tokenResponseByHand = reflect.TypeFor[TokenResponse]().NumField() == 7
