package hooks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/sdk/resource"
)

// TestHooksCannotForgeIssuerClaims: a post-login hook in WebAssembly
// (testdata/forge.wat) tries to overwrite what the issuer writes in bob's
// token — the reserved claims under other letter cases, Unicode case folds
// and compatibility forms, and the RBAC permissions claim (bob may only
// read) — and to slip in names and values that do not decode the same
// everywhere. Every such op is refused and traced in the audited decision;
// the token carries bob's real claims only, and the resource-server SDK
// accepts it with them.
func TestHooksCannotForgeIssuerClaims(t *testing.T) {
	module, _ := filepath.Abs("testdata/forge.wasm")
	src := strings.Replace(string(demo.Tenant), "    rbac: true\n", "    rbac: true\n    permissions_claim: true\n", 1) + `
pipelines:
  post-login:
    hooks:
      - name: forge
        module: ` + module + "\n"
	audit := &auditLog{}
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(src), Server: server.Config{Hooks: newHost(t), Auditor: audit}})
	cfg := &oauth2.Config{
		ClientID:    "demo-spa",
		Endpoint:    oauth2.Endpoint{AuthURL: srv.URL + endpoint.PathAuthorize, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://localhost:3000/callback",
		Scopes:      []string{"read:users", "write:users"},
	}
	tok := signIn(t, srv, cfg, "bob", "bob-password")
	d := audit.Last() // the issued decision, with the sign-in's trace

	type op struct {
		op, claim string
		refused   bool
		reason    string
	}
	const folds = "reserved claim: folds to "
	want := []op{
		{"set-claim", "tier", false, "forge"},
		{"set-claim", "Tier", true, `equal to claim "tier" under case folding`},
		{"set-claim", "Scope", true, folds + `"scope"`},
		{"set-claim", "SCOPE", true, folds + `"scope"`},
		{"set-claim", "\u017fcope", true, folds + `"scope"`},
		{"set-claim", "\uff53\uff43\uff4f\uff50\uff45", true, folds + `"scope"`},
		{"set-claim", "Aud", true, folds + `"aud"`},
		{"set-claim", "Sub", true, folds + `"sub"`},
		{"set-claim", "Exp", true, folds + `"exp"`},
		{"set-claim", "Client_id", true, folds + `"client_id"`},
		{"set-claim", "Jti", true, folds + `"jti"`},
		{"set-claim", "Iss", true, folds + `"iss"`},
		{"set-claim", "Auth_Time", true, folds + `"auth_time"`},
		{"set-claim", "permissions", true, `claim "permissions" is set by the issuer on this request`},
		{"set-claim", "Permissions", true, `claim "permissions" is set by the issuer on this request`},
		{"set-claim", "permi\u017f\u017fions", true, `claim "permissions" is set by the issuer on this request`},
		{"set-claim", `"\u212aid"`, true, "claim name is not in Unicode normalization form C (NFC)"},
		{"set-claim", `"re\u0301gion"`, true, "claim name is not in Unicode normalization form C (NFC)"},
		{"set-claim", `"scope\u200b"`, true, "claim name has a control, format, space or invisible character (U+200B)"},
		{"set-claim", `"\u202escope"`, true, "claim name has a control, format, space or invisible character (U+202E)"},
		{"set-claim", `"sco\xffpe"`, true, "claim name is not valid UTF-8"},
		{"set-claim", "tier2", true, `value has an object with a duplicate member name ("a")`},
		{"set-claim", "tier3", true, "value is not valid UTF-8"},
		{"remove-claim", "permissions", true, `claim "permissions" is set by the issuer on this request`},
		{"remove-claim", "Scope", true, folds + `"scope"`},
	}
	var got []op
	for _, e := range d.Tx.Trace {
		if e.Stage == "forge" {
			got = append(got, op{string(e.Op), e.Claim, e.Refused, e.Reason})
		}
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("op %d not traced, want %#v", i, want[i])
		case i >= len(want):
			t.Errorf("op %d traced as %#v, want none", i, got[i])
		case got[i] != want[i]:
			t.Errorf("op %d traced as %#v, want %#v", i, got[i], want[i])
		}
	}

	// The token, decoded with its exact member names.
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok.AccessToken, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	names := slices.Sorted(maps.Keys(claims))
	if want := []string{"aud", "client_id", "exp", "iat", "iss", "jti", "permissions", "scope", "sub", "tier"}; !slices.Equal(names, want) {
		t.Errorf("token claims %q, want %q", names, want)
	}
	for name, want := range map[string]string{
		"sub": `"bob"`, "aud": `"https://api.example.com"`, "client_id": `"demo-spa"`,
		"scope": `"read:users"`, "permissions": `["read:users"]`, "tier": `"gold"`,
	} {
		if string(claims[name]) != want {
			t.Errorf("claim %s = %s, want %s", name, claims[name], want)
		}
	}

	// The resource-server SDK accepts it, with bob's real claims.
	v, err := resource.New(srv.Issuer, "https://api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Validate(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	var perms []string
	if ok, err := c.Custom("permissions", &perms); !ok || err != nil || !slices.Equal(perms, []string{"read:users"}) {
		t.Errorf("permissions %q (%v, %v)", perms, ok, err)
	}
	if c.Subject != "bob" || c.ClientID != "demo-spa" || !slices.Equal(c.Scopes, []string{"read:users"}) {
		t.Errorf("SDK claims: %+v", c)
	}
}
