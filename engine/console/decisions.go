package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/tenant"
)

// DecisionFilter selects decisions from the audit stream. Empty fields
// keep everything.
type DecisionFilter struct {
	Client  string     // the client id the request named, exactly
	API     string     // the audience, exactly
	Kind    audit.Kind // issued, denied, hook-failed or dry-run
	Outcome string     // issued or denied
	// Since back-fills from that time; After resumes after a stream
	// sequence (and wins over Since).
	Since time.Time
	After uint64
	// SinceText is Since as typed.
	SinceText string
}

// DefaultSince is how far back the decisions page starts unless told.
const DefaultSince = 15 * time.Minute

// parseFilter reads a filter from a query. since takes a duration back
// from now ("15m", "2h"), an RFC 3339 time or a local date and time as an
// HTML datetime-local field sends it (read as UTC).
func parseFilter(q url.Values, now time.Time) (DecisionFilter, error) {
	f := DecisionFilter{Client: clip(q.Get("client"), 256), API: clip(q.Get("api"), 512), Outcome: q.Get("outcome")}
	if k := q.Get("kind"); k != "" {
		kind, err := audit.ParseKind(k)
		if err != nil || !slices.Contains(audit.DecisionKinds, kind) {
			return f, fmt.Errorf("kind %q: want issued, denied, hook-failed or dry-run", clip(k, 32))
		}
		f.Kind = kind
	}
	if f.Outcome != "" && f.Outcome != "issued" && f.Outcome != "denied" {
		return f, fmt.Errorf("outcome %q: want issued or denied", clip(f.Outcome, 32))
	}
	if a := q.Get("after"); a != "" {
		seq, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return f, fmt.Errorf("after %q: want a stream sequence", clip(a, 32))
		}
		f.After = seq
	}
	f.SinceText = clip(strings.TrimSpace(q.Get("since")), 64)
	f.Since = now.Add(-DefaultSince)
	if f.SinceText != "" {
		since, err := audit.ParseSince(f.SinceText, now)
		if err != nil {
			return f, fmt.Errorf("since %w", err)
		}
		f.Since = since
	}
	return f, nil
}

// options are the tail options the stream filters with: kind and client
// by subject; API and outcome are read from each event (match).
func (f DecisionFilter) options(follow bool) audit.TailOptions {
	o := audit.TailOptions{Kinds: audit.DecisionKinds, Since: f.Since, After: f.After, Follow: follow}
	if f.Kind != "" {
		o.Kinds = []audit.Kind{f.Kind}
	}
	if f.Client != "" {
		o.Client = &f.Client
	}
	return o
}

// match decodes e and reports whether it passes the filters the stream
// cannot apply.
func (f DecisionFilter) match(e *audit.TailedEvent) (*audit.DecisionData, bool) {
	d, err := e.Decision()
	if err != nil {
		return nil, false
	}
	if (f.API != "" && d.Audience != f.API) || (f.Outcome != "" && d.Outcome != f.Outcome) {
		return nil, false
	}
	return d, true
}

// query is the filter as a query string (without After).
func (f DecisionFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"client": f.Client, "api": f.API, "kind": string(f.Kind), "outcome": f.Outcome, "since": f.SinceText} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// Row is a decision as the list shows it (and the live stream sends it).
type Row struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"`
	Outcome    string    `json:"outcome"`
	DryRun     bool      `json:"dry_run,omitempty"`
	ClientID   string    `json:"client"`
	ClientName string    `json:"client_name,omitempty"`
	Audience   string    `json:"api,omitempty"`
	Scopes     string    `json:"scopes"`
	Detail     string    `json:"detail,omitempty"`
	Href       string    `json:"href"`
}

func (c *Console) row(e *audit.TailedEvent, d *audit.DecisionData) Row {
	k, _ := e.Kind()
	r := Row{Seq: e.Seq, Time: e.Time.UTC(), Kind: string(k), Outcome: d.Outcome, DryRun: d.DryRun,
		ClientID: d.ClientID, ClientName: d.ClientName, Audience: d.Audience,
		Href: c.url("decisions/"+strconv.FormatUint(e.Seq, 10), nil)}
	if d.Outcome == "issued" {
		r.Scopes = strings.Join(d.GrantedScopes, " ")
	} else {
		r.Scopes = strings.Join(d.RequestedScopes, " ")
	}
	switch {
	case d.Error != nil:
		r.Detail = d.Error.Code
		if d.Error.Description != "" {
			r.Detail += ": " + d.Error.Description
		}
	case len(d.HookFailures) > 0:
		r.Detail = "hook " + d.HookFailures[0].Hook + " failed (" + d.HookFailures[0].Kind + "), skipped"
	}
	if d.DryRun && d.DryRunBy != "" {
		r.Detail = strings.TrimPrefix(r.Detail+"; ", "; ") + "dry run by " + d.DryRunBy
	}
	return r
}

// Bounds of the back-fill a page shows.
const (
	maxRows    = 200
	maxScanned = 50000
)

// errScanDone stops a back-fill.
var errScanDone = errors.New("console: scan done")

// backfill reads the decisions f selects stored since f.Since (or after
// f.After), up to now, and returns the last maxRows of them, newest
// first; scanned says how many events were read and capped whether the
// scan stopped at maxScanned.
func (c *Console) backfill(ctx context.Context, ev Events, f DecisionFilter) (rows []Row, scanned int, capped bool, err error) {
	err = ev.Tail(ctx, f.options(false), func(e *audit.TailedEvent) error {
		scanned++
		if d, ok := f.match(e); ok {
			rows = append(rows, c.row(e, d))
			if len(rows) > maxRows {
				rows = rows[1:]
			}
		}
		if scanned >= maxScanned {
			capped = true
			return errScanDone
		}
		return nil
	})
	if errors.Is(err, errScanDone) {
		err = nil
	}
	slices.Reverse(rows)
	return rows, scanned, capped, err
}

// decisionsView is the decisions page.
type decisionsView struct {
	Filter  DecisionFilter
	Error   string
	Rows    []Row
	Scanned int
	Capped  bool
	// Stream is the live stream's URL, resuming after what the page
	// shows.
	Stream  string
	Kinds   []audit.Kind
	Clients []string
	APIs    []string
}

func (c *Console) handleDecisions(w http.ResponseWriter, r *http.Request) {
	ev := c.src.Events()
	if ev == nil {
		c.fail(w, r, errNoStream)
		return
	}
	v := &decisionsView{Kinds: audit.DecisionKinds}
	t := c.src.Tenant().Tenant
	for _, cl := range t.Clients {
		v.Clients = append(v.Clients, cl.ID)
	}
	for _, a := range t.APIs {
		v.APIs = append(v.APIs, a.Identifier)
	}
	f, err := parseFilter(r.URL.Query(), c.now())
	v.Filter = f
	status := http.StatusOK
	if err != nil {
		v.Error, status = err.Error(), http.StatusBadRequest
		c.render(w, r, status, "decisions", &view{Title: "Decisions", Nav: "decisions", Body: v})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	last, err := ev.LastSeq(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if v.Rows, v.Scanned, v.Capped, err = c.backfill(ctx, ev, f); err != nil {
		c.fail(w, r, err)
		return
	}
	q := f.query()
	q.Set("after", strconv.FormatUint(last, 10))
	if len(v.Rows) > 0 {
		q.Set("after", strconv.FormatUint(max(last, v.Rows[0].Seq), 10))
	}
	v.Stream = c.url("decisions/stream", q)
	c.render(w, r, status, "decisions", &view{Title: "Decisions", Nav: "decisions", Body: v})
}

// keepAlive is how often an idle live stream gets a comment, so that
// proxies keep it open.
const keepAlive = 15 * time.Second

// handleStream sends decisions as server-sent events, each with its
// stream sequence as id, so that a reconnecting EventSource resumes after
// the last one it got (Last-Event-ID). Without after or Last-Event-ID it
// back-fills from since, then follows.
func (c *Console) handleStream(w http.ResponseWriter, r *http.Request) {
	ev := c.src.Events()
	if ev == nil {
		http.Error(w, "no audit stream", http.StatusServiceUnavailable)
		return
	}
	f, err := parseFilter(r.URL.Query(), c.now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if seq, err := strconv.ParseUint(id, 10, 64); err == nil {
			f.After = seq
		}
	}
	select {
	case c.streams <- struct{}{}:
		defer func() { <-c.streams }()
	default:
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many live streams open; try again later", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	if err := rc.Flush(); err != nil {
		return
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rows := make(chan Row, 64)
	tailed := make(chan error, 1)
	go func() {
		tailed <- ev.Tail(ctx, f.options(true), func(e *audit.TailedEvent) error {
			d, ok := f.match(e)
			if !ok {
				return nil
			}
			select {
			case rows <- c.row(e, d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	// The stream ends with the session: the browser's reconnect then
	// finds it signed out.
	expired := time.NewTimer(userOf(r.Context()).Expires.Sub(c.now()))
	defer expired.Stop()
	for {
		select {
		case <-expired.C:
			return
		case row := <-rows:
			b, _ := json.Marshal(row)
			fmt.Fprintf(w, "id: %d\nevent: decision\ndata: %s\n\n", row.Seq, b)
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case err := <-tailed:
			if err != nil && ctx.Err() == nil {
				c.log.Warn("console: live stream ended", "err", err)
			}
			return // the browser reconnects after its last id
		case <-ctx.Done():
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// handleDecision shows one decision, by its stream sequence, drawn stage
// by stage.
func (c *Console) handleDecision(w http.ResponseWriter, r *http.Request) {
	ev := c.src.Events()
	if ev == nil {
		c.fail(w, r, errNoStream)
		return
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		c.fail(w, r, errNotFound)
		return
	}
	e, err := ev.Event(r.Context(), seq)
	if errors.Is(err, audit.ErrNoEvent) {
		c.fail(w, r, errNotFound)
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	k, _ := e.Kind()
	d, err := e.Decision()
	if err != nil {
		c.fail(w, r, &pageError{Status: http.StatusNotFound, Title: "Not a decision", Msg: fmt.Sprintf("Event %d is a %s event, not a token decision.", seq, k)})
		return
	}
	v := newTraceView(d, k, e)
	v.Replay = c.replayURL(d)
	c.render(w, r, http.StatusOK, "decision", &view{Title: "Decision " + strconv.FormatUint(seq, 10), Nav: "decisions", Body: v})
}

// replayURL is the dry-run form filled with the request of d: its client,
// API and requested scopes, and for an end-user token (post-login) its
// user. It is "" when d names no client (a request refused before one
// was known). The form runs it on the tenant and hooks serving now,
// which is how one sees what a change did to a real request.
func (c *Console) replayURL(d *audit.DecisionData) string {
	if d.ClientID == "" {
		return ""
	}
	q := url.Values{"flow": {"machine"}, "client": {d.ClientID}}
	if d.Trigger == string(tenant.TriggerPostLogin) {
		if d.Subject == "" {
			return ""
		}
		q.Set("flow", "user")
		q.Set("user", d.Subject)
	}
	if d.Audience != "" {
		q.Set("api", d.Audience)
	}
	if len(d.RequestedScopes) > 0 {
		q.Set("scope", strings.Join(d.RequestedScopes, " "))
	}
	return c.url("try", q)
}
