package hooks

import (
	"slices"

	"github.com/tetratelabs/wazero/api"
)

// ABIVersion is the hook ABI this host implements (docs/hook-abi.md).
const ABIVersion = 1

// The names of ABI v1 (docs/hook-abi.md §2–§3).
const (
	// ImportModule is the module name of the host functions.
	ImportModule = "scopeline"
	// WASIModule is the module name of the WASI functions on the allow-list.
	WASIModule = "wasi_snapshot_preview1"

	exportMemory     = "memory"
	exportMarker     = "scopeline_abi_v1"
	exportRun        = "scopeline_run"
	exportInit       = "scopeline_init"
	exportInitialize = "_initialize"
	// stopGlobal is the global the host adds to every module to stop it.
	stopGlobal = "__scopeline_stop"
)

// Return codes of scopeline_run and scopeline_init.
const (
	runOK    = 0
	runError = 1
)

// Status codes the host functions return.
const (
	statusOK       = 0
	statusAbsent   = -1
	statusNoField  = -2
	statusNotInRun = -3
)

// Field ids of the `field` host function.
const (
	fieldTrigger         = 1
	fieldGrantType       = 2
	fieldClientID        = 3
	fieldClientName      = 4
	fieldAudience        = 5
	fieldRequestedScopes = 6
	fieldScopes          = 7
	fieldSubject         = 8
	fieldUserID          = 9
	fieldIP              = 10
	fieldUserAgent       = 11
	fieldRequestID       = 12
	fieldConfig          = 13
	fieldHookName        = 14
	fieldTime            = 15
	fieldTimeUnix        = 16
	fieldClientType      = 17
	fieldGrantScopes     = 18
)

// Log levels of the `log` host function.
const (
	levelDebug = 0
	levelInfo  = 1
	levelWarn  = 2
	levelError = 3
)

// Limits of ABI v1. Exceeding a hard limit is an ABI violation: the call
// faults and the instance is discarded.
const (
	// MaxInput bounds the input document.
	MaxInput = 64 << 10
	// MaxArgument bounds one string argument of a host function.
	MaxArgument = 16 << 10
	// MaxLogBytes bounds what one run may log in all; more is dropped.
	MaxLogBytes = 16 << 10
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// signature is a function type, for checking imports and exports.
type signature struct {
	params, results []api.ValueType
}

func sig(params []api.ValueType, results ...api.ValueType) signature {
	return signature{params, results}
}

func (s signature) matches(def api.FunctionDefinition) bool {
	return slices.Equal(s.params, def.ParamTypes()) && slices.Equal(s.results, def.ResultTypes())
}

func (s signature) String() string {
	str := "("
	for i, p := range s.params {
		if i > 0 {
			str += ", "
		}
		str += api.ValueTypeName(p)
	}
	str += ") -> ("
	for i, r := range s.results {
		if i > 0 {
			str += ", "
		}
		str += api.ValueTypeName(r)
	}
	return str + ")"
}

func types(n int) []api.ValueType {
	t := make([]api.ValueType, n)
	for i := range t {
		t[i] = i32
	}
	return t
}

// hostSignatures are the ABI's imports from ImportModule.
var hostSignatures = map[string]signature{
	"input":           sig(types(2), i32),
	"field":           sig(types(3), i32),
	"client_metadata": sig(types(4), i32),
	"secret":          sig(types(4), i32),
	"has_scope":       sig(types(2), i32),
	"add_scope":       sig(types(4), i32),
	"remove_scope":    sig(types(4), i32),
	"set_claim":       sig(types(6), i32),
	"remove_claim":    sig(types(4), i32),
	"deny":            sig(types(4), i32),
	"log":             sig(types(3), i32),
}

// wasiSignatures is the WASI allow-list: what stock toolchains' runtimes
// and standard libraries link (Go's runtime, syscall and time packages,
// wasi-libc). No directory is preopened, so path_open can open nothing and
// the descriptor functions reach stdio only: stdin is empty, stdout and
// stderr are the hook's log. A module importing any other WASI function
// (sockets, directories, ...) is refused at load.
var wasiSignatures = map[string]signature{
	"fd_read":             sig(types(4), i32),
	"fd_seek":             sig([]api.ValueType{i32, i64, i32, i32}, i32),
	"path_open":           sig([]api.ValueType{i32, i32, i32, i32, i32, i64, i64, i32, i32}, i32),
	"fd_close":            sig(types(1), i32),
	"fd_fdstat_set_flags": sig(types(2), i32),
	"fd_prestat_get":      sig(types(2), i32),
	"fd_prestat_dir_name": sig(types(3), i32),
	"args_get":            sig(types(2), i32),
	"args_sizes_get":      sig(types(2), i32),
	"environ_get":         sig(types(2), i32),
	"environ_sizes_get":   sig(types(2), i32),
	"clock_res_get":       sig(types(2), i32),
	"clock_time_get":      sig([]api.ValueType{i32, i64, i32}, i32),
	"fd_write":            sig(types(4), i32),
	"fd_fdstat_get":       sig(types(2), i32),
	"poll_oneoff":         sig(types(4), i32),
	"proc_exit":           sig(types(1)),
	"random_get":          sig(types(2), i32),
	"sched_yield":         sig(nil, i32),
}

// exportSignatures are the functions a module may export to the host.
var exportSignatures = map[string]signature{
	exportMarker:     sig(nil),
	exportRun:        sig(nil, i32),
	exportInit:       sig(nil, i32),
	exportInitialize: sig(nil),
}
