package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/scopeline/scopeline/engine/tenant"
)

// Matrix says who can get which scope: a row per client, a column per
// scope of each API. It is what the baseline policy would allow before any
// hook runs (hooks may only narrow it, except those allowed to exceed the
// grant, which the cells name).
type Matrix struct {
	APIs []*MatrixAPI
	Rows []*MatrixRow
}

// MatrixAPI is a group of columns: an API and the scopes shown.
type MatrixAPI struct {
	API    *tenant.API
	Scopes []string
}

// MatrixRow is a client and its cells, per API then per scope, in the
// order of Matrix.APIs.
type MatrixRow struct {
	Client *tenant.Client
	Cells  [][]Cell
}

// Cell is what a client can get of one scope of one API.
type Cell struct {
	// Grant is the client's grant on the API; nil when it has none.
	Grant *tenant.Grant
	// Machine: a client-credentials token can carry the scope.
	Machine bool
	// User: a user's token through the client can carry it.
	User bool
	// Uncapped: User, and the API does not enforce RBAC, so every user
	// who signs in through the client can get it.
	Uncapped bool
	// Users is, under RBAC, how many users' permissions include the scope.
	Users int
	// ExceedHooks are hooks allowed to exceed the grant (allow_exceed_grant)
	// that run for this client on this API and could add the scope
	// although the ceiling does not hold it.
	ExceedHooks []string
}

// Any reports whether the client can get the scope in any way.
func (c Cell) Any() bool { return c.Machine || c.User || len(c.ExceedHooks) > 0 }

// MatrixFilter narrows a Matrix. Empty fields keep everything.
type MatrixFilter struct {
	Client string // a client id, or part of one (case-insensitive)
	API    string // an API identifier
	Scope  string // a scope, or part of one
	Flow   string // "machine", "user", or "" for both
	// Uncapped keeps only cells a user can get with no per-user cap.
	Uncapped bool
}

func (f MatrixFilter) keep(c Cell) bool {
	switch {
	case f.Flow == "machine" && !c.Machine:
		return false
	case f.Flow == "user" && !c.User && len(c.ExceedHooks) == 0:
		return false
	case f.Uncapped && !c.Uncapped && len(c.ExceedHooks) == 0:
		return false
	}
	return f.Flow != "" || f.Uncapped || c.Any()
}

// narrowsCells reports whether the filter keeps only some cells (then a
// client with none kept is left out; a filter by client alone shows
// clients that can get nothing too).
func (f MatrixFilter) narrowsCells() bool {
	return f.API != "" || f.Scope != "" || f.Flow != "" || f.Uncapped
}

// NewMatrix works out the matrix of t, narrowed by f: columns of the
// scopes f keeps, rows of the clients f keeps with at least one cell f
// keeps (every client f keeps, when f narrows no cell).
func NewMatrix(t *tenant.Tenant, f MatrixFilter) *Matrix {
	m := &Matrix{}
	exceed := map[tenant.Trigger][]string{}
	for trig, p := range t.Pipelines {
		for _, h := range p.Hooks {
			if h.AllowExceedGrant {
				exceed[trig] = append(exceed[trig], h.Name)
			}
		}
	}
	for _, a := range t.APIs {
		if f.API != "" && a.Identifier != f.API {
			continue
		}
		ma := &MatrixAPI{API: a}
		for _, s := range a.Scopes {
			if f.Scope == "" || strings.Contains(strings.ToLower(s.Name), strings.ToLower(f.Scope)) {
				ma.Scopes = append(ma.Scopes, s.Name)
			}
		}
		if len(ma.Scopes) > 0 {
			m.APIs = append(m.APIs, ma)
		}
	}
	for _, cl := range t.Clients {
		if f.Client != "" && !strings.Contains(strings.ToLower(cl.ID), strings.ToLower(f.Client)) {
			continue
		}
		row := &MatrixRow{Client: cl}
		kept := false
		for _, ma := range m.APIs {
			g, _ := t.Grant(cl.ID, ma.API.Identifier)
			cells := make([]Cell, len(ma.Scopes))
			for i, s := range ma.Scopes {
				cells[i] = cellOf(t, g, ma.API, s, exceed)
				if f.keep(cells[i]) {
					kept = true
				} else {
					cells[i] = Cell{Grant: g}
				}
			}
			row.Cells = append(row.Cells, cells)
		}
		if kept || !f.narrowsCells() {
			m.Rows = append(m.Rows, row)
		}
	}
	return m
}

// cellOf is what grant g (nil: none) gives of scope on api, as the
// baseline policy decides it (engine.baseline), and which hooks allowed
// to exceed the grant could add the scope beyond it.
func cellOf(t *tenant.Tenant, g *tenant.Grant, api *tenant.API, scope string, exceed map[tenant.Trigger][]string) Cell {
	c := Cell{Grant: g}
	if g == nil {
		return c // no grant, no token: the baseline denies before any hook
	}
	in := g.Allows(scope)
	c.Machine = in && g.ForClient
	c.User = in && g.ForUser
	if c.User {
		if api.RBAC {
			c.Users = len(usersWith(t, api, scope))
		} else {
			c.Uncapped = true
		}
	}
	if !in {
		if g.ForClient {
			c.ExceedHooks = append(c.ExceedHooks, exceed[tenant.TriggerCredentialsExchange]...)
		}
		if g.ForUser {
			for _, h := range exceed[tenant.TriggerPostLogin] {
				if !slices.Contains(c.ExceedHooks, h) {
					c.ExceedHooks = append(c.ExceedHooks, h)
				}
			}
		}
	}
	return c
}

// usersWith returns the users whose permissions on api include scope.
func usersWith(t *tenant.Tenant, api *tenant.API, scope string) []*tenant.User {
	var out []*tenant.User
	for _, u := range t.Users {
		if slices.Contains(u.Permissions[api.Identifier], scope) {
			out = append(out, u)
		}
	}
	return out
}

// Uncapped lists, per API scope, the clients through which any user who
// signs in can get it: user grants on APIs without RBAC, and post-login
// hooks allowed to exceed the grant.
func (m *Matrix) Uncapped() []UncappedScope {
	var out []UncappedScope
	for ai, ma := range m.APIs {
		for si, s := range ma.Scopes {
			u := UncappedScope{API: ma.API, Scope: s}
			for _, row := range m.Rows {
				c := row.Cells[ai][si]
				if c.Uncapped || (c.Grant != nil && c.Grant.ForUser && len(c.ExceedHooks) > 0) {
					u.Clients = append(u.Clients, row.Client)
				}
			}
			if len(u.Clients) > 0 {
				out = append(out, u)
			}
		}
	}
	return out
}

// UncappedScope is a scope users can get with no per-user cap.
type UncappedScope struct {
	API     *tenant.API
	Scope   string
	Clients []*tenant.Client
}

// grantsView is the grants page.
type grantsView struct {
	Matrix   *Matrix
	Filter   MatrixFilter
	Tenant   *tenant.Tenant
	Uncapped []UncappedScope
	Source   string
	// CellHref links a cell to its grant.
	CellHref func(cl *tenant.Client, a *tenant.API, scope string) string
}

func (c *Console) handleGrants(w http.ResponseWriter, r *http.Request) {
	ts := c.src.Tenant()
	q := r.URL.Query()
	f := MatrixFilter{
		Client: clip(q.Get("client"), 256), API: clip(q.Get("api"), 512), Scope: clip(q.Get("scope"), 128),
		Flow: q.Get("flow"), Uncapped: q.Get("uncapped") != "",
	}
	if f.Flow != "machine" && f.Flow != "user" {
		f.Flow = ""
	}
	m := NewMatrix(ts.Tenant, f)
	c.render(w, r, http.StatusOK, "grants", &view{Title: "Grants", Nav: "grants", Body: &grantsView{
		Matrix: m, Filter: f, Tenant: ts.Tenant, Uncapped: m.Uncapped(), Source: ts.Source,
		CellHref: func(cl *tenant.Client, a *tenant.API, scope string) string {
			return c.url("grant", url.Values{"client": {cl.ID}, "api": {a.Identifier}}) + "#scope-" + scope
		},
	}})
}

// grantView is the page of one client's grant on one API.
type grantView struct {
	Client *tenant.Client
	API    *tenant.API
	Grant  *tenant.Grant
	Source string
	YAML   string
	Scopes []grantScope
	Hooks  []*tenant.HookSpec // that run on this client's requests for the API
	TryURL string
}

// grantScope is one scope of the API, as the grant gives it.
type grantScope struct {
	tenant.Scope
	Cell
	InCeiling bool
	Users     []userVia
}

// userVia is a user whose permissions hold a scope, and through what.
type userVia struct {
	User *tenant.User
	Via  []string // role names, or "direct"
}

func (c *Console) handleGrant(w http.ResponseWriter, r *http.Request) {
	t := c.src.Tenant()
	q := r.URL.Query()
	cl, cok := t.Tenant.Client(q.Get("client"))
	api, aok := t.Tenant.API(q.Get("api"))
	if !cok || !aok {
		c.fail(w, r, errNotFound)
		return
	}
	g, _ := t.Tenant.Grant(cl.ID, api.Identifier)
	v := &grantView{Client: cl, API: api, Grant: g, Source: t.Source}
	exceed := map[tenant.Trigger][]string{}
	if g != nil {
		v.YAML = grantYAML(g)
		for _, trig := range tenant.Triggers {
			if (trig == tenant.TriggerCredentialsExchange && !g.ForClient) || (trig == tenant.TriggerPostLogin && !g.ForUser) {
				continue
			}
			for _, h := range t.Tenant.Pipelines[trig].Hooks {
				v.Hooks = append(v.Hooks, h)
				if h.AllowExceedGrant {
					exceed[trig] = append(exceed[trig], h.Name)
				}
			}
		}
		tq := url.Values{"client": {cl.ID}, "api": {api.Identifier}}
		if !g.ForClient {
			tq.Set("flow", "user")
		}
		v.TryURL = c.url("try", tq)
	}
	for _, s := range api.Scopes {
		gs := grantScope{Scope: s, Cell: cellOf(t.Tenant, g, api, s.Name, exceed), InCeiling: g != nil && g.Allows(s.Name)}
		if gs.User && api.RBAC {
			for _, u := range usersWith(t.Tenant, api, s.Name) {
				gs.Users = append(gs.Users, userVia{User: u, Via: rolesGiving(t.Tenant, u, api, s.Name)})
			}
		}
		v.Scopes = append(v.Scopes, gs)
	}
	c.render(w, r, http.StatusOK, "grant", &view{Title: "Grant: " + cl.ID + " on " + api.Identifier, Nav: "grants", Body: v})
}

// rolesGiving names the roles of u that give scope on api.
func rolesGiving(t *tenant.Tenant, u *tenant.User, api *tenant.API, scope string) []string {
	var via []string
	for _, name := range u.Roles {
		for _, role := range t.Roles {
			if role.Name == name && slices.Contains(role.Permissions[api.Identifier], scope) {
				via = append(via, name)
			}
		}
	}
	if len(via) == 0 {
		via = []string{"direct permission"}
	}
	return via
}

// grantYAML writes a grant as the tenant file would.
func grantYAML(g *tenant.Grant) string {
	var subjects []string
	if g.ForClient {
		subjects = append(subjects, tenant.SubjectClient)
	}
	if g.ForUser {
		subjects = append(subjects, tenant.SubjectUser)
	}
	return fmt.Sprintf("- client: %s\n  api: %s\n  scopes: [%s]\n  subjects: [%s]\n",
		yamlScalar(g.Client.ID), yamlScalar(g.API.Identifier), strings.Join(flowScalars(g.Scopes), ", "), strings.Join(subjects, ", "))
}

// flowScalars quotes the items of a flow sequence that need it.
func flowScalars(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		if out[i] = yamlScalar(s); out[i] == s && strings.ContainsAny(s, ",[]{}") {
			out[i] = fmt.Sprintf("%q", s)
		}
	}
	return out
}

// yamlScalar quotes s when plain YAML would not read it back as itself.
func yamlScalar(s string) string {
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsAny(s[:1], "-?:,[]{}#&*!|>'\"%@`") ||
		strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.ContainsAny(s, "\n\t") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
