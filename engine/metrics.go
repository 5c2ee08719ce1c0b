package engine

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// The issuer's metric families (docs/configuration.md says what each
// means).
const (
	metricTokenRequests = "scopeline_token_requests_total"
	metricTokenDuration = "scopeline_token_duration_seconds"
	metricReloads       = "scopeline_tenant_reloads_total"
)

// issuerMetrics are the issuer's series. Those of a token are resolved
// once, so that counting one costs no label lookup: the series of each
// known grant type when the issuer is made, the count of an OAuth error
// code the first time a grant type answers with it.
type issuerMetrics struct {
	set *metrics.Set
	// grants has the series of each known grant type; other those of
	// every other grant_type value, which share the label "other" so that
	// arbitrary input cannot grow the label set. Neither changes once
	// made.
	grants map[string]*grantSeries
	other  *grantSeries

	reloadsOK, reloadsFailed *metrics.Counter
}

// grantSeries are the series of one grant_type label value.
type grantSeries struct {
	label  string
	time   *metrics.PrometheusHistogram
	issued *metrics.Counter // nil for "other": no grant issues its tokens
	// outcomes holds, by OAuth error code ("" for issued under "other"),
	// the counters resolved on their first use. The codes are a fixed
	// set: Error values are made in code, not from input.
	outcomes sync.Map
}

// LatencyBuckets are the buckets of Scopeline's latency histograms, in
// seconds: from 50 µs (a token without hooks) to a second.
var LatencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// newIssuerMetrics makes the issuer's series in set (nil: a set of their
// own, which nothing exports).
func newIssuerMetrics(set *metrics.Set, grantTypes []string) *issuerMetrics {
	if set == nil {
		set = metrics.NewSet()
	}
	m := &issuerMetrics{
		set:           set,
		grants:        make(map[string]*grantSeries, len(grantTypes)),
		reloadsOK:     set.NewCounter(MetricName(metricReloads, "result", "ok")),
		reloadsFailed: set.NewCounter(MetricName(metricReloads, "result", "error")),
	}
	for _, g := range grantTypes {
		m.grants[g] = &grantSeries{
			label:  g,
			time:   set.NewPrometheusHistogramExt(MetricName(metricTokenDuration, "grant_type", g), LatencyBuckets),
			issued: set.NewCounter(MetricName(metricTokenRequests, "grant_type", g, "outcome", "issued")),
		}
	}
	m.other = &grantSeries{
		label: "other",
		time:  set.NewPrometheusHistogramExt(MetricName(metricTokenDuration, "grant_type", "other"), LatencyBuckets),
	}
	return m
}

// observeToken counts one token request; code is "" when a token was issued.
func (m *issuerMetrics) observeToken(grantType, code string, d time.Duration) {
	g := m.grants[grantType]
	if g == nil {
		g = m.other
	}
	g.time.Update(d.Seconds())
	if code == "" && g.issued != nil {
		g.issued.Inc()
		return
	}
	g.outcome(m.set, code).Inc()
}

// outcome returns the counter of the requests of g answered with code
// ("" for issued).
func (g *grantSeries) outcome(set *metrics.Set, code string) *metrics.Counter {
	if c, ok := g.outcomes.Load(code); ok {
		return c.(*metrics.Counter)
	}
	outcome := code
	if outcome == "" {
		outcome = "issued"
	}
	c := set.GetOrCreateCounter(MetricName(metricTokenRequests, "grant_type", g.label, "outcome", outcome))
	g.outcomes.Store(code, c)
	return c
}

// MetricName returns the name of the series of a metric family with
// labels (name, value pairs), as package github.com/VictoriaMetrics/metrics
// takes it: family{name="value",...}, the labels sorted by name and each
// value escaped as the Prometheus text format escapes it (\\, \" and \n;
// invalid UTF-8 becomes U+FFFD). The caller bounds the values: every
// distinct value is a series of its own.
func MetricName(family string, labels ...string) string {
	if len(labels)%2 != 0 {
		panic("engine: MetricName wants labels as name, value pairs")
	}
	if len(labels) == 0 {
		return family
	}
	pairs := make([][2]string, 0, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		pairs = append(pairs, [2]string{labels[i], labels[i+1]})
	}
	slices.SortFunc(pairs, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	var b strings.Builder
	b.WriteString(family)
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p[0])
		b.WriteString(`="`)
		labelValueEscaper.WriteString(&b, strings.ToValidUTF8(p[1], "\uFFFD"))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// labelValueEscaper escapes a label value as the Prometheus text format
// does: a backslash, a double quote and a line feed, nothing else (Go's
// %q would write escapes such as \u200b that the format does not have).
var labelValueEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
