package main

import (
	"context"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/hooks"
	"github.com/scopeline/scopeline/plugins"
)

// newHookLoader returns the hook runtime for a process whose state lives in
// dataDir (compiled modules are cached in dataDir/wasm-cache), and how to
// close it once the issuer is closed. Without an error, the loader is never
// nil.
func newHookLoader(ctx context.Context, dataDir string) (engine.HookLoader, func(), error) {
	h, err := hooks.New(ctx, hooks.WithCacheDir(dataDir), hooks.WithPlugins(plugins.Lookup))
	if err != nil {
		return nil, func() {}, err
	}
	return h, func() { h.Close(context.Background()) }, nil
}
