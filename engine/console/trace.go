package console

import (
	"slices"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
)

// traceView is a decision drawn stage by stage.
type traceView struct {
	Data *audit.DecisionData
	Kind audit.Kind
	// Seq and ID locate the event on the stream (zero for a dry run
	// shown as it ran).
	Seq  uint64
	ID   string
	Time time.Time
	// Steps are the stages in the order they acted.
	Steps []step
	// Total is the time of every stage together.
	Total time.Duration
	// Replay is the address of the dry-run form filled with the
	// decision's request ("" when it cannot be replayed).
	Replay string
}

// step is one stage's turn: consecutive trace entries of one stage (the
// baseline speaks again after the hooks when it refuses an empty user
// token), or a stage that ran and changed nothing.
type step struct {
	Stage    string
	Baseline bool
	// Entries are what the stage did, with what it asked for and was
	// refused.
	Entries []engine.TraceEntry
	Added   []string
	Removed []string
	Refused []string
	Claims  []string // set or removed
	Denied  bool
	Faulted bool
	// After are the token's scopes once the step is done.
	After []string
	// Took is the stage's time (on its first step), Timed whether known.
	Took     time.Duration
	Timed    bool
	Logs     []string
	Failures []audit.HookFailure
}

// drawTrace builds the steps of d's trace.
func drawTrace(d *audit.DecisionData) []step {
	var steps []step
	for _, e := range d.Trace {
		if n := len(steps); n == 0 || steps[n-1].Stage != e.Stage {
			steps = append(steps, step{Stage: e.Stage, Baseline: e.Stage == engine.StageBaseline})
		}
		st := &steps[len(steps)-1]
		st.Entries = append(st.Entries, e)
	}
	// Stages that ran without a trace entry go after the first step of
	// the stage that ran before them (stages act in the pipeline's order;
	// only the baseline may speak again at the end).
	for i, tm := range d.Timings {
		if slices.ContainsFunc(steps, func(s step) bool { return s.Stage == tm.Stage }) {
			continue
		}
		at := 0
		if i > 0 {
			prev := d.Timings[i-1].Stage
			for j := range steps {
				if steps[j].Stage == prev {
					at = j + 1
					break
				}
			}
		}
		steps = slices.Insert(steps, at, step{Stage: tm.Stage, Baseline: tm.Stage == engine.StageBaseline})
	}
	var scopes []string
	seen := map[string]bool{}
	for i := range steps {
		st := &steps[i]
		for _, e := range st.Entries {
			switch {
			case e.Op == engine.OpDeny:
				st.Denied = true
			case e.Op == engine.OpFault:
				st.Faulted = true
			case e.Refused && e.Scope != "":
				st.Refused = append(st.Refused, e.Scope)
			case e.Refused:
			case e.Op == engine.OpAdd:
				st.Added = append(st.Added, e.Scope)
				if !slices.Contains(scopes, e.Scope) {
					scopes = append(scopes, e.Scope)
				}
			case e.Op == engine.OpRemove:
				st.Removed = append(st.Removed, e.Scope)
				scopes = slices.DeleteFunc(scopes, func(s string) bool { return s == e.Scope })
			case e.Op == engine.OpSetClaim || e.Op == engine.OpRemoveClaim:
				st.Claims = append(st.Claims, e.Claim)
			}
		}
		st.After = slices.Clone(scopes)
		if seen[st.Stage] {
			continue
		}
		seen[st.Stage] = true
		for _, tm := range d.Timings {
			if tm.Stage == st.Stage {
				st.Took, st.Timed = tm.Duration, true
				break
			}
		}
		for _, l := range d.HookLogs {
			if l.Hook == st.Stage {
				st.Logs = append(st.Logs, l.Message)
			}
		}
		for _, f := range d.HookFailures {
			if f.Hook == st.Stage {
				st.Failures = append(st.Failures, f)
			}
		}
	}
	return steps
}

// newTraceView draws the decision of event e (nil for a dry run shown as
// it ran).
func newTraceView(d *audit.DecisionData, kind audit.Kind, e *audit.TailedEvent) *traceView {
	v := &traceView{Data: d, Kind: kind, Steps: drawTrace(d)}
	if e != nil {
		v.Seq, v.ID, v.Time = e.Seq, e.ID, e.Time
	}
	for _, tm := range d.Timings {
		v.Total += tm.Duration
	}
	return v
}
