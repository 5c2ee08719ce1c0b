package tenant

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Role is a named set of permissions, per API, that users are given.
type Role struct {
	Name        string
	Description string
	// Permissions maps an API identifier to scopes, in the API's order.
	Permissions map[string][]string
	// Line is where the role is declared in the tenant file.
	Line int
}

// UserFlows holds the lifetimes of the end-user flows.
type UserFlows struct {
	// SessionLifetime is how long a sign-in at the hosted login page lasts
	// (the browser session that spares the next sign-in).
	SessionLifetime time.Duration
	// CodeLifetime is how long an authorization code may be exchanged.
	CodeLifetime time.Duration
	// IDTokenLifetime is the `exp` of ID tokens.
	IDTokenLifetime time.Duration
	// RefreshTokenLifetime bounds a refresh-token family from its first
	// issue; RefreshTokenIdle bounds each token of the family from its own.
	RefreshTokenLifetime time.Duration
	RefreshTokenIdle     time.Duration
	// ConsentLifetime is how long a user's consent to a third-party client
	// is remembered.
	ConsentLifetime time.Duration
}

// DefaultUserFlows are the lifetimes of the end-user flows when the tenant
// file does not set them.
var DefaultUserFlows = UserFlows{
	SessionLifetime:      12 * time.Hour,
	CodeLifetime:         time.Minute,
	IDTokenLifetime:      time.Hour,
	RefreshTokenLifetime: 30 * 24 * time.Hour,
	RefreshTokenIdle:     7 * 24 * time.Hour,
	ConsentLifetime:      365 * 24 * time.Hour,
}

// User returns the user whose id (the `sub` of their tokens) is id.
func (t *Tenant) User(id string) (*User, bool) {
	u, ok := t.users[id]
	return u, ok
}

// UserByLogin returns the user whose username or email is login, compared
// as LoginKey does.
func (t *Tenant) UserByLogin(login string) (*User, bool) {
	u, ok := t.logins[LoginKey(login)]
	return u, ok
}

// Authenticate checks a login and password. An unknown login and a wrong
// password take the same work (a decoy hash of the same kind and cost as
// users' hashes is checked) and get the same answer, so the result does
// not tell whether the user exists.
func (t *Tenant) Authenticate(login, password string) (*User, bool) {
	u, ok := t.UserByLogin(login)
	if !ok || u.password == nil {
		t.decoys.forLogin(login).Verify(password)
		return nil, false
	}
	if !u.password.Verify(password) {
		return nil, false
	}
	return u, true
}

// Credential names the user's password as the tenant has it now, for a
// session to be made with and checked against: it changes when the
// password does, so a session made before a password change (or its
// removal: "") is not believed after it. It tells nothing of the
// password or its hash.
func (u *User) Credential() string {
	if u.password == nil {
		return ""
	}
	return u.password.credential
}

// LoginKey is the form of a login (username or email) users are found by
// and sign-in failures are counted under: surrounding spaces, Unicode
// normalization and case do not matter (Unicode canonical caseless
// matching, then NFC): "Alice", " alice" and "ALICE" are one login, and so
// are an "é" typed precomposed or as "e" and a combining accent.
func LoginKey(s string) string {
	return norm.NFC.String(cases.Fold().String(norm.NFD.String(strings.TrimSpace(s))))
}

// OIDCScopes are the OpenID Connect scopes the issuer itself handles; no API
// may define them.
var OIDCScopes = []string{"openid", "profile", "email", "offline_access"}

// ProfileClaims are the OpenID Connect standard claims (OIDC Core §5.1) a
// user's profile may hold; they are released with the `profile` scope.
var ProfileClaims = []string{
	"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
	"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at",
}

// The tenant file's shape for users, roles and flow lifetimes.
type (
	fileRole struct {
		Name        string           `yaml:"name"`
		Description string           `yaml:"description"`
		Permissions []filePermission `yaml:"permissions"`
	}
	filePermission struct {
		API    string   `yaml:"api"`
		Scopes []string `yaml:"scopes"`
	}
	fileUser struct {
		ID            string           `yaml:"id"`
		Username      string           `yaml:"username"`
		Email         string           `yaml:"email"`
		EmailVerified bool             `yaml:"email_verified"`
		PasswordHash  string           `yaml:"password_hash"`
		Password      string           `yaml:"password"`
		Profile       map[string]any   `yaml:"profile"`
		Metadata      map[string]any   `yaml:"metadata"`
		Roles         []string         `yaml:"roles"`
		Permissions   []filePermission `yaml:"permissions"`
	}
	fileUserFlows struct {
		SessionLifetime      time.Duration `yaml:"session_lifetime"`
		CodeLifetime         time.Duration `yaml:"code_lifetime"`
		IDTokenLifetime      time.Duration `yaml:"id_token_lifetime"`
		RefreshTokenLifetime time.Duration `yaml:"refresh_token_lifetime"`
		RefreshTokenIdle     time.Duration `yaml:"refresh_token_idle"`
		ConsentLifetime      time.Duration `yaml:"consent_lifetime"`
	}
)

// Limits on users.
const (
	maxLoginLen      = 255
	maxUserRoles     = 64
	maxProfileKeys   = 64
	maxUserMetaBytes = 16 << 10
)

// people validates roles, users and flow lifetimes (after APIs).
func (v *validator) people(t *Tenant, f *file) {
	t.users, t.logins = map[string]*User{}, map[string]*User{}
	for _, a := range t.APIs {
		for j, s := range a.Scopes {
			if slices.Contains(OIDCScopes, s.Name) {
				v.fail(fmt.Sprintf("scope %q is an OpenID Connect scope the issuer handles; an API cannot define it", s.Name), "apis", v.apiIndex(f, a), "scopes", j, "name")
			}
		}
		if a.PermissionsClaim && !a.RBAC {
			v.fail("permissions_claim needs rbac: true", "apis", v.apiIndex(f, a), "permissions_claim")
		}
	}
	roles := map[string]*Role{}
	for i := range f.Roles {
		fr := &f.Roles[i]
		r := &Role{Name: fr.Name, Description: fr.Description, Line: v.Line("roles", i)}
		switch {
		case !validHookName(r.Name):
			v.fail("name must be 1 to 64 letters, digits, '-', '_' or '.'", "roles", i, "name")
			continue
		case roles[r.Name] != nil:
			v.fail(fmt.Sprintf("role %q is defined twice", r.Name), "roles", i, "name")
			continue
		}
		if len(r.Description) > maxDescriptionLen {
			v.fail(fmt.Sprintf("description is longer than %d characters", maxDescriptionLen), "roles", i, "description")
		}
		r.Permissions = v.permissions(t, fr.Permissions, "roles", i)
		roles[r.Name] = r
		t.Roles = append(t.Roles, r)
	}
	for i := range f.Users {
		if u := v.user(t, roles, &f.Users[i], i); u != nil {
			t.Users = append(t.Users, u)
		}
	}
	d, err := newDecoys(t.Users, rand.Reader)
	if err != nil {
		v.fail("cannot make decoy password hashes: "+err.Error(), "users")
	}
	t.decoys = d
	t.Flows = DefaultUserFlows
	ff := f.UserFlows
	for _, d := range []struct {
		key      string
		in       time.Duration
		out      *time.Duration
		min, max time.Duration
	}{
		{"session_lifetime", ff.SessionLifetime, &t.Flows.SessionLifetime, time.Minute, 90 * 24 * time.Hour},
		{"code_lifetime", ff.CodeLifetime, &t.Flows.CodeLifetime, time.Second, 10 * time.Minute},
		{"id_token_lifetime", ff.IDTokenLifetime, &t.Flows.IDTokenLifetime, time.Minute, MaxTokenLifetime},
		{"refresh_token_lifetime", ff.RefreshTokenLifetime, &t.Flows.RefreshTokenLifetime, time.Minute, 365 * 24 * time.Hour},
		{"refresh_token_idle", ff.RefreshTokenIdle, &t.Flows.RefreshTokenIdle, time.Minute, 365 * 24 * time.Hour},
		{"consent_lifetime", ff.ConsentLifetime, &t.Flows.ConsentLifetime, time.Minute, 5 * 365 * 24 * time.Hour},
	} {
		switch {
		case d.in == 0:
		case d.in < d.min || d.in > d.max:
			v.fail(fmt.Sprintf("%s must be between %s and %s", d.key, d.min, d.max), "user_flows", d.key)
		case d.in%time.Second != 0:
			v.fail(fmt.Sprintf("%s must be a whole number of seconds", d.key), "user_flows", d.key)
		default:
			*d.out = d.in
		}
	}
	if t.Flows.RefreshTokenIdle > t.Flows.RefreshTokenLifetime {
		v.fail("refresh_token_idle cannot be longer than refresh_token_lifetime", "user_flows", "refresh_token_idle")
	}
}

// apiIndex finds where an API is declared, for error positions.
func (v *validator) apiIndex(f *file, a *API) int {
	return slices.IndexFunc(f.APIs, func(fa fileAPI) bool { return fa.Identifier == a.Identifier })
}

// permissions validates a list of per-API permissions at path[...].permissions.
func (v *validator) permissions(t *Tenant, fps []filePermission, path ...any) map[string][]string {
	out := map[string][]string{}
	for j, fp := range fps {
		at := append(slices.Clone(path), "permissions", j)
		a, ok := t.apis[fp.API]
		if !ok {
			v.fail(fmt.Sprintf("no API has the identifier %q", fp.API), append(at, "api")...)
			continue
		}
		for k, s := range fp.Scopes {
			if !a.Defines(s) {
				v.fail(fmt.Sprintf("API %q does not define scope %q", a.Identifier, s), append(at, "scopes", k)...)
				continue
			}
			out[a.Identifier] = append(out[a.Identifier], s)
		}
	}
	for api, scopes := range out {
		out[api] = inAPIOrder(t.apis[api], scopes)
	}
	return out
}

// inAPIOrder returns the distinct scopes of list in the order the API
// defines them.
func inAPIOrder(a *API, list []string) []string {
	out := []string{}
	for _, s := range a.Scopes {
		if slices.Contains(list, s.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}

func (v *validator) user(t *Tenant, roles map[string]*Role, fu *fileUser, i int) *User {
	u := &User{
		ID:            fu.ID,
		Username:      fu.Username,
		Email:         fu.Email,
		EmailVerified: fu.EmailVerified,
		Roles:         fu.Roles,
		Permissions:   map[string][]string{},
		Line:          v.Line("users", i),
	}
	ok := true
	switch {
	case !validClientID(u.ID):
		v.fail(fmt.Sprintf("id must be 1 to %d printable characters with no leading or trailing space", maxIDLen), "users", i, "id")
		ok = false
	case t.users[u.ID] != nil:
		v.fail(fmt.Sprintf("user %q is defined twice", u.ID), "users", i, "id")
		ok = false
	case t.clients[u.ID] != nil:
		// Client tokens carry sub = client id: a user of the same id could
		// be confused with the client (RFC 9700 §4.15).
		v.fail(fmt.Sprintf("id %q is a client's id; user and client ids must differ", u.ID), "users", i, "id")
		ok = false
	}
	if u.Username == "" && u.Email == "" {
		v.fail("a user needs a username or an email to sign in with", "users", i)
		ok = false
	}
	for _, l := range []struct{ key, val string }{{"username", u.Username}, {"email", u.Email}} {
		if l.val == "" {
			continue
		}
		switch {
		case len(l.val) > maxLoginLen || strings.TrimSpace(l.val) != l.val || strings.ContainsFunc(l.val, func(r rune) bool { return r < ' ' || r == 0x7f }):
			v.fail(fmt.Sprintf("%s must be 1 to %d printable characters with no leading or trailing space", l.key, maxLoginLen), "users", i, l.key)
			ok = false
		case l.key == "email" && !strings.Contains(l.val, "@"):
			v.fail(fmt.Sprintf("email %q has no @", l.val), "users", i, l.key)
			ok = false
		case t.logins[LoginKey(l.val)] != nil && t.logins[LoginKey(l.val)] != u:
			v.fail(fmt.Sprintf("%s %q is already the username or email of user %q", l.key, l.val, t.logins[LoginKey(l.val)].ID), "users", i, l.key)
			ok = false
		}
	}
	switch {
	case fu.Password != "":
		v.fail("plaintext passwords are not accepted; put a hash in password_hash (make one with: scopeline user hash-password)", "users", i, "password")
	case fu.PasswordHash == "":
		// A user without a password cannot sign in with one (kept for
		// hooks and future sign-in methods).
	default:
		h, err := ParsePasswordHash(fu.PasswordHash)
		if err != nil {
			v.fail(err.Error(), "users", i, "password_hash")
		}
		u.password = h
	}
	if len(fu.Roles) > maxUserRoles {
		v.fail(fmt.Sprintf("at most %d roles", maxUserRoles), "users", i, "roles")
	}
	granted := map[string][]string{}
	for j, name := range fu.Roles {
		r, found := roles[name]
		if !found {
			v.fail(fmt.Sprintf("no role is named %q", name), "users", i, "roles", j)
			continue
		}
		for api, scopes := range r.Permissions {
			granted[api] = append(granted[api], scopes...)
		}
	}
	for api, scopes := range v.permissions(t, fu.Permissions, "users", i) {
		granted[api] = append(granted[api], scopes...)
	}
	for api, scopes := range granted {
		u.Permissions[api] = inAPIOrder(t.apis[api], scopes)
	}
	if len(fu.Profile) > maxProfileKeys {
		v.fail(fmt.Sprintf("at most %d profile claims", maxProfileKeys), "users", i, "profile")
	}
	for k := range fu.Profile {
		if !slices.Contains(ProfileClaims, k) {
			v.fail(fmt.Sprintf("%q is not an OpenID Connect profile claim (%s); put other data in metadata", k, strings.Join(ProfileClaims, ", ")), "users", i, "profile", k)
		}
	}
	if fu.Profile != nil {
		u.Profile = jsonable(fu.Profile).(map[string]any)
	}
	if fu.Metadata != nil {
		u.Metadata = jsonable(fu.Metadata).(map[string]any)
		if b, err := json.Marshal(u.Metadata); err != nil || len(b) > maxUserMetaBytes {
			v.fail(fmt.Sprintf("metadata larger than %d bytes", maxUserMetaBytes), "users", i, "metadata")
		}
	}
	if !ok {
		return nil
	}
	t.users[u.ID] = u
	for _, l := range []string{u.Username, u.Email} {
		if l != "" {
			t.logins[LoginKey(l)] = u
		}
	}
	return u
}
