package main

import (
	"compress/gzip"
	"io"
	"net/http"
	runtimemetrics "runtime/metrics"
	"strconv"
	"strings"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
)

// newMetrics returns the set serve's components make their metrics in,
// with scopeline_build_info.
func newMetrics() *metrics.Set {
	set := metrics.NewSet()
	set.NewGauge(engine.MetricName("scopeline_build_info", "version", versionString()), func() float64 { return 1 })
	return set
}

// metricsHandler serves /metrics: the series of set, then the Go
// runtime's and the process's (go_*, process_*), in the Prometheus text
// format (version 0.0.4) with a # TYPE line per family, gzipped when the
// scraper accepts it. The # HELP lines are empty: the docs say what each
// metric means (docs/design.md, "Metrics").
func metricsHandler(set *metrics.Set) http.Handler {
	metrics.ExposeMetadata(true)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		h.Add("Vary", "Accept-Encoding")
		var out io.Writer = w
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			defer gz.Close()
			out = gz
		}
		writeMetrics(out, set)
	})
}

// writeMetrics writes set and the runtime's and process's metrics.
func writeMetrics(w io.Writer, set *metrics.Set) {
	set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
	metrics.WriteFDMetrics(w)
	writeRuntimeSettings(w)
}

// runtimeSettings are Go runtime settings the Prometheus client exported
// and the metrics package does not, under the Prometheus client's names
// (runtime/metrics name, metric name).
var runtimeSettings = [][2]string{
	{"/gc/gogc:percent", "go_gc_gogc_percent"},
	{"/gc/gomemlimit:bytes", "go_gc_gomemlimit_bytes"},
	{"/sched/gomaxprocs:threads", "go_sched_gomaxprocs_threads"},
}

func writeRuntimeSettings(w io.Writer) {
	samples := make([]runtimemetrics.Sample, len(runtimeSettings))
	for i, s := range runtimeSettings {
		samples[i].Name = s[0]
	}
	runtimemetrics.Read(samples)
	for i, s := range samples {
		if s.Value.Kind() == runtimemetrics.KindUint64 {
			metrics.WriteGaugeUint64(w, runtimeSettings[i][1], s.Value.Uint64())
		}
	}
}

// acceptsGzip reports whether an Accept-Encoding header value accepts
// gzip (RFC 9110 §12.5.3): listed with no q, or a q above 0.
func acceptsGzip(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}
