package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
	"github.com/scopeline/scopeline/plugins"
)

// hookRuntime says how a process runs its hooks.
type hookRuntime struct {
	// cacheDir keeps compiled modules (in cacheDir/wasm-cache), so that a
	// module compiles once per machine, not once per process; "" keeps
	// them in memory.
	cacheDir string
	// metrics, when set, gets the hooks' metrics.
	metrics *metrics.Set
	// say, when set, is told about a hook whose load takes longer than
	// slowLoad: compiling a large module on a cold cache takes seconds,
	// and a silent command looks hung.
	say      func(msg string)
	slowLoad time.Duration
}

// newHookLoader returns the loader of the issuer's hooks and the hook
// runtime under it, which the caller closes once the issuer is closed.
func newHookLoader(ctx context.Context, rt hookRuntime) (engine.HookLoader, *hooks.Host, error) {
	opts := []hooks.Option{hooks.WithPlugins(plugins.Lookup)}
	if rt.cacheDir != "" {
		opts = append(opts, hooks.WithCacheDir(rt.cacheDir))
	}
	if rt.metrics != nil {
		opts = append(opts, hooks.WithMetrics(rt.metrics))
	}
	h, err := hooks.New(ctx, opts...)
	if err != nil {
		return nil, nil, err
	}
	if rt.say == nil {
		return h, h, nil
	}
	if rt.slowLoad <= 0 {
		rt.slowLoad = time.Second
	}
	return &slowLoads{HookLoader: h, rt: rt}, h, nil
}

// slowLoads is a HookLoader that says what it is doing when loading a
// hook takes longer than rt.slowLoad.
type slowLoads struct {
	engine.HookLoader
	rt hookRuntime
}

func (l *slowLoads) LoadHook(ctx context.Context, spec *tenant.HookSpec) (engine.Hook, error) {
	what := "module " + spec.Module
	if spec.Plugin != "" {
		what = "plugin " + spec.Plugin
	}
	where := "compiled modules are kept in memory only"
	if l.rt.cacheDir != "" {
		where = "the compiled module is cached in " + l.rt.cacheDir + "/wasm-cache for the next runs"
	}
	start := time.Now()
	var said sync.WaitGroup
	said.Add(1)
	t := time.AfterFunc(l.rt.slowLoad, func() {
		defer said.Done()
		l.rt.say(fmt.Sprintf("loading hook %q (%s): compiling its module; %s", spec.Name, what, where))
	})
	h, err := l.HookLoader.LoadHook(ctx, spec)
	if t.Stop() {
		return h, err
	}
	said.Wait()
	if err == nil {
		l.rt.say(fmt.Sprintf("hook %q loaded in %s", spec.Name, time.Since(start).Round(10*time.Millisecond)))
	}
	return h, err
}
