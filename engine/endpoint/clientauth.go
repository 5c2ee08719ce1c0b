package endpoint

import (
	"net/http"
	"net/url"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/form"
)

// ReadClientAuth reads the client authentication of a request to an
// endpoint that authenticates clients (token, PAR, revocation,
// introspection) into req: HTTP Basic (client_secret_basic), client_secret
// in the body (client_secret_post), a JWT assertion (client_assertion and
// client_assertion_type: private_key_jwt or client_secret_jwt), or
// client_id alone (none). A request may use one method only (RFC 6749
// §2.3). engine.ClientAuthenticator then checks what it read.
func ReadClientAuth(r *http.Request, params url.Values, req *engine.TokenRequest) error {
	req.AuthMethod = engine.AuthNone
	bodyID, bodySecret := params.Get("client_id"), params.Get("client_secret")
	assertion, assertionType := params.Get("client_assertion"), params.Get("client_assertion_type")
	hasAssertion := params.Has("client_assertion") || params.Has("client_assertion_type")
	if h := r.Header.Get("Authorization"); h != "" {
		req.AuthMethod = engine.AuthSecretBasic
		id, secret, err := form.BasicAuth(h)
		if err != nil {
			return engine.ErrInvalidClient.WithDescription("malformed Authorization header: use HTTP Basic with the client id and secret")
		}
		req.ClientID, req.ClientSecret = id, secret
		switch {
		case bodySecret != "" || hasAssertion:
			return engine.ErrInvalidRequest.WithDescription("use one client authentication method, not both Basic and client_secret or client_assertion")
		case bodyID != "" && bodyID != id:
			return engine.ErrInvalidRequest.WithDescription("client_id does not match the Authorization header")
		}
		return nil
	}
	req.ClientID = bodyID
	switch {
	case hasAssertion && bodySecret != "":
		return engine.ErrInvalidRequest.WithDescription("use one client authentication method, not both client_secret and client_assertion")
	case hasAssertion:
		req.AuthMethod = engine.AuthAssertion
		req.ClientAssertion, req.ClientAssertionType = assertion, assertionType
	case bodySecret != "":
		req.AuthMethod, req.ClientSecret = engine.AuthSecretPost, bodySecret
	}
	return nil
}
