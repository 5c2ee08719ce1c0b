package console

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
)

// TestSecureCookies: with an https issuer, the console's cookies are
// Secure and __Host- prefixed (host-only, path /).
func TestSecureCookies(t *testing.T) {
	c, err := New(nil, Config{Issuer: "https://id.example.com/tenant-a/", Endpoints: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	c.setCookie(w, cookieSession, "v", 60, http.SameSiteStrictMode)
	ck := w.Result().Cookies()[0]
	if ck.Name != "__Host-scopeline-console" || !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie %+v", ck)
	}
	if c.Path() != "/tenant-a/console/" || c.redirectURI() != "https://id.example.com/tenant-a/console/callback" {
		t.Errorf("path %s, redirect URI %s", c.Path(), c.redirectURI())
	}
}

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/console/hooks":             "/console/hooks",
		"/console/grants?flow=user":  "/console/grants?flow=user",
		"https://evil.example/x":     "/console/",
		"//evil.example/console/":    "/console/",
		"/console/../oauth/token":    "/console/",
		"/consolex":                  "/console/",
		"/console/\r\nSet-Cookie: x": "/console/",
		"/console/\\evil":            "/console/",
		"":                           "/console/",
	} {
		if got := safeReturn(in, "/console/"); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestQuantile estimates quantiles from cumulative buckets as
// Prometheus' histogram_quantile does.
func TestQuantile(t *testing.T) {
	bs := buckets(0.001, 50, 0.002, 90, 0.005, 100, math.Inf(1), 100)
	for _, c := range []struct {
		q    float64
		want time.Duration
		over bool
	}{
		{0.5, time.Millisecond, false},
		{0.25, 500 * time.Microsecond, false},
		{0.7, 1500 * time.Microsecond, false},
		{0.99, 4700 * time.Microsecond, false},
	} {
		got, over := quantile(c.q, bs)
		if d := got - c.want; d < -time.Microsecond || d > time.Microsecond || over != c.over {
			t.Errorf("q%v = %v (over %v), want %v", c.q, got, over, c.want)
		}
	}
	if got, over := quantile(0.99, buckets(0.001, 1, math.Inf(1), 10)); !over || got != time.Millisecond {
		t.Errorf("past the last finite bucket: %v %v", got, over)
	}
	if got, _ := quantile(0.5, buckets(0.001, 0, math.Inf(1), 0)); got != 0 {
		t.Errorf("no runs: %v", got)
	}
}

// buckets makes a histogram's buckets from upper bound, count pairs.
func buckets(pairs ...float64) []engine.Bucket {
	var bs []engine.Bucket
	for i := 0; i+1 < len(pairs); i += 2 {
		bs = append(bs, engine.Bucket{Upper: pairs[i], Count: uint64(pairs[i+1])})
	}
	return bs
}

// hookSource is a Source whose hooks' figures are hooks.
type hookSource struct {
	Source
	hooks []*engine.HookStats
}

func (s *hookSource) HookStats() []engine.HookStats { return CopyHookStats(s.hooks) }

// TestHookCost reads a hook's runs, quantiles and faults over the window
// from samples of the hooks' figures, as the hook runtime keeps them.
func TestHookCost(t *testing.T) {
	tier := NewHookStats("credentials-exchange", "tier", .0001, .001, .01)
	src := &hookSource{hooks: []*engine.HookStats{tier}}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ObserveRuns(tier, 1000, 0.05, "timeout") // before the window: must not count
	hs := newHookStats()
	for i := range keptSamples + 5 {
		hs.add(takeSample(src, t0.Add(time.Duration(i)*sampleEvery)))
	}
	if len(hs.samples) != keptSamples {
		t.Errorf("%d samples kept", len(hs.samples))
	}
	ObserveRuns(tier, 90, 0.00005, "ok")
	ObserveRuns(tier, 9, 0.0005, "ok")
	ObserveRuns(tier, 1, 0.005, "trap")
	tier.BreakerOpen = true
	now := takeSample(src, t0.Add(time.Duration(keptSamples+5)*sampleEvery))
	base := hs.base(now.At)
	if w := now.At.Sub(base.At); w != statsWindow {
		t.Errorf("window %v", w)
	}
	hc := cost(now, base, hookKey{"credentials-exchange", "tier"})
	if hc.Runs != 100 || !hc.Open || !hc.Known {
		t.Errorf("cost %+v", hc)
	}
	if hc.P50 < 50*time.Microsecond || hc.P50 > 60*time.Microsecond || hc.P99 < 900*time.Microsecond || hc.P99 > time.Millisecond {
		t.Errorf("p50 %v p99 %v", hc.P50, hc.P99)
	}
	if !slices.Equal(hc.Faults, []Fault{{"trap", 1}}) || hc.FaultTotal() != 1 {
		t.Errorf("faults %+v", hc.Faults)
	}
	// A hook loaded again starts its counters over: the base is void.
	again := NewHookStats("credentials-exchange", "tier", .0001, .001, .01)
	ObserveRuns(again, 1, 0.0005, "ok")
	fresh := takeSample(&hookSource{hooks: []*engine.HookStats{again}}, now.At)
	if hc := cost(fresh, base, hookKey{"credentials-exchange", "tier"}); hc.Runs != 1 {
		t.Errorf("after a reset: %+v", hc)
	}
	if hc := cost(now, base, hookKey{"post-login", "nope"}); hc.Known || hc.Runs != 0 {
		t.Errorf("an unknown hook: %+v", hc)
	}
}

// TestDrawTrace draws a trace stage by stage: consecutive entries of a
// stage are one step, a stage that ran silently gets its own step where
// it ran, the baseline speaking after the hooks is a step of its own, and
// each step knows the scopes after it, its time, logs and faults.
func TestDrawTrace(t *testing.T) {
	d := &audit.DecisionData{
		Trace: []engine.TraceEntry{
			{Stage: "baseline", Op: engine.OpAdd, Scope: "openid"},
			{Stage: "baseline", Op: engine.OpAdd, Scope: "read"},
			{Stage: "baseline", Op: engine.OpAdd, Scope: "admin", Refused: true, Reason: "outside the grant ceiling"},
			{Stage: "drop", Op: engine.OpRemove, Scope: "read", Reason: "no"},
			{Stage: "drop", Op: engine.OpSetClaim, Claim: "tier"},
			{Stage: "flaky", Op: engine.OpFault, Reason: "timeout"},
			{Stage: "flaky", Op: engine.OpSkip},
			{Stage: "baseline", Op: engine.OpDeny, Reason: "none of the requested scopes is granted to this user"},
		},
		Timings:      []engine.StageTiming{{Stage: "baseline", Duration: 2000}, {Stage: "quiet", Duration: 500}, {Stage: "drop", Duration: 3000}, {Stage: "flaky", Duration: 50000000}},
		HookLogs:     []engine.HookLog{{Hook: "drop", Message: "hello"}},
		HookFailures: []audit.HookFailure{{Hook: "flaky", Kind: "timeout"}},
	}
	steps := drawTrace(d)
	var names []string
	for _, s := range steps {
		names = append(names, s.Stage)
	}
	if !slices.Equal(names, []string{"baseline", "quiet", "drop", "flaky", "baseline"}) {
		t.Fatalf("steps %v", names)
	}
	b, q, dr, fl, last := steps[0], steps[1], steps[2], steps[3], steps[4]
	if !slices.Equal(b.Added, []string{"openid", "read"}) || !slices.Equal(b.Refused, []string{"admin"}) || !slices.Equal(b.After, []string{"openid", "read"}) || b.Took != 2*time.Microsecond || !b.Timed {
		t.Errorf("baseline %+v", b)
	}
	if len(q.Entries) != 0 || q.Took != 500 || !slices.Equal(q.After, []string{"openid", "read"}) {
		t.Errorf("quiet %+v", q)
	}
	if !slices.Equal(dr.Removed, []string{"read"}) || !slices.Equal(dr.Claims, []string{"tier"}) || !slices.Equal(dr.After, []string{"openid"}) || !slices.Equal(dr.Logs, []string{"hello"}) {
		t.Errorf("drop %+v", dr)
	}
	if !fl.Faulted || len(fl.Failures) != 1 || fl.Took != 50*time.Millisecond {
		t.Errorf("flaky %+v", fl)
	}
	if !last.Denied || last.Timed || !last.Baseline {
		t.Errorf("the last baseline step %+v", last)
	}
	if v := newTraceView(d, audit.KindHookFailed, nil); v.Total != 50005500 {
		t.Errorf("total %v", v.Total)
	}
}

func TestLineDiff(t *testing.T) {
	old := strings.Join([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, "\n") + "\n"
	new := strings.Join([]string{"a", "b", "c", "d", "E", "f", "g", "h", "i", "j", "k"}, "\n") + "\n"
	lines, ok := lineDiff(old, new, 1)
	if !ok {
		t.Fatal("not diffed")
	}
	var got []string
	for _, l := range lines {
		got = append(got, string(l.Op)+l.Text)
	}
	want := []string{"~", " d", "-e", "+E", " f", "~", " j", "+k"}
	if !slices.Equal(got, want) {
		t.Errorf("diff %q, want %q", got, want)
	}
	if lines[2].Old != 5 || lines[3].New != 5 || lines[7].New != 11 {
		t.Errorf("line numbers %+v", lines)
	}
	if lines, _ := lineDiff("", "x\ny\n", 3); len(lines) != 2 || lines[0].Op != '+' {
		t.Errorf("from nothing: %+v", lines)
	}
	big := strings.Repeat("x\n", 3000)
	if _, ok := lineDiff(big, big+"y\n", 3); ok {
		t.Error("a diff past the bound")
	}
}

func TestYAMLScalar(t *testing.T) {
	for in, want := range map[string]string{
		"demo-m2m":                "demo-m2m",
		"https://api.example.com": "https://api.example.com",
		"a: b":                    `"a: b"`,
		"*star":                   `"*star"`,
		" padded":                 `" padded"`,
		"":                        `""`,
	} {
		if got := yamlScalar(in); got != want {
			t.Errorf("yamlScalar(%q) = %s, want %s", in, got, want)
		}
	}
	if got := flowScalars([]string{"read", "a,b"}); !slices.Equal(got, []string{"read", `"a,b"`}) {
		t.Errorf("flowScalars %q", got)
	}
}

// FuzzSafeReturn: whatever a sign-in is asked to return to, it returns
// within the console.
func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/console/hooks", "https://evil.example/", "//evil/console/", "/console/../x", "/console/\\\\evil", "/console/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ret string) {
		got := safeReturn(ret, "/console/")
		u, err := url.Parse(got)
		if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(got, "/console/") || strings.HasPrefix(got, "//") ||
			strings.Contains(u.Path, "..") || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeReturn(%q) = %q", ret, got)
		}
	})
}

// FuzzParseFilter: any query makes a filter or an error, never a panic,
// and a filter's texts stay bounded.
func FuzzParseFilter(f *testing.F) {
	f.Add("client=demo-m2m&api=https://api&kind=denied&outcome=issued&since=15m&after=42")
	f.Add("since=2026-11-22T08:30&kind=dry-run")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		fl, err := parseFilter(q, time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
		if err != nil {
			return
		}
		if len(fl.Client) > 256+3 || len(fl.API) > 512+3 || len(fl.SinceText) > 64+3 || fl.Since.IsZero() {
			t.Fatalf("filter %+v", fl)
		}
	})
}

func TestFmtSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 65 * time.Minute: "1h5m", 5 * time.Minute: "5m", 10 * time.Second: "10s",
		250 * time.Millisecond: "250ms", 90 * time.Second: "1m30s", 2160 * time.Hour: "2160h"} {
		if got := fmtSpan(d); got != want {
			t.Errorf("fmtSpan(%v) = %q, want %q", d, got, want)
		}
	}
}
