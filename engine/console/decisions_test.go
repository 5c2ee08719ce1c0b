package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/console"
	"github.com/scopeline/scopeline/engine/enginetest"
)

var rowSeq = regexp.MustCompile(`<tr class="k-([a-z-]+)" data-seq="(\d+)">`)

// rows returns the kinds of the decision rows of a page, in order.
func rows(page string) []string {
	var out []string
	for _, m := range rowSeq.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDecisionsBackfill lists the decisions stored since a time, filtered
// by client, API, kind and outcome, newest first, with no JavaScript.
func TestDecisionsBackfill(t *testing.T) {
	h := newHarness(t)
	b := h.signIn("bob")
	start := h.waitSeq(1)                                             // bob's sign-in
	if h.token("demo-m2m", "demo-m2m-secret", "read:users") != 200 || // issued
		h.token("demo-m2m", "demo-m2m-secret", "delete:users") != 400 || // denied: outside the ceiling
		h.token("demo-other", "demo-other-secret", "") != 403 { // denied: no grant
		t.Fatal("unexpected token answers")
	}
	h.waitSeq(start + 3)
	// Newest first; bob's sign-in (an issued token for the console) is
	// the oldest.
	for q, want := range map[string]string{
		"":                                "denied denied issued issued",
		"kind=denied":                     "denied denied",
		"outcome=issued":                  "issued issued",
		"client=demo-other":               "denied",
		"client=demo-m2m&outcome=denied":  "denied",
		"api=https://reports.example.com": "",
		"since=0s":                        "",
	} {
		status, page, _ := b.Visit(h.URL + "console/decisions?" + q)
		if got := strings.Join(rows(page), " "); status != http.StatusOK || got != want {
			t.Errorf("%q: %d, rows %q, want %q", q, status, got, want)
		}
	}
	status, page, _ := b.Visit(h.URL + "console/decisions?client=demo-m2m&outcome=denied")
	if status != http.StatusOK || !strings.Contains(page, "invalid_scope: none of the requested scopes is granted") {
		t.Errorf("the denial's detail is not listed:\n%s", page)
	}
	for _, bad := range []string{"kind=login", "outcome=maybe", "since=yesterday", "since=2999-01-01"} {
		if status, page, _ := b.Visit(h.URL + "console/decisions?" + bad); status != http.StatusBadRequest || !strings.Contains(page, `role="alert"`) {
			t.Errorf("%q: %d", bad, status)
		}
	}
}

// event is one server-sent event.
type event struct {
	id, name, data string
}

// sse reads server-sent events from a response into a channel.
func sse(t *testing.T, resp *http.Response) <-chan event {
	out := make(chan event, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var e event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.data != "" {
					out <- e
				}
				e = event{}
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			}
		}
	}()
	return out
}

func next(t *testing.T, events <-chan event) console.Row {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		var r console.Row
		if err := json.Unmarshal([]byte(e.data), &r); err != nil || e.name != "decision" || e.id != strconv.FormatUint(r.Seq, 10) {
			t.Fatalf("event %+v: %v", e, err)
		}
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30s")
	}
	return console.Row{}
}

// open opens the live stream of b with query q.
func openStream(t *testing.T, b *enginetest.Browser, u string, lastID string) <-chan event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return sse(t, resp)
}

// TestDecisionsLive follows the stream: a decision arrives as it is
// taken, filtered; a reconnect resumes after the last event it got; a
// stream opened with a since back-fills first.
func TestDecisionsLive(t *testing.T) {
	h := newHarness(t)
	b := h.signIn("bob")
	after := h.waitSeq(1)
	live := openStream(t, b, h.URL+"console/decisions/stream?client=demo-m2m&outcome=issued&after="+strconv.FormatUint(after, 10), "")
	h.token("demo-other", "demo-other-secret", "")                   // filtered out: another client
	h.token("demo-m2m", "demo-m2m-secret", "delete:users")           // filtered out: denied
	h.token("demo-m2m", "demo-m2m-secret", "read:users write:users") // this one
	r := next(t, live)
	if r.ClientID != "demo-m2m" || r.Outcome != "issued" || r.Kind != "issued" || r.Scopes != "read:users write:users" ||
		r.Audience != "https://api.example.com" || r.Href != "/console/decisions/"+strconv.FormatUint(r.Seq, 10) {
		t.Errorf("row %+v", r)
	}
	first := r.Seq

	// Back-fill from a time, then live: every decision of demo-m2m so far.
	all := openStream(t, b, h.URL+"console/decisions/stream?client=demo-m2m&since=1h", "")
	if got := next(t, all); got.Outcome != "denied" {
		t.Errorf("first back-filled %+v", got)
	}
	if got := next(t, all); got.Seq != first {
		t.Errorf("second back-filled %+v", got)
	}
	// A reconnect with Last-Event-ID resumes after it.
	resumed := openStream(t, b, h.URL+"console/decisions/stream?client=demo-m2m&since=1h", strconv.FormatUint(first, 10))
	h.token("demo-m2m", "demo-m2m-secret", "read:users")
	if got := next(t, resumed); got.Seq <= first || got.Scopes != "read:users" {
		t.Errorf("resumed %+v", got)
	}
	if got := next(t, all); got.Scopes != "read:users" {
		t.Errorf("live after the back-fill %+v", got)
	}

	// The page's stream URL resumes after what the page shows.
	_, page, _ := b.Visit(h.URL + "console/decisions?client=demo-m2m")
	m := regexp.MustCompile(`data-stream="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no live stream on the page:\n%s", page)
	}
	su, _ := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if a, _ := strconv.ParseUint(su.Query().Get("after"), 10, 64); a < first || su.Query().Get("client") != "demo-m2m" {
		t.Errorf("stream URL %s", su)
	}
}

// TestDecisionTrace opens a decision: its trace drawn stage by stage,
// with the hook's claim, log and time.
func TestDecisionTrace(t *testing.T) {
	h := newHarness(t)
	b := h.signIn("bob")
	after := h.waitSeq(1)
	h.token("demo-m2m", "demo-m2m-secret", "read:users delete:users")
	seq := h.waitSeq(after + 1)
	status, page, _ := b.Visit(h.URL + "console/decisions/" + strconv.FormatUint(seq, 10))
	if status != http.StatusOK {
		t.Fatalf("decision page: %d\n%s", status, page)
	}
	for _, want := range []string{
		"<h1>Issued: <code>demo-m2m</code> → <code>https://api.example.com</code></h1>",
		`<span class="num">1</span> Baseline policy`,
		`<span class="num">2</span> Hook <code>tier-claim</code>`,
		`<tr class="refused">`, "outside the grant ceiling",
		"claim <code>tier</code>", "tier=gold",
		`<dd id="granted"><code>read:users</code></dd>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the trace lacks %q", want)
		}
	}
	if strings.Count(page, `class="took"`) != 2 {
		t.Errorf("stage timings missing:\n%s", page)
	}
	// It runs again as a dry run, on what serves now: the form is filled
	// with its request.
	replay := func(page string) string {
		t.Helper()
		m := regexp.MustCompile(`<a href="([^"]+)" id="replay">`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no replay link:\n%s", page)
		}
		_, form, _ := b.Visit(h.URL + strings.TrimPrefix(html.UnescapeString(m[1]), "/"))
		return form
	}
	form := replay(page)
	for _, want := range []string{`id="t-machine" name="flow" value="machine" checked`, `<option value="demo-m2m" selected>`,
		`<option value="https://api.example.com" selected>`, `name="scope" value="read:users delete:users"`} {
		if !strings.Contains(form, want) {
			t.Errorf("the replayed form lacks %q", want)
		}
	}
	// bob's console sign-in, an end-user token: replayed as bob's.
	_, page, _ = b.Visit(h.URL + "console/decisions/" + strconv.FormatUint(after, 10))
	form = replay(page)
	for _, want := range []string{`id="t-user" name="flow" value="user" checked`, `<option value="scopeline-console" selected>`,
		`<option value="bob" selected>`, `<option value="urn:scopeline:console" selected>`} {
		if !strings.Contains(form, want) {
			t.Errorf("the replayed sign-in lacks %q:\n%s", want, form)
		}
	}
	// Not a decision, or nothing there.
	if status, _, _ := b.Visit(h.URL + "console/decisions/" + strconv.FormatUint(seq+1000, 10)); status != http.StatusNotFound {
		t.Errorf("past the end: %d", status)
	}
	h.src.Reload(context.Background(), "test")
	rl := h.waitSeq(seq + 1)
	if status, page, _ := b.Visit(h.URL + "console/decisions/" + strconv.FormatUint(rl, 10)); status != http.StatusNotFound || !strings.Contains(page, "not a token decision") {
		t.Errorf("a reload event: %d", status)
	}
}

// TestStreamEndsWithSession: the live stream closes when the session's
// token expires, and the browser's reconnect is refused.
func TestStreamEndsWithSession(t *testing.T) {
	h := newHarness(t)
	b := h.signIn("bob")
	h.skew.Store(int64(time.Hour - 200*time.Millisecond)) // the console token lives 1h
	events := openStream(t, b, h.URL+"console/decisions/stream", "")
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("an event instead of the end")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stream outlived its session")
	}
	h.skew.Store(int64(time.Hour + time.Minute))
	resp, err := b.Client.Get(h.URL + "console/decisions/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a reconnect after expiry: %d", resp.StatusCode)
	}
}
