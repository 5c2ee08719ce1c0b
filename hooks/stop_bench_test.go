package hooks_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

// ranRE reads how long a stopped run went on from its timeout fault.
var ranRE = regexp.MustCompile(`\(([0-9.]+[µmn]?s); ran ([0-9.]+[µmn]?s)\)`)

// overshoot is how long past its deadline a stopped run went on, read from
// its fault; ok is false for a fault that is not a stopped run.
func overshoot(err error) (time.Duration, bool) {
	var f *engine.HookFault
	if !errors.As(err, &f) || f.Kind != "timeout" {
		return 0, false
	}
	m := ranRE.FindStringSubmatch(f.Error())
	if m == nil {
		return 0, false
	}
	limit, _ := time.ParseDuration(m[1])
	ran, _ := time.ParseDuration(m[2])
	return ran - limit, true
}

// stops collects overshoots and reports their distribution.
type stops struct {
	mu   sync.Mutex
	over []time.Duration
}

func (s *stops) add(err error) {
	if d, ok := overshoot(err); ok {
		s.mu.Lock()
		s.over = append(s.over, d)
		s.mu.Unlock()
	}
}

func (s *stops) report(b *testing.B) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.over) == 0 {
		b.Fatal("no run was stopped")
	}
	slices.Sort(s.over)
	pct := func(p float64) float64 {
		return float64(s.over[int(p*float64(len(s.over)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(len(s.over)), "stops")
}

// Record implements engine.Auditor: it collects the stopped runs of the
// decisions.
func (s *stops) Record(_ context.Context, d *engine.Decision) error {
	for _, f := range d.Tx.Failures {
		s.add(f.Err)
	}
	return nil
}

// BenchmarkStopLatency measures how long after its deadline (20 ms) a
// runaway run is stopped while the CPU is busy, and reports the
// percentiles of that overshoot over every stopped run. Each iteration
// starts 8 runaway runs (four times the cores of the reference machine) at
// once, under one of two loads:
//
//   - http: 8 clients send good token requests back to back over loopback
//     HTTP to the same issuer, whose one hook loops for requests with user
//     agent "Loop" (the loop storm of TestLoopStorm, sustained);
//   - cpu: 8 goroutines call a good hook back to back in process, never
//     blocking: the CPU is saturated by Go code, which Go preempts only
//     every 10 ms.
//
// and with the runaway guest stopped by the guard's yields (yield, the
// default) or by the watchdog alone (watchdog, as before the yields
// checked deadlines).
func BenchmarkStopLatency(b *testing.B) {
	const loops, load, timeout = 8, 8, 20 * time.Millisecond
	for _, stop := range []string{"yield", "watchdog"} {
		opts := []hooks.Option{hooks.WithPoolSize(loops+load, loops+load)}
		if stop == "watchdog" {
			opts = append(opts, hooks.WithWatchdogOnly())
		}
		b.Run("load=http/stop="+stop, func(b *testing.B) {
			st := &stops{}
			s := enginetest.Start(b, enginetest.Config{
				Tenant: stormTenant(timeout, "        breaker: {after: 0}\n"),
				Server: server.Config{Hooks: newHost(b, opts...), Auditor: st},
			})
			stopLoad := background(load, func() { postToken(b, s, "good") })
			for b.Loop() {
				var wg sync.WaitGroup
				for range loops {
					wg.Go(func() { postToken(b, s, "Loop") })
				}
				wg.Wait()
			}
			b.StopTimer()
			stopLoad()
			st.report(b)
		})
		b.Run("load=cpu/stop="+stop, func(b *testing.B) {
			h := newHost(b, opts...)
			loopSpec := spec("loop", "testdata/faulty.wasm", `"L"`, tenant.FailDeny)
			loopSpec.Timeout = timeout
			loop, err := h.Load(context.Background(), loopSpec)
			if err != nil {
				b.Fatal(err)
			}
			defer loop.Close()
			good, err := h.Load(context.Background(), spec("good", "../examples/hooks/wat/tier-gate.wasm", "", tenant.FailDeny))
			if err != nil {
				b.Fatal(err)
			}
			defer good.Close()
			tx := transaction(b)
			stopLoad := background(load, func() { good.Invoke(context.Background(), tx.View()) })
			st := &stops{}
			for b.Loop() {
				var wg sync.WaitGroup
				for range loops {
					wg.Go(func() {
						_, err := loop.Invoke(context.Background(), transaction(b).View())
						st.add(err)
					})
				}
				wg.Wait()
			}
			b.StopTimer()
			stopLoad()
			st.report(b)
		})
	}
}

// background runs work back to back in n goroutines until the returned
// function is called, which waits for them to finish.
func background(n int, work func()) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-quit:
					return
				default:
				}
				work()
			}
		})
	}
	return func() {
		close(quit)
		wg.Wait()
	}
}
