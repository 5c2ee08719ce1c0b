package console

import (
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The hooks' costs over the last minutes come from the engine's own
// metrics (package hooks exports them): the console gathers them every
// sampleEvery and keeps a short ring of samples, and a page compares a
// fresh gathering with the sample from statsWindow ago. Nothing is added
// to a request's work.
const (
	sampleEvery = 15 * time.Second
	statsWindow = 5 * time.Minute
	keptSamples = int(statsWindow/sampleEvery) + 2
)

// The metrics read.
const (
	metricRuns      = "scopeline_hook_runs_total"
	metricDuration  = "scopeline_hook_run_duration_seconds"
	metricBreaker   = "scopeline_hook_breaker_open"
	metricInstances = "scopeline_hook_instances"
)

// hookKey names a hook's series: its trigger and name.
type hookKey struct{ Trigger, Hook string }

// hookSample is one hook's counters at one time.
type hookSample struct {
	// Buckets are the duration histogram's cumulative counts by upper
	// bound (seconds), +Inf last.
	Buckets []bucket
	Count   uint64
	// Outcomes counts runs by outcome (ok, or a fault kind).
	Outcomes  map[string]float64
	Open      bool
	Instances float64
}

type bucket struct {
	Upper float64
	Count uint64
}

type sample struct {
	At    time.Time
	Hooks map[hookKey]*hookSample
}

// hookStats is the ring of samples.
type hookStats struct {
	mu      sync.Mutex
	samples []*sample
}

func newHookStats() *hookStats { return &hookStats{} }

func (c *Console) sample() {
	s, err := gatherHooks(c.src.Metrics(), c.now())
	if err != nil {
		c.log.Warn("console: gathering the hooks' metrics", "err", err)
		return
	}
	c.stats.add(s)
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

// gatherHooks reads the hooks' series from g.
func gatherHooks(g prometheus.Gatherer, now time.Time) (*sample, error) {
	fams, err := g.Gather()
	if err != nil && len(fams) == 0 {
		return nil, err
	}
	s := &sample{At: now, Hooks: map[hookKey]*hookSample{}}
	get := func(m *dto.Metric) *hookSample {
		k := hookKey{}
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "trigger":
				k.Trigger = l.GetValue()
			case "hook":
				k.Hook = l.GetValue()
			}
		}
		hs := s.Hooks[k]
		if hs == nil {
			hs = &hookSample{Outcomes: map[string]float64{}}
			s.Hooks[k] = hs
		}
		return hs
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case metricRuns:
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" {
						get(m).Outcomes[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			case metricDuration:
				hs, h := get(m), m.GetHistogram()
				hs.Count = h.GetSampleCount()
				for _, b := range h.GetBucket() {
					hs.Buckets = append(hs.Buckets, bucket{Upper: b.GetUpperBound(), Count: b.GetCumulativeCount()})
				}
				if n := len(hs.Buckets); n == 0 || !math.IsInf(hs.Buckets[n-1].Upper, 1) {
					hs.Buckets = append(hs.Buckets, bucket{Upper: math.Inf(1), Count: hs.Count})
				}
			case metricBreaker:
				get(m).Open = m.GetGauge().GetValue() > 0
			case metricInstances:
				get(m).Instances = m.GetGauge().GetValue()
			}
		}
	}
	return s, nil
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
	cur := now.Hooks[k]
	if cur == nil {
		return HookCost{}
	}
	hc := HookCost{Known: true, Open: cur.Open, Instances: int(cur.Instances)}
	var old *hookSample
	if base != nil {
		hc.Window = now.At.Sub(base.At)
		old = base.Hooks[k]
	}
	// A hook loaded again (a reload that changed it) starts its counters
	// over: a count lower than the base's means the base is void.
	if old != nil && old.Count > cur.Count {
		old = nil
	}
	delta := make([]bucket, len(cur.Buckets))
	for i, b := range cur.Buckets {
		delta[i] = b
		if old != nil && i < len(old.Buckets) && old.Buckets[i].Upper == b.Upper {
			delta[i].Count -= min(old.Buckets[i].Count, b.Count)
		}
	}
	hc.Runs = cur.Count
	if old != nil {
		hc.Runs -= old.Count
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

// quantile estimates the q-quantile of a histogram's cumulative buckets as
// Prometheus' histogram_quantile does: linearly within the bucket that
// holds it (from 0 for the first). Past the largest finite bound it
// returns that bound, and over.
func quantile(q float64, bs []bucket) (time.Duration, bool) {
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
