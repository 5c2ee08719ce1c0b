package hooks

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks/internal/wasmguard"
)

// MaxModuleSize bounds a hook module file.
const MaxModuleSize = 32 << 20

// ErrInvalidModule is wrapped by every error about a module that does not
// follow the ABI.
var ErrInvalidModule = errors.New("hooks: invalid module")

// Report describes a module that passed validation.
type Report struct {
	// Size is the module's size in bytes.
	Size int `json:"size"`
	// SHA256 is the hex digest of the module file.
	SHA256 string `json:"sha256"`
	// Imports lists the module's imports as "module.name".
	Imports []string `json:"imports"`
	// Exports lists the module's function exports.
	Exports []string `json:"exports"`
	// MemoryPages is the memory the module declares it needs at start, in
	// 64 KiB pages.
	MemoryPages uint32 `json:"memory_pages"`
	// HasInit tells whether the module exports scopeline_init (run once per
	// instance, to check its configuration).
	HasInit bool `json:"has_init"`
	// HasInitialize tells whether the module is a WASI reactor
	// (exports _initialize).
	HasInitialize bool `json:"has_initialize"`
	// Toolchain is what built the module, as far as it tells.
	Toolchain Toolchain `json:"toolchain"`
}

// prepared is a module that passed the checks that need no runtime: its
// imports and exports by name, rewritten with the stop flag.
type prepared struct {
	report *Report
	bin    []byte
	key    [sha256.Size]byte
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidModule, fmt.Sprintf(format, args...))
}

// prepare reads a module, checks its imports against the ABI and the WASI
// allow-list and its exports by name and kind, and instruments it.
func prepare(bin []byte, memoryCap, yield uint32) (*prepared, error) {
	if len(bin) > MaxModuleSize {
		return nil, invalid("%d bytes, more than the %d MiB a module may have", len(bin), MaxModuleSize>>20)
	}
	m, err := wasmguard.Instrument(bin, wasmguard.Options{StopGlobal: stopGlobal, YieldPages: yield})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, strings.TrimPrefix(err.Error(), "wasmguard: "))
	}
	sum := sha256.Sum256(bin)
	p := &prepared{report: &Report{Size: len(bin), SHA256: fmt.Sprintf("%x", sum), Toolchain: detectToolchain(m)}, bin: m.Binary}
	p.key = sha256.Sum256(m.Binary)

	var bad []string
	for _, imp := range m.Imports {
		full := imp.Module + "." + imp.Name
		p.report.Imports = append(p.report.Imports, full)
		if imp.Kind != wasmguard.KindFunc {
			bad = append(bad, fmt.Sprintf("%s (a %s: hooks may import functions only)", full, imp.Kind))
			continue
		}
		switch imp.Module {
		case ImportModule:
			if _, ok := hostSignatures[imp.Name]; !ok {
				bad = append(bad, full+" (not a function of ABI v1)")
			}
		case WASIModule:
			if _, ok := wasiSignatures[imp.Name]; !ok {
				bad = append(bad, full+" (not on the WASI allow-list)")
			}
		default:
			bad = append(bad, fmt.Sprintf("%s (unknown module %q: hooks may import from %q and %q only)", full, imp.Module, ImportModule, WASIModule))
		}
	}
	if len(bad) > 0 {
		return nil, invalid("forbidden imports: %s; hooks may import the functions of ABI v1 and these of WASI: %s",
			strings.Join(bad, "; "), strings.Join(sortedKeys(wasiSignatures), ", "))
	}

	kinds := map[string]wasmguard.ExternKind{}
	for _, e := range m.Exports {
		kinds[e.Name] = e.Kind
		if e.Kind == wasmguard.KindFunc {
			p.report.Exports = append(p.report.Exports, e.Name)
		}
	}
	need := func(name string, kind wasmguard.ExternKind, why string) {
		k, ok := kinds[name]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("missing export %q (%s)", name, why))
		case k != kind:
			bad = append(bad, fmt.Sprintf("export %q is a %s, want a %s", name, k, kind))
		}
	}
	need(exportMemory, wasmguard.KindMemory, "the linear memory the host reads and writes")
	need(exportMarker, wasmguard.KindFunc, "the ABI v1 marker; is this module built for Scopeline hook ABI v1?")
	need(exportRun, wasmguard.KindFunc, "the hook's entry point")
	for _, name := range []string{exportInit, exportInitialize} {
		if k, ok := kinds[name]; ok && k != wasmguard.KindFunc {
			bad = append(bad, fmt.Sprintf("export %q is a %s, want a function", name, k))
		}
	}
	if len(bad) > 0 {
		return nil, invalid("%s", strings.Join(bad, "; "))
	}
	_, p.report.HasInit = kinds[exportInit]
	_, p.report.HasInitialize = kinds[exportInitialize]
	p.report.MemoryPages = m.MemoryMin
	if memoryCap > 0 && m.MemoryMin > memoryCap {
		return nil, invalid("the module needs %d KiB of memory at start, more than the hook's memory cap of %d KiB", m.MemoryMin*64, memoryCap*64)
	}
	slices.Sort(p.report.Exports)
	return p, nil
}

// checkTypes checks the signatures of a compiled module's imports and
// exports.
func checkTypes(cm wazero.CompiledModule) error {
	var bad []string
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		want, ok := hostSignatures[name]
		if mod == WASIModule {
			want, ok = wasiSignatures[name]
		}
		if ok && !want.matches(def) {
			bad = append(bad, fmt.Sprintf("import %s.%s has type %s, want %s", mod, name, typeOf(def), want))
		}
	}
	for name, def := range cm.ExportedFunctions() {
		if want, ok := exportSignatures[name]; ok && !want.matches(def) {
			bad = append(bad, fmt.Sprintf("export %q has type %s, want %s", name, typeOf(def), want))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return invalid("%s", strings.Join(bad, "; "))
	}
	return nil
}

func typeOf(def api.FunctionDefinition) signature {
	return signature{def.ParamTypes(), def.ResultTypes()}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Check validates the module of spec (a file, or a plugin by name, read as
// Load reads it) against ABI v1 without running it: its imports (the ABI
// and the WASI allow-list only), its exports and their types, and that
// wazero compiles it. spec's memory cap is not checked.
func (h *Host) Check(ctx context.Context, spec *tenant.HookSpec) (*Report, error) {
	bin, err := h.moduleOf(spec)
	if err != nil {
		return nil, err
	}
	p, rt, _, err := h.compileFor(ctx, bin, 0)
	if err != nil {
		return nil, err
	}
	rt.releaseCompiled(ctx, p.key)
	return p.report, nil
}

// compileFor checks and instruments bin for a memory cap of pages (0: no
// cap) and compiles it in the host's runtime, which also checks its types.
// Release the compiled module with rt.releaseCompiled(ctx, p.key).
func (h *Host) compileFor(ctx context.Context, bin []byte, pages uint32) (*prepared, *hostRuntime, wazero.CompiledModule, error) {
	p, err := prepare(bin, pages, h.yieldPages)
	if err != nil {
		return nil, nil, nil, err
	}
	rt, err := h.runtime()
	if err != nil {
		return nil, nil, nil, err
	}
	cm, err := rt.compile(ctx, p)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, rt, cm, nil
}
