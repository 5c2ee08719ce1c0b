package engine

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the issuer's Prometheus collectors.
type metrics struct {
	tokens      *prometheus.CounterVec
	tokenTime   *prometheus.HistogramVec
	reloads     *prometheus.CounterVec
	knownGrants map[string]bool
	// issued has the series of each known grant type's tokens, resolved
	// once: looking a series up by its labels costs a hash of the labels
	// and a lock on every token.
	issued map[string]issuedSeries
}

// issuedSeries are the series a token issued with one grant type counts in.
type issuedSeries struct {
	count prometheus.Counter
	time  prometheus.Observer
}

// LatencyBuckets are the buckets of Scopeline's latency histograms, in
// seconds: from 50 µs (a token without hooks) to a second.
var LatencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

func newMetrics(reg prometheus.Registerer, grantTypes []string) *metrics {
	m := &metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopeline_token_requests_total",
			Help: "Token requests by grant type and outcome (issued, or the OAuth error code).",
		}, []string{"grant_type", "outcome"}),
		tokenTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scopeline_token_duration_seconds",
			Help:    "Time to decide a token request in process (policy, hooks, signing, audit).",
			Buckets: LatencyBuckets,
		}, []string{"grant_type"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopeline_tenant_reloads_total",
			Help: "Tenant reloads by result (ok, error).",
		}, []string{"result"}),
		knownGrants: map[string]bool{},
		issued:      map[string]issuedSeries{},
	}
	for _, g := range grantTypes {
		m.knownGrants[g] = true
		m.issued[g] = issuedSeries{m.tokens.WithLabelValues(g, "issued"), m.tokenTime.WithLabelValues(g)}
	}
	if reg != nil {
		reg.MustRegister(m.tokens, m.tokenTime, m.reloads)
	}
	return m
}

// observeToken counts one token request; code is "" when a token was issued.
func (m *metrics) observeToken(grantType, code string, d time.Duration) {
	if s, ok := m.issued[grantType]; ok && code == "" {
		s.count.Inc()
		s.time.Observe(d.Seconds())
		return
	}
	if !m.knownGrants[grantType] {
		grantType = "other" // bound the label set against arbitrary input
	}
	outcome := code
	if outcome == "" {
		outcome = "issued"
	}
	m.tokens.WithLabelValues(grantType, outcome).Inc()
	m.tokenTime.WithLabelValues(grantType).Observe(d.Seconds())
}
