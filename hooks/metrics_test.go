package hooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

func withRegistry(reg prometheus.Registerer) hooks.Option { return hooks.WithRegisterer(reg) }

// series returns the metric family name's series of hook (and, when
// outcome is set, of that outcome).
func series(t testing.TB, reg *prometheus.Registry, name, hook, outcome string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if (hook == "" || labels["hook"] == hook) && (outcome == "" || labels["outcome"] == outcome) {
				out = append(out, m)
			}
		}
	}
	return out
}

func counter(t testing.TB, reg *prometheus.Registry, name, hook, outcome string) float64 {
	t.Helper()
	var v float64
	for _, m := range series(t, reg, name, hook, outcome) {
		v += m.GetCounter().GetValue()
	}
	return v
}

func gauge(t testing.TB, reg *prometheus.Registry, name, hook string) float64 {
	t.Helper()
	var v float64
	for _, m := range series(t, reg, name, hook, "") {
		v += m.GetGauge().GetValue()
	}
	return v
}

// TestMetrics: runs are counted by outcome and timed, waits are timed,
// and the pool gauges follow the pool, under the hook's trigger and name.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHost(t, withRegistry(reg)) // pools of 1 to 2
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
	if v := counter(t, reg, "scopeline_hook_runs_total", "storm", "ok"); v != 2 {
		t.Errorf("runs ok %v, want 2", v)
	}
	if v := counter(t, reg, "scopeline_hook_runs_total", "storm", "timeout"); v != 1 {
		t.Errorf("runs timeout %v, want 1", v)
	}
	if v := counter(t, reg, "scopeline_hook_runs_total", "storm", "trap"); v != 0 || len(series(t, reg, "scopeline_hook_runs_total", "storm", "trap")) != 1 {
		t.Errorf("runs trap %v, want a series at 0", v)
	}
	hist := series(t, reg, "scopeline_hook_run_duration_seconds", "storm", "")
	if len(hist) != 1 || hist[0].GetHistogram().GetSampleCount() != 3 {
		t.Fatalf("run duration %v, want 3 samples", hist)
	}
	for _, l := range hist[0].GetLabel() {
		if l.GetName() == "trigger" && l.GetValue() != "post-login" {
			t.Errorf("trigger label %q", l.GetValue())
		}
	}
	if hist[0].GetHistogram().GetSampleSum() < 0.05 {
		t.Errorf("run duration sum %v, want the timed-out run's 50 ms at least", hist[0].GetHistogram().GetSampleSum())
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
	if v := gauge(t, reg, "scopeline_hook_instances", "storm"); v != 2 {
		t.Errorf("instances %v, want 2", v)
	}
	if v := gauge(t, reg, "scopeline_hook_instances_busy", "storm"); v != 2 {
		t.Errorf("busy %v, want 2", v)
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
	wait := series(t, reg, "scopeline_hook_wait_duration_seconds", "storm", "")
	if len(wait) != 1 || wait[0].GetHistogram().GetSampleCount() != 1 {
		t.Errorf("wait duration %v, want 1 sample", wait)
	}
}

// TestMetricsSeriesFollowTheTenant: a reload that keeps a hook keeps its
// series (counters go on); a hook that is gone takes its series with it,
// so the label sets do not grow across reloads.
func TestMetricsSeriesFollowTheTenant(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHost(t, withRegistry(reg))
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
	if v := counter(t, reg, "scopeline_hook_runs_total", "kept", "ok"); v != 2 {
		t.Errorf("kept: runs %v, want 2 (across the reload)", v)
	}
	if n := len(series(t, reg, "scopeline_hook_runs_total", "renamed", "")); n != 0 {
		t.Errorf("the removed hook still has %d series", n)
	}
	if n := len(series(t, reg, "scopeline_hook_instances", "renamed", "")); n != 0 {
		t.Errorf("the removed hook still has %d gauges", n)
	}
	kept.Close()
	renamed.Close()
	if mfs, _ := reg.Gather(); len(mfs) != 0 {
		var names []string
		for _, mf := range mfs {
			names = append(names, mf.GetName())
		}
		t.Errorf("series left after every hook closed: %v", names)
	}
}

var _ engine.Hook = (*hooks.WasmHook)(nil)
