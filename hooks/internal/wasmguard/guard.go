// Package wasmguard reads a WebAssembly binary's imports and exports and
// rewrites it so that the host can stop it cheaply: a mutable i32 global
// (the stop flag) is added and exported, and a check of that flag is
// inserted at the entry of every function and at the head of every loop.
// When the host sets the flag, the guest traps (`unreachable`) at its next
// function call or loop iteration.
//
// This replaces wazero's WithCloseOnContextDone, which costs a goroutine
// per call and an exit to Go at every loop back-edge, with one load and one
// branch per check (docs/design.md, "wazero deadlines: the guard rewrite
// and its yields").
//
// It also bounds the call depth, which wazero lets grow to a 400 MB stack:
// every function counts its activations in a second added global and, past
// Options.MaxCallDepth, sets the stop flag to StopDepth and traps. Each
// body is wrapped in a block so that every way out of the function (end,
// branch to the outermost label, return — rewritten as such a branch)
// passes the decrement. Debug sections (DWARF) are dropped, since the
// rewrite moves code offsets.
package wasmguard

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Limits on a module's shape, checked while reading it.
const (
	MaxFunctions = 1 << 20
	maxVec       = 1 << 24
)

// ExternKind is the kind of an import or export.
type ExternKind byte

// The extern kinds of the binary format.
const (
	KindFunc   ExternKind = 0
	KindTable  ExternKind = 1
	KindMemory ExternKind = 2
	KindGlobal ExternKind = 3
	KindTag    ExternKind = 4
)

// String names the kind as the binary format's text does.
func (k ExternKind) String() string {
	switch k {
	case KindFunc:
		return "function"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	case KindTag:
		return "tag"
	}
	return fmt.Sprintf("kind %d", k)
}

// Import is one import of a module.
type Import struct {
	Module, Name string
	Kind         ExternKind
}

// Export is one export of a module.
type Export struct {
	Name string
	Kind ExternKind
}

// Module is what Instrument learnt about a module, and its rewritten binary.
type Module struct {
	Imports []Import
	Exports []Export
	// MemoryMin is the declared minimum of the module's own memory, in
	// 64 KiB pages.
	MemoryMin uint32
	HasMemory bool
	// Customs are the module's custom sections but its debug ones (which
	// the rewrite drops), in order; their bodies share bin's memory.
	Customs []Custom
	// StackPointer is set when the module's only mutable global of its
	// own is its first, an i32 set to a 16-byte aligned constant of at
	// least 64 KiB: the __stack_pointer LLVM's wasm-ld emits (over its
	// default stack of 64 KiB), a mark that survives --strip-all.
	StackPointer bool
	// Data is the body of the data section (nil when none); it shares
	// bin's memory.
	Data []byte
	// Binary is the rewritten module.
	Binary []byte
}

// Custom is a custom section: its name and its contents after the name.
type Custom struct {
	Name string
	Body []byte
}

// Options tune Instrument.
type Options struct {
	// StopGlobal is the export name of the added stop flag.
	StopGlobal string
	// MaxCallDepth bounds the depth of guest calls (default
	// DefaultMaxCallDepth).
	MaxCallDepth uint32
	// YieldPages, when set, makes each yield ask to grow the memory to
	// exactly that many pages (memory.grow(YieldPages - memory.size))
	// instead of by none: a host whose memory allocator refuses that size
	// gets control at every yield, in Go, on the guest's goroutine, and
	// can check the run's deadline there without waiting for another
	// goroutine to be scheduled. The rewrite then drops the memory's
	// declared maximum, which would refuse the growth before the
	// allocator sees it: the host caps memory itself. Without such an
	// allocator the memory would really grow: leave it 0.
	YieldPages uint32
}

// yieldEvery is how many checks pass between two exits to the host
// (memory.grow, which wazero runs in Go): a guest that never calls the
// host must still reach a Go safe point now and then, or a garbage
// collection's stop-the-world would wait for it — and so would the
// watchdog that is to stop it. See Options.YieldPages for a host that
// checks deadlines at the yields itself.
const yieldEvery = 4096

func importsMemory(m *Module) bool {
	for _, imp := range m.Imports {
		if imp.Kind == KindMemory {
			return true
		}
	}
	return false
}

// DefaultMaxCallDepth is the call depth allowed unless Options say.
const DefaultMaxCallDepth = 10000

// Values of the stop flag: StopDeadline is set by the host; StopDepth by
// the guest itself when it exceeds the call depth.
const (
	StopDeadline = 1
	StopDepth    = 2
)

// ErrMalformed is wrapped by every error about an unreadable module.
var ErrMalformed = errors.New("wasmguard: malformed module")

const (
	secCustom    = 0
	secType      = 1
	secFunction  = 3
	secImport    = 2
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secCode      = 10
	secTag       = 13
	secDataCount = 12
	secData      = 11
)

// order ranks the non-custom sections in the order the binary format
// requires them.
func order(id byte) int {
	switch id {
	case 1, 2, 3, 4, 5:
		return int(id) * 10
	case secTag:
		return 55
	case 6, 7, 8, 9:
		return int(id) * 10
	case secDataCount:
		return 95
	case 10, 11:
		return int(id) * 10
	}
	return -1
}

type section struct {
	id   byte
	body []byte
}

// Instrument reads bin and returns it with the stop flag added.
func Instrument(bin []byte, opts Options) (*Module, error) {
	if opts.StopGlobal == "" {
		return nil, errors.New("wasmguard: no stop global name")
	}
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: not a WebAssembly binary (no \\0asm magic)", ErrMalformed)
	}
	if string(bin[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: unsupported binary version %x (want 1: a core module, not a component)", ErrMalformed, bin[4:8])
	}
	r := &reader{b: bin, off: 8}
	m := &Module{}
	var secs []section
	last := 0
	for !r.done() {
		id := r.byte()
		size := r.u32()
		body := r.bytes(size)
		if r.err != nil {
			return nil, r.fail("section %d", id)
		}
		if id != secCustom {
			o := order(id)
			if o < 0 {
				return nil, fmt.Errorf("%w: unknown section id %d", ErrMalformed, id)
			}
			if o <= last {
				return nil, fmt.Errorf("%w: section %d out of order or repeated", ErrMalformed, id)
			}
			last = o
		} else if isDebugSection(body) {
			continue
		}
		secs = append(secs, section{id, body})
		if id == secCustom {
			cr := &reader{b: body}
			if name := cr.name(); cr.err == nil {
				m.Customs = append(m.Customs, Custom{Name: name, Body: body[cr.off:]})
			}
		}
	}

	if opts.MaxCallDepth == 0 {
		opts.MaxCallDepth = DefaultMaxCallDepth
	}
	var importedGlobals, definedGlobals uint32
	exportAt, globalAt, typeAt := -1, -1, -1
	var (
		results [][]byte // result types of each function type
		funcs   []uint32 // type of each defined function
	)
	for i := range secs {
		s := &secs[i]
		var err error
		switch s.id {
		case secType:
			typeAt = i
			results, err = readTypes(s.body)
		case secFunction:
			funcs, err = readFunctions(s.body, uint32(len(results)))
		case secImport:
			importedGlobals, err = m.readImports(s.body)
		case secMemory:
			err = m.readMemories(s.body)
			if err == nil && m.HasMemory && opts.YieldPages != 0 {
				s.body = appendU32([]byte{1, 0x00}, m.MemoryMin) // no maximum
			}
		case secGlobal:
			globalAt = i
			sr := &reader{b: s.body}
			definedGlobals = sr.u32()
			err = sr.err
			m.StackPointer = definedGlobals > 0 && isStackPointer(sr.b[sr.off:], definedGlobals)
		case secData:
			m.Data = s.body
		case secExport:
			exportAt = i
			err = m.readExports(s.body)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "wasmguard: ") {
				err = fmt.Errorf("%w: section %d: %v", ErrMalformed, s.id, err)
			}
			return nil, err
		}
	}
	for _, e := range m.Exports {
		if e.Name == opts.StopGlobal {
			return nil, fmt.Errorf("wasmguard: the module already exports %q, a name the host reserves", e.Name)
		}
	}
	if exportAt < 0 {
		return nil, errors.New("wasmguard: the module exports nothing")
	}
	stop := importedGlobals + definedGlobals
	depth := stop + 1
	fuel := stop + 2

	// Add the stop flag and the depth counter: (global (mut i32) (i32.const 0)).
	flag := []byte{0x7F, 0x01, 0x41, 0x00, 0x0B}
	flags := append(slices.Clone(flag), flag...)
	flags = append(appendSLEB33(append(flags, 0x7F, 0x01, 0x41), yieldEvery), 0x0B)
	if globalAt >= 0 {
		sr := &reader{b: secs[globalAt].body}
		n := sr.u32()
		secs[globalAt].body = append(appendU32(nil, n+3), append(sr.b[sr.off:len(sr.b):len(sr.b)], flags...)...)
	} else {
		secs = slices.Insert(secs, exportAt, section{secGlobal, append([]byte{3}, flags...)})
		exportAt++
	}
	// Export it.
	er := &reader{b: secs[exportAt].body}
	n := er.u32()
	body := appendU32(nil, n+1)
	body = append(body, er.b[er.off:]...)
	body = appendName(body, opts.StopGlobal)
	body = append(body, byte(KindGlobal))
	body = appendU32(body, stop)
	secs[exportAt].body = body

	types := &typeTable{results: results}
	for i := range secs {
		if secs[i].id == secCode {
			b, err := instrumentCode(secs[i].body, funcs, types, stop, depth, fuel, opts, m.HasMemory || importsMemory(m))
			if err != nil {
				return nil, err
			}
			secs[i].body = b
		}
	}
	if len(types.added) > 0 {
		if typeAt < 0 {
			return nil, fmt.Errorf("%w: functions without a type section", ErrMalformed)
		}
		tr := &reader{b: secs[typeAt].body}
		n := tr.u32()
		body := appendU32(nil, n+uint32(len(types.added)))
		body = append(body, tr.b[tr.off:]...)
		for _, t := range types.added {
			body = append(body, 0x60, 0)
			body = appendU32(body, uint32(len(t)))
			body = append(body, t...)
		}
		secs[typeAt].body = body
	}

	out := make([]byte, 0, len(bin)+len(bin)/8+64)
	out = append(out, bin[:8]...)
	for _, s := range secs {
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.body)))
		out = append(out, s.body...)
	}
	m.Binary = out
	return m, nil
}

// isStackPointer reports whether n global definitions start with
// (global (mut i32) (i32.const N)), N a multiple of 16 of at least 64 KiB,
// and hold no other mutable global.
func isStackPointer(defs []byte, n uint32) bool {
	r := &reader{b: defs}
	for i := uint32(0); i < n; i++ {
		typ, mut := r.byte(), r.byte()
		if i == 0 {
			if typ != 0x7F || mut != 0x01 || r.byte() != 0x41 {
				return false
			}
			v := r.sleb64()
			if r.byte() != 0x0B || v < 64<<10 || v%16 != 0 {
				return false
			}
			continue
		}
		if mut != 0x00 || !r.skipConstExpr() {
			return false
		}
	}
	return r.err == nil
}

// skipConstExpr reads a constant expression up to its end; false for an
// instruction it does not know.
func (r *reader) skipConstExpr() bool {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0B: // end
			return true
		case 0x41, 0x42: // i32.const, i64.const
			r.sleb64()
		case 0x43: // f32.const
			r.bytes(4)
		case 0x44: // f64.const
			r.bytes(8)
		case 0x23, 0xD2: // global.get, ref.func
			r.u32()
		case 0xD0: // ref.null
			r.byte()
		case 0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E: // extended constants: add, sub, mul
		default:
			return false
		}
	}
	return false
}

func isDebugSection(body []byte) bool {
	r := &reader{b: body}
	name := r.name()
	return r.err == nil && (strings.HasPrefix(name, ".debug_") || name == "external_debug_info" || name == "sourceMappingURL")
}

func (m *Module) readImports(b []byte) (globals uint32, err error) {
	r := &reader{b: b}
	n := r.u32()
	if n > maxVec {
		return 0, r.fail("import count")
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		imp := Import{Module: r.name(), Name: r.name(), Kind: ExternKind(r.byte())}
		switch imp.Kind {
		case KindFunc:
			r.u32()
		case KindTable:
			r.byte()
			r.limits()
		case KindMemory:
			r.limits()
		case KindGlobal:
			r.byte()
			r.byte()
			globals++
		case KindTag:
			r.byte()
			r.u32()
		default:
			return 0, fmt.Errorf("%w: import %d has unknown kind %d", ErrMalformed, i, imp.Kind)
		}
		m.Imports = append(m.Imports, imp)
	}
	if r.err != nil {
		return 0, r.fail("import section")
	}
	return globals, nil
}

func (m *Module) readMemories(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	if n > 1 {
		return errors.New("wasmguard: more than one memory")
	}
	if n == 0 {
		return nil
	}
	flags := r.byte()
	if flags&^1 != 0 {
		return errors.New("wasmguard: shared and 64-bit memories are not supported")
	}
	m.HasMemory = true
	m.MemoryMin = r.u32()
	if flags&1 != 0 {
		r.u32() // the maximum: the host caps memory itself
	}
	if r.err != nil || !r.done() {
		return r.fail("memory section")
	}
	return nil
}

func (m *Module) readExports(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	if n > maxVec {
		return r.fail("export count")
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		m.Exports = append(m.Exports, Export{Name: r.name(), Kind: ExternKind(r.byte())})
		r.u32() // the index
	}
	if r.err != nil || !r.done() {
		return r.fail("export section")
	}
	return nil
}

// typeTable finds or adds a function type [] -> results, for the block
// that wraps a body returning several values.
type typeTable struct {
	results [][]byte
	added   [][]byte
	byKey   map[string]uint32
}

func (t *typeTable) blockType(res []byte) []byte {
	switch len(res) {
	case 0:
		return []byte{0x40}
	case 1:
		return []byte{res[0]}
	}
	if t.byKey == nil {
		t.byKey = map[string]uint32{}
	}
	idx, ok := t.byKey[string(res)]
	if !ok {
		idx = uint32(len(t.results) + len(t.added))
		t.added = append(t.added, res)
		t.byKey[string(res)] = idx
	}
	return appendSLEB33(nil, idx)
}

// readTypes returns the result types of each function type.
func readTypes(b []byte) ([][]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	if n > maxVec {
		return nil, r.fail("type count")
	}
	out := make([][]byte, 0, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		if f := r.byte(); f != 0x60 {
			return nil, fmt.Errorf("%w: type %d is not a function type (0x%02x)", ErrMalformed, i, f)
		}
		for range 2 {
			k := r.u32()
			if k > maxVec {
				return nil, r.fail("type %d", i)
			}
			start := r.off
			for j := uint32(0); j < k && r.err == nil; j++ {
				r.valtype()
			}
			if r.err == nil && len(out) == int(i) {
				out = append(out, nil)
			}
			if r.err == nil {
				out[i] = r.b[start:r.off] // the second pass (results) wins
			}
		}
	}
	if r.err != nil || !r.done() {
		return nil, r.fail("type section")
	}
	return out, nil
}

func readFunctions(b []byte, ntypes uint32) ([]uint32, error) {
	r := &reader{b: b}
	n := r.u32()
	if n > MaxFunctions {
		return nil, fmt.Errorf("wasmguard: more than %d functions", MaxFunctions)
	}
	out := make([]uint32, 0, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		t := r.u32()
		if t >= ntypes {
			return nil, fmt.Errorf("%w: function %d has unknown type %d", ErrMalformed, i, t)
		}
		out = append(out, t)
	}
	if r.err != nil || !r.done() {
		return nil, r.fail("function section")
	}
	return out, nil
}

// instrumentCode inserts the stop check and the depth count into every
// function body.
func instrumentCode(b []byte, funcs []uint32, types *typeTable, stop, depth, fuel uint32, opts Options, memory bool) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	if n != uint32(len(funcs)) {
		return nil, fmt.Errorf("%w: %d function bodies for %d functions", ErrMalformed, n, len(funcs))
	}
	var g guards
	// if (stop) unreachable
	g.check = append(appendU32([]byte{0x23}, stop), 0x04, 0x40, 0x00, 0x0B)
	if memory {
		// if (--fuel == 0) { fuel = yieldEvery; drop(memory.grow(delta)) }
		// where delta is 0, or YieldPages - memory.size.
		y := appendU32([]byte{0x23}, fuel)
		y = append(y, 0x41, 0x01, 0x6B, 0x24)
		y = appendU32(y, fuel)
		y = appendU32(append(y, 0x23), fuel)
		y = append(y, 0x45, 0x04, 0x40, 0x41)
		y = appendSLEB33(y, yieldEvery)
		y = appendU32(append(y, 0x24), fuel)
		y = appendSLEB33(append(y, 0x41), opts.YieldPages)
		if opts.YieldPages != 0 {
			y = append(y, 0x3F, 0x00, 0x6B) // memory.size; i32.sub
		}
		y = append(y, 0x40, 0x00, 0x1A, 0x0B)
		g.check = append(g.check, y...)
	}
	// depth++; if (depth > max) { stop = 2; unreachable }
	enter := appendU32([]byte{0x23}, depth)
	enter = append(enter, 0x41, 0x01, 0x6A, 0x24)
	enter = appendU32(enter, depth)
	enter = appendU32(append(enter, 0x23), depth)
	enter = appendSLEB33(append(enter, 0x41), opts.MaxCallDepth)
	enter = append(enter, 0x4B, 0x04, 0x40, 0x41, StopDepth, 0x24)
	enter = appendU32(enter, stop)
	g.enter = append(enter, 0x00, 0x0B)
	// depth--
	leave := appendU32([]byte{0x23}, depth)
	leave = append(leave, 0x41, 0x01, 0x6B, 0x24)
	g.leave = appendU32(leave, depth)

	out := make([]byte, 0, len(b)+len(b)/4)
	out = appendU32(out, n)
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		body := r.bytes(size)
		if r.err != nil {
			return nil, r.fail("code section")
		}
		var err error
		fn, err = g.body(fn[:0], body, types.blockType(types.results[funcs[i]]))
		if err != nil {
			return nil, fmt.Errorf("%w: function body %d: %v", ErrMalformed, i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if !r.done() {
		return nil, r.fail("code section (trailing bytes)")
	}
	return out, nil
}

type guards struct {
	check, enter, leave []byte
}

// body rewrites one function body:
//
//	locals; enter; check; block bt; body with return → br; end; leave; end
func (g *guards) body(out, body, bt []byte) ([]byte, error) {
	r := &reader{b: body}
	groups := r.u32()
	if groups > maxVec {
		return nil, errors.New("too many local declarations")
	}
	for i := uint32(0); i < groups && r.err == nil; i++ {
		r.u32()
		r.valtype()
	}
	if r.err != nil {
		return nil, errors.New("malformed locals")
	}
	out = append(out, body[:r.off]...)
	out = append(out, g.enter...)
	out = append(out, g.check...)
	out = append(out, 0x02)
	out = append(out, bt...)
	start := r.off
	depth := 1 // open blocks, the function's own included
	for depth > 0 {
		if r.done() {
			return nil, errors.New("missing end")
		}
		at := r.off
		op := r.byte()
		switch op {
		case 0x02, 0x04: // block, if
			r.blocktype()
			depth++
		case 0x1F: // try_table
			if err := r.skipInstruction(op); err != nil {
				return nil, err
			}
			depth++
		case 0x03: // loop
			r.blocktype()
			depth++
			if r.err == nil {
				out = append(out, body[start:r.off]...)
				out = append(out, g.check...)
				start = r.off
			}
		case 0x0F: // return: branch to the wrapping block instead
			out = append(out, body[start:at]...)
			out = appendU32(append(out, 0x0C), uint32(depth-1))
			start = r.off
		case 0x0B: // end
			depth--
			if depth == 0 {
				out = append(out, body[start:r.off]...) // closes the wrapping block
				out = append(out, g.leave...)
				out = append(out, 0x0B)
				start = r.off
			}
		default:
			if err := r.skipInstruction(op); err != nil {
				return nil, err
			}
		}
		if r.err != nil {
			return nil, fmt.Errorf("truncated instruction 0x%02x", op)
		}
	}
	if !r.done() {
		return nil, errors.New("bytes after the final end")
	}
	return out, nil
}

// skipInstruction reads the immediates of op (other than block, loop, if
// and end, which the caller handles).
func (r *reader) skipInstruction(op byte) error {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0F || op == 0x1A || op == 0x1B || op == 0x0A:
		// unreachable nop else return drop select throw_ref
	case op == 0x1F: // try_table bt vec(catch); the caller counts its end
		r.blocktype()
		n := r.u32()
		if n > maxVec {
			return errors.New("try_table too large")
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			switch r.byte() {
			case 0x00, 0x01:
				r.u32()
				r.u32()
			case 0x02, 0x03:
				r.u32()
			default:
				return errors.New("unknown catch clause")
			}
		}
	case op == 0x08: // throw
		r.u32()
	case op >= 0x06 && op <= 0x09 || op == 0x18 || op == 0x19:
		return errors.New("legacy exception instructions (try, catch, delegate) are not supported")
	case op == 0x0C || op == 0x0D || op == 0x10 || op == 0x12 || op == 0x14 || op == 0x15: // br br_if call return_call call_ref return_call_ref
		r.u32()
	case op == 0x0E: // br_table
		n := r.u32()
		if n > maxVec {
			return errors.New("br_table too large")
		}
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1C: // select t*
		n := r.u32()
		if n > maxVec {
			return errors.New("select too large")
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.valtype()
		}
	case op >= 0x20 && op <= 0x26: // local.* global.* table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3E: // loads and stores
		r.memarg()
	case op == 0x3F || op == 0x40: // memory.size memory.grow
		r.u32()
	case op == 0x41:
		r.sleb(32)
	case op == 0x42:
		r.sleb(64)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op >= 0x45 && op <= 0xC4: // numeric, sign extension
	case op == 0xD0: // ref.null
		r.sleb(33)
	case op == 0xD1: // ref.is_null
	case op == 0xD2: // ref.func
		r.u32()
	case op == 0xFC:
		return r.skipFC()
	case op == 0xFD:
		return r.skipSIMD()
	case op == 0xFE:
		return errors.New("atomic instructions (threads) are not supported")
	default:
		return fmt.Errorf("unknown instruction 0x%02x", op)
	}
	return nil
}

func (r *reader) skipFC() error {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init
		r.u32()
		r.u32()
	case sub == 9 || sub == 11 || sub == 13 || sub == 15 || sub == 16 || sub == 17:
		r.u32()
	case sub == 10 || sub == 12 || sub == 14:
		r.u32()
		r.u32()
	default:
		return fmt.Errorf("unknown instruction 0xfc %d", sub)
	}
	return nil
}

func (r *reader) skipSIMD() error {
	switch sub := r.u32(); {
	case sub <= 11 || sub == 92 || sub == 93: // v128 loads and stores
		r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load and store lane
		r.memarg()
		r.byte()
	case sub <= 0x113:
	default:
		return fmt.Errorf("unknown instruction 0xfd %d", sub)
	}
	return nil
}

// reader decodes the binary format; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("truncated")

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

func (r *reader) fail(what string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(what, args...))
}

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.err = errTruncated
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil || uint64(n) > uint64(len(r.b)-r.off) {
		r.err = errTruncated
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift == 28 && c > 0x0F {
			r.err = errors.New("u32 too large")
			return 0
		}
		v |= uint32(c&0x7F) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("u32 too long")
	return 0
}

// sleb skips a signed LEB128 of at most bits bits.
func (r *reader) sleb(bits int) {
	for i := 0; i < (bits+6)/7; i++ {
		c := r.byte()
		if r.err != nil || c&0x80 == 0 {
			return
		}
	}
	r.err = errors.New("integer too long")
}

// sleb64 reads a signed LEB128 value of at most 64 bits.
func (r *reader) sleb64() int64 {
	var v int64
	var shift uint
	for shift < 64 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
	r.err = errors.New("wasmguard: LEB128 too long")
	return 0
}

func (r *reader) name() string {
	n := r.u32()
	return string(r.bytes(n))
}

func (r *reader) limits() {
	switch f := r.byte(); f {
	case 0x00:
		r.u32()
	case 0x01:
		r.u32()
		r.u32()
	default:
		r.err = fmt.Errorf("unsupported limits flags 0x%02x", f)
	}
}

func (r *reader) valtype() {
	switch c := r.byte(); c {
	case 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
	default:
		if r.err == nil {
			r.err = fmt.Errorf("unsupported value type 0x%02x", c)
		}
	}
}

func (r *reader) blocktype() {
	if r.off < len(r.b) {
		switch r.b[r.off] {
		case 0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
			r.off++
			return
		}
	}
	r.sleb(33)
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.u32()
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// appendSLEB33 appends v as a signed LEB128 (a type index in a block type,
// or an i32.const immediate).
func appendSLEB33(b []byte, v uint32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7F)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

// Producer is one value of a field of the producers section: a tool or
// language and its version.
type Producer struct {
	Field   string // language, processed-by or sdk
	Name    string
	Version string
}

// ParseProducers reads the body of a producers custom section (the
// WebAssembly tool conventions: fields, each a list of name and version).
func ParseProducers(body []byte) ([]Producer, error) {
	r := &reader{b: body}
	n := r.u32()
	if n > 16 {
		return nil, r.fail("producers field count")
	}
	var out []Producer
	for i := uint32(0); i < n && r.err == nil; i++ {
		field := r.name()
		m := r.u32()
		if m > 64 {
			return nil, r.fail("producers value count")
		}
		for j := uint32(0); j < m && r.err == nil; j++ {
			out = append(out, Producer{Field: field, Name: r.name(), Version: r.name()})
		}
	}
	if r.err != nil {
		return nil, r.fail("producers section")
	}
	return out, nil
}
