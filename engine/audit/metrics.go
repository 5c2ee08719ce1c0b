package audit

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
)

// The publisher's metric families; docs/events.md says what each means.
const (
	metricPublished  = "scopeline_audit_events_published_total"
	metricAcked      = "scopeline_audit_events_acknowledged_total"
	metricRetries    = "scopeline_audit_publish_retries_total"
	metricDuplicates = "scopeline_audit_duplicates_total"
	metricSpooled    = "scopeline_audit_events_spooled_total"
	metricFailed     = "scopeline_audit_events_failed_total"
	metricLatency    = "scopeline_audit_publish_latency_seconds"
	metricSpoolDepth = "scopeline_audit_spool_depth"
	metricSpoolBytes = "scopeline_audit_spool_bytes"
	metricConnected  = "scopeline_audit_connected"
	metricAnswering  = "scopeline_audit_stream_answering"
)

// publisherMetrics are the publisher's series. The counters of each kind
// are resolved once; the gauges are read from the publisher when the
// metrics are written.
type publisherMetrics struct {
	set   *metrics.Set
	kinds map[Kind]*kindMetrics

	retries    *metrics.Counter
	duplicates *metrics.Counter
	latency    *metrics.PrometheusHistogram
}

// kindMetrics are the counters of one kind of event.
type kindMetrics struct {
	published, acked, spooled, failed *metrics.Counter
}

// of returns kind's counters.
func (m *publisherMetrics) of(kind Kind) *kindMetrics {
	if km, ok := m.kinds[kind]; ok {
		return km
	}
	return m.newKind(kind)
}

func (m *publisherMetrics) newKind(kind Kind) *kindMetrics {
	name := func(family string) string { return engine.MetricName(family, "kind", string(kind)) }
	return &kindMetrics{
		published: m.set.GetOrCreateCounter(name(metricPublished)),
		acked:     m.set.GetOrCreateCounter(name(metricAcked)),
		spooled:   m.set.GetOrCreateCounter(name(metricSpooled)),
		failed:    m.set.GetOrCreateCounter(name(metricFailed)),
	}
}

var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// newPublisherMetrics makes p's series in set (nil: a set of their own,
// which nothing exports).
func newPublisherMetrics(set *metrics.Set, p *Publisher) *publisherMetrics {
	if set == nil {
		set = metrics.NewSet()
	}
	m := &publisherMetrics{
		set:        set,
		retries:    set.NewCounter(metricRetries),
		duplicates: set.NewCounter(metricDuplicates),
		latency:    set.NewPrometheusHistogramExt(metricLatency, latencyBuckets),
	}
	set.NewGauge(metricSpoolDepth, func() float64 { return float64(p.spoolStats().Depth) })
	set.NewGauge(metricSpoolBytes, func() float64 { return float64(p.spoolStats().Bytes) })
	set.NewGauge(metricConnected, func() float64 { return flag(p.nc.IsConnected()) })
	set.NewGauge(metricAnswering, func() float64 { return flag(p.health.err() == nil) })
	m.kinds = make(map[Kind]*kindMetrics, len(Kinds))
	for _, k := range Kinds {
		m.kinds[k] = m.newKind(k)
	}
	return m
}

// flag is a gauge's value for a condition: 1 when it holds, else 0.
func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
