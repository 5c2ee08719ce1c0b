package hooks

import (
	"cmp"
	"math"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
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
// hooks that are gone (removed or renamed by a reload) are unregistered,
// so a long-running issuer exports the hooks of its current tenant only.
const maxSeries = 256

// seriesName matches the hook names a tenant file allows; a name that does
// not (a spec made outside a tenant file) is exported as "_invalid".
var seriesName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

var runBuckets = []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// The hooks' metric families; docs/hooks.md says what each means.
const (
	metricRuns      = "scopeline_hook_runs_total"
	metricRunTime   = "scopeline_hook_run_duration_seconds"
	metricWaitTime  = "scopeline_hook_wait_duration_seconds"
	metricOpened    = "scopeline_hook_breaker_opened_total"
	metricInstances = "scopeline_hook_instances"
	metricBusy      = "scopeline_hook_instances_busy"
	metricOpen      = "scopeline_hook_breaker_open"
)

// hookMetrics holds a Host's series. The counters and histograms of a
// hook are resolved once, when it loads (hookSeries), so that a run costs
// no label lookup; the gauges (pool size, busy instances, breaker state)
// are read from the pools when the metrics are written, at no cost per
// run.
type hookMetrics struct {
	set *metrics.Set

	mu     sync.Mutex
	series map[[2]string]*hookSeries
}

func newHookMetrics(set *metrics.Set) *hookMetrics {
	return &hookMetrics{set: set, series: map[[2]string]*hookSeries{}}
}

// hookSeries is the pre-resolved series of one (trigger, hook) pair,
// shared by the loaded hooks of that name (a reload overlaps the old and
// the new).
type hookSeries struct {
	labels   [2]string
	names    []string // of every series, to unregister them
	hooks    []*WasmHook
	runTime  *metrics.PrometheusHistogram
	waitTime *metrics.PrometheusHistogram
	opened   *metrics.Counter
	outcomes []*metrics.Counter
	// runCounts counts the runs again by runBuckets' bucket (not
	// cumulative; the last past the largest bound), and waits the waits,
	// for Host.Stats: a metrics.PrometheusHistogram does not give its
	// counts back.
	runCounts []atomic.Uint64
	waits     atomic.Uint64
}

// acquire returns the series of spec for hk.
func (m *hookMetrics) acquire(spec *tenant.HookSpec, hk *WasmHook) *hookSeries {
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
		s = m.newSeries(key)
		m.series[key] = s
	}
	s.hooks = append(s.hooks, hk)
	return s
}

// newSeries registers the series of the labels key.
func (m *hookMetrics) newSeries(key [2]string) *hookSeries {
	s := &hookSeries{labels: key, runCounts: make([]atomic.Uint64, len(runBuckets)+1)}
	name := func(family string, labels ...string) string {
		n := engine.MetricName(family, append([]string{"trigger", key[0], "hook", key[1]}, labels...)...)
		s.names = append(s.names, n)
		return n
	}
	s.runTime = m.set.NewPrometheusHistogramExt(name(metricRunTime), runBuckets)
	s.waitTime = m.set.NewPrometheusHistogramExt(name(metricWaitTime), runBuckets)
	s.opened = m.set.NewCounter(name(metricOpened))
	for _, o := range outcomes {
		s.outcomes = append(s.outcomes, m.set.NewCounter(name(metricRuns, "outcome", o)))
	}
	m.set.NewGauge(name(metricInstances), func() float64 { return float64(m.pool(s).Instances) })
	m.set.NewGauge(name(metricBusy), func() float64 { return float64(m.pool(s).Busy) })
	m.set.NewGauge(name(metricOpen), func() float64 {
		if m.pool(s).BreakerOpen {
			return 1
		}
		return 0
	})
	return s
}

// release drops hk from its series, and unregisters the series once no
// loaded hook uses it.
func (m *hookMetrics) release(s *hookSeries, hk *WasmHook) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.hooks = slices.DeleteFunc(s.hooks, func(h *WasmHook) bool { return h == hk })
	if len(s.hooks) > 0 {
		return
	}
	delete(m.series, s.labels)
	for _, n := range s.names {
		m.set.UnregisterMetric(n)
	}
}

// ran records a run that took d seconds in the guest.
func (s *hookSeries) ran(d float64) {
	s.runTime.Update(d)
	i := 0
	for i < len(runBuckets) && d > runBuckets[i] {
		i++
	}
	s.runCounts[i].Add(1)
}

// waited records a request that waited d seconds for an instance.
func (s *hookSeries) waited(d float64) {
	s.waitTime.Update(d)
	s.waits.Add(1)
}

// pool reads the gauges of s from its hooks' pools.
func (m *hookMetrics) pool(s *hookSeries) engine.HookStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return s.pool()
}

// pool is what the pools of s's hooks hold now; the caller holds m.mu.
func (s *hookSeries) pool() engine.HookStats {
	var st engine.HookStats
	for _, hk := range s.hooks {
		n, idle := int(hk.live.Load()), len(hk.idle)
		st.Instances += n
		st.Busy += max(n-idle, 0)
		if hk.breaker.open() {
			st.BreakerOpen = true
		}
	}
	return st
}

// stats returns the figures of every series, sorted by trigger and hook.
func (m *hookMetrics) stats() []engine.HookStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	all := make([]engine.HookStats, 0, len(m.series))
	for _, s := range m.series {
		st := s.pool()
		st.Trigger, st.Hook = s.labels[0], s.labels[1]
		st.Outcomes = make(map[string]uint64, len(outcomes))
		for i, o := range outcomes {
			st.Outcomes[o] = s.outcomes[i].Get()
		}
		var below uint64
		st.RunTime = make([]engine.Bucket, len(s.runCounts))
		for i := range s.runCounts {
			below += s.runCounts[i].Load()
			upper := math.Inf(1)
			if i < len(runBuckets) {
				upper = runBuckets[i]
			}
			st.RunTime[i] = engine.Bucket{Upper: upper, Count: below}
		}
		st.Waits = s.waits.Load()
		st.BreakerOpened = s.opened.Get()
		all = append(all, st)
	}
	slices.SortFunc(all, func(a, b engine.HookStats) int {
		return cmp.Or(cmp.Compare(a.Trigger, b.Trigger), cmp.Compare(a.Hook, b.Hook))
	})
	return all
}
