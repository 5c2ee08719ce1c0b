package console_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/console"
	"github.com/scopeline/scopeline/engine/tenant"
)

func parseTestTenant(t *testing.T) *tenant.Tenant {
	t.Helper()
	src := strings.NewReplacer("ISSUER", "http://127.0.0.1/", "HASH", "").Replace(testTenant)
	src = strings.ReplaceAll(src, `password_hash: "", `, "")
	tn, err := tenant.Parse([]byte(src), "tenant.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// cellAt returns the cell of client × api × scope.
func cellAt(t *testing.T, m *console.Matrix, client, api, scope string) console.Cell {
	t.Helper()
	for _, row := range m.Rows {
		if row.Client.ID != client {
			continue
		}
		for ai, ma := range m.APIs {
			if ma.API.Identifier != api {
				continue
			}
			if si := slices.Index(ma.Scopes, scope); si >= 0 {
				return row.Cells[ai][si]
			}
		}
	}
	t.Fatalf("no cell %s × %s × %s", client, api, scope)
	return console.Cell{}
}

// TestMatrix works out who can get what as the baseline policy decides
// it: machine grants, user grants capped by RBAC (with the number of
// users holding each scope), user grants with no per-user cap, hooks
// allowed to exceed the grant, and no grant at all.
func TestMatrix(t *testing.T) {
	tn := parseTestTenant(t)
	m := console.NewMatrix(tn, console.MatrixFilter{})
	if len(m.Rows) != len(tn.Clients) || len(m.APIs) != len(tn.APIs) {
		t.Fatalf("%d rows, %d APIs", len(m.Rows), len(m.APIs))
	}
	const api, reports, cons = "https://api.example.com", "https://reports.example.com", "urn:scopeline:console"
	for _, c := range []struct {
		client, api, scope string
		want               console.Cell
	}{
		{"demo-m2m", api, "read:users", console.Cell{Machine: true}},
		{"demo-m2m", api, "delete:users", console.Cell{}}, // outside the ceiling, and no credentials-exchange hook may exceed it
		{"demo-spa", api, "read:users", console.Cell{User: true, Users: 3}},
		{"demo-spa", api, "write:users", console.Cell{User: true, Users: 1}},
		{"demo-spa", api, "delete:users", console.Cell{ExceedHooks: []string{"export-for-all"}}},
		{"reports-app", reports, "read:reports", console.Cell{User: true, Uncapped: true}},
		{"reports-app", reports, "export:reports", console.Cell{ExceedHooks: []string{"export-for-all"}}},
		{"demo-other", api, "read:users", console.Cell{}},
		{"scopeline-console", cons, "console:manage", console.Cell{User: true, Users: 1}},
		{"demo-m2m", reports, "read:reports", console.Cell{}},
	} {
		got := cellAt(t, m, c.client, c.api, c.scope)
		got.Grant = nil
		if got.Machine != c.want.Machine || got.User != c.want.User || got.Uncapped != c.want.Uncapped ||
			got.Users != c.want.Users || !slices.Equal(got.ExceedHooks, c.want.ExceedHooks) {
			t.Errorf("%s × %s: %+v, want %+v", c.client, c.scope, got, c.want)
		}
	}
	if g := cellAt(t, m, "demo-spa", api, "read:users").Grant; g == nil || g.Line == 0 {
		t.Error("a cell does not lead to its grant and line")
	}

	// Who can get a scope with no per-user cap.
	var un []string
	for _, u := range m.Uncapped() {
		for _, cl := range u.Clients {
			un = append(un, u.Scope+"@"+cl.ID)
		}
	}
	// The post-login hook allowed to exceed grants can add, for any user,
	// what lies outside a user grant's ceiling (delete:users through
	// demo-spa); reports does not enforce RBAC. The console's scopes are
	// within its grant's ceiling and capped by RBAC.
	want := []string{"delete:users@demo-spa", "read:reports@reports-app", "export:reports@reports-app"}
	if !slices.Equal(un, want) {
		t.Errorf("uncapped %v, want %v", un, want)
	}

	// Filters narrow rows and columns.
	for _, c := range []struct {
		f       console.MatrixFilter
		clients []string
		scopes  []string
	}{
		{console.MatrixFilter{Client: "DEMO"}, []string{"demo-m2m", "demo-other", "demo-spa"}, nil},
		{console.MatrixFilter{API: reports}, []string{"reports-app"}, []string{"read:reports", "export:reports"}},
		{console.MatrixFilter{Scope: "write"}, []string{"demo-m2m", "demo-spa"}, []string{"write:users"}},
		{console.MatrixFilter{Flow: "machine"}, []string{"demo-m2m"}, nil},
		{console.MatrixFilter{Uncapped: true}, []string{"demo-spa", "reports-app"}, nil},
	} {
		m := console.NewMatrix(tn, c.f)
		var clients, scopes []string
		for _, r := range m.Rows {
			clients = append(clients, r.Client.ID)
		}
		for _, a := range m.APIs {
			scopes = append(scopes, a.Scopes...)
		}
		if !slices.Equal(clients, c.clients) || (c.scopes != nil && !slices.Equal(scopes, c.scopes)) {
			t.Errorf("%+v: clients %v scopes %v", c.f, clients, scopes)
		}
	}
}

// TestGrantPages renders the matrix and a grant, with its file line.
func TestGrantPages(t *testing.T) {
	h := newHarness(t)
	b := h.signIn("bob")
	status, page, _ := b.Visit(h.URL + "console/grants?uncapped=1")
	if status != http.StatusOK || !strings.Contains(page, `<table class="matrix" id="matrix">`) || !strings.Contains(page, "user · no cap") ||
		!strings.Contains(page, "hook export-for-all may add") || strings.Contains(page, "<code>demo-m2m</code><br>") {
		t.Errorf("filtered matrix: %d\n%s", status, page)
	}
	status, page, _ = b.Visit(h.URL + "console/grant?client=demo-spa&api=https://api.example.com")
	tn := h.src.Tenant().Tenant
	g, _ := tn.Grant("demo-spa", "https://api.example.com")
	for _, want := range []string{
		`<strong id="grant-line">` + itoa(g.Line) + `</strong>`,
		"- client: demo-spa\n  api: https://api.example.com\n  scopes: [read:users, write:users]\n  subjects: [user]",
		`<tr id="scope-write:users">`, "<code>alice</code> via user-admin",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("grant page lacks %q:\n%s", want, page)
		}
	}
	if status != http.StatusOK {
		t.Errorf("grant page: %d", status)
	}
	if status, page, _ := b.Visit(h.URL + "console/grant?client=demo-other&api=https://api.example.com"); status != http.StatusOK || !strings.Contains(page, "No grant") {
		t.Errorf("no grant: %d", status)
	}
	if status, _, _ := b.Visit(h.URL + "console/grant?client=nobody&api=x"); status != http.StatusNotFound {
		t.Errorf("an unknown client: %d", status)
	}
}

// TestCheck says what a tenant lacks for console sign-in.
func TestCheck(t *testing.T) {
	c, err := console.New(nil, console.Config{Issuer: "http://127.0.0.1/", Endpoints: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(parseTestTenant(t)); err != nil {
		t.Fatalf("the test tenant: %v", err)
	}
	const secret = "\n    secrets: [sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2]"
	for what, edit := range map[string]*strings.Replacer{
		`no client "scopeline-console"`: strings.NewReplacer("scopeline-console", "other-console"),
		"is an m2m client": strings.NewReplacer("id: scopeline-console\n    type: spa\n    redirect_uris: [http://127.0.0.1/console/callback]", "id: scopeline-console\n    type: m2m"+secret,
			"console:manage], subjects: [user]}", "console:manage], subjects: [client]}"),
		"does not list the redirect URI":         strings.NewReplacer("http://127.0.0.1/console/callback", "http://127.0.0.1/elsewhere"),
		"is confidential":                        strings.NewReplacer("id: scopeline-console\n    type: spa", "id: scopeline-console\n    type: web"+secret),
		"must have rbac: true":                   strings.NewReplacer("name: Scopeline console\n    rbac: true", "name: Scopeline console"),
		"does not define the scope console:read": strings.NewReplacer("{name: console:read}, ", "", "console:read, ", "", "scopes: [console:read]", "scopes: [console:manage]"),
		"no user grant of console:read":          strings.NewReplacer("  - {client: scopeline-console, api: urn:scopeline:console, scopes: [console:read, console:manage], subjects: [user]}\n", ""),
	} {
		src := strings.NewReplacer("ISSUER", "http://127.0.0.1/", `password_hash: "HASH", `, "").Replace(testTenant)
		edited := edit.Replace(src)
		if edited == src {
			t.Fatalf("%s: the edit changes nothing", what)
		}
		tn, err := tenant.Parse([]byte(edited), "t.yaml", ".")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := c.Check(tn); err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("%s: %v", what, err)
		}
	}
}
