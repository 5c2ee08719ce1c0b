package hooks

import (
	"regexp"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scopeline/scopeline/engine/tenant"
)

// The outcomes of a request to a hook, as the outcome label of
// scopeline_hook_runs_total: ok, or the fault kind. The set is fixed, so
// that the label stays bounded whatever a hook does.
var outcomes = []string{
	"ok", "error", "timeout", "trap", "memory", "stack", "abi", "exit", "input", "init",
	"busy", "canceled", "circuit-open", "closed", "instantiate", "other",
}

// outcomeOf returns the index in outcomes of an outcome or fault kind.
func outcomeOf(kind string) int {
	if i := slices.Index(outcomes, kind); i >= 0 {
		return i
	}
	return len(outcomes) - 1
}

// maxSeries bounds how many (trigger, hook) label pairs a host exports at
// once; the hooks past it share the pair (trigger, "_overflow"). Series of
// hooks that are gone (removed or renamed by a reload) are deleted, so a
// long-running issuer exports the hooks of its current tenant only.
const maxSeries = 256

// seriesName matches the hook names a tenant file allows; a name that does
// not (a spec made outside a tenant file) is exported as "_invalid".
var seriesName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

var runBuckets = []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// metrics holds a Host's Prometheus collectors. The counters and
// histograms of a hook are resolved once, when it loads (hookSeries), so
// that a run costs no label lookup; the gauges (pool size, busy instances,
// breaker state) are read from the pools when /metrics is scraped, at no
// cost per run.
type metrics struct {
	runs     *prometheus.CounterVec
	runTime  *prometheus.HistogramVec
	waitTime *prometheus.HistogramVec
	opened   *prometheus.CounterVec

	instances, busy, open *prometheus.Desc

	mu     sync.Mutex
	series map[[2]string]*hookSeries
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"trigger", "hook"}
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopeline_hook_runs_total",
			Help: "Requests to a hook by outcome: ok, or the fault kind (timeout, trap, busy, circuit-open, ...).",
		}, append(labels, "outcome")),
		runTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scopeline_hook_run_duration_seconds",
			Help:    "Time a hook's runs took in the guest, from the call to its return or stop.",
			Buckets: runBuckets,
		}, labels),
		waitTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scopeline_hook_wait_duration_seconds",
			Help:    "Time requests waited for an instance of a hook because every instance was busy (its count is the number of waits).",
			Buckets: runBuckets,
		}, labels),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopeline_hook_breaker_opened_total",
			Help: "Times a hook's circuit breaker opened (or reopened after a failed probe).",
		}, labels),
		instances: prometheus.NewDesc("scopeline_hook_instances", "Instances in a hook's pool, idle or busy.", labels, nil),
		busy:      prometheus.NewDesc("scopeline_hook_instances_busy", "Instances of a hook running a request.", labels, nil),
		open:      prometheus.NewDesc("scopeline_hook_breaker_open", "1 while a hook's circuit breaker is open or half-open.", labels, nil),
		series:    map[[2]string]*hookSeries{},
	}
	for _, c := range []prometheus.Collector{m.runs, m.runTime, m.waitTime, m.opened, m} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// hookSeries is the pre-resolved series of one (trigger, hook) pair,
// shared by the loaded hooks of that name (a reload overlaps the old and
// the new).
type hookSeries struct {
	labels   [2]string
	hooks    []*WasmHook
	runTime  prometheus.Observer
	waitTime prometheus.Observer
	opened   prometheus.Counter
	outcomes []prometheus.Counter
}

// acquire returns the series of spec for hk.
func (m *metrics) acquire(spec *tenant.HookSpec, hk *WasmHook) *hookSeries {
	trigger := string(spec.Trigger)
	if !slices.Contains(tenant.Triggers, spec.Trigger) {
		trigger = "none"
	}
	name := spec.Name
	if !seriesName.MatchString(name) {
		name = "_invalid"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := [2]string{trigger, name}
	if _, ok := m.series[key]; !ok && len(m.series) >= maxSeries {
		key[1] = "_overflow"
	}
	s, ok := m.series[key]
	if !ok {
		s = &hookSeries{
			labels:   key,
			runTime:  m.runTime.WithLabelValues(key[0], key[1]),
			waitTime: m.waitTime.WithLabelValues(key[0], key[1]),
			opened:   m.opened.WithLabelValues(key[0], key[1]),
		}
		for _, o := range outcomes {
			s.outcomes = append(s.outcomes, m.runs.WithLabelValues(key[0], key[1], o))
		}
		m.series[key] = s
	}
	s.hooks = append(s.hooks, hk)
	return s
}

// release drops hk from its series, and deletes the series once no loaded
// hook uses it.
func (m *metrics) release(s *hookSeries, hk *WasmHook) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.hooks = slices.DeleteFunc(s.hooks, func(h *WasmHook) bool { return h == hk })
	if len(s.hooks) > 0 {
		return
	}
	delete(m.series, s.labels)
	m.runTime.DeleteLabelValues(s.labels[0], s.labels[1])
	m.waitTime.DeleteLabelValues(s.labels[0], s.labels[1])
	m.opened.DeleteLabelValues(s.labels[0], s.labels[1])
	for _, o := range outcomes {
		m.runs.DeleteLabelValues(s.labels[0], s.labels[1], o)
	}
}

// Describe implements prometheus.Collector for the gauges.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.instances
	ch <- m.busy
	ch <- m.open
}

// Collect implements prometheus.Collector: it reads the pools' gauges.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.series {
		var live, busy, open float64
		for _, hk := range s.hooks {
			n, idle := hk.live.Load(), len(hk.idle)
			live += float64(n)
			busy += float64(max(int(n)-idle, 0))
			if hk.breaker.open() {
				open = 1
			}
		}
		ch <- prometheus.MustNewConstMetric(m.instances, prometheus.GaugeValue, live, s.labels[0], s.labels[1])
		ch <- prometheus.MustNewConstMetric(m.busy, prometheus.GaugeValue, busy, s.labels[0], s.labels[1])
		ch <- prometheus.MustNewConstMetric(m.open, prometheus.GaugeValue, open, s.labels[0], s.labels[1])
	}
}
