package engine

// HookStats is what a hook runtime measured of the hooks of one trigger
// and name since they loaded (hooks.Host.Stats): the figures it exports
// as the scopeline_hook_* metrics, typed, for a reader in the same
// process (the console) that would otherwise parse them back from the
// /metrics text.
type HookStats struct {
	// Trigger and Hook are the labels of the hook's series: its trigger
	// and name, or the runtime's bounded stand-ins ("_overflow", ...).
	Trigger, Hook string
	// Outcomes counts requests by outcome: ok, or the fault kind.
	Outcomes map[string]uint64
	// RunTime is the histogram of the time runs took in the guest.
	RunTime []Bucket
	// Waits counts the requests that waited for an instance.
	Waits uint64
	// Instances are the instances in the pool, Busy those running a
	// request.
	Instances, Busy int
	// BreakerOpen is set while the circuit breaker is open or half-open;
	// BreakerOpened counts the times it opened.
	BreakerOpen   bool
	BreakerOpened uint64
}

// Bucket is a histogram bucket: the number of observations at most Upper
// (seconds), those of the buckets below included (the Prometheus le
// bucket). The last bucket of a histogram has Upper +Inf: its Count is
// the number of observations.
type Bucket struct {
	Upper float64
	Count uint64
}
