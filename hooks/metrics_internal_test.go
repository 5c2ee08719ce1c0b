package hooks

import (
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine/tenant"
)

// BenchmarkPerRunBookkeeping measures, alone, what the metrics and the
// circuit breaker add to each run (the interleaved whole-call comparison,
// BenchmarkMetricsCost, is within the noise of a 2-core machine): the
// observation of the run's duration and its outcome, the extra clock
// reading, and the breaker's admit and done on a closed breaker.
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
