package hooks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/hooks"
	"github.com/scopeline/scopeline/plugins"
)

// The post-login trigger runs real WebAssembly plugins in the end-user
// flow: one copies the user's metadata into a claim, one denies write
// scopes, and a deny comes back to the client as error=access_denied.
func TestPostLoginPluginsInTheAuthorizationCodeFlow(t *testing.T) {
	src := string(demo.Tenant) + `
pipelines:
  post-login:
    hooks:
      - name: department
        plugin: claims-from-metadata
        config:
          claims: {department: user.department}
      - name: read-only-users
        plugin: deny-scopes
        config:
          scopes: ["write:*"]
          on_match: deny
`
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(src), Server: server.Config{Hooks: newHost(t, hooks.WithPlugins(plugins.Lookup))}})
	cfg := func(scopes ...string) *oauth2.Config {
		return &oauth2.Config{
			ClientID:    "demo-spa",
			Endpoint:    oauth2.Endpoint{AuthURL: srv.URL + endpoint.PathAuthorize, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
			RedirectURL: "http://localhost:3000/callback",
			Scopes:      scopes,
		}
	}

	// Allowed: the claim from alice's metadata lands in her access token.
	tok := signIn(t, srv, cfg("openid", "read:users"), "alice", "alice-password")
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok.AccessToken, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	if claims["department"] != "engineering" || claims["scope"] != "openid read:users" || claims["sub"] != "alice" {
		t.Errorf("claims = %v", claims)
	}

	// Denied by the second hook: the client gets access_denied and the reason.
	c := cfg("openid", "read:users", "write:users")
	loc := enginetest.NewBrowser(t, srv.URL).SignIn(c.AuthCodeURL("s2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice", "alice-password")
	q := loc.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "s2" || q.Get("code") != "" {
		t.Fatalf("redirect = %s, want error=access_denied", loc)
	}
	if !strings.Contains(q.Get("error_description"), "write:users") {
		t.Errorf("error_description %q does not give the hook's reason", q.Get("error_description"))
	}
}

// signIn signs user in through c's authorization-code flow with PKCE and
// returns the tokens.
func signIn(t *testing.T, srv *enginetest.Server, c *oauth2.Config, user, password string) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	loc := enginetest.NewBrowser(t, srv.URL).SignIn(c.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), user, password)
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	tok, err := c.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
