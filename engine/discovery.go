package engine

import (
	"encoding/json"
	"slices"

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
	SubjectTypesSupported             []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ClaimsSupported                   []string `json:"claims_supported,omitempty"`
	// AuthorizationResponseIssParameterSupported: authorization responses
	// carry `iss` (RFC 9207), the mix-up defence of RFC 9700 §4.4.
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	PromptValuesSupported                      []string `json:"prompt_values_supported,omitempty"`
	// RequestParameterSupported and RequestURIParameterSupported are
	// always false, and published: absent, request_uri_parameter_supported
	// means true (OpenID Connect Discovery §3), and both request objects
	// and request_uri are refused.
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`
	// AccessTokenSigningAlgValuesSupported is not registered by an RFC: it
	// tells resource servers which algorithms sign access tokens, so they
	// can refuse anything else before looking at a key.
	AccessTokenSigningAlgValuesSupported []string `json:"access_token_signing_alg_values_supported"`
	ServiceDocumentation                 string   `json:"service_documentation,omitempty"`
}

// Metadata returns the metadata document for tenant t.
func (i *Issuer) Metadata(t *tenant.Tenant) *Metadata {
	return &Metadata{
		Issuer:                               i.issuer,
		AuthorizationEndpoint:                i.endpoint(PathAuthorize),
		TokenEndpoint:                        i.endpoint(PathToken),
		UserinfoEndpoint:                     i.endpoint(PathUserinfo),
		JWKSURI:                              i.endpoint(PathJWKS),
		ScopesSupported:                      append(slices.Clone(tenant.OIDCScopes), t.Scopes()...),
		ResponseTypesSupported:               []string{"code"},
		ResponseModesSupported:               []string{"query"},
		GrantTypesSupported:                  []string{GrantAuthorizationCode, GrantClientCredentials, GrantRefreshToken},
		TokenEndpointAuthMethodsSupported:    []string{AuthSecretBasic, AuthSecretPost, AuthNone},
		CodeChallengeMethodsSupported:        []string{"S256"},
		AccessTokenSigningAlgValuesSupported: t.AccessTokenAlgorithms(),
		ClaimsSupported: append([]string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope",
			"auth_time", "nonce", "at_hash", "email", "email_verified", "permissions"}, tenant.ProfileClaims...),
		AuthorizationResponseIssParameterSupported: true,
		PromptValuesSupported:                      []string{"none", "login", "consent"},
	}
}

func (i *Issuer) discoveryDocs(t *tenant.Tenant) map[string][]byte {
	m := i.Metadata(t)
	oauth, _ := json.Marshal(m)
	oidc := *m
	oidc.SubjectTypesSupported = []string{"public"}
	oidc.IDTokenSigningAlgValuesSupported = t.IDTokenAlgorithms()
	openid, _ := json.Marshal(&oidc)
	return map[string][]byte{"oauth": oauth, "openid": openid}
}
