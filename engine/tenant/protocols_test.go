package tenant_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

// jwksJSON is a key set of one P-256 key, as a client would publish it.
var jwksJSON, rsaJWKSJSON = func() (string, string) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	enc := func(pub any) string {
		j, err := jwk.FromPublicKey(pub, "", "k1")
		if err != nil {
			panic(err)
		}
		raw, _ := json.Marshal(map[string]any{"keys": []any{j}})
		return string(raw)
	}
	return enc(&ec.PublicKey), enc(&r.PublicKey)
}()

const secret32 = "0123456789abcdef0123456789abcdef"

func lookupEnv(k string) (string, bool) {
	switch k {
	case "JWT_SECRET":
		return secret32, true
	case "OLD_JWT_SECRET":
		return secret32 + "-old", true
	case "SHORT_SECRET":
		return "short", true
	}
	return "", false
}

const protocolsTenant = `
apis:
  - identifier: https://users
    access_token_denylist: true
    scopes: [{name: read:users}, {name: write:users}]
  - identifier: https://billing
    scopes: [{name: read:invoices}, {name: read:users}]
clients:
  - id: svc-key
    type: m2m
    token_endpoint_auth_method: private_key_jwt
    token_endpoint_auth_signing_alg: ES256
    jwks: JWKS
  - id: svc-uri
    type: m2m
    token_endpoint_auth_method: private_key_jwt
    jwks_uri: https://svc.example.com/.well-known/jwks.json?v=2
    introspect: [https://users, https://billing]
    revoke: [https://users]
    introspection_signed_response_alg: ES256
  - id: svc-hmac
    type: web
    redirect_uris: [https://app.example.com/cb]
    token_endpoint_auth_method: client_secret_jwt
    secret_env: [JWT_SECRET, OLD_JWT_SECRET]
    require_pushed_authorization_requests: true
    require_dpop: true
  - id: svc-post
    type: m2m
    token_endpoint_auth_method: client_secret_post
    secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]
  - id: spa
    type: spa
    redirect_uris: [https://app.example.com/cb]
    require_dpop: true
client_assertions:
  max_lifetime: 2m
  clock_skew: 0s
  signing_algorithms: [ES256, EdDSA, PS256]
dpop:
  signing_algorithms: [ES256, EdDSA]
  nonce: true
  nonce_period: 2m
  iat_window: 30s
  clock_skew: 5s
  replay_cache_size: 5000
par:
  lifetime: 90s
  required: true
token_exchange:
  - client: svc-uri
    from: [https://users]
    to: https://billing
    scopes: [read:invoices, read:users]
    subjects: [user, client]
    cap_by_subject_scopes: false
    actors: [svc-uri, svc-key]
    require_actor: true
    require_may_act: true
  - client: svc-key
    from: https://billing
    to: https://users
    scopes: [read:users]
`

func TestProtocolSettings(t *testing.T) {
	tn, err := tenant.Parse([]byte(strings.Replace(protocolsTenant, "JWKS", jwksJSON, 1)), "t.yaml", ".", tenant.WithLookupEnv(lookupEnv))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := tn.Client("svc-key")
	if key.Auth.Method != tenant.AuthPrivateKeyJWT || key.Auth.SigningAlgorithm != "ES256" || key.Auth.JWKS == nil ||
		len(key.Auth.JWKS.Keys) != 1 || key.Auth.JWKSURI != "" || key.HasSecret() || !key.Auth.UsesAssertion() {
		t.Errorf("svc-key auth = %+v", key.Auth)
	}
	if !key.Auth.Accepts(tenant.AuthPrivateKeyJWT) || key.Auth.Accepts(tenant.AuthClientSecretBasic) || key.Auth.Accepts(tenant.AuthClientSecretJWT) {
		t.Error("svc-key accepts the wrong methods")
	}
	uri, _ := tn.Client("svc-uri")
	if uri.Auth.JWKSURI != "https://svc.example.com/.well-known/jwks.json?v=2" || uri.Auth.JWKS != nil {
		t.Errorf("svc-uri auth = %+v", uri.Auth)
	}
	if !uri.Introspection.MayIntrospect("https://billing") || !uri.Introspection.MayRevoke("https://users") ||
		uri.Introspection.MayRevoke("https://billing") || uri.Introspection.SignedResponseAlg != "ES256" {
		t.Errorf("svc-uri introspection = %+v", uri.Introspection)
	}
	hmac, _ := tn.Client("svc-hmac")
	if hmac.Auth.Method != tenant.AuthClientSecretJWT || len(hmac.Auth.JWTSecrets) != 2 || hmac.Auth.JWTSecrets[0].Reveal() != secret32 ||
		!hmac.RequireDPoP || !hmac.RequirePAR {
		t.Errorf("svc-hmac = %+v", hmac)
	}
	post, _ := tn.Client("svc-post")
	if post.Auth.Method != tenant.AuthClientSecretPost || !post.Auth.Accepts(tenant.AuthClientSecretBasic) || post.Auth.Accepts(tenant.AuthPrivateKeyJWT) {
		t.Errorf("svc-post auth = %+v", post.Auth)
	}
	spa, _ := tn.Client("spa")
	if spa.Auth.Method != tenant.AuthNone || !spa.RequireDPoP || spa.RequirePAR {
		t.Errorf("spa = %+v", spa)
	}
	users, _ := tn.API("https://users")
	billing, _ := tn.API("https://billing")
	if !users.AccessTokenDenylist || billing.AccessTokenDenylist {
		t.Error("access_token_denylist")
	}
	p := tn.Protocols
	if p.ClientAssertions.MaxLifetime != 2*time.Minute || p.ClientAssertions.ClockSkew != 0 ||
		!slices.Equal(p.ClientAssertions.Algorithms, []string{"ES256", "EdDSA", "PS256"}) || p.ClientAssertions.ReplayCacheSize != tenant.DefaultReplayCacheSize {
		t.Errorf("client assertions = %+v", p.ClientAssertions)
	}
	if !slices.Equal(p.DPoP.Algorithms, []string{"ES256", "EdDSA"}) || !p.DPoP.Nonce || p.DPoP.NoncePeriod != 2*time.Minute ||
		p.DPoP.IATWindow != 30*time.Second || p.DPoP.ClockSkew != 5*time.Second || p.DPoP.ReplayCacheSize != 5000 {
		t.Errorf("dpop = %+v", p.DPoP)
	}
	if p.PAR.Lifetime != 90*time.Second || !p.PAR.Required {
		t.Errorf("par = %+v", p.PAR)
	}
	x, ok := tn.TokenExchange("svc-uri", "https://users", "https://billing")
	if !ok || x.Client != uri || x.To != billing || !slices.Equal(x.Scopes, []string{"read:invoices", "read:users"}) ||
		x.CapBySubjectScopes || !x.ForUser || !x.ForClient || !x.MayAct("svc-key") || x.MayAct("spa") || !x.RequireActor || !x.RequireMayAct {
		t.Errorf("exchange = %+v", x)
	}
	if !x.Allows("read:users") || x.Allows("write:users") {
		t.Error("exchange ceiling")
	}
	if _, ok := tn.TokenExchange("svc-uri", "https://billing", "https://users"); ok {
		t.Error("an exchange the other way round")
	}
	if _, ok := tn.TokenExchange("svc-key", "https://users", "https://billing"); ok {
		t.Error("another client's exchange")
	}
	y, ok := tn.TokenExchange("svc-key", "https://billing", "https://users")
	if !ok || !y.CapBySubjectScopes || !y.ForUser || y.ForClient || len(y.Actors) != 0 || y.RequireActor || y.RequireMayAct {
		t.Errorf("default exchange = %+v", y)
	}
}

func TestProtocolDefaults(t *testing.T) {
	tn, err := tenant.Parse([]byte(base+"  - id: s\n    type: spa\n    redirect_uris: [https://a/cb]\n"), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := tn.Client("c1")
	s, _ := tn.Client("s")
	if c1.Auth.Method != tenant.AuthClientSecretBasic || s.Auth.Method != tenant.AuthNone || c1.RequireDPoP || c1.Introspection.Introspect != nil {
		t.Errorf("defaults: %+v %+v", c1.Auth, s.Auth)
	}
	p := tn.Protocols
	if p.ClientAssertions.MaxLifetime != tenant.DefaultAssertionMaxLifetime || p.ClientAssertions.ClockSkew != tenant.DefaultAssertionClockSkew ||
		!slices.Equal(p.ClientAssertions.Algorithms, tenant.AssertionAlgorithms) ||
		p.DPoP.Nonce || p.DPoP.IATWindow != tenant.DefaultDPoPIATWindow || len(p.DPoP.Algorithms) != 4 ||
		p.PAR.Lifetime != tenant.DefaultPARLifetime || p.PAR.Required || len(p.TokenExchanges) != 0 {
		t.Errorf("defaults: %+v", p)
	}
}

func TestProtocolErrors(t *testing.T) {
	const apis = "apis:\n  - identifier: https://a\n    scopes: [{name: r}]\n  - identifier: https://b\n    scopes: [{name: s}]\n"
	const digest = `["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]`
	m2m := func(extra string) string {
		return apis + "clients:\n  - id: c\n    type: m2m\n" + extra
	}
	spa := apis + "clients:\n  - id: s\n    type: spa\n    redirect_uris: [https://a/cb]\n"
	withKeyClient := m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks: " + jwksJSON + "\n")
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unknown method", m2m("    secrets: " + digest + "\n    token_endpoint_auth_method: tls_client_auth\n"), `t.yaml:10: clients[0].token_endpoint_auth_method: unknown method "tls_client_auth"`},
		{"confidential with none", m2m("    secrets: " + digest + "\n    token_endpoint_auth_method: none\n"), "t.yaml:10: clients[0].token_endpoint_auth_method: a m2m client is confidential"},
		{"public with a key", spa + "    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: https://x/jwks\n", "t.yaml:10: clients[0].token_endpoint_auth_method: a spa client is public"},
		{"secret client without secret", m2m("    token_endpoint_auth_method: client_secret_post\n"), "clients[0].secrets: a m2m client needs at least one secret digest"},
		{"key client with a secret", m2m("    secrets: " + digest + "\n    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: https://x/jwks\n"), "t.yaml:9: clients[0].secrets: a private_key_jwt client authenticates with assertions only"},
		{"key client without keys", m2m("    token_endpoint_auth_method: private_key_jwt\n"), "t.yaml:9: clients[0].token_endpoint_auth_method: a private_key_jwt client needs exactly one of jwks and jwks_uri"},
		{"key client with both", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: https://x/jwks\n    jwks: " + jwksJSON + "\n"), "exactly one of jwks and jwks_uri"},
		{"jwks on a secret client", m2m("    secrets: " + digest + "\n    jwks: " + jwksJSON + "\n"), "t.yaml:10: clients[0].jwks: a key set is only for token_endpoint_auth_method: private_key_jwt"},
		{"jwks_uri on a secret client", m2m("    secrets: " + digest + "\n    jwks_uri: https://x/jwks\n"), "t.yaml:10: clients[0].jwks_uri: a key set is only for"},
		{"http jwks_uri", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: http://x.example.com/jwks\n"), "t.yaml:10: clients[0].jwks_uri: \"http://x.example.com/jwks\" must use https"},
		{"jwks_uri with a fragment", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: https://x/jwks#k\n"), "must not have a fragment"},
		{"relative jwks_uri", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: /jwks\n"), "must be an absolute URL"},
		{"jwks_uri with user info", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: https://u:p@x/jwks\n"), "user information"},
		{"jwks not a set", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks: {kty: EC}\n"), "t.yaml:10: clients[0].jwks: a JWK Set needs a keys member"},
		{"jwks empty", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks: {keys: []}\n"), "clients[0].jwks: the key set has no key"},
		{"jwks with a private key", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks: {keys: [{kty: EC, crv: P-256, x: a, y: b, d: c, kid: priv}]}\n"), "t.yaml:10: clients[0].jwks: key 0 (kid priv): the key holds private key material"},
		{"RSA jwks for ES256", m2m("    token_endpoint_auth_method: private_key_jwt\n    token_endpoint_auth_signing_alg: ES256\n    jwks: " + rsaJWKSJSON + "\n"), "clients[0].jwks: no key of jwks can verify ES256"},
		{"jwks with a symmetric key", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks: {keys: [{kty: oct, k: c2VjcmV0}]}\n"), "symmetric keys are not accepted"},
		{"signing alg no key verifies", m2m("    token_endpoint_auth_method: private_key_jwt\n    token_endpoint_auth_signing_alg: EdDSA\n    jwks: " + jwksJSON + "\n"), "t.yaml:11: clients[0].jwks: no key of jwks can verify EdDSA"},
		{"signing alg HS256 for keys", m2m("    token_endpoint_auth_method: private_key_jwt\n    token_endpoint_auth_signing_alg: HS256\n    jwks_uri: https://x/j\n"), `t.yaml:10: clients[0].token_endpoint_auth_signing_alg: unsupported algorithm "HS256"`},
		{"signing alg none", m2m("    token_endpoint_auth_method: private_key_jwt\n    token_endpoint_auth_signing_alg: none\n    jwks_uri: https://x/j\n"), `unsupported algorithm "none"`},
		{"signing alg for a secret", m2m("    secrets: " + digest + "\n    token_endpoint_auth_signing_alg: ES256\n"), "only for private_key_jwt and client_secret_jwt"},
		{"signing alg not HS256 for hmac", m2m("    token_endpoint_auth_method: client_secret_jwt\n    secret_env: JWT_SECRET\n    token_endpoint_auth_signing_alg: RS256\n"), "client_secret_jwt assertions are signed with HS256"},
		{"signing alg outside the tenant's", withKeyClient + "    token_endpoint_auth_signing_alg: ES256\nclient_assertions:\n  signing_algorithms: [EdDSA]\n", "clients[0].token_endpoint_auth_signing_alg: ES256 is not among client_assertions.signing_algorithms"},
		{"hmac without secret_env", m2m("    token_endpoint_auth_method: client_secret_jwt\n"), "t.yaml:9: clients[0].token_endpoint_auth_method: a client_secret_jwt client needs secret_env"},
		{"hmac env unset", m2m("    token_endpoint_auth_method: client_secret_jwt\n    secret_env: UNSET\n"), "t.yaml:10: clients[0].secret_env[0]: environment variable UNSET is not set"},
		{"hmac secret short", m2m("    token_endpoint_auth_method: client_secret_jwt\n    secret_env: [JWT_SECRET, SHORT_SECRET]\n"), "clients[0].secret_env[1]: the secret in SHORT_SECRET has 5 bytes; HS256 needs at least 32"},
		{"hmac with digests", m2m("    secrets: " + digest + "\n    token_endpoint_auth_method: client_secret_jwt\n    secret_env: JWT_SECRET\n"), "clients[0].secrets: a client_secret_jwt client authenticates with assertions only"},
		{"secret_env on a key client", m2m("    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: https://x/j\n    secret_env: JWT_SECRET\n"), "t.yaml:11: clients[0].secret_env: secret_env is only for token_endpoint_auth_method: client_secret_jwt"},
		{"par on m2m", m2m("    secrets: " + digest + "\n    require_pushed_authorization_requests: true\n"), "t.yaml:10: clients[0].require_pushed_authorization_requests: an m2m client makes no authorization requests"},
		{"introspect unknown API", m2m("    secrets: " + digest + "\n    introspect: [https://a, https://z]\n"), `t.yaml:10: clients[0].introspect[1]: no API has the identifier "https://z"`},
		{"introspect twice", m2m("    secrets: " + digest + "\n    introspect: [https://a, https://a]\n"), `clients[0].introspect[1]: API "https://a" is listed twice`},
		{"revoke unknown API", m2m("    secrets: " + digest + "\n    revoke: [https://z]\n"), `clients[0].revoke[0]: no API has the identifier "https://z"`},
		{"public client introspects", spa + "    introspect: [https://a]\n", "t.yaml:10: clients[0].introspect: a spa client is public"},
		{"introspection alg without introspect", m2m("    secrets: " + digest + "\n    introspection_signed_response_alg: ES256\n"), "clients[0].introspection_signed_response_alg: the client may introspect no token"},
		{"introspection alg HS256", m2m("    secrets: " + digest + "\n    introspect: [https://a]\n    introspection_signed_response_alg: HS256\n"), `introspection_signed_response_alg: unsupported algorithm "HS256"`},
		{"unknown client field", m2m("    secrets: " + digest + "\n    dpop_bound: true\n"), "t.yaml:10: dpop_bound: unknown field in a client"},
		{"assertion lifetime too long", apis + "client_assertions:\n  max_lifetime: 2h\n", "t.yaml:7: client_assertions.max_lifetime: must be between 1s and 1h0m0s"},
		{"assertion skew too long", apis + "client_assertions:\n  clock_skew: 10m\n", "client_assertions.clock_skew: clock_skew must be between 0 and 5m0s"},
		{"assertion algs empty", apis + "client_assertions:\n  signing_algorithms: []\n", "client_assertions.signing_algorithms: list at least one algorithm"},
		{"assertion alg HS256", apis + "client_assertions:\n  signing_algorithms: [ES256, HS256]\n", `t.yaml:7: client_assertions.signing_algorithms[1]: unsupported algorithm "HS256"`},
		{"assertion alg twice", apis + "client_assertions:\n  signing_algorithms: [ES256, ES256]\n", "signing_algorithms[1]: ES256 is listed twice"},
		{"assertion cache tiny", apis + "client_assertions:\n  replay_cache_size: 10\n", "client_assertions.replay_cache_size: must be between 1000"},
		{"unknown assertion field", apis + "client_assertions:\n  max_age: 1m\n", "t.yaml:7: max_age: unknown field in client_assertions"},
		{"dpop alg none", apis + "dpop:\n  signing_algorithms: [none]\n", `t.yaml:7: dpop.signing_algorithms[0]: unsupported algorithm "none"`},
		{"dpop alg HS256", apis + "dpop:\n  signing_algorithms: [HS256]\n", `dpop.signing_algorithms[0]: unsupported algorithm "HS256"`},
		{"dpop window long", apis + "dpop:\n  iat_window: 1h\n", "t.yaml:7: dpop.iat_window: must be between 1s and 10m0s"},
		{"dpop nonce period short", apis + "dpop:\n  nonce_period: 10ms\n", "dpop.nonce_period: must be between 1s and 1h0m0s"},
		{"dpop skew negative", apis + "dpop:\n  clock_skew: -1s\n", "dpop.clock_skew: clock_skew must be between 0 and 5m0s"},
		{"dpop cache huge", apis + "dpop:\n  replay_cache_size: 100000000\n", "dpop.replay_cache_size: must be between 1000 and 10000000"},
		{"par lifetime long", apis + "par:\n  lifetime: 1h\n", "t.yaml:7: par.lifetime: must be between 5s and 10m0s"},
		{"par lifetime fraction", apis + "par:\n  lifetime: 5500ms\n", "par.lifetime: lifetime must be a whole number of seconds"},
		{"exchange unknown client", apis + "token_exchange:\n  - {client: x, from: https://a, to: https://b, scopes: [s]}\n", `t.yaml:7: token_exchange[0].client: no client has the id "x"`},
		{"exchange public client", spa + "token_exchange:\n  - {client: s, from: https://a, to: https://b, scopes: [s]}\n", "token_exchange[0].client: a spa client is public"},
		{"exchange unknown to", withKeyClient + "token_exchange:\n  - {client: c, from: https://a, to: https://z, scopes: [s]}\n", `token_exchange[0].to: no API has the identifier "https://z"`},
		{"exchange unknown from", withKeyClient + "token_exchange:\n  - {client: c, from: [https://a, https://z], to: https://b, scopes: [s]}\n", `token_exchange[0].from[1]: no API has the identifier "https://z"`},
		{"exchange no from", withKeyClient + "token_exchange:\n  - {client: c, to: https://b, scopes: [s]}\n", "token_exchange[0].from: name the API"},
		{"exchange undefined scope", withKeyClient + "token_exchange:\n  - {client: c, from: https://a, to: https://b, scopes: [s, r]}\n", `token_exchange[0].scopes[1]: API "https://b" does not define scope "r"`},
		{"exchange no ceiling", withKeyClient + "token_exchange:\n  - {client: c, from: https://a, to: https://b}\n", "token_exchange[0].scopes: a token exchange needs a scope ceiling"},
		{"exchange bad subject", withKeyClient + "token_exchange:\n  - {client: c, from: https://a, to: https://b, scopes: [s], subjects: [robot]}\n", `token_exchange[0].subjects[0]: unknown subject "robot"`},
		{"exchange bad actor", withKeyClient + "token_exchange:\n  - {client: c, from: https://a, to: https://b, scopes: [s], actors: [' x']}\n", "token_exchange[0].actors[0]: an actor is a subject"},
		{"exchange actor twice", withKeyClient + "token_exchange:\n  - {client: c, from: https://a, to: https://b, scopes: [s], actors: [x, x]}\n", `token_exchange[0].actors[1]: actor "x" is listed twice`},
		{"exchange require actor without actors", withKeyClient + "token_exchange:\n  - {client: c, from: https://a, to: https://b, scopes: [s], require_actor: true}\n", "token_exchange[0].require_actor: require_actor needs actors"},
		{"exchange twice", withKeyClient + "token_exchange:\n  - {client: c, from: https://a, to: https://b, scopes: [s]}\n  - {client: c, from: [https://b, https://a], to: https://b, scopes: [s]}\n", `token_exchange[1].from: client "c" may already exchange tokens of "https://a" for "https://b"`},
		{"exchange unknown field", withKeyClient + "token_exchange:\n  - {client: c, from: https://a, to: https://b, scopes: [s], audience: x}\n", "t.yaml:12: audience: unknown field in a token exchange"},
		{"api denylist not bool", "apis:\n  - identifier: a\n    access_token_denylist: sometimes\n", "t.yaml:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tenant.Parse([]byte(tt.yaml), "t.yaml", t.TempDir(), tenant.WithLookupEnv(lookupEnv))
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

// TestJWTSecretsRedacted checks a client_secret_jwt secret never prints.
func TestJWTSecretsRedacted(t *testing.T) {
	tn, err := tenant.Parse([]byte(strings.Replace(protocolsTenant, "JWKS", jwksJSON, 1)), "t.yaml", ".", tenant.WithLookupEnv(lookupEnv))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := tn.Client("svc-hmac")
	out, _ := json.Marshal(c.Auth)
	if strings.Contains(string(out), secret32) {
		t.Errorf("secret in %s", out)
	}
}

// TestOpenIDClientTenant checks the tenant of the openid-client test
// loads, and that its clients' key is the test's private key.
func TestOpenIDClientTenant(t *testing.T) {
	tn, err := tenant.Load("../../examples/clients/openid-client/tenant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../examples/clients/openid-client/test-client-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := jwk.Thumbprint(priv.(crypto.Signer).Public())
	for _, id := range []string{"node-m2m", "node-web"} {
		c, _ := tn.Client(id)
		if c.Auth.Method != tenant.AuthPrivateKeyJWT || c.Auth.JWKS.Keys[0].Thumbprint != want || c.Auth.JWKS.Keys[0].ID != "node-test-key" {
			t.Errorf("%s: %+v", id, c.Auth)
		}
	}
	if _, ok := tn.TokenExchange("node-m2m", "https://api.example.com", "https://billing.example.com"); !ok {
		t.Error("no token exchange")
	}
}
