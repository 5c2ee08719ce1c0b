package wasmguard

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// fixture is a module exercising what the rewrite must keep working:
// returns from nested blocks, branches to the function's label, loops,
// multi-value results, br_table, imported and defined globals, recursion.
// Built from testdata/fixture.wat: wat2wasm fixture.wat -o fixture.wasm
func fixture(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/fixture.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func instantiate(t testing.TB, bin []byte) (api.Module, func()) {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	env, err := os.ReadFile("testdata/env.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.InstantiateWithConfig(ctx, env, wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	m, err := r.Instantiate(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	return m, func() { r.Close(ctx) }
}

func call(t testing.TB, m api.Module, name string, args ...uint64) []uint64 {
	t.Helper()
	res, err := m.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

// TestSameResults: the rewritten module computes what the original does.
func TestSameResults(t *testing.T) {
	orig := fixture(t)
	g, err := Instrument(orig, Options{StopGlobal: "stop"})
	if err != nil {
		t.Fatal(err)
	}
	a, closeA := instantiate(t, orig)
	defer closeA()
	b, closeB := instantiate(t, g.Binary)
	defer closeB()
	for _, tc := range []struct {
		fn   string
		args []uint64
	}{
		{"early", []uint64{0}}, {"early", []uint64{5}}, {"early", []uint64{50}},
		{"sum", []uint64{100}}, {"pair", []uint64{7}}, {"table", []uint64{0}}, {"table", []uint64{1}}, {"table", []uint64{9}},
		{"fib", []uint64{15}}, {"imported", []uint64{21}}, {"counter", nil}, {"counter", nil},
	} {
		ra, rb := call(t, a, tc.fn, tc.args...), call(t, b, tc.fn, tc.args...)
		if len(ra) != len(rb) || (len(ra) > 0 && !equal(ra, rb)) {
			t.Errorf("%s%v: original %v, rewritten %v", tc.fn, tc.args, ra, rb)
		}
	}
	// After any number of calls and returns the depth counter is back at 0.
	if d := b.ExportedGlobal("depth"); d != nil && d.Get() != 0 {
		t.Errorf("depth %d after the calls", d.Get())
	}
}

func equal(a, b []uint64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStopFlag: a loop that never ends stops once the flag is raised.
func TestStopFlag(t *testing.T) {
	g, err := Instrument(fixture(t), Options{StopGlobal: "stop"})
	if err != nil {
		t.Fatal(err)
	}
	m, done := instantiate(t, g.Binary)
	defer done()
	stop := m.ExportedGlobal("stop").(api.MutableGlobal)
	stop.Set(StopDeadline)
	_, err = m.ExportedFunction("forever").Call(context.Background())
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("got %v, want a trap", err)
	}
}

// TestDepth: unbounded recursion traps at the depth limit with StopDepth.
func TestDepth(t *testing.T) {
	g, err := Instrument(fixture(t), Options{StopGlobal: "stop", MaxCallDepth: 100})
	if err != nil {
		t.Fatal(err)
	}
	m, done := instantiate(t, g.Binary)
	defer done()
	call(t, m, "fib", 10) // depth 10: fine
	_, err = m.ExportedFunction("fib").Call(context.Background(), 200)
	if err == nil || m.ExportedGlobal("stop").Get() != StopDepth {
		t.Fatalf("got %v, stop %d", err, m.ExportedGlobal("stop").Get())
	}
}

func TestRejects(t *testing.T) {
	valid := fixture(t)
	for _, tc := range []struct {
		name string
		bin  []byte
		opts Options
		want string
	}{
		{"empty", nil, Options{StopGlobal: "s"}, "not a WebAssembly binary"},
		{"component", append([]byte("\x00asm\x0d\x00\x01\x00"), valid[8:]...), Options{StopGlobal: "s"}, "unsupported binary version"},
		{"truncated", valid[:len(valid)/2], Options{StopGlobal: "s"}, "malformed"},
		{"reserved export", valid, Options{StopGlobal: "early"}, `already exports "early"`},
	} {
		_, err := Instrument(tc.bin, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// FuzzInstrument: any input is refused with an error or rewritten into a
// module wazero accepts if it accepted the original; never a panic.
func FuzzInstrument(f *testing.F) {
	f.Add(fixture(f))
	for _, name := range []string{"../../testdata/faulty.wasm", "../../testdata/spin.wasm", "../../../examples/hooks/wat/tier-gate.wasm", "../../../examples/hooks/c/tier-gate.wasm"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	f.Fuzz(func(t *testing.T, bin []byte) {
		g, err := Instrument(bin, Options{StopGlobal: "stop"})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !strings.HasPrefix(err.Error(), "wasmguard: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		if bytes.Equal(g.Binary, bin) {
			t.Fatal("the module was not rewritten")
		}
		if cm, err := r.CompileModule(ctx, bin); err == nil {
			cm.Close(ctx)
			cm2, err := r.CompileModule(ctx, g.Binary)
			if err != nil {
				t.Fatalf("wazero accepts the original but not the rewrite: %v", err)
			}
			cm2.Close(ctx)
		}
	})
}

// yieldMemory is a linear memory whose allocator refuses the growth a
// yield asks for, and raises the stop flag at the third yield.
type yieldMemory struct {
	buf    []byte
	yields int
	stop   func()
}

func (m *yieldMemory) Reallocate(size uint64) []byte {
	if size == 1<<32 {
		if m.yields++; m.yields == 3 {
			m.stop()
		}
		return nil
	}
	if size > uint64(cap(m.buf)) {
		m.buf = append(m.buf[:cap(m.buf)], make([]byte, size-uint64(cap(m.buf)))...)
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *yieldMemory) Free() {}

// TestYieldPages: with YieldPages, the yields ask the memory allocator for
// YieldPages pages (even when the module declares a smaller maximum,
// which the rewrite drops), so the host gets control at each; the memory
// does not grow when the allocator refuses.
func TestYieldPages(t *testing.T) {
	bin, err := os.ReadFile("testdata/yield.wasm")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Instrument(bin, Options{StopGlobal: "stop", YieldPages: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a failure, not a hang
	defer cancel()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	defer r.Close(ctx)
	mem := &yieldMemory{}
	var mod api.Module
	mem.stop = func() { mod.ExportedGlobal("stop").(api.MutableGlobal).Set(StopDeadline) }
	alloc := experimental.MemoryAllocatorFunc(func(uint64, uint64) experimental.LinearMemory { return mem })
	mod, err = r.Instantiate(experimental.WithMemoryAllocator(ctx, alloc), g.Binary)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mod.ExportedFunction("forever").Call(ctx)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("got %v, want the trap of the stop flag", err)
	}
	if mem.yields != 3 {
		t.Errorf("%d yields reached the allocator, want 3", mem.yields)
	}
	if n := mod.Memory().Size(); n != 1<<16 {
		t.Errorf("memory is %d bytes, want one page", n)
	}
}
