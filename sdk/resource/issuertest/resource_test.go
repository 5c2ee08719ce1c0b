package issuertest_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/sdk/resource"
)

func TestValidTokensEachAlgorithm(t *testing.T) {
	is := startIssuer(t)
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			aud := apiByAlg[alg]
			v := is.validator(t, aud)
			tok := is.token(t, aud, "read:users")
			w := call(api(v), "GET", "/users", "Bearer "+tok)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, body %s, challenge %s", w.Code, w.Body, w.Header().Get("WWW-Authenticate"))
			}
			var body struct {
				Sub    string   `json:"sub"`
				Scopes []string `json:"scopes"`
			}
			json.Unmarshal(w.Body.Bytes(), &body)
			if body.Sub != "app" || !slices.Equal(body.Scopes, []string{"read:users"}) {
				t.Errorf("handler saw %+v", body)
			}

			c, err := v.Validate(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != is.Issuer || !slices.Equal(c.Audience, []string{aud}) || c.ClientID != "app" ||
				c.Subject != "app" || c.TokenID == "" || c.ExpiresAt.Sub(c.IssuedAt) != time.Hour || !c.NotBefore.IsZero() {
				t.Errorf("claims = %+v", c)
			}
			if !c.HasScope("read:users") || c.HasScope("write:users") {
				t.Errorf("scopes = %v", c.Scopes)
			}
		})
	}
}

// TestRefusals sends each kind of bad request to an API protected by the
// SDK and checks the RFC 6750 answer.
func TestRefusals(t *testing.T) {
	is := startIssuer(t)
	genuine := is.token(t, rsAPI, "read:users")
	writeOnly := is.token(t, rsAPI, "write:users")
	// A frozen clock, so that the leeway cases do not depend on how fast
	// the test runs.
	clk := frozenClock()
	now := clk.now()
	v := is.validator(t, rsAPI, resource.WithClock(clk.now))
	h := api(v)
	rsKey, _ := mustKeys(t, is).Signing("RS256")
	esKey, _ := mustKeys(t, is).Signing("ES256")
	pubDER, err := x509.MarshalPKIXPublicKey(rsKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	stranger, err := keys.Generate("RS256", now)
	if err != nil {
		t.Fatal(err)
	}
	forged := func(header, changes map[string]any) string {
		return is.forge(t, "RS256", header, is.claims(rsAPI, now, changes))
	}
	hmac := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(is.claims(rsAPI, now, nil)))
		tok.Header["kid"], tok.Header["typ"] = rsKey.ID, "at+jwt"
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	unsigned := func(alg string) string {
		return encodeSegment(t, map[string]any{"alg": alg, "kid": rsKey.ID, "typ": "at+jwt"}) + "." +
			encodeSegment(t, is.claims(rsAPI, now, nil)) + "."
	}
	signedBy := func(k *keys.Key, header map[string]any) string {
		input := encodeSegment(t, merge(map[string]any{"alg": k.Algorithm, "kid": k.ID, "typ": "at+jwt"}, header)) +
			"." + encodeSegment(t, is.claims(rsAPI, now, nil))
		sig, err := k.Sign(input)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + b64.EncodeToString(sig)
	}
	mid := len(genuine) - 40 // well inside the signature
	tamperedSig := genuine[:mid] + flip(genuine[mid:mid+4]) + genuine[mid+4:]
	parts := strings.Split(genuine, ".")
	tamperedClaims := parts[0] + "." + encodeSegment(t, is.claims(rsAPI, now, map[string]any{"scope": "read:users delete:users"})) + "." + parts[2]

	tests := []struct {
		name    string
		auth    string
		target  string
		prepare func(r *http.Request)
		status  int
		code    string // "" is the bare challenge
		why     string // in the description
	}{
		{name: "genuine token passes", auth: "Bearer " + genuine, status: 200},
		{name: "forged with the real key passes", auth: "Bearer " + forged(nil, nil), status: 200},
		{name: "lower-case scheme passes", auth: "bearer " + genuine, status: 200},
		{name: "typ application/at+jwt passes", auth: "Bearer " + forged(map[string]any{"typ": "application/AT+JWT"}, nil), status: 200},

		{name: "no token", status: 401},
		{name: "other scheme", auth: "Basic YXBwOnNlY3JldA==", status: 401},
		{name: "empty bearer", auth: "Bearer ", status: 400, code: "invalid_request", why: "empty"},
		{name: "two tokens in one header", auth: "Bearer " + genuine + " " + genuine, status: 400, code: "invalid_request", why: "one token"},
		{name: "two tokens comma-separated", auth: "Bearer " + genuine + "," + genuine, status: 400, code: "invalid_request", why: "one token"},
		{name: "two Authorization headers", auth: "Bearer " + genuine, status: 400, code: "invalid_request", why: "more than one",
			prepare: func(r *http.Request) { r.Header.Add("Authorization", "Bearer "+genuine) }},
		{name: "token in query and header", auth: "Bearer " + genuine, target: "/users?access_token=" + genuine, status: 400, code: "invalid_request", why: "one way only"},
		{name: "token in query only", target: "/users?access_token=" + genuine, status: 400, code: "invalid_request", why: "not in the URL"},
		{name: "escaped query parameter name", target: "/users?access%5Ftoken=" + genuine, status: 400, code: "invalid_request", why: "not in the URL"},

		{name: "tampered signature", auth: "Bearer " + tamperedSig, status: 401, code: "invalid_token", why: "signature is invalid"},
		{name: "tampered claims", auth: "Bearer " + tamperedClaims, status: 401, code: "invalid_token", why: "signature is invalid"},
		{name: "not a JWT", auth: "Bearer abc.def", status: 401, code: "invalid_token", why: "malformed"},
		{name: "typ JWT (an ID token)", auth: "Bearer " + forged(map[string]any{"typ": "JWT"}, map[string]any{"nonce": "n", "azp": "app", "aud": rsAPI}), status: 401, code: "invalid_token", why: "typ must be at+jwt"},
		{name: "no typ", auth: "Bearer " + forged(map[string]any{"typ": nil}, nil), status: 401, code: "invalid_token", why: "typ must be at+jwt"},
		{name: "wrong iss", auth: "Bearer " + forged(nil, map[string]any{"iss": "https://evil.example/"}), status: 401, code: "invalid_token", why: "another issuer"},
		{name: "iss without trailing slash", auth: "Bearer " + forged(nil, map[string]any{"iss": strings.TrimSuffix(is.Issuer, "/")}), status: 401, code: "invalid_token", why: "another issuer"},
		{name: "wrong aud", auth: "Bearer " + forged(nil, map[string]any{"aud": esAPI}), status: 401, code: "invalid_token", why: "(aud)"},
		{name: "aud list without ours", auth: "Bearer " + forged(nil, map[string]any{"aud": []string{esAPI, edAPI}}), status: 401, code: "invalid_token", why: "(aud)"},
		{name: "aud list with ours passes", auth: "Bearer " + forged(nil, map[string]any{"aud": []string{esAPI, rsAPI}}), status: 200},
		{name: "expired", auth: "Bearer " + forged(nil, map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}), status: 401, code: "invalid_token", why: "expired"},
		{name: "expired within leeway passes", auth: "Bearer " + forged(nil, map[string]any{"exp": now.Add(-10 * time.Second).Unix()}), status: 200},
		{name: "not yet valid", auth: "Bearer " + forged(nil, map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), status: 401, code: "invalid_token", why: "(nbf)"},
		{name: "issued in the future", auth: "Bearer " + forged(nil, map[string]any{"iat": now.Add(10 * time.Minute).Unix()}), status: 401, code: "invalid_token", why: "(iat)"},
		{name: "no exp", auth: "Bearer " + forged(nil, map[string]any{"exp": nil}), status: 401, code: "invalid_token", why: "required claim"},
		{name: "no sub", auth: "Bearer " + forged(nil, map[string]any{"sub": nil}), status: 401, code: "invalid_token", why: "sub claim"},
		{name: "no client_id", auth: "Bearer " + forged(nil, map[string]any{"client_id": nil}), status: 401, code: "invalid_token", why: "client_id claim"},
		{name: "no jti", auth: "Bearer " + forged(nil, map[string]any{"jti": nil}), status: 401, code: "invalid_token", why: "jti claim"},
		{name: "no iat", auth: "Bearer " + forged(nil, map[string]any{"iat": nil}), status: 401, code: "invalid_token", why: "iat claim"},
		{name: "scope not a string", auth: "Bearer " + forged(nil, map[string]any{"scope": []string{"read:users"}}), status: 401, code: "invalid_token", why: "malformed"},
		{name: "alg none", auth: "Bearer " + unsigned("none"), status: 401, code: "invalid_token", why: "algorithm"},
		{name: "alg NONE", auth: "Bearer " + unsigned("NONE"), status: 401, code: "invalid_token", why: "algorithm"},
		{name: "HS256 keyed with the public key PEM", auth: "Bearer " + hmac(pubPEM), status: 401, code: "invalid_token", why: "algorithm"},
		{name: "HS256 keyed with the public key DER", auth: "Bearer " + hmac(pubDER), status: 401, code: "invalid_token", why: "algorithm"},
		{name: "ES256 token naming the RS256 key", auth: "Bearer " + signedBy(esKey, map[string]any{"kid": rsKey.ID}), status: 401, code: "invalid_token", why: "algorithm"},
		{name: "RS256 header, ES256 key", auth: "Bearer " + signedBy(esKey, map[string]any{"alg": "RS256"}), status: 401, code: "invalid_token", why: "algorithm"},
		{name: "unknown kid", auth: "Bearer " + signedBy(stranger, nil), status: 401, code: "invalid_token", why: "does not publish"},
		{name: "no kid", auth: "Bearer " + forged(map[string]any{"kid": nil}, nil), status: 401, code: "invalid_token", why: "(kid)"},
		{name: "critical header", auth: "Bearer " + forged(map[string]any{"crit": []string{"exp"}, "exp": 1}, nil), status: 401, code: "invalid_token", why: "critical"},
		{name: "oversized token", auth: "Bearer " + strings.Repeat("a", resource.MaxTokenBytes+1), status: 401, code: "invalid_token", why: "too large"},

		{name: "missing scope", auth: "Bearer " + writeOnly, status: 403, code: "insufficient_scope", why: "lacks a scope"},
		{name: "missing scope for DELETE", auth: "Bearer " + genuine, target: "/users/42", status: 403, code: "insufficient_scope", why: "lacks a scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, method := tt.target, "GET"
			if target == "" {
				target = "/users"
			}
			if strings.HasPrefix(target, "/users/") {
				method = "DELETE"
			}
			r := httptest.NewRequest(method, target, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.prepare != nil {
				tt.prepare(r)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 200 {
				return
			}
			checkRefusal(t, w, rsAPI, tt.code)
			if d := challenge(t, w)["error_description"]; !strings.Contains(d, tt.why) {
				t.Errorf("error_description %q does not say %q", d, tt.why)
			}
			for _, secret := range []string{genuine, parts[2], strings.TrimPrefix(tt.auth, "Bearer ")} {
				if len(secret) > 8 && strings.Contains(w.Body.String()+w.Header().Get("WWW-Authenticate"), secret) {
					t.Errorf("the response echoes the token")
				}
			}
			if tt.code == "insufficient_scope" {
				want := "read:users"
				if method == "DELETE" {
					want = "delete:users"
				}
				if got := challenge(t, w)["scope"]; got != want {
					t.Errorf("scope = %q, want %q", got, want)
				}
			}
		})
	}
}

// checkRefusal checks an RFC 6750 §3 refusal with error code (empty for
// the bare challenge to a request without a token).
func checkRefusal(t *testing.T, w *httptest.ResponseRecorder, realm, code string) {
	t.Helper()
	p := challenge(t, w)
	if p["realm"] != realm {
		t.Errorf("realm = %q, want %q", p["realm"], realm)
	}
	if p["error"] != code {
		t.Errorf("challenge error = %q, want %q (%s)", p["error"], code, w.Header().Get("WWW-Authenticate"))
	}
	if code == "" && len(p) != 1 {
		t.Errorf("want a bare challenge, got %s", w.Header().Get("WWW-Authenticate"))
	}
	if code != "" && p["error_description"] == "" {
		t.Errorf("no error_description")
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != code || body.Description == "" {
		t.Errorf("body %s (%v)", w.Body, err)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

// challenge parses the response's Bearer WWW-Authenticate challenge.
func challenge(t *testing.T, w *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	h := w.Header().Get("WWW-Authenticate")
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		t.Fatalf("WWW-Authenticate = %q", h)
	}
	params := map[string]string{}
	for rest != "" {
		name, after, ok := strings.Cut(rest, `="`)
		if !ok {
			t.Fatalf("malformed challenge %q", h)
		}
		value, after, ok := strings.Cut(after, `"`)
		if !ok {
			t.Fatalf("malformed challenge %q", h)
		}
		params[strings.TrimSpace(name)] = value
		rest = strings.TrimPrefix(after, ", ")
	}
	return params
}

func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

func mustKeys(t *testing.T, is *issuer) *keys.Set {
	t.Helper()
	ks, err := is.Keys.Load()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestValidateErrors(t *testing.T) {
	is := startIssuer(t)
	v := is.validator(t, rsAPI)
	_, err := v.Validate(context.Background(), is.token(t, esAPI))
	if !errors.Is(err, resource.ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken", err)
	}
	var e *resource.Error
	if !errors.As(err, &e) || e.Status != 401 || !strings.Contains(e.Description, "aud") {
		t.Errorf("error = %+v", e)
	}
	if _, err := v.Validate(context.Background(), ""); !errors.Is(err, resource.ErrInvalidToken) {
		t.Errorf("empty token: %v", err)
	}
}

// TestAlgorithmsRestricted: WithAlgorithms and the issuer's advertised
// algorithms both limit what is accepted, even with a genuine token.
func TestAlgorithmsRestricted(t *testing.T) {
	is := startIssuer(t)
	v := is.validator(t, esAPI, resource.WithAlgorithms("RS256", "EdDSA"))
	if w := call(api(v), "GET", "/users", "Bearer "+is.token(t, esAPI, "read:users")); w.Code != 401 {
		t.Fatalf("ES256 token with ES256 not accepted: status %d", w.Code)
	}

	is.advertise.Store(&[]string{"RS256", "EdDSA"})
	v = is.validator(t, esAPI)
	w := call(api(v), "GET", "/users", "Bearer "+is.token(t, esAPI, "read:users"))
	if w.Code != 401 || !strings.Contains(challenge(t, w)["error_description"], "algorithm") {
		t.Fatalf("ES256 token while the issuer advertises RS256, EdDSA: status %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	v = is.validator(t, rsAPI)
	if w := call(api(v), "GET", "/users", "Bearer "+is.token(t, rsAPI, "read:users")); w.Code != 200 {
		t.Fatalf("RS256 token while advertised: status %d", w.Code)
	}

	is.advertise.Store(&[]string{"HS256"})
	v = is.validator(t, rsAPI)
	if err := v.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "none of which is accepted") {
		t.Errorf("Ready with an issuer that advertises only HS256: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name, issuer, audience string
		opts                   []resource.Option
	}{
		{"relative issuer", "auth.example.com", "https://api", nil},
		{"http issuer not loopback", "http://auth.example.com/", "https://api", nil},
		{"issuer with query", "https://auth.example.com/?x=1", "https://api", nil},
		{"issuer with fragment", "https://auth.example.com/#x", "https://api", nil},
		{"ftp issuer", "ftp://auth.example.com/", "https://api", nil},
		{"no audience", "https://auth.example.com/", "", nil},
		{"audience with a quote", "https://auth.example.com/", `https://api"`, nil},
		{"negative leeway", "https://auth.example.com/", "https://api", []resource.Option{resource.WithLeeway(-time.Second)}},
		{"huge leeway", "https://auth.example.com/", "https://api", []resource.Option{resource.WithLeeway(time.Hour)}},
		{"HS256", "https://auth.example.com/", "https://api", []resource.Option{resource.WithAlgorithms("HS256")}},
		{"none", "https://auth.example.com/", "https://api", []resource.Option{resource.WithAlgorithms("none")}},
		{"no algorithm", "https://auth.example.com/", "https://api", []resource.Option{resource.WithAlgorithms()}},
		{"realm with a quote", "https://auth.example.com/", "https://api", []resource.Option{resource.WithRealm(`a"b`)}},
		{"negative refetch interval", "https://auth.example.com/", "https://api", []resource.Option{resource.WithRefetchInterval(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := resource.New(tt.issuer, tt.audience, tt.opts...); err == nil {
				t.Error("accepted")
			}
		})
	}
	for _, ok := range []string{"https://auth.example.com/", "https://auth.example.com/tenant/a", "http://localhost:8080/", "http://127.0.0.1:8080/", "http://[::1]/"} {
		if _, err := resource.New(ok, "https://api"); err != nil {
			t.Errorf("New(%q): %v", ok, err)
		}
	}
}

func TestGuards(t *testing.T) {
	is := startIssuer(t)
	v := is.validator(t, rsAPI, resource.WithRealm("users"))
	now := time.Now()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	gold := func(c resource.Claims) bool {
		var tier string
		found, err := c.Custom("tier", &tier)
		return found && err == nil && tier == "gold"
	}
	tok := func(scope string, extra map[string]any) string {
		return is.forge(t, "RS256", nil, is.claims(rsAPI, now, merge(map[string]any{"scope": scope}, extra)))
	}
	tests := []struct {
		name   string
		h      http.Handler
		token  string
		status int
		scope  string
	}{
		{"all of two, has both", v.Protect(ok, resource.RequireScopes("read:users", "write:users")), tok("read:users write:users", nil), 204, ""},
		{"all of two, has one", v.Protect(ok, resource.RequireScopes("read:users", "write:users")), tok("read:users", nil), 403, "read:users write:users"},
		{"any of two, has one", v.Protect(ok, resource.RequireAnyScope("read:users", "write:users")), tok("write:users", nil), 204, ""},
		{"any of two, has none", v.Protect(ok, resource.RequireAnyScope("read:users", "write:users")), tok("delete:users", nil), 403, "read:users write:users"},
		{"empty scope claim", v.Protect(ok, resource.RequireAnyScope("read:users")), tok("", nil), 403, "read:users"},
		{"claim check passes", v.Protect(ok, resource.ClaimCheck(gold)), tok("", map[string]any{"tier": "gold"}), 204, ""},
		{"claim check fails", v.Protect(ok, resource.ClaimCheck(gold)), tok("", map[string]any{"tier": "bronze"}), 403, ""},
		{"claim check, claim absent", v.Protect(ok, resource.ClaimCheck(gold)), tok("", nil), 403, ""},
		{"claim check, claim of another type", v.Protect(ok, resource.ClaimCheck(gold)), tok("", map[string]any{"tier": 3}), 403, ""},
		{"guards in order", v.Protect(ok, resource.RequireScopes("read:users"), resource.ClaimCheck(gold)), tok("read:users", map[string]any{"tier": "gold"}), 204, ""},
		{"authenticate only", v.Authenticate(ok), tok("", nil), 204, ""},
		{"Require as middleware", v.Require(resource.RequireScopes("write:users"))(ok), tok("read:users", nil), 403, "write:users"},
		{"nested: outer authenticates, inner guards", v.Authenticate(v.Require(resource.RequireScopes("read:users"))(ok)), tok("read:users", nil), 204, ""},
		{"nested: inner refuses", v.Authenticate(v.Protect(ok, resource.RequireScopes("write:users"))), tok("read:users", nil), 403, "write:users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := call(tt.h, "GET", "/", "Bearer "+tt.token)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Header().Get("WWW-Authenticate"))
			}
			if tt.status == 403 {
				checkRefusal(t, w, "users", "insufficient_scope")
				if got := challenge(t, w)["scope"]; got != tt.scope {
					t.Errorf("scope = %q, want %q", got, tt.scope)
				}
			}
		})
	}
}

// TestNestedProtect: a Protect trusts an outer one only when it is of the
// same Validator. A token validated for one API must not pass another API's
// Protect; the same Validator nested validates once.
func TestNestedProtect(t *testing.T) {
	is := startIssuer(t)
	rs := is.validator(t, rsAPI)
	es := is.validator(t, esAPI)
	now := time.Now()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := resource.ClaimsFrom(r.Context()); !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// garble breaks the token between an outer and an inner Protect, so
	// that an inner one that validates again refuses.
	garble := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set("Authorization", "Bearer not-a-token")
			next.ServeHTTP(w, r)
		})
	}
	forRS := is.token(t, rsAPI, "read:users")
	forBoth := is.forge(t, "RS256", nil, is.claims(rsAPI, now, map[string]any{"aud": []string{rsAPI, esAPI}}))
	tests := []struct {
		name   string
		h      http.Handler
		token  string
		status int
		realm  string
		why    string
	}{
		{"another Validator's token, inner Protect", rs.Authenticate(es.Protect(ok, resource.RequireScopes("read:users"))), forRS, 401, esAPI, "(aud)"},
		{"another Validator's token, inner Authenticate", rs.Authenticate(es.Authenticate(ok)), forRS, 401, esAPI, "(aud)"},
		{"another Validator's token, inner Require", rs.Authenticate(es.Require(resource.RequireScopes("read:users"))(ok)), forRS, 401, esAPI, "(aud)"},
		{"a token for both passes both", rs.Authenticate(es.Protect(ok, resource.RequireScopes("read:users"))), forBoth, 204, "", ""},
		{"another Validator inside validates again", rs.Authenticate(garble(es.Authenticate(ok))), forBoth, 401, esAPI, "malformed"},
		{"the same Validator inside does not", rs.Authenticate(garble(rs.Protect(ok, resource.RequireScopes("read:users")))), forRS, 204, "", ""},
		{"the same Validator under another's", rs.Authenticate(es.Authenticate(garble(rs.Authenticate(ok)))), forBoth, 401, rsAPI, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := call(tt.h, "GET", "/", "Bearer "+tt.token)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Header().Get("WWW-Authenticate"))
			}
			if tt.status == 401 {
				checkRefusal(t, w, tt.realm, "invalid_token")
				if d := challenge(t, w)["error_description"]; !strings.Contains(d, tt.why) {
					t.Errorf("error_description %q does not say %q", d, tt.why)
				}
			}
		})
	}
}

func TestGuardMisuse(t *testing.T) {
	v, err := resource.New("https://auth.example.com/", "https://api")
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(){
		"RequireScopes()":          func() { resource.RequireScopes() },
		"RequireScopes with space": func() { resource.RequireScopes("read users") },
		"RequireAnyScope()":        func() { resource.RequireAnyScope() },
		"RequireAnyScope quote":    func() { resource.RequireAnyScope(`a"b`) },
		"ClaimCheck(nil)":          func() { resource.ClaimCheck(nil) },
		"zero Guard":               func() { v.Protect(http.NotFoundHandler(), resource.Guard{}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

func TestClaimsFromUnauthenticated(t *testing.T) {
	if _, ok := resource.ClaimsFrom(context.Background()); ok {
		t.Error("claims in an empty context")
	}
}
