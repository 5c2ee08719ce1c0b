package engine_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/endpoint"
)

// Hostile requests to the HTTP endpoints and pages, each the regression
// test of a defect an adversarial review found.

// /userinfo took a revoked access token: the denylist that introspection
// and token exchange consult was not consulted, so a client (or whoever
// stole the token) kept reading the user's claims after revoking it.
func TestUserinfoRefusesRevokedAccessTokens(t *testing.T) {
	srv, _ := startStd(t)
	cfg := spaConfig(srv, "openid", "read:users")
	code, verifier := codeFor(t, srv, cfg, "alice", "alice-password")
	status, body := tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "client_id": {"demo-spa"},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {spaCallback}})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, body)
	}
	access := body["access_token"].(string)
	userinfo := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+endpoint.PathUserinfo, nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if status, _ := userinfo(); status != http.StatusOK {
		t.Fatalf("userinfo before revocation: %d", status)
	}
	if status := revoke(t, srv, "demo-spa", "", access, "access_token"); status != http.StatusOK {
		t.Fatalf("revoke: %d", status)
	}
	if status, challenge := userinfo(); status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Errorf("userinfo with a revoked token: %d %q, want 401 invalid_token", status, challenge)
	}
}
