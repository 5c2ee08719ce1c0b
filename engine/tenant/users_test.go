package tenant_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/scopeline/scopeline/engine/tenant"
)

// testHash is argon2id of "pw" with small parameters, so tests stay fast.
func testHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := tenant.HashPassword(pw, tenant.Argon2Params{Memory: 64, Time: 1, Threads: 1}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const usersBase = `
apis:
  - identifier: https://api
    rbac: true
    scopes: [{name: read}, {name: write}, {name: admin}]
  - identifier: https://other
    scopes: [{name: x}]
roles:
  - name: reader
    description: Reads
    permissions:
      - {api: https://api, scopes: [read]}
  - name: writer
    permissions:
      - {api: https://api, scopes: [write, read]}
      - {api: https://other, scopes: [x]}
`

func TestUsersAndRoles(t *testing.T) {
	src := usersBase + `
users:
  - id: u1
    username: Alice
    email: alice@example.com
    email_verified: true
    password_hash: "` + testHash(t, "pw") + `"
    profile: {name: Alice, updated_at: 1700000000}
    metadata: {plan: gold, limits: {seats: 3}}
    roles: [reader, writer]
    permissions:
      - {api: https://api, scopes: [admin]}
  - id: u2
    email: bob@example.com
    password_hash: "` + mustBcrypt(t, "bob") + `"
user_flows:
  code_lifetime: 30s
  refresh_token_idle: 24h
`
	tn, err := tenant.Parse([]byte(src), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	u, ok := tn.User("u1")
	if !ok {
		t.Fatal("u1 missing")
	}
	if !slices.Equal(u.Permissions["https://api"], []string{"read", "write", "admin"}) || !slices.Equal(u.Permissions["https://other"], []string{"x"}) {
		t.Errorf("permissions = %v", u.Permissions)
	}
	if !slices.Equal(u.Roles, []string{"reader", "writer"}) || !u.EmailVerified || u.Profile["name"] != "Alice" {
		t.Errorf("user = %+v", u)
	}
	if m, ok := u.Metadata["limits"].(map[string]any); !ok || m["seats"] != 3 {
		t.Errorf("metadata = %#v", u.Metadata)
	}
	for _, login := range []string{"alice", "ALICE", " alice ", "Alice@Example.com"} {
		if got, ok := tn.UserByLogin(login); !ok || got != u {
			t.Errorf("UserByLogin(%q) = %v %v", login, got, ok)
		}
	}
	if got, ok := tn.Authenticate("bob@example.com", "bob"); !ok || got.ID != "u2" {
		t.Errorf("bcrypt user: %v %v", got, ok)
	}
	tests := []struct {
		login, pw string
		ok        bool
	}{
		{"alice", "pw", true},
		{"alice", "PW", false},
		{"alice", "", false},
		{"alice", strings.Repeat("p", 5000), false},
		{"nobody", "pw", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if _, ok := tn.Authenticate(tt.login, tt.pw); ok != tt.ok {
			t.Errorf("Authenticate(%q, %.10q) = %v", tt.login, tt.pw, ok)
		}
	}
	if len(tn.Roles) != 2 || tn.Roles[0].Description != "Reads" {
		t.Errorf("roles = %+v", tn.Roles)
	}
	f := tn.Flows
	if f.CodeLifetime != 30*time.Second || f.RefreshTokenIdle != 24*time.Hour || f.RefreshTokenLifetime != tenant.DefaultUserFlows.RefreshTokenLifetime {
		t.Errorf("flows = %+v", f)
	}
}

func mustBcrypt(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestUserErrors(t *testing.T) {
	good := testHash(t, "pw")
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"plaintext password", "users:\n  - id: u\n    username: u\n    password: hunter2\n", "t.yaml:20: users[0].password: plaintext passwords are not accepted"},
		{"bad hash", "users:\n  - id: u\n    username: u\n    password_hash: md5:abc\n", "t.yaml:20: users[0].password_hash: must be an argon2id"},
		{"argon2i", "users:\n  - id: u\n    username: u\n    password_hash: $argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n", "only argon2id"},
		{"too costly", "users:\n  - id: u\n    username: u\n    password_hash: $argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n", "argon2id memory (m)"},
		{"unknown role", "users:\n  - id: u\n    username: u\n    roles: [admin]\n", "t.yaml:20: users[0].roles[0]: no role is named \"admin\""},
		{"no login", "users:\n  - id: u\n", "t.yaml:18: users[0]: a user needs a username or an email"},
		{"user id of a client", "clients:\n  - {id: c, type: spa}\nusers:\n  - {id: c, username: c}\n", "users[0].id: id \"c\" is a client's id"},
		{"duplicate id", "users:\n  - {id: u, username: a}\n  - {id: u, username: b}\n", "users[1].id: user \"u\" is defined twice"},
		{"login taken", "users:\n  - {id: u, username: a@x}\n  - {id: v, email: A@X}\n", "users[1].email: email \"A@X\" is already the username or email of user \"u\""},
		{"email without at", "users:\n  - {id: u, email: nope}\n", "users[0].email: email \"nope\" has no @"},
		{"undefined permission", "users:\n  - id: u\n    username: u\n    permissions: [{api: https://api, scopes: [delete]}]\n", "users[0].permissions[0].scopes[0]: API \"https://api\" does not define scope \"delete\""},
		{"unknown API in role", "  - name: r\n    permissions: [{api: https://nope, scopes: [x]}]\n", "roles[2].permissions[0].api: no API has the identifier"},
		{"duplicate role", "  - name: reader\n", "roles[2].name: role \"reader\" is defined twice"},
		{"non-standard profile claim", "users:\n  - id: u\n    username: u\n    profile: {shoe_size: 44}\n", "users[0].profile.shoe_size: \"shoe_size\" is not an OpenID Connect profile claim"},
		{"unknown user field", "users:\n  - id: u\n    username: u\n    pasword_hash: x\n", "t.yaml:20: pasword_hash: unknown field"},
		{"code lifetime too long", "user_flows:\n  code_lifetime: 1h\n", "t.yaml:18: user_flows.code_lifetime: code_lifetime must be between 1s and 10m0s"},
		{"idle longer than lifetime", "user_flows:\n  refresh_token_lifetime: 1h\n  refresh_token_idle: 2h\n", "refresh_token_idle cannot be longer"},
		{"good hash is fine, bad role is not", "users:\n  - id: u\n    username: u\n    password_hash: \"" + good + "\"\n    roles: [x]\n", "users[0].roles[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tenant.Parse([]byte(usersBase+tt.yaml), "t.yaml", ".")
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
	for name, src := range map[string]string{
		"OIDC scope on an API":           "apis:\n  - identifier: a\n    scopes: [{name: openid}]\n",
		"permissions claim without RBAC": "apis:\n  - identifier: a\n    permissions_claim: true\n",
	} {
		if _, err := tenant.Parse([]byte(src), "t.yaml", "."); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h := testHash(t, "correct horse")
	ph, err := tenant.ParsePasswordHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if !ph.Verify("correct horse") || ph.Verify("correct horsE") || ph.Verify("") {
		t.Error("argon2id verification wrong")
	}
	// The default parameters make a hash the limits accept.
	def, err := tenant.HashPassword("pw", tenant.DefaultArgon2, rand.Reader)
	if err != nil || !strings.HasPrefix(def, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("default hash %q, %v", def, err)
	}
	if _, err := tenant.HashPassword("", tenant.DefaultArgon2, rand.Reader); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := tenant.HashPassword("pw", tenant.DefaultArgon2, bytes.NewReader(nil)); err == nil {
		t.Error("no randomness, yet a salt")
	}
	for _, bad := range []string{
		"", "$argon2id$", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=99,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$2b$04$tooshort", "$2b$15$" + strings.Repeat("a", 53),
	} {
		if _, err := tenant.ParsePasswordHash(bad); err == nil {
			t.Errorf("ParsePasswordHash(%q) accepted", bad)
		}
	}
}

func FuzzParsePasswordHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$2b$04$abcdefghijklmnopqrstuuJ8S/yjBqFh9d0vvd5TBzAf7Xv5b3hWa")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$x$y")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := tenant.ParsePasswordHash(s)
		if err != nil || !h.Cheap() {
			return
		}
		h.Verify("pw") // must not panic, whatever the parameters
	})
}

// An unknown login is checked against a decoy of the same kind and cost
// as the users' hashes. With users hashed at 64 KiB, checking an unknown
// login used to run argon2id at the default 19 MiB: measurably slower,
// and visibly so in the memory it takes, which is what this test compares.
func TestDecoyMatchesUsersHashes(t *testing.T) {
	small := testHash(t, "pw") // argon2id m=64 t=1 p=1
	bc := mustBcrypt(t, "pw")  // bcrypt cost 4
	one := usersBase + "users:\n  - {id: u1, username: alice, password_hash: \"" + small + "\"}\n"
	tn, err := tenant.Parse([]byte(one), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(login string) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 5 {
			tn.Authenticate(login, "wrong")
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	known, unknown := alloc("alice"), alloc("mallory")
	if unknown > 2*known+64<<10 {
		t.Errorf("an unknown login allocates %d bytes, a known one %d: the decoy is not the users' cost", unknown, known)
	}
	if got, want := tn.DecoyCost("mallory"), must(tenant.ParsePasswordHash(small)).Cost(); got != want {
		t.Errorf("decoy %s, want %s", got, want)
	}

	// Mixed kinds: each unknown login gets one of the costs in use, always
	// the same for the same login, and never one that is not in use.
	mixed := usersBase + "users:\n" +
		"  - {id: u1, username: alice, password_hash: \"" + small + "\"}\n" +
		"  - {id: u2, username: bob, password_hash: \"" + bc + "\"}\n" +
		"  - {id: u3, username: carol, password_hash: \"" + bc + "\"}\n"
	tn, err = tenant.Parse([]byte(mixed), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	inUse := map[string]bool{must(tenant.ParsePasswordHash(small)).Cost(): true, must(tenant.ParsePasswordHash(bc)).Cost(): true}
	seen := map[string]bool{}
	for i := range 64 {
		login := "ghost" + strconv.Itoa(i)
		c := tn.DecoyCost(login)
		if !inUse[c] {
			t.Fatalf("decoy %s is not a cost in use", c)
		}
		if tn.DecoyCost(strings.ToUpper(login)) != c {
			t.Errorf("%s: the decoy changes with the case of the login", login)
		}
		seen[c] = true
		if _, ok := tn.Authenticate(login, "pw"); ok {
			t.Fatal("a decoy matched")
		}
	}
	if len(seen) != 2 {
		t.Errorf("64 unknown logins used decoys %v, want both costs in use", seen)
	}
	// No user with a password: the default parameters.
	none, err := tenant.Parse([]byte(usersBase), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	def, _ := tenant.HashPassword("x", tenant.DefaultArgon2, rand.Reader)
	if got, want := none.DecoyCost("x"), must(tenant.ParsePasswordHash(def)).Cost(); got != want {
		t.Errorf("no users: decoy %s, want %s", got, want)
	}
}

// Logins are found however they are written: case, Unicode normalization
// and surrounding spaces do not matter.
func TestLoginKey(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"Alice", "alice"},
		{" alice@Example.COM ", "alice@example.com"},
		{"Jos\u00e9", "jose\u0301"},         // precomposed é, e + combining acute
		{"STRASSE", "stra\u00dfe"},          // ß folds to ss
		{"\u212aelvin", "kelvin"},           // Kelvin sign
		{"\u0130stanbul", "i\u0307stanbul"}, // İ folds to i + dot above
	} {
		if tenant.LoginKey(tt.a) != tenant.LoginKey(tt.b) {
			t.Errorf("LoginKey(%q) = %q, LoginKey(%q) = %q", tt.a, tenant.LoginKey(tt.a), tt.b, tenant.LoginKey(tt.b))
		}
	}
	if tenant.LoginKey("alice") == tenant.LoginKey("alicea") {
		t.Error("different logins collide")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The algorithms a tenant signs with: access tokens per API; ID tokens
// per client, RS256 always among them (OpenID Connect Discovery §3), and
// keyed only when users sign in. Retired keys stay published for the
// longest lifetime of anything they signed, ID tokens included.
func TestSigningAlgorithms(t *testing.T) {
	src := `
signing_algorithm: ES256
apis:
  - identifier: https://a
    scopes: [{name: read}]
  - identifier: https://b
    signing_algorithm: EdDSA
    token_lifetime: 2h
    scopes: [{name: read}]
clients:
  - {id: m2m, type: m2m, secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]}
  - {id: spa, type: spa, redirect_uris: ["https://app.example.com/cb"]}
  - {id: old-rp, type: spa, redirect_uris: ["https://old.example.com/cb"], id_token_signed_response_alg: EdDSA}
user_flows:
  id_token_lifetime: 20h
`
	tn, err := tenant.Parse([]byte(src), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	spa, _ := tn.Client("spa")
	old, _ := tn.Client("old-rp")
	m2m, _ := tn.Client("m2m")
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"access token algorithms", tn.AccessTokenAlgorithms(), []string{"ES256", "EdDSA"}},
		{"ID token algorithms", tn.IDTokenAlgorithms(), []string{"RS256", "ES256", "EdDSA"}},
		{"keyed algorithms", tn.Algorithms(), []string{"ES256", "EdDSA", "RS256"}},
		{"spa's ID token algorithm", spa.IDTokenAlgorithm, "ES256"},
		{"old-rp's ID token algorithm", old.IDTokenAlgorithm, "EdDSA"},
		{"m2m's ID token algorithm", m2m.IDTokenAlgorithm, ""},
		{"longest lifetime", tn.LongestTokenLifetime(), 20 * time.Hour},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	// Without clients that sign users in, no ID token is ever signed: no
	// RS256 key is needed, and the ID token lifetime does not count.
	m2mOnly := strings.Replace(strings.Replace(src, "  - {id: spa,", "  #", 1), "  - {id: old-rp,", "  #", 1)
	tn, err = tenant.Parse([]byte(m2mOnly), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tn.Algorithms()) != "[ES256 EdDSA]" || tn.LongestTokenLifetime() != 2*time.Hour {
		t.Errorf("m2m only: %v, %s", tn.Algorithms(), tn.LongestTokenLifetime())
	}
	for _, bad := range []string{
		`{id: m2m, type: m2m, id_token_signed_response_alg: RS256, secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]}`,
		`{id: spa, type: spa, redirect_uris: ["https://app.example.com/cb"], id_token_signed_response_alg: HS256}`,
	} {
		src := "apis: [{identifier: https://a, scopes: [{name: read}]}]\nclients:\n  - " + bad + "\n"
		if _, err := tenant.Parse([]byte(src), "t.yaml", "."); err == nil || !strings.Contains(err.Error(), "id_token_signed_response_alg") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
