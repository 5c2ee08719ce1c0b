package console

import (
	"maps"
	"math"
	"slices"

	"github.com/scopeline/scopeline/engine"
)

// NewHookStats returns a hook's figures with no runs, its run-time
// histogram of the given bucket bounds (and +Inf), as the hook runtime
// makes them.
func NewHookStats(trigger, hook string, bounds ...float64) *engine.HookStats {
	st := &engine.HookStats{Trigger: trigger, Hook: hook, Outcomes: map[string]uint64{}}
	for _, b := range append(bounds, math.Inf(1)) {
		st.RunTime = append(st.RunTime, engine.Bucket{Upper: b})
	}
	return st
}

// ObserveRuns adds n runs of d seconds with outcome to st, as the hook
// runtime counts them.
func ObserveRuns(st *engine.HookStats, n int, d float64, outcome string) {
	for i := range st.RunTime {
		if d <= st.RunTime[i].Upper {
			st.RunTime[i].Count += uint64(n)
		}
	}
	st.Outcomes[outcome] += uint64(n)
}

// CopyHookStats copies hooks' figures, as Source.HookStats returns them:
// values the caller owns.
func CopyHookStats(hooks []*engine.HookStats) []engine.HookStats {
	var all []engine.HookStats
	for _, st := range hooks {
		c := *st
		c.Outcomes = maps.Clone(st.Outcomes)
		c.RunTime = slices.Clone(st.RunTime)
		all = append(all, c)
	}
	return all
}
