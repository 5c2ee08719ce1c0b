package audit

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the publisher's Prometheus collectors.
type metrics struct {
	// kinds holds each kind's counters of the vectors below, looked up
	// once.
	kinds map[Kind]*kindMetrics

	published  *prometheus.CounterVec
	acked      *prometheus.CounterVec
	retries    prometheus.Counter
	duplicates prometheus.Counter
	spooled    *prometheus.CounterVec
	failed     *prometheus.CounterVec
	latency    prometheus.Histogram
	spoolDepth prometheus.GaugeFunc
	spoolBytes prometheus.GaugeFunc
	connected  prometheus.GaugeFunc
	answering  prometheus.GaugeFunc
}

// kindMetrics are the counters of one kind of event.
type kindMetrics struct {
	published, acked, spooled, failed prometheus.Counter
}

// of returns kind's counters.
func (m *metrics) of(kind Kind) *kindMetrics {
	if km, ok := m.kinds[kind]; ok {
		return km
	}
	return m.newKind(kind)
}

func (m *metrics) newKind(kind Kind) *kindMetrics {
	k := string(kind)
	return &kindMetrics{
		published: m.published.WithLabelValues(k),
		acked:     m.acked.WithLabelValues(k),
		spooled:   m.spooled.WithLabelValues(k),
		failed:    m.failed.WithLabelValues(k),
	}
}

var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(reg prometheus.Registerer, p *Publisher) *metrics {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopeline_audit_events_published_total",
			Help: "Audit events sent to the stream for the first time, by kind. In ack mode a denial caused by the audit stream itself is sent without waiting: it counts here, but as acknowledged never and as failed only if the send fails at once.",
		}, []string{"kind"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopeline_audit_events_acknowledged_total",
			Help: "Audit events the stream acknowledged as stored, by kind.",
		}, []string{"kind"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scopeline_audit_publish_retries_total",
			Help: "Audit events sent again (same id) after a failed or unanswered attempt.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scopeline_audit_duplicates_total",
			Help: "Re-sent audit events the stream recognised as already stored (and did not store again).",
		}),
		spooled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopeline_audit_events_spooled_total",
			Help: "Audit events written to the local spool (buffered mode), by kind.",
		}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopeline_audit_events_failed_total",
			Help: "Audit events that could not be made durable in time, by kind: the token was withheld (issued) or the denial, sign-in or reload only logged.",
		}, []string{"kind"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scopeline_audit_publish_latency_seconds",
			Help:    "Time from an event's first send to its acknowledgement by the stream (re-sends included).",
			Buckets: latencyBuckets,
		}),
		spoolDepth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scopeline_audit_spool_depth",
			Help: "Audit events in the local spool not yet acknowledged by the stream (buffered mode).",
		}, func() float64 { return float64(p.spoolStats().Depth) }),
		spoolBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scopeline_audit_spool_bytes",
			Help: "Size of the local spool's files (buffered mode).",
		}, func() float64 { return float64(p.spoolStats().Bytes) }),
		connected: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scopeline_audit_connected",
			Help: "1 when connected to NATS, else 0.",
		}, func() float64 {
			if p.nc.IsConnected() {
				return 1
			}
			return 0
		}),
	}
	m.answering = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scopeline_audit_stream_answering",
		Help: "1 when the stream answered the last acknowledgement or probe it was asked for in time, else 0 (in ack mode /healthz/ready fails while 0).",
	}, func() float64 {
		if p.health.err() == nil {
			return 1
		}
		return 0
	})
	m.kinds = make(map[Kind]*kindMetrics, len(Kinds))
	for _, k := range Kinds {
		m.kinds[k] = m.newKind(k)
	}
	if reg != nil {
		reg.MustRegister(m.published, m.acked, m.retries, m.duplicates, m.spooled, m.failed, m.latency,
			m.spoolDepth, m.spoolBytes, m.connected, m.answering)
	}
	return m
}
