package console

import (
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/scopeline/scopeline/engine"
)

// The hooks' costs over the last minutes come from the hook runtime's
// own figures, those it exports as metrics (Source.HookStats): the
// console reads them every sampleEvery and keeps a short ring of samples,
// and a page compares a fresh reading with the sample from statsWindow
// ago. Nothing is added to a request's work.
const (
	sampleEvery = 15 * time.Second
	statsWindow = 5 * time.Minute
	keptSamples = int(statsWindow/sampleEvery) + 2
)

// hookKey names a hook's series: its trigger and name.
type hookKey struct{ Trigger, Hook string }

// sample is the hooks' figures at one time.
type sample struct {
	At    time.Time
	Hooks map[hookKey]engine.HookStats
}

// hookStats is the ring of samples.
type hookStats struct {
	mu      sync.Mutex
	samples []*sample
}

func newHookStats() *hookStats { return &hookStats{} }

func (c *Console) sample() { c.stats.add(takeSample(c.src, c.now())) }

// takeSample reads the hooks' figures from src.
func takeSample(src Source, now time.Time) *sample {
	s := &sample{At: now, Hooks: map[hookKey]engine.HookStats{}}
	for _, st := range src.HookStats() {
		s.Hooks[hookKey{st.Trigger, st.Hook}] = st
	}
	return s
}

func (h *hookStats) add(s *sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	if len(h.samples) > keptSamples {
		h.samples = slices.Delete(h.samples, 0, len(h.samples)-keptSamples)
	}
}

// base returns the sample to compare a sample taken at now with: the
// newest at least statsWindow old, else the oldest (nil when none).
func (h *hookStats) base(now time.Time) *sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b *sample
	for _, s := range h.samples {
		if b == nil || now.Sub(s.At).Truncate(time.Second) >= statsWindow {
			b = s
		}
	}
	return b
}

// HookCost is one hook's runs over a window.
type HookCost struct {
	// Window is how long the figures cover.
	Window time.Duration
	Runs   uint64
	// P50 and P99 are estimated from the histogram's buckets; Over is
	// set when the quantile lies past the largest finite bucket (it is
	// then that bound).
	P50, P99         time.Duration
	P50Over, P99Over bool
	// Faults counts the runs by fault kind (every outcome but ok).
	Faults    []Fault
	Open      bool
	Instances int
	Known     bool // the hook has series at all
}

// Fault is a count of one kind of fault.
type Fault struct {
	Kind  string
	Count int
}

// FaultTotal is the number of faulted runs.
func (h HookCost) FaultTotal() int {
	n := 0
	for _, f := range h.Faults {
		n += f.Count
	}
	return n
}

// cost compares a hook's sample now with its sample in base (which may be
// nil, or lack the hook: then since its counters started).
func cost(now, base *sample, k hookKey) HookCost {
	cur, ok := now.Hooks[k]
	if !ok {
		return HookCost{}
	}
	hc := HookCost{Known: true, Open: cur.BreakerOpen, Instances: cur.Instances}
	var old *engine.HookStats
	if base != nil {
		hc.Window = now.At.Sub(base.At)
		if o, ok := base.Hooks[k]; ok {
			old = &o
		}
	}
	// A hook loaded again (a reload that changed it) starts its counters
	// over: a count lower than the base's means the base is void.
	if old != nil && runCount(old.RunTime) > runCount(cur.RunTime) {
		old = nil
	}
	delta := make([]engine.Bucket, len(cur.RunTime))
	for i, b := range cur.RunTime {
		delta[i] = b
		if old != nil && i < len(old.RunTime) && old.RunTime[i].Upper == b.Upper {
			delta[i].Count -= min(old.RunTime[i].Count, b.Count)
		}
	}
	hc.Runs = runCount(cur.RunTime)
	if old != nil {
		hc.Runs -= runCount(old.RunTime)
	}
	hc.P50, hc.P50Over = quantile(0.5, delta)
	hc.P99, hc.P99Over = quantile(0.99, delta)
	for kind, n := range cur.Outcomes {
		if kind == "ok" {
			continue
		}
		if old != nil && old.Outcomes[kind] <= n {
			n -= old.Outcomes[kind]
		}
		if n >= 1 {
			hc.Faults = append(hc.Faults, Fault{Kind: kind, Count: int(n)})
		}
	}
	sort.Slice(hc.Faults, func(i, j int) bool { return hc.Faults[i].Kind < hc.Faults[j].Kind })
	return hc
}

// runCount is the number of observations of a histogram (its +Inf
// bucket's count).
func runCount(bs []engine.Bucket) uint64 {
	if len(bs) == 0 {
		return 0
	}
	return bs[len(bs)-1].Count
}

// quantile estimates the q-quantile of a histogram's cumulative buckets as
// Prometheus' histogram_quantile does: linearly within the bucket that
// holds it (from 0 for the first). Past the largest finite bound it
// returns that bound, and over.
func quantile(q float64, bs []engine.Bucket) (time.Duration, bool) {
	if len(bs) == 0 || bs[len(bs)-1].Count == 0 {
		return 0, false
	}
	total := float64(bs[len(bs)-1].Count)
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if float64(b.Count) >= rank {
			if math.IsInf(b.Upper, 1) {
				return seconds(lower), true
			}
			in := float64(b.Count) - below
			frac := 1.0
			if in > 0 {
				frac = (rank - below) / in
			}
			return seconds(lower + (b.Upper-lower)*frac), false
		}
		lower, below = b.Upper, float64(b.Count)
	}
	return seconds(lower), true
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
