package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
)

// fuzzIssuer serves the demo tenant with a clock that moves a second per
// request, so throttles never hide what the fuzzer sends.
func fuzzIssuer(f *testing.F) http.Handler {
	tn, err := tenant.Parse(demo.Tenant, "t.yaml", ".")
	if err != nil {
		f.Fatal(err)
	}
	ks, err := keys.NewStore(f.TempDir()).Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		f.Fatal(err)
	}
	var tick atomic.Int64
	start := time.Now()
	iss, err := server.New(context.Background(), tn, ks, server.Config{Issuer: "http://127.0.0.1/",
		Now: func() time.Time { return start.Add(time.Duration(tick.Add(1)) * time.Second) }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { iss.Close() })
	return iss.Handler()
}

// FuzzAuthorize sends arbitrary query strings to /authorize: the answer is
// never a server error, and a redirect only ever goes to a registered
// redirect URI or to the login page.
func FuzzAuthorize(f *testing.F) {
	h := fuzzIssuer(f)
	for _, seed := range []string{
		"response_type=code&client_id=demo-spa&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&scope=openid%20read:users&state=x",
		"response_type=code&client_id=demo-spa&redirect_uri=http://localhost:3000/callback&prompt=none",
		"client_id=demo-spa&redirect_uri=https://evil.example/&response_type=code",
		"response_type=token&client_id=demo-spa&max_age=-1&resource=urn:x&resource=urn:y",
		"%zz=1&client_id=%00",
		"client_id=demo-spa&request_uri=urn:ietf:params:oauth:request_uri:abc",
		"response_type=code&client_id=demo-spa&dpop_jkt=x&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/authorize", nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%d for %q", w.Code, query)
		}
		if loc := w.Header().Get("Location"); loc != "" &&
			!strings.HasPrefix(loc, "http://localhost:3000/callback?") && !strings.HasPrefix(loc, "/login?request=") {
			t.Fatalf("redirect to %q for %q", loc, query)
		}
	})
}

// FuzzPAR sends arbitrary bodies, with an arbitrary DPoP header, to the
// PAR endpoint: always a JSON answer, never a server error, and a
// request_uri only in a 201.
func FuzzPAR(f *testing.F) {
	h := fuzzIssuer(f)
	f.Add("response_type=code&client_id=demo-spa&redirect_uri=http://localhost:3000/callback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&scope=openid", "")
	f.Add("response_type=code&client_id=demo-m2m&client_secret=demo-m2m-secret", "")
	f.Add("client_id=demo-spa&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.")
	f.Add("request_uri=urn:ietf:params:oauth:request_uri:x&client_id=demo-spa&dpop_jkt=%00", "x")
	f.Fuzz(func(t *testing.T, body, proof string) {
		r := httptest.NewRequest(http.MethodPost, endpoint.PathPAR, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var out map[string]any
		if w.Code >= 500 || json.Unmarshal(w.Body.Bytes(), &out) != nil {
			t.Fatalf("%d %s for %q", w.Code, w.Body, body)
		}
		if uri, _ := out["request_uri"].(string); (w.Code == http.StatusCreated) != strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") {
			t.Fatalf("%d %s for %q", w.Code, w.Body, body)
		}
	})
}

// FuzzUserGrants sends arbitrary bodies with the end-user grant types to
// the token endpoint: always a JSON OAuth answer, never a server error.
func FuzzUserGrants(f *testing.F) {
	h := fuzzIssuer(f)
	f.Add("authorization_code", "code=abc&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&client_id=demo-spa&redirect_uri=http://localhost:3000/callback")
	f.Add("refresh_token", "refresh_token=x&client_id=demo-spa&scope=openid")
	f.Add("refresh_token", "client_id=demo-m2m&client_secret=demo-m2m-secret&refresh_token=%FF")
	f.Fuzz(func(t *testing.T, grant, body string) {
		form := "grant_type=" + url.QueryEscape(grant) + "&" + body
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 || w.Code == 200 || !strings.HasPrefix(w.Body.String(), `{"error":"`) {
			t.Fatalf("%d %s for %s", w.Code, w.Body, fmt.Sprintf("%q", form))
		}
	})
}

// FuzzLoginRequest sends arbitrary sealed requests to the login page from
// a browser that started a real one: never a server error, and the login
// page only for the request the issuer sealed (nothing else opens).
func FuzzLoginRequest(f *testing.F) {
	h := fuzzIssuer(f)
	r := httptest.NewRequest(http.MethodGet, "/authorize?response_type=code&client_id=demo-spa&scope=openid&state=x"+
		"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || loc.Path != endpoint.PathLogin {
		f.Fatalf("authorize: %d %s", w.Code, w.Header().Get("Location"))
	}
	cookies := w.Result().Cookies()
	sealed := loc.Query().Get("request")
	f.Add(sealed)
	f.Add(sealed[:len(sealed)/2])
	f.Add("AQ")
	f.Add("")
	f.Fuzz(func(t *testing.T, request string) {
		r := httptest.NewRequest(http.MethodGet, "/login?request="+url.QueryEscape(request), nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%d for %q", w.Code, request)
		}
		if w.Code == http.StatusOK && request != sealed {
			t.Fatalf("a request the issuer did not seal opened: %q", request)
		}
	})
}
