package endpoint

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/httpx"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Metadata is the authorization server metadata (RFC 8414 §2), also served
// as OpenID Connect discovery.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint,omitempty"`
	JWKSURI                           string   `json:"jwks_uri"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
	// The revocation (RFC 7009) and introspection (RFC 7662) endpoints,
	// with the client authentication methods each accepts (RFC 8414 §2)
	// and the algorithms of signed introspection answers (RFC 9701 §7).
	RevocationEndpoint                        string   `json:"revocation_endpoint,omitempty"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint,omitempty"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	IntrospectionSigningAlgValuesSupported    []string `json:"introspection_signing_alg_values_supported,omitempty"`
	SubjectTypesSupported                     []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ClaimsSupported                           []string `json:"claims_supported,omitempty"`
	// AuthorizationResponseIssParameterSupported: authorization responses
	// carry `iss` (RFC 9207), the mix-up defence of RFC 9700 §4.4.
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	PromptValuesSupported                      []string `json:"prompt_values_supported,omitempty"`
	// RequestParameterSupported and RequestURIParameterSupported are
	// always false, and published: absent, request_uri_parameter_supported
	// means true (OpenID Connect Discovery §3), and request objects are
	// refused, by value or by reference; the only request_uri accepted is
	// one the PAR endpoint handed out.
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`
	// AccessTokenSigningAlgValuesSupported is not registered by an RFC: it
	// tells resource servers which algorithms sign access tokens, so they
	// can refuse anything else before looking at a key.
	AccessTokenSigningAlgValuesSupported []string `json:"access_token_signing_alg_values_supported"`
	ServiceDocumentation                 string   `json:"service_documentation,omitempty"`

	// TokenEndpointAuthSigningAlgValuesSupported are the algorithms of
	// client assertions (private_key_jwt, client_secret_jwt).
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	// DPoPSigningAlgValuesSupported are the algorithms of DPoP proofs
	// (RFC 9449 §5.1).
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// PushedAuthorizationRequestEndpoint (RFC 9126 §5) takes the same
	// client authentication as the token endpoint;
	// RequirePushedAuthorizationRequests is the tenant's par.required
	// (a client's own require_pushed_authorization_requests is not
	// published).
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests"`

	// The revocation (RFC 7009) and introspection (RFC 7662) endpoints'
	// entries go below, with ClientAuthMethods and ClientAuthSigningAlgs
	// as their *_auth_methods_supported and
	// *_auth_signing_alg_values_supported.
}

// NewMetadata returns the metadata document of snapshot s, for an issuer
// that answers grantTypes.
func NewMetadata(s *engine.Snapshot, grantTypes []string) *Metadata {
	t, iss := s.Tenant(), s.Issuer()
	m := &Metadata{
		Issuer:                               iss,
		AuthorizationEndpoint:                URL(iss, PathAuthorize),
		TokenEndpoint:                        URL(iss, PathToken),
		UserinfoEndpoint:                     URL(iss, PathUserinfo),
		JWKSURI:                              URL(iss, PathJWKS),
		ScopesSupported:                      append(slices.Clone(tenant.OIDCScopes), t.Scopes()...),
		ResponseTypesSupported:               []string{"code"},
		ResponseModesSupported:               []string{"query"},
		GrantTypesSupported:                  grantTypes,
		TokenEndpointAuthMethodsSupported:    ClientAuthMethods(),
		CodeChallengeMethodsSupported:        []string{"S256"},
		AccessTokenSigningAlgValuesSupported: t.AccessTokenAlgorithms(),
		ClaimsSupported: append([]string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope",
			"auth_time", "nonce", "at_hash", "email", "email_verified", "permissions"}, tenant.ProfileClaims...),
		AuthorizationResponseIssParameterSupported: true,
		PromptValuesSupported:                      []string{"none", "login", "consent"},
	}
	m.TokenEndpointAuthSigningAlgValuesSupported = ClientAuthSigningAlgs(t)
	m.DPoPSigningAlgValuesSupported = s.DPoPAlgorithms()
	m.PushedAuthorizationRequestEndpoint = URL(iss, PathPAR)
	m.RequirePushedAuthorizationRequests = t.Protocols.PAR.Required
	return m
}

// ClientAuthMethods are the client authentication methods of every
// endpoint that authenticates clients (ReadClientAuth): the token
// endpoint's, and the PAR, revocation and introspection endpoints'
// *_endpoint_auth_methods_supported alike.
func ClientAuthMethods() []string {
	return []string{tenant.AuthClientSecretBasic, tenant.AuthClientSecretPost, tenant.AuthPrivateKeyJWT, tenant.AuthClientSecretJWT, tenant.AuthNone}
}

// ClientAuthSigningAlgs are the algorithms a client assertion may be
// signed with in tenant t: the tenant's private_key_jwt algorithms, then
// HS256 for client_secret_jwt (every endpoint's
// *_endpoint_auth_signing_alg_values_supported).
func ClientAuthSigningAlgs(t *tenant.Tenant) []string {
	return append(slices.Clone(t.Protocols.ClientAssertions.Algorithms), tenant.HS256)
}

// withRevocationAndIntrospection adds the revocation and introspection
// endpoints to m: they authenticate clients as the token endpoint does
// (introspection confidential clients only).
func withRevocationAndIntrospection(m *Metadata, s *engine.Snapshot) {
	iss := s.Issuer()
	m.RevocationEndpoint = URL(iss, PathRevoke)
	m.RevocationEndpointAuthMethodsSupported = m.TokenEndpointAuthMethodsSupported
	m.IntrospectionEndpoint = URL(iss, PathIntrospect)
	m.IntrospectionEndpointAuthMethodsSupported = slices.DeleteFunc(slices.Clone(m.TokenEndpointAuthMethodsSupported),
		func(a string) bool { return a == engine.AuthNone })
	m.IntrospectionSigningAlgValuesSupported = s.Tenant().Algorithms()
}

// discoveryDocs encodes the metadata documents of s once.
func discoveryDocs(s *engine.Snapshot, grantTypes []string, revocation bool) map[string][]byte {
	t := s.Tenant()
	m := NewMetadata(s, grantTypes)
	if revocation {
		withRevocationAndIntrospection(m, s)
	}
	oauth, _ := json.Marshal(m)
	oidc := *m
	oidc.SubjectTypesSupported = []string{"public"}
	oidc.IDTokenSigningAlgValuesSupported = t.IDTokenAlgorithms()
	openid, _ := json.Marshal(&oidc)
	return map[string][]byte{"oauth": oauth, "openid": openid}
}

// handleDiscovery serves the snapshot's metadata document of kind
// (oauth: RFC 8414; openid: OpenID Connect Discovery).
func (e *Endpoints) handleDiscovery(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !httpx.GetOrHead(w, r) {
			return
		}
		s := e.acquire(w)
		if s == nil {
			return
		}
		defer s.Release()
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Content-Type", "application/json")
		w.Write(e.docs.Of(s)[kind])
	}
}
