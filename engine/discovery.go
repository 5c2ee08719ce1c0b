package engine

import (
	"encoding/json"

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
		TokenEndpoint:                        i.endpoint(PathToken),
		JWKSURI:                              i.endpoint(PathJWKS),
		ScopesSupported:                      t.Scopes(),
		ResponseTypesSupported:               []string{},
		GrantTypesSupported:                  []string{GrantClientCredentials},
		TokenEndpointAuthMethodsSupported:    []string{AuthSecretBasic, AuthSecretPost},
		AccessTokenSigningAlgValuesSupported: t.Algorithms(),
		ClaimsSupported:                      []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"},
	}
}

func (i *Issuer) discoveryDocs(t *tenant.Tenant) map[string][]byte {
	m := i.Metadata(t)
	oauth, _ := json.Marshal(m)
	oidc := *m
	oidc.SubjectTypesSupported = []string{"public"}
	oidc.IDTokenSigningAlgValuesSupported = t.Algorithms()
	openid, _ := json.Marshal(&oidc)
	return map[string][]byte{"oauth": oauth, "openid": openid}
}
