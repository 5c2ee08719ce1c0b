package hooks_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

// statsOf returns the figures of hook in h.Stats (the zero value when it
// has none).
func statsOf(h *hooks.Host, hook string) engine.HookStats {
	for _, st := range h.Stats() {
		if st.Hook == hook {
			return st
		}
	}
	return engine.HookStats{}
}

// runs is the number of runs a hook's run-time histogram counted.
func runs(st engine.HookStats) uint64 {
	if len(st.RunTime) == 0 {
		return 0
	}
	return st.RunTime[len(st.RunTime)-1].Count
}

// TestMetrics: runs are counted by outcome and timed, waits are timed,
// and the pool gauges follow the pool, under the hook's trigger and name,
// both in Host.Stats and in the exported series.
func TestMetrics(t *testing.T) {
	set := metrics.NewSet()
	h := newHost(t, hooks.WithMetrics(set)) // pools of 1 to 2
	sp := spec("storm", "testdata/faulty.wasm", `"V"`, tenant.FailDeny)
	sp.Trigger = tenant.TriggerPostLogin
	sp.Timeout = 50 * time.Millisecond
	hk, err := h.Load(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	for _, agent := range []string{"good", "good", "Loop"} {
		hk.Invoke(context.Background(), agentTx(t, agent).View())
	}
	st := statsOf(h, "storm")
	if st.Trigger != "post-login" {
		t.Errorf("trigger %q, want post-login", st.Trigger)
	}
	if st.Outcomes["ok"] != 2 || st.Outcomes["timeout"] != 1 || st.Outcomes["trap"] != 0 {
		t.Errorf("outcomes %v, want ok 2, timeout 1", st.Outcomes)
	}
	if n := runs(st); n != 3 {
		t.Errorf("run time histogram counted %d runs, want 3", n)
	}
	if b := st.RunTime[len(st.RunTime)-2]; b.Upper != 1 || b.Count != 3 || !math.IsInf(st.RunTime[len(st.RunTime)-1].Upper, 1) {
		t.Errorf("run time buckets %v, want the 3 runs under 1 s and +Inf last", st.RunTime)
	}
	if b := st.RunTime[len(st.RunTime)-6]; b.Upper != .05 || b.Count < 2 {
		t.Errorf("run time bucket %v, want the 2 good runs at most 50 ms", b)
	}
	exp := enginetest.Metrics(t, set)
	labels := []string{"trigger", "post-login", "hook", "storm"}
	if v := exp.Sum("scopeline_hook_runs_total", append(labels, "outcome", "ok")...); v != 2 {
		t.Errorf("exported runs ok %v, want 2", v)
	}
	if ss := exp.Series("scopeline_hook_runs_total", append(labels, "outcome", "trap")...); len(ss) != 1 || ss[0].Value != 0 {
		t.Errorf("exported runs trap %v, want a series at 0", ss)
	}
	if v := exp.Sum("scopeline_hook_run_duration_seconds_count", labels...); v != 3 {
		t.Errorf("exported run duration count %v, want 3", v)
	}
	if v := exp.Sum("scopeline_hook_run_duration_seconds_sum", labels...); v < 0.05 {
		t.Errorf("exported run duration sum %v, want the timed-out run's 50 ms at least", v)
	}

	// Both instances busy: a request waits, then is served.
	waitFor(t, "the pool to refill", func() bool { return hooks.Idle(hk) >= 1 })
	a := hooks.Take(hk)
	if hooks.Live(hk) < 2 {
		if _, err := hk.Invoke(context.Background(), agentTx(t, "good").View()); err != nil { // grows the pool to 2
			t.Fatal(err)
		}
	}
	b := hooks.Take(hk)
	if st := statsOf(h, "storm"); st.Instances != 2 || st.Busy != 2 {
		t.Errorf("instances %d, busy %d, want 2 and 2", st.Instances, st.Busy)
	}
	exp = enginetest.Metrics(t, set)
	if v := exp.Sum("scopeline_hook_instances", labels...); v != 2 {
		t.Errorf("exported instances %v, want 2", v)
	}
	if v := exp.Sum("scopeline_hook_instances_busy", labels...); v != 2 {
		t.Errorf("exported busy %v, want 2", v)
	}
	done := make(chan error, 1)
	go func() {
		tx := agentTx(t, "good")
		tx.Deadline = time.Now().Add(time.Minute) // the pipeline's: the request may wait long
		_, err := hk.Invoke(context.Background(), tx.View())
		done <- err
	}()
	waitFor(t, "the request to wait", func() bool { return hooks.Waiting(hk) == 1 })
	hooks.Give(hk, a)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	hooks.Give(hk, b)
	if st := statsOf(h, "storm"); st.Waits != 1 {
		t.Errorf("waits %d, want 1", st.Waits)
	}
	if v := enginetest.Metrics(t, set).Sum("scopeline_hook_wait_duration_seconds_count", labels...); v != 1 {
		t.Errorf("exported wait duration count %v, want 1", v)
	}
}

// TestMetricsSeriesFollowTheTenant: a reload that keeps a hook keeps its
// series (counters go on); a hook that is gone takes its series with it,
// so the label sets do not grow across reloads.
func TestMetricsSeriesFollowTheTenant(t *testing.T) {
	set := metrics.NewSet()
	h := newHost(t, hooks.WithMetrics(set))
	load := func(name string) *hooks.WasmHook {
		sp := spec(name, "testdata/faulty.wasm", `"K"`, tenant.FailDeny)
		sp.Trigger = tenant.TriggerCredentialsExchange
		hk, err := h.Load(context.Background(), sp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hk.Invoke(context.Background(), transaction(t).View()); err != nil {
			t.Fatal(err)
		}
		return hk
	}
	old := load("kept")
	gone := load("renamed")
	// The reload: the new snapshot loads, then the old one closes.
	kept := load("kept")
	renamed := load("renamed-2")
	old.Close()
	gone.Close()
	if v := statsOf(h, "kept").Outcomes["ok"]; v != 2 {
		t.Errorf("kept: runs %v, want 2 (across the reload)", v)
	}
	if st := statsOf(h, "renamed"); st.Hook != "" {
		t.Errorf("the removed hook still has stats %+v", st)
	}
	exp := enginetest.Metrics(t, set)
	if v := exp.Sum("scopeline_hook_runs_total", "hook", "kept", "outcome", "ok"); v != 2 {
		t.Errorf("kept: exported runs %v, want 2", v)
	}
	for _, s := range exp.Samples {
		if s.Labels["hook"] == "renamed" {
			t.Errorf("the removed hook still has the series %s %v", s.Name, s.Labels)
		}
	}
	kept.Close()
	renamed.Close()
	if names := set.ListMetricNames(); len(names) != 0 {
		t.Errorf("series left after every hook closed: %v", names)
	}
	if st := h.Stats(); len(st) != 0 {
		t.Errorf("stats left after every hook closed: %+v", st)
	}
}

var _ engine.Hook = (*hooks.WasmHook)(nil)
