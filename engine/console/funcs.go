package console

import (
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
)

// funcs are the templates' functions.
func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"path":   func(page string) string { return c.url(page, nil) },
		"issuer": func() string { return c.cfg.Issuer },
		"asset":  func(name string) string { return c.Path() + c.assets[name].path },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"ago":  func(t time.Time) string { return ago(c.now().Sub(t)) },
		"dur":  fmtDuration,
		"unix": func(s int64) time.Time { return time.Unix(s, 0) },
		"span": fmtSpan,
		"short": func(s string, n int) string {
			if len(s) <= n {
				return s
			}
			return s[:n] + "…"
		},
		"join":     strings.Join,
		"contains": func(list []string, s string) bool { return slices.Contains(list, s) },
		"add":      func(a, b int) int { return a + b },
		"bytes":    fmtBytes,
		"bytes64":  func(n int64) string { return fmtBytes(int(n)) },
		"grantHref": func(client, api string) string {
			return c.url("grant", url.Values{"client": {client}, "api": {api}})
		},
		"decisionsHref": func(kv ...string) string {
			q := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				q.Set(kv[i], kv[i+1])
			}
			return c.url("decisions", q)
		},
		"seqHref": func(seq uint64) string { return c.url("decisions/"+strconv.FormatUint(seq, 10), nil) },
		"tryHref": func(kv ...string) string {
			q := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				q.Set(kv[i], kv[i+1])
			}
			return c.url("try", q)
		},
		"revHref":    func(id string) string { return c.url("tenant", url.Values{"rev": {id}}) + "#revisions" },
		"userName":   displayName,
		"scopesOf":   scopeNames,
		"hasManage":  func(u *user) bool { return u != nil && u.Manage },
		"subjectsOf": subjectsOf,
	}
}

func scopeNames(a *tenant.API) []string {
	out := make([]string, len(a.Scopes))
	for i, s := range a.Scopes {
		out[i] = s.Name
	}
	return out
}

func subjectsOf(g *tenant.Grant) string {
	var s []string
	if g.ForClient {
		s = append(s, "machine (client credentials)")
	}
	if g.ForUser {
		s = append(s, "users")
	}
	return strings.Join(s, ", ")
}

// fmtDuration writes a duration for people: ns, µs, ms or s, three
// significant digits.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'g', 3, 64) + " µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'g', 3, 64) + " ms"
	}
	return d.Round(10 * time.Millisecond).String()
}

func fmtBytes(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.Itoa(n) + " B"
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "in " + ago(-d)[:len(ago(-d))-4]
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
}

// fmtSpan writes a configured duration without its zero units: 1h, 5m,
// 1h30m, 250ms.
func fmtSpan(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
