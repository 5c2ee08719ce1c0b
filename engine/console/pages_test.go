package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/console"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

var (
	inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	scriptTag    = regexp.MustCompile(`<script[^>]*>`)
	inlineStyle  = regexp.MustCompile(`<style|\sstyle=|\son[a-z]+=`)
	assetRef     = regexp.MustCompile(`(?:href|src)="(/console/static/[^"]+)"`)
)

// TestSecurityHeaders: every console response, page or error, carries
// the strict policy; pages hold no inline script, style or handler, and
// load their script and style sheet from the console itself, served from
// the binary with a digest in the name, cached for ever.
func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	b := h.signIn("alice")
	h.token("demo-m2m", "demo-m2m-secret", "read:users")
	seq := h.waitSeq(2)
	assets := map[string]bool{}
	for _, p := range []string{"", "grants", "grant?client=demo-spa&api=https://api.example.com", "decisions", "decisions/" + strconv.FormatUint(seq, 10),
		"hooks", "try", "keys", "tenant", "nothing-here", "signin"} {
		resp, err := b.Client.Get(h.URL + "console/" + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		hd := resp.Header
		if got := hd.Get("Content-Security-Policy"); got != wantCSP {
			t.Errorf("%q: CSP %q", p, got)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"} {
			if hd.Get(k) != v {
				t.Errorf("%q: %s %q", p, k, hd.Get(k))
			}
		}
		if resp.Request.URL.Path == "/console/"+p && hd.Get("Cache-Control") != "no-store" {
			t.Errorf("%q: Cache-Control %q", p, hd.Get("Cache-Control"))
		}
		page := string(body)
		if inlineScript.MatchString(page) || inlineStyle.MatchString(page) {
			t.Errorf("%q: inline script or style", p)
		}
		for _, tag := range scriptTag.FindAllString(page, -1) {
			if !strings.Contains(tag, `src="/console/static/`) {
				t.Errorf("%q: a script from elsewhere: %s", p, tag)
			}
		}
		for _, m := range assetRef.FindAllStringSubmatch(page, -1) {
			assets[m[1]] = true
		}
		if p == "nothing-here" && resp.StatusCode != http.StatusNotFound {
			t.Errorf("an unknown page: %d", resp.StatusCode)
		}
	}
	if len(assets) != 2 {
		t.Errorf("assets %v", assets)
	}
	for a := range assets {
		resp, err := http.Get(h.URL + strings.TrimPrefix(a, "/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ct := resp.Header.Get("Content-Type")
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || resp.Header.Get("Content-Security-Policy") != wantCSP ||
			(strings.HasSuffix(a, ".css") && ct != "text/css; charset=utf-8") || (strings.HasSuffix(a, ".js") && ct != "text/javascript; charset=utf-8") {
			t.Errorf("%s: %d %q %q", a, resp.StatusCode, ct, resp.Header.Get("Cache-Control"))
		}
	}
}

// TestAccessibleMarkup: every form field has a label, tables have
// captions and header cells with a scope, and the page says its language.
func TestAccessibleMarkup(t *testing.T) {
	h := newHarness(t)
	b := h.signIn("alice")
	fields := regexp.MustCompile(`<(input|select)\s[^>]*>`)
	id := regexp.MustCompile(`\sid="([^"]+)"`)
	th := regexp.MustCompile(`<th(\s[^>]*)?>`)
	for _, p := range []string{"", "grants", "decisions", "hooks", "try", "keys", "tenant", "grant?client=demo-spa&api=https://api.example.com"} {
		_, page, _ := b.Visit(h.URL + "console/" + p)
		if !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, `<a class="skip" href="#main">`) {
			t.Errorf("%q: no language or skip link", p)
		}
		for _, f := range fields.FindAllString(page, -1) {
			if strings.Contains(f, `type="hidden"`) {
				continue
			}
			m := id.FindStringSubmatch(f)
			if m == nil || !strings.Contains(page, `<label for="`+m[1]+`"`) {
				t.Errorf("%q: a field without a label: %s", p, f)
			}
		}
		if strings.Count(page, "<table") != strings.Count(page, "<caption") {
			t.Errorf("%q: a table without a caption", p)
		}
		for _, m := range th.FindAllStringSubmatch(page, -1) {
			if !strings.Contains(m[1], "scope=") {
				t.Errorf("%q: a header cell without scope: %s", p, m[0])
			}
		}
	}
}

// TestTryRequest runs a dry run from the console: an auditor may, the
// trace is drawn, no token is minted, and the stream records it marked
// as a dry run in the auditor's name.
func TestTryRequest(t *testing.T) {
	h := newHarness(t)
	b := h.signIn("bob")
	after := h.waitSeq(1)
	_, form, _ := b.Visit(h.URL + "console/try?client=demo-spa&flow=user&api=https://api.example.com")
	token := forms(form)["/console/try"]
	if token == "" || !strings.Contains(form, `<option value="demo-spa" selected>`) || !strings.Contains(form, `id="t-user" name="flow" value="user" checked`) {
		t.Fatalf("the form is not prefilled:\n%s", form)
	}
	if status, _ := post(t, b, h.URL+"console/try", url.Values{"client": {"demo-m2m"}}, ""); status != http.StatusForbidden {
		t.Errorf("a dry run without the CSRF token: %d", status)
	}
	status, page := post(t, b, h.URL+"console/try", url.Values{"csrf": {token}, "flow": {"user"}, "client": {"demo-spa"},
		"user": {"bob"}, "api": {"https://api.example.com"}, "scope": {"read:users write:users"}}, "")
	for _, want := range []string{"Result: would be issued", "<strong>Dry run</strong> by <code>bob</code>",
		`<dd id="granted"><code>read:users</code></dd>`, "not in the user&#39;s permissions (RBAC)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the dry run lacks %q", want)
		}
	}
	if status != http.StatusOK {
		t.Fatalf("dry run: %d\n%s", status, page)
	}
	seq := h.waitSeq(after + 1)
	e, err := h.pub.Reader().Event(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := e.Decision()
	if k, _ := e.Kind(); k != audit.KindDryRun || !d.DryRun || d.DryRunBy != "bob" || d.JTI != "" || d.Subject != "bob" || d.ClientID != "demo-spa" {
		t.Errorf("the dry run's event: %s", e.Raw)
	}
	// It shows among the decisions, as a dry run.
	_, page, _ = b.Visit(h.URL + "console/decisions?kind=dry-run")
	if rows(page) == nil || rows(page)[0] != "dry-run" || !strings.Contains(page, "dry run by bob") {
		t.Errorf("the dry run is not listed:\n%s", page)
	}
}

// TestHooksPage draws each trigger's pipeline with the hooks' module,
// failure policy and costs over the last minutes, from the hook
// runtime's figures.
func TestHooksPage(t *testing.T) {
	h := newHarness(t)
	tier := console.NewHookStats("credentials-exchange", "tier-claim", .00001, .0001, .001)
	console.ObserveRuns(tier, 99, .00005, "ok")
	console.ObserveRuns(tier, 1, .0005, "timeout")
	h.addHookStats(tier)
	b := h.signIn("bob")
	status, page, _ := b.Visit(h.URL + "console/hooks")
	if status != http.StatusOK {
		t.Fatalf("hooks page: %d", status)
	}
	for _, want := range []string{
		`<h2 id="p-credentials-exchange"><code>credentials-exchange</code>`, `<span class="num">1</span> <code>tier-claim</code>`,
		`<td class="runs">100</td>`, `<td class="p50">55.5 µs</td>`, `<td class="p99">100 µs</td>`, `<span class="bad">1 timeout</span>`,
		`<span class="tag hook">may exceed the grant</span>`, "Go <small>(producers section, language field)</small>", "since the hooks were loaded",
		`<code>plugin tier-claim</code>, 2.1 KiB`, "tenant.yaml:",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the hooks page lacks %q", want)
		}
	}
}

// TestKeysAndTenantPages show the keys with their states and the next
// rotation, the tenant with its revision and reloads, and, when the
// source keeps revisions, their diffs.
func TestKeysAndTenantPages(t *testing.T) {
	h := newHarness(t)
	b := h.signIn("bob")
	_, page, _ := b.Visit(h.URL + "console/keys")
	cur, _ := h.issuer.Keys().Signing("RS256")
	for _, want := range []string{`<span class="tag st-current">current</span>`, `<span class="tag st-next">next</span>`, "<code>" + cur.ID + "</code>",
		"may start signing now", `<a href="/.well-known/jwks.json">JWKS</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the keys page lacks %q", want)
		}
	}
	h.src.Reload(context.Background(), "alice")
	h.waitSeq(2)
	_, page, _ = b.Visit(h.URL + "console/tenant")
	for _, want := range []string{`<code id="revision">` + h.src.Tenant().Revision + "</code>", `<span class="tag k-issued">applied</span>`,
		"<td><code>alice</code></td>", "has no stored revisions", "<code>scopeline-console</code>", "console-auditor"} {
		if !strings.Contains(page, want) {
			t.Errorf("the tenant page lacks %q", want)
		}
	}
	if strings.Contains(page, "$argon2") {
		t.Fatal("the tenant page shows a password hash")
	}

	// A source that keeps revisions shows them, and what changed.
	revs := &revisionSource{texts: map[string]string{
		"r1": "apis:\n  - identifier: a\nclients: []\n",
		"r2": "apis:\n  - identifier: a\n  - identifier: b\nclients: []\n",
		"r3": "apis:\n  - identifier: b\nclients: []\n",
	}}
	c, err := console.New(h.src, console.Config{Issuer: h.URL, Endpoints: h.issuer.Handler(), Revisions: revs})
	if err != nil {
		t.Fatal(err)
	}
	get := func(query string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, h.URL+"console/tenant?"+query, nil)
		for _, ck := range b.Client.Jar.Cookies(req.URL) {
			req.AddCookie(ck)
		}
		w := &recorder{header: http.Header{}}
		c.Handler().ServeHTTP(w, req)
		return w.body.String()
	}
	added := func(new int, text string) string {
		return `<tr class="added"><td></td><td>` + strconv.Itoa(new) + `</td><td><code><span class="vh">added: </span>&#43; ` + text + `</code></td></tr>`
	}
	removed := func(old int, text string) string {
		return `<tr class="removed"><td>` + strconv.Itoa(old) + `</td><td></td><td><code><span class="vh">removed: </span>- ` + text + `</code></td></tr>`
	}
	for _, c := range []struct {
		query      string
		want, lack []string
	}{
		// The revision chosen, against the one before it.
		{"rev=r2", []string{added(3, "  - identifier: b"), `aria-current="true"><code>r2</code>`, "<td>alice</td><td>add API b</td>",
			"Changes in <code>r2</code> since <code>r1</code>"}, nil},
		// The newest by default.
		{"", []string{"Changes in <code>r3</code> since <code>r2</code>", removed(2, "  - identifier: a")}, []string{added(3, "  - identifier: b")}},
		// Any two, as `tenant diff REV REV`.
		{"rev=r3&against=r1", []string{"Changes in <code>r3</code> since <code>r1</code>", removed(2, "  - identifier: a"), added(2, "  - identifier: b"),
			`<option value="r1" selected>`}, nil},
		{"rev=r2&against=r2", []string{`<p id="no-changes"><code>r2</code> and <code>r2</code> hold the same tenant.</p>`}, []string{`class="diff"`}},
		// The oldest listed has nothing before it: every line is new.
		{"rev=r1", []string{"(no earlier revision listed: every line)", added(1, "apis:")}, nil},
		{"rev=nope", []string{`<p class="alert">no such revision</p>`}, []string{`class="diff"`}},
		{"rev=r2&against=nope", []string{`<p class="alert">no such revision to compare with</p>`}, []string{`class="diff"`}},
	} {
		page := get(c.query)
		for _, want := range c.want {
			if !strings.Contains(page, want) {
				t.Errorf("?%s: the revisions lack %q:\n%s", c.query, want, page)
			}
		}
		for _, lack := range c.lack {
			if strings.Contains(page, lack) {
				t.Errorf("?%s: the revisions show %q", c.query, lack)
			}
		}
	}
}

// revisionSource is a store of the tenant's revisions.
type revisionSource struct {
	texts map[string]string
}

func (r *revisionSource) Revisions(context.Context, int) ([]console.Revision, error) {
	now := time.Now()
	return []console.Revision{{ID: "r3", Time: now, By: "bob", Note: "drop API a"}, {ID: "r2", Time: now.Add(-time.Minute), By: "alice", Note: "add API b"},
		{ID: "r1", Time: now.Add(-time.Hour), By: "alice"}}, nil
}

func (r *revisionSource) RevisionText(_ context.Context, id string) ([]byte, error) {
	return []byte(r.texts[id]), nil
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int)   { r.status = s }
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(p)
}
