package engine_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
)

// FuzzStandardEndpoints sends arbitrary bodies to the token exchange, the
// introspection and the revocation endpoints, authenticated as the
// gateway of stdTenant: never a server error, always a JSON answer
// (revocation: an empty 200 or a JSON error), and introspection never
// says active for anything but the genuine token among the seeds.
func FuzzStandardEndpoints(f *testing.F) {
	tn, err := tenant.Parse([]byte(stdTenant(f)), "t.yaml", ".")
	if err != nil {
		f.Fatal(err)
	}
	ks, err := keys.NewStore(f.TempDir()).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		f.Fatal(err)
	}
	iss, err := server.New(context.Background(), tn, ks, server.Config{Issuer: "http://127.0.0.1/", Hooks: &goLoader{hooks: map[string]func(engine.View) (*engine.HookResult, error){
		"see": func(engine.View) (*engine.HookResult, error) { return nil, nil },
	}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { iss.Close() })
	h := iss.Handler()
	tok, err := iss.Token(context.Background(), &engine.TokenRequest{GrantType: engine.GrantClientCredentials, ClientID: "worker",
		ClientSecret: secret, AuthMethod: engine.AuthSecretBasic, Audience: usersAPI})
	if err != nil {
		f.Fatal(err)
	}
	genuine := tok.AccessToken
	for _, seed := range []string{
		"subject_token=" + genuine + "&subject_token_type=" + url.QueryEscape(engine.TokenTypeAccessToken) + "&audience=" + url.QueryEscape(billingAPI),
		"subject_token=" + genuine[:len(genuine)-3] + "abc&subject_token_type=urn:ietf:params:oauth:token-type:jwt&resource=" + url.QueryEscape(auditAPI),
		"token=" + genuine + "&token_type_hint=access_token",
		"token=a.b.c&actor_token=x&actor_token_type=y",
		"token=%FF%00&scope=%20",
	} {
		for path := range 3 {
			f.Add(uint8(path), seed)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		path := []string{endpoint.PathToken, endpoint.PathIntrospect, endpoint.PathRevoke}[int(which)%3]
		if path == endpoint.PathToken {
			body = "grant_type=" + url.QueryEscape(engine.GrantTokenExchange) + "&" + body
		}
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("gateway", secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s: %d %s for %q", path, w.Code, w.Body, body)
		}
		if path == endpoint.PathRevoke && w.Code == 200 {
			if w.Body.Len() != 0 {
				t.Fatalf("revocation answered 200 with %q", w.Body)
			}
			return
		}
		var answer map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%s: %d %q is not JSON, for %q", path, w.Code, w.Body, body)
		}
		if path == endpoint.PathIntrospect && answer["active"] == true {
			if form, _ := url.ParseQuery(body); form.Get("token") != genuine {
				t.Fatalf("active for %q", body)
			}
		}
	})
}
