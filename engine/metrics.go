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
	}
	for _, g := range grantTypes {
		m.knownGrants[g] = true
	}
	if reg != nil {
		reg.MustRegister(m.tokens, m.tokenTime, m.reloads)
	}
	return m
}

// observeToken counts one token request; code is "" when a token was issued.
func (m *metrics) observeToken(grantType, code string, d time.Duration) {
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
