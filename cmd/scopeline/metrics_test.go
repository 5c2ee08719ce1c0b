package main

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/enginetest"
)

// TestServeMetrics: serve's /metrics, on a tenant with hooks and the
// audit stream, is valid Prometheus text exposition (ParseExposition:
// each family together under one # TYPE line, histograms with cumulative
// _bucket lines up to le="+Inf" equal to _count, and _sum for every
// scopeline_ histogram) and has every family of the issuer, its routes,
// its hooks and its audit stream with its type, and the Go runtime's and
// the process's.
func TestServeMetrics(t *testing.T) {
	addr, _, _, _ := startServe(t, serveConfig{configPath: "../../examples/hooks/tenant.yaml"})
	if _, err := getToken(t, addr, "read:users"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	page, err := enginetest.ParseExposition(string(body))
	if err != nil {
		t.Fatalf("%v in\n%s", err, body)
	}
	for family, typ := range map[string]string{
		"scopeline_build_info":                      "gauge",
		"scopeline_token_requests_total":            "counter",
		"scopeline_token_duration_seconds":          "histogram",
		"scopeline_tenant_reloads_total":            "counter",
		"scopeline_http_requests_total":             "counter",
		"scopeline_http_request_duration_seconds":   "histogram",
		"scopeline_hook_runs_total":                 "counter",
		"scopeline_hook_run_duration_seconds":       "histogram",
		"scopeline_hook_wait_duration_seconds":      "histogram",
		"scopeline_hook_instances":                  "gauge",
		"scopeline_hook_instances_busy":             "gauge",
		"scopeline_hook_breaker_open":               "gauge",
		"scopeline_hook_breaker_opened_total":       "counter",
		"scopeline_audit_events_published_total":    "counter",
		"scopeline_audit_events_acknowledged_total": "counter",
		"scopeline_audit_publish_retries_total":     "counter",
		"scopeline_audit_duplicates_total":          "counter",
		"scopeline_audit_events_spooled_total":      "counter",
		"scopeline_audit_events_failed_total":       "counter",
		"scopeline_audit_publish_latency_seconds":   "histogram",
		"scopeline_audit_spool_depth":               "gauge",
		"scopeline_audit_spool_bytes":               "gauge",
		"scopeline_audit_connected":                 "gauge",
		"scopeline_audit_stream_answering":          "gauge",
		"go_goroutines":                             "gauge",
		"go_gc_duration_seconds":                    "summary",
		"go_memstats_heap_alloc_bytes":              "gauge",
		"go_sched_gomaxprocs_threads":               "gauge",
		"process_cpu_seconds_total":                 "counter",
		"process_resident_memory_bytes":             "gauge",
		"process_open_fds":                          "gauge",
	} {
		if got := page.Types[family]; got != typ {
			t.Errorf("# TYPE %s %q, want %s", family, got, typ)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"scopeline_token_requests_total", []string{"grant_type", "client_credentials", "outcome", "issued"}, 1},
		{"scopeline_token_duration_seconds_count", []string{"grant_type", "client_credentials"}, 1},
		{"scopeline_token_duration_seconds_bucket", []string{"grant_type", "client_credentials", "le", "+Inf"}, 1},
		{"scopeline_http_requests_total", []string{"route", "token", "code", "200"}, 1},
		{"scopeline_hook_runs_total", []string{"trigger", "credentials-exchange", "hook", "tier-gate", "outcome", "ok"}, 1},
		{"scopeline_hook_run_duration_seconds_count", []string{"trigger", "credentials-exchange", "hook", "no-deletes"}, 1},
		{"scopeline_hook_run_duration_seconds_bucket", []string{"trigger", "credentials-exchange", "hook", "no-deletes", "le", "+Inf"}, 1},
		{"scopeline_audit_events_acknowledged_total", []string{"kind", "issued"}, 1},
		{"scopeline_build_info", []string{"version", versionString()}, 1},
	} {
		if got := page.Sum(c.name, c.labels...); got != c.want || len(page.Series(c.name, c.labels...)) != 1 {
			t.Errorf("%s%q = %v (%d series), want %v", c.name, c.labels, got, len(page.Series(c.name, c.labels...)), c.want)
		}
	}
	if p := page.PartialHistograms("scopeline_"); len(p) != 0 {
		t.Errorf("histograms without _sum and _count: %v", p)
	}
	if n := len(page.Series("scopeline_hook_run_duration_seconds_bucket", "hook", "tier-gate")); n != 18 {
		t.Errorf("tier-gate's run duration has %d buckets, want 17 and +Inf", n)
	}
}

// TestMetricsHandler: label values are escaped as the text format has
// it (\\, \", \n; UTF-8 as it is) and read back the same, and the page
// is gzipped for a scraper that accepts it.
func TestMetricsHandler(t *testing.T) {
	set := metrics.NewSet()
	value := "a\"b\\c\nd é\u200b"
	set.NewCounter(engine.MetricName("scopeline_test_total", "v", value)).Add(3)
	h := metricsHandler(set)
	get := func(accept string) (*http.Response, string) {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		resp := w.Result()
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			r = gz
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, body := get("")
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzipped without Accept-Encoding")
	}
	if !strings.Contains(body, `scopeline_test_total{v="a\"b\\c\nd é`+"\u200b"+`"} 3`+"\n") {
		t.Errorf("the series is not written escaped:\n%s", body)
	}
	page, err := enginetest.ParseExposition(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := page.Series("scopeline_test_total", "v", value); len(got) != 1 || got[0].Value != 3 {
		t.Errorf("read back %+v", got)
	}
	if page.Types["scopeline_test_total"] != "counter" {
		t.Errorf("type %q", page.Types["scopeline_test_total"])
	}
	resp, zipped := get("br;q=1.0, gzip;q=0.8")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatal("not gzipped for a scraper that accepts gzip")
	}
	if _, err := enginetest.ParseExposition(zipped); err != nil || !strings.Contains(zipped, "scopeline_test_total{") {
		t.Errorf("the gzipped page: %v", err)
	}
	for accept, want := range map[string]bool{
		"gzip": true, "GZIP": true, "identity, gzip": true, "gzip;q=0.5": true, " gzip ; q=1": true,
		"": false, "br": false, "gzip;q=0": false, "x-gzip": false, "gzip;q=bad": false,
	} {
		if got := acceptsGzip(accept); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", accept, got, want)
		}
	}
}
