package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// TestObserveToken checks that issued tokens and refusals land in their
// series, known grant types or not.
func TestObserveToken(t *testing.T) {
	set := metrics.NewSet()
	m := newIssuerMetrics(set, []string{GrantClientCredentials})
	m.observeToken(GrantClientCredentials, "", time.Millisecond)
	m.observeToken(GrantClientCredentials, "", time.Millisecond)
	m.observeToken(GrantClientCredentials, "invalid_scope", time.Millisecond)
	m.observeToken(GrantClientCredentials, "invalid_scope", time.Millisecond)
	m.observeToken("urn:made-up", "", time.Millisecond)
	m.observeToken("urn:made-up", "unsupported_grant_type", time.Millisecond)
	var out bytes.Buffer
	set.WritePrometheus(&out)
	for _, want := range []string{
		`scopeline_token_requests_total{grant_type="client_credentials",outcome="issued"} 2`,
		`scopeline_token_requests_total{grant_type="client_credentials",outcome="invalid_scope"} 2`,
		`scopeline_token_requests_total{grant_type="other",outcome="issued"} 1`,
		`scopeline_token_requests_total{grant_type="other",outcome="unsupported_grant_type"} 1`,
		`scopeline_token_duration_seconds_count{grant_type="client_credentials"} 4`,
		`scopeline_token_duration_seconds_bucket{grant_type="client_credentials",le="0.001"} 4`,
		`scopeline_token_duration_seconds_bucket{grant_type="client_credentials",le="0.0005"} 0`,
		`scopeline_token_duration_seconds_count{grant_type="other"} 2`,
		`scopeline_tenant_reloads_total{result="ok"} 0`,
		`scopeline_tenant_reloads_total{result="error"} 0`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("no line %s in\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "scopeline_token_duration_seconds_count{"); n != 2 {
		t.Errorf("%d duration series, want 2", n)
	}
}

// TestMetricName checks the series names: labels sorted by name, values
// escaped as the Prometheus text format escapes them, and accepted by the
// metrics package.
func TestMetricName(t *testing.T) {
	for _, c := range []struct {
		labels []string
		want   string
	}{
		{nil, `fam`},
		{[]string{"b", "2", "a", "1"}, `fam{a="1",b="2"}`},
		{[]string{"v", `a\b"c` + "\nd"}, `fam{v="a\\b\"c\nd"}`},
		{[]string{"v", "zero\u200bwidth é"}, "fam{v=\"zero\u200bwidth é\"}"},
		{[]string{"v", "bad\xffutf8"}, "fam{v=\"bad\uFFFDutf8\"}"},
	} {
		got := MetricName("fam", c.labels...)
		if got != c.want {
			t.Errorf("MetricName(%q) = %s, want %s", c.labels, got, c.want)
		}
		set := metrics.NewSet()
		set.NewCounter(got).Inc()
		var out bytes.Buffer
		set.WritePrometheus(&out)
		if out.String() != got+" 1\n" {
			t.Errorf("written as %q", out.String())
		}
	}
}

// BenchmarkObserveToken is what counting a token costs: its series are
// resolved once, when the issuer is made (issued) or on the first refusal
// with a code (refused), not looked up by label values on every token
// (by-name, what metrics.Set.GetOrCreate* would do).
func BenchmarkObserveToken(b *testing.B) {
	set := metrics.NewSet()
	m := newIssuerMetrics(set, []string{GrantClientCredentials})
	b.Run("issued", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.observeToken(GrantClientCredentials, "", time.Millisecond)
		}
	})
	b.Run("refused", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.observeToken(GrantClientCredentials, "invalid_scope", time.Millisecond)
		}
	})
	b.Run("by-name", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			set.GetOrCreateCounter(MetricName(metricTokenRequests, "grant_type", GrantClientCredentials, "outcome", "issued")).Inc()
			set.GetOrCreatePrometheusHistogramExt(MetricName(metricTokenDuration, "grant_type", GrantClientCredentials), LatencyBuckets).Update(time.Millisecond.Seconds())
		}
	})
}
