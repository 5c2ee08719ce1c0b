package hooks

import (
	"math"
	"strconv"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/tenant"
)

// TestStatsMatchTheExportedHistogram: the run-time buckets Host.Stats
// gives, counted apart from the exported histogram, are the exported
// histogram's, bounds included (a run of exactly a bound is in its
// bucket) and past the last.
func TestStatsMatchTheExportedHistogram(t *testing.T) {
	set := metrics.NewSet()
	m := newHookMetrics(set)
	hk := &WasmHook{breaker: newBreaker(tenant.Breaker{})}
	s := m.acquire(&tenant.HookSpec{Name: "tier-gate", Trigger: tenant.TriggerCredentialsExchange}, hk)
	for _, d := range []float64{0, .000005, .0000051, .00003, .001, .0010001, .7, 1, 1.5, 60} {
		s.ran(d)
	}
	stats := m.stats()
	if len(stats) != 1 {
		t.Fatalf("stats %+v", stats)
	}
	exp := enginetest.Metrics(t, set)
	buckets := exp.Series("scopeline_hook_run_duration_seconds_bucket", "hook", "tier-gate")
	if len(buckets) != len(runBuckets)+1 || len(stats[0].RunTime) != len(buckets) {
		t.Fatalf("%d exported buckets, %d in stats, want %d", len(buckets), len(stats[0].RunTime), len(runBuckets)+1)
	}
	for i, b := range stats[0].RunTime {
		le := strconv.FormatFloat(b.Upper, 'g', -1, 64)
		if math.IsInf(b.Upper, 1) {
			le = "+Inf"
		}
		if got := exp.Sum("scopeline_hook_run_duration_seconds_bucket", "hook", "tier-gate", "le", le); got != float64(b.Count) {
			t.Errorf("bucket %d (le %s): %d in stats, %v exported", i, le, b.Count, got)
		}
	}
	if got := stats[0].RunTime[len(runBuckets)].Count; got != 10 {
		t.Errorf("%d runs counted, want 10", got)
	}
}

// BenchmarkPerRunBookkeeping measures, alone, what the metrics and the
// circuit breaker add to each run (the interleaved whole-call comparison,
// BenchmarkMetricsCost, is within the noise of a 2-core machine): the
// observation of the run's duration (its bucket counted twice: in the
// exported histogram and for Host.Stats) and its outcome, the extra
// clock reading, and the breaker's admit and done on a closed breaker.
func BenchmarkPerRunBookkeeping(b *testing.B) {
	m := newHookMetrics(metrics.NewSet())
	hk := &WasmHook{breaker: newBreaker(tenant.Breaker{After: 10, Cooldown: 1e9})}
	s := m.acquire(&tenant.HookSpec{Name: "tier-gate", Trigger: tenant.TriggerCredentialsExchange}, hk)
	wd := newWatchdog(watchdogTick)
	defer wd.close(0)
	b.Run("metrics", func(b *testing.B) {
		start := wd.now()
		for b.Loop() {
			end := wd.now()
			s.ran(float64(end-start) / 1e9)
			s.outcomes[0].Inc()
		}
	})
	b.Run("breaker", func(b *testing.B) {
		for b.Loop() {
			ok, probe := hk.breaker.admit(1)
			if !ok {
				b.Fatal("the breaker is open")
			}
			hk.breaker.done(probe, true, false, 2)
		}
	})
}
