package hooks_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

// agentTx is a transaction whose user agent makes the mode-V hook loop
// ("Loop") or return at once.
func agentTx(t testing.TB, agent string) *engine.Transaction {
	tx := transaction(t)
	tx.UserAgent = agent
	return tx
}

func faultKind(err error) string {
	var f *engine.HookFault
	if errors.As(err, &f) {
		return f.Kind
	}
	return ""
}

// TestBreaker: after `after` runs in a row stopped at their deadline the
// hook is not run (circuit-open) until the cool-down ends; then one
// request probes it: a probe that times out keeps the breaker open, one
// that returns closes it. Good runs between timeouts reset the count.
func TestBreaker(t *testing.T) {
	h := newHost(t, hooks.WithMetrics(metrics.NewSet()))
	sp := spec("storm", "testdata/faulty.wasm", `"V"`, tenant.FailDeny)
	sp.Timeout = 50 * time.Millisecond // a good run never comes near it, even on a loaded machine
	sp.Trigger = tenant.TriggerCredentialsExchange
	sp.Breaker = tenant.Breaker{After: 3, Cooldown: 100 * time.Millisecond}
	hk, err := h.Load(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	invoke := func(agent string) string {
		_, err := hk.Invoke(context.Background(), agentTx(t, agent).View())
		return faultKind(err)
	}
	// Two timeouts, a good run, two timeouts: never three in a row.
	for _, agent := range []string{"Loop", "Loop", "good", "Loop", "Loop"} {
		want := map[string]string{"Loop": "timeout", "good": ""}[agent]
		if got := invoke(agent); got != want {
			t.Fatalf("%s: fault %q, want %q", agent, got, want)
		}
	}
	if got := invoke("Loop"); got != "timeout" { // the third in a row
		t.Fatalf("fault %q, want timeout", got)
	}
	if got := invoke("good"); got != "circuit-open" {
		t.Fatalf("with the breaker open: fault %q, want circuit-open", got)
	}
	if st := statsOf(h, "storm"); !st.BreakerOpen {
		t.Errorf("breaker not open in %+v", st)
	}
	// After the cool-down, a probe that loops keeps it open.
	waitFor(t, "a probe to be let through", func() bool { return invoke("Loop") == "timeout" })
	if got := invoke("good"); got != "circuit-open" {
		t.Fatalf("after a failed probe: fault %q, want circuit-open", got)
	}
	// A probe that returns closes it.
	waitFor(t, "a probe to close the breaker", func() bool { return invoke("good") == "" })
	if got := invoke("good"); got != "" {
		t.Fatalf("after a good probe: fault %q", got)
	}
	st := statsOf(h, "storm")
	if st.BreakerOpen {
		t.Errorf("breaker still open in %+v", st)
	}
	if st.BreakerOpened != 2 {
		t.Errorf("breaker opened %d times, want 2 (opened, reopened)", st.BreakerOpened)
	}
	if v := st.Outcomes["circuit-open"]; v < 2 {
		t.Errorf("runs by outcome circuit-open %v, want at least 2", v)
	}
}

// TestBreakerAudited: a request the breaker refuses gets the hook's
// failure policy, and its trace and audit event say so: a fault of kind
// circuit-open (with skip, the token is issued without the hook).
func TestBreakerAudited(t *testing.T) {
	for _, policy := range []tenant.FailurePolicy{tenant.FailDeny, tenant.FailSkip} {
		t.Run(string(policy), func(t *testing.T) {
			audit := &auditLog{}
			s := enginetest.Start(t, enginetest.Config{
				Tenant: stormTenant(5*time.Millisecond, "        failure: "+string(policy)+"\n        breaker: {after: 2, cooldown: 1h}\n"),
				Server: server.Config{Hooks: newHost(t), Auditor: audit},
			})
			postToken(t, s, "Loop")
			postToken(t, s, "Loop")
			status, body := postToken(t, s, "good")
			d := audit.Last()
			switch policy {
			case tenant.FailDeny:
				if status != http.StatusInternalServerError {
					t.Fatalf("status %d %s, want 500", status, body)
				}
			case tenant.FailSkip:
				if status != http.StatusOK {
					t.Fatalf("status %d %s, want 200", status, body)
				}
			}
			if len(d.Tx.Failures) != 1 || d.Tx.Failures[0].Kind != "circuit-open" || d.Tx.Failures[0].Hook != "storm" {
				t.Fatalf("failures %+v, want one circuit-open of storm", d.Tx.Failures)
			}
			var found bool
			for _, e := range d.Tx.Trace {
				if e.Stage == "storm" && e.Op == engine.OpFault && e.Reason == "circuit-open" {
					found = true
				}
			}
			if !found {
				t.Errorf("trace %+v lacks the circuit-open fault", d.Tx.Trace)
			}
		})
	}
}
