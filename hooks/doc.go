// Package hooks runs Scopeline's WebAssembly hooks with wazero: it is the
// host side of hook ABI v1 (docs/hook-abi.md).
//
// A Host implements engine.HookLoader. For each pipeline entry of a tenant
// file it reads the module (a file, or a built-in plugin by name), checks
// it against the ABI (required exports, imports limited to the ABI and a
// WASI allow-list), rewrites it so that it can be stopped cheaply (package
// internal/wasmguard), compiles it once (cached on disk), and makes a
// bounded pool of pre-warmed instances: a *WasmHook, which implements
// engine.Hook and io.Closer.
//
// Per request, WasmHook.Invoke takes an idle instance (making one, or waiting
// for one, within a budget of its own), publishes the run's deadline (the
// hook's timeout from the start of the run, bounded by the pipeline's),
// and calls scopeline_run. The guest checks its deadline itself every few
// thousand loop iterations or calls (the guard's yields), and the host's
// watchdog stops it from outside in between. A per-hook circuit breaker
// stops running a hook that keeps timing out, and WithMetrics exports
// per-hook metrics. The guest reads the transaction
// through host functions and stages ops; the engine applies them with its
// rules. Any trap, timeout, memory-cap hit, call-depth overflow, ABI
// violation or unknown return code is a *engine.HookFault, handled by the
// hook's failure policy, and the instance is discarded and replaced.
//
// Event is the input document of the ABI, and the sample-event format of
// `scopeline hook test`.
package hooks
