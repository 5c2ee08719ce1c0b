package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/scopeline/scopeline/sdk/resource"
)

// The console's scopes, on its API: read shows every page and allows dry
// runs; manage also allows the write controls.
const (
	ScopeRead   = "console:read"
	ScopeManage = "console:manage"
)

// Defaults of Config.
const (
	DefaultClientID = "scopeline-console"
	DefaultAudience = "urn:scopeline:console"
)

// PathConsole is where the console sits, below the issuer's path.
const PathConsole = "/console/"

// Config says how the console signs people in. The zero value of each
// field but Issuer and Endpoints is a sensible default.
type Config struct {
	// Issuer is the issuer URL (the `iss` of its tokens); the console is
	// served at <Issuer>console/.
	Issuer string
	// Endpoints are the issuer's HTTP endpoints. The console calls the
	// token endpoint and reads the JWKS through them in process, so that
	// it needs no route to its own public URL.
	Endpoints http.Handler
	// ClientID is the console's client in the tenant (DefaultClientID).
	// A public client (spa) signs in with PKCE alone; a confidential one
	// (web) also with ClientSecret.
	ClientID     string
	ClientSecret string
	// Audience is the identifier of the console's API (DefaultAudience),
	// which defines ScopeRead and ScopeManage and must enforce RBAC.
	Audience string
	// Revisions lists the tenant's stored revisions, when the tenant
	// comes from a store that keeps them (nil for a tenant file).
	Revisions RevisionSource
	Logger    *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Console serves the web console.
type Console struct {
	src    Source
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	prefix string // the issuer URL's path, without its trailing slash
	secure bool   // an https issuer: Secure, __Host- cookies

	pages     *template.Template
	assets    map[string]asset // by name
	validator *resource.Validator
	inproc    *http.Client
	stats     *hookStats
	streams   chan struct{} // bounds the live streams open at once
}

//go:embed templates static
var files embed.FS

// asset is an embedded file served under a name holding its digest, so
// that it can be cached for ever.
type asset struct {
	path        string // the URL path, below the console
	contentType string
	body        []byte
}

// MaxStreams bounds the live decision streams open at once.
const MaxStreams = 32

// New returns a console over src. Whether the tenant is set up for it
// (Check) is checked at each sign-in, not here: a reload may set it up.
func New(src Source, cfg Config) (*Console, error) {
	if cfg.Issuer == "" || cfg.Endpoints == nil {
		return nil, errors.New("console: an issuer and its endpoints are required")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("console: issuer %q is not an absolute URL", cfg.Issuer)
	}
	c := &Console{
		src: src, cfg: cfg, log: cfg.Logger, now: cfg.Now,
		prefix:  strings.TrimSuffix(u.Path, "/"),
		secure:  u.Scheme == "https",
		inproc:  &http.Client{Transport: inProcess{cfg.Endpoints}, Timeout: 30 * time.Second},
		stats:   newHookStats(),
		streams: make(chan struct{}, MaxStreams),
	}
	c.validator, err = resource.New(cfg.Issuer, cfg.Audience, resource.WithHTTPClient(c.inproc), resource.WithClock(cfg.Now))
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if err := c.loadAssets(); err != nil {
		return nil, err
	}
	c.pages, err = template.New("").Funcs(c.funcs()).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	return c, nil
}

func (c *Console) loadAssets() error {
	c.assets = map[string]asset{}
	return fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := path.Base(p)
		ext := path.Ext(name)
		types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
		c.assets[name] = asset{
			path:        "static/" + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext,
			contentType: types[ext],
			body:        body,
		}
		return nil
	})
}

// Run samples the hooks' metrics now and then, for their costs over the
// last minutes, until ctx ends.
func (c *Console) Run(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	c.sample()
	for {
		select {
		case <-t.C:
			c.sample()
		case <-ctx.Done():
			return
		}
	}
}

// Path is the console's URL path (below which Handler serves).
func (c *Console) Path() string { return c.prefix + PathConsole }

// url returns the path of a console page, with a query.
func (c *Console) url(page string, q url.Values) string {
	p := c.Path() + page
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// Handler serves the console below Path.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	p := c.Path()
	read, manage := c.require(ScopeRead), c.require(ScopeManage)
	mux.HandleFunc("GET "+p+"{$}", read(c.handleOverview))
	mux.HandleFunc("GET "+p+"grants", read(c.handleGrants))
	mux.HandleFunc("GET "+p+"grant", read(c.handleGrant))
	mux.HandleFunc("GET "+p+"decisions", read(c.handleDecisions))
	mux.HandleFunc("GET "+p+"decisions/stream", read(c.handleStream))
	mux.HandleFunc("GET "+p+"decisions/{seq}", read(c.handleDecision))
	mux.HandleFunc("GET "+p+"hooks", read(c.handleHooks))
	mux.HandleFunc("GET "+p+"try", read(c.handleTryForm))
	mux.HandleFunc("POST "+p+"try", read(c.handleTry))
	mux.HandleFunc("GET "+p+"keys", read(c.handleKeys))
	mux.HandleFunc("POST "+p+"keys/rotate", manage(c.handleRotate))
	mux.HandleFunc("GET "+p+"tenant", read(c.handleTenant))
	mux.HandleFunc("POST "+p+"tenant/reload", manage(c.handleReload))
	mux.HandleFunc("GET "+p+"signin", c.handleSignIn)
	mux.HandleFunc("GET "+p+"callback", c.handleCallback)
	mux.HandleFunc("POST "+p+"signout", read(c.handleSignOut))
	for _, a := range c.assets {
		mux.HandleFunc("GET "+p+a.path, c.serveAsset(a))
	}
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, errNotFound)
	})
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		if err := csrf.Check(r); err != nil {
			c.fail(w, r, &pageError{Status: http.StatusForbidden, Title: "Request refused", Msg: "This form was sent from another site."})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// csp is the Content-Security-Policy of every console response: scripts,
// styles and images from the console's origin only, nothing inline, no
// framing, forms to the console's origin only.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

func (c *Console) serveAsset(a asset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Write(a.body)
	}
}

// pageError is an error shown as a page, with its HTTP status.
type pageError struct {
	Status int
	Title  string
	Msg    string
}

func (e *pageError) Error() string { return e.Title + ": " + e.Msg }

var (
	errNotFound  = &pageError{Status: http.StatusNotFound, Title: "Not found", Msg: "There is no such page in the console."}
	errForbidden = &pageError{Status: http.StatusForbidden, Title: "Not allowed",
		Msg: "This needs the console:manage scope (operators). Your account can read the console but not change anything."}
	errNoStream = &pageError{Status: http.StatusServiceUnavailable, Title: "No audit stream",
		Msg: "This issuer has no audit stream to read decisions from."}
)

// fail is the one place an error becomes a response: a page, or for the
// live stream a plain status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *pageError
	if !errors.As(err, &pe) {
		c.log.Error("console", "path", r.URL.Path, "err", err)
		pe = &pageError{Status: http.StatusInternalServerError, Title: "Something went wrong",
			Msg: "The console could not show this page. The server's log says why."}
	}
	c.render(w, r, pe.Status, "error", &view{Title: pe.Title, Body: pe})
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string // the navigation entry to mark current
	User  *user
	Body  any
	// Flash is a message shown at the top of the page.
	Flash string
}

// render writes a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	if v.User == nil {
		v.User = userOf(r.Context())
	}
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, name, v); err != nil {
		c.log.Error("console: rendering a page", "page", name, "err", err)
		http.Error(w, "server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
