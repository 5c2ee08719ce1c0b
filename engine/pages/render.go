package pages

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/internal/httpx"
)

//go:embed templates
var templateFS embed.FS

// templates renders the hosted login, consent and message pages: plain
// server-side HTML, no JavaScript, styles allowed by hash only.
type templates struct {
	tmpl      *template.Template
	style     template.CSS
	styleHash string
}

func newTemplates() *templates {
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	sum := sha256.Sum256(css)
	return &templates{
		tmpl:      template.Must(template.ParseFS(templateFS, "templates/*.html")),
		style:     template.CSS(css),
		styleHash: "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'",
	}
}

// page is what every page template gets.
type page struct {
	Title string
	Style template.CSS
	// Action is where the page's form posts; CSRF its token.
	Action string
	CSRF   string

	// The login page.
	ClientName string
	RequestID  string
	Username   string
	Error      string
	// The consent page.
	UserName string
	APIName  string
	Scopes   []scopeItem
	// The message page.
	Message string
	Alert   bool
	Button  string
}

// scopeItem is a scope as the consent page lists it.
type scopeItem struct{ Name, Description string }

// render writes a page with strict security headers. formTargets are the
// origins (besides the issuer's) that a form on the page may end up
// redirecting to: browsers apply form-action to redirects after a post.
func (pg *Pages) render(w http.ResponseWriter, status int, name string, p *page, formTargets ...string) {
	tm := pg.tmpl
	p.Style = tm.style
	var buf bytes.Buffer
	if err := tm.tmpl.ExecuteTemplate(&buf, name, p); err != nil {
		pg.cfg.Log.Error("rendering a page", "page", name, "err", err)
		http.Error(w, "server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src "+tm.styleHash+"; form-action 'self'"+
		formSources(formTargets)+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	httpx.NoStore(h)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// formSources turns redirect URIs into CSP sources: an origin for http(s),
// a scheme for a native app's private-use scheme.
func formSources(targets []string) string {
	var b strings.Builder
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil || u.Scheme == "" {
			continue
		}
		b.WriteByte(' ')
		if u.Scheme == "http" || u.Scheme == "https" {
			b.WriteString(u.Scheme + "://" + u.Host)
		} else {
			b.WriteString(u.Scheme + ":")
		}
	}
	return b.String()
}

// errorPage shows an error to the user, never redirecting anywhere: for
// requests whose client or redirect URI could not be trusted.
func (pg *Pages) errorPage(w http.ResponseWriter, status int, title, msg string) {
	pg.render(w, status, "message.html", &page{Title: title, Message: msg, Alert: true})
}

// acquirePage returns the current snapshot, or shows that the issuer is
// shutting down and returns nil. The caller releases the snapshot.
func (pg *Pages) acquirePage(w http.ResponseWriter) *engine.Snapshot {
	s := pg.iss.Acquire()
	if s == nil {
		pg.errorPage(w, http.StatusServiceUnavailable, "Unavailable", "The server is shutting down. Try again in a moment.")
	}
	return s
}

// Cookies. With an https issuer they are Secure and carry the __Host-
// prefix (host-only, path /, so no subdomain can set or read them).
const (
	cookieBrowser = "scopeline-browser"
	cookieSession = "scopeline-session"
)

func (pg *Pages) secureCookies() bool { return strings.HasPrefix(pg.iss.IssuerURL(), "https://") }

func (pg *Pages) cookieName(base string) string {
	if pg.secureCookies() {
		return "__Host-" + base
	}
	return base
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for path /; maxAge 0 makes
// it last the browser session, below 0 deletes it.
func (pg *Pages) setCookie(w http.ResponseWriter, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     pg.cookieName(base),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   pg.secureCookies(),
		SameSite: http.SameSiteLaxMode,
	})
}

func (pg *Pages) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(pg.cookieName(base))
	if err != nil || len(c.Value) > 128 {
		return ""
	}
	return c.Value
}

// csrfToken derives a form's token from a cookie only this browser holds
// and what the form is for: a page from another site can neither read the
// cookie nor compute the token (RFC 9700 §4.7, double submit, bound).
func csrfToken(cookie, purpose string) string {
	sum := sha256.Sum256([]byte("scopeline csrf\x00" + purpose + "\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func validCSRF(cookie, purpose, token string) bool {
	if cookie == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(csrfToken(cookie, purpose)), []byte(token)) == 1
}
