package hooks

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/scopeline/scopeline/engine"
)

// call is the state of one guest call: what the host functions read and
// what they stage. A call is made per guest call and never reused, so its
// result can be handed out in place (one allocation per run, not two).
type call struct {
	hook *WasmHook
	// tx is the transaction the run reads; inRun is false (and tx the
	// zero View) while _initialize and scopeline_init run.
	tx    engine.View
	inRun bool
	res   engine.HookResult
	input []byte
	// logBytes counts what was logged; pending holds the unfinished line
	// of stdout and of stderr written through WASI fd_write: the two are
	// buffered apart, so that a line on one is never glued to the other's.
	logBytes int
	pending  [2][]byte
	// violation is set when the guest broke the ABI; the call then traps.
	violation *engine.HookFault
}

// result returns what the run staged, with its logs.
func (c *call) result() *engine.HookResult {
	c.flush()
	return &c.res
}

// failed returns the logs of a run that faulted: its ops are dropped.
func (c *call) failed() *engine.HookResult {
	c.flush()
	c.res.Ops, c.res.Deny = nil, nil
	return &c.res
}

// violate stops the guest: an ABI violation is a fault.
func (c *call) violate(kind, format string, args ...any) {
	c.violation = &engine.HookFault{Kind: kind, Err: fmt.Errorf(format, args...)}
	panic(c.violation)
}

// view returns a string argument as it is in guest memory, without a
// copy: use it only for lookups that keep nothing, before the guest runs
// again.
func (c *call) view(mod api.Module, ptr, n uint32, what string) []byte {
	if n > MaxArgument {
		c.violate("abi", "%s is %d bytes, more than the %d an argument may have", what, n, MaxArgument)
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		c.violate("abi", "%s at [%d, %d) is outside the guest's memory (%d bytes)", what, ptr, uint64(ptr)+uint64(n), mod.Memory().Size())
	}
	return b
}

// read copies a string argument out of guest memory.
func (c *call) read(mod api.Module, ptr, n uint32, what string) string {
	return string(c.view(mod, ptr, n, what))
}

// put answers a getter: the value's length, having written it to buf if
// it fits in cap bytes (else nothing is written).
func (c *call) put(mod api.Module, v string, buf, capacity uint32) uint64 {
	if uint64(len(v)) > uint64(capacity) {
		return api.EncodeI32(int32(len(v)))
	}
	if !mod.Memory().WriteString(buf, v) {
		c.outside(mod, buf, len(v))
	}
	return api.EncodeI32(int32(len(v)))
}

// putBytes is put for a value held as bytes (the input document), which
// it writes without converting it to a string.
func (c *call) putBytes(mod api.Module, v []byte, buf, capacity uint32) uint64 {
	if uint64(len(v)) > uint64(capacity) {
		return api.EncodeI32(int32(len(v)))
	}
	if !mod.Memory().Write(buf, v) {
		c.outside(mod, buf, len(v))
	}
	return api.EncodeI32(int32(len(v)))
}

// outside stops a guest that gave a buffer outside its memory.
func (c *call) outside(mod api.Module, buf uint32, n int) {
	c.violate("abi", "buffer at [%d, %d) is outside the guest's memory (%d bytes)", buf, uint64(buf)+uint64(n), mod.Memory().Size())
}

// logFull tells whether the run logged all it may: further lines are
// dropped (and counted).
func (c *call) logFull() bool {
	return len(c.res.Logs) >= engine.MaxHookLogs || c.logBytes >= MaxLogBytes
}

// logKeep is how much of a line to hold before log cuts it: one byte past
// the longest line, so that log sees where the next character starts.
const logKeep = engine.MaxHookLogLine + 1

// log records one line, within the ABI's log limits.
func (c *call) log(level uint32, msg string) {
	if c.logFull() {
		c.res.DroppedLogs++
		return
	}
	switch level {
	case levelDebug:
		msg = "[debug] " + msg
	case levelWarn:
		msg = "[warn] " + msg
	case levelError:
		msg = "[error] " + msg
	}
	msg = truncate(msg, engine.MaxHookLogLine)
	c.logBytes += len(msg)
	c.res.Logs = append(c.res.Logs, msg)
}

// truncate cuts s to at most n bytes, on a UTF-8 character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// The guest's output streams, and the log level of their lines.
const (
	streamStdout = 0 // level info
	streamStderr = 1 // level warn
)

var streamLevel = [2]uint32{levelInfo, levelWarn}

// write takes what the guest wrote to one of its WASI output streams, line
// by line.
func (c *call) write(stream int, p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		pending := c.pending[stream]
		if i < 0 {
			if len(pending) < logKeep {
				c.pending[stream] = append(pending, p[:min(len(p), logKeep-len(pending))]...)
			}
			return
		}
		line := append(pending, p[:i]...)
		c.pending[stream] = nil
		c.log(streamLevel[stream], string(line))
		p = p[i+1:]
	}
}

// flush logs the unfinished lines the run leaves, stdout's first.
func (c *call) flush() {
	for stream, pending := range c.pending {
		if len(pending) > 0 {
			c.log(streamLevel[stream], string(pending))
			c.pending[stream] = nil
		}
	}
}

// stage adds an op, within the ABI's cap on ops.
func (c *call) stage(op engine.HookOp) uint64 {
	if !c.inRun {
		return api.EncodeI32(statusNotInRun)
	}
	if len(c.res.Ops) >= engine.MaxHookOps {
		c.violate("abi", "more than %d ops in one run", engine.MaxHookOps)
	}
	c.res.Ops = append(c.res.Ops, op)
	return api.EncodeI32(statusOK)
}

// field returns a hot field of the transaction without JSON.
func (c *call) field(id uint32) (string, bool) {
	spec := c.hook.spec
	switch id {
	case fieldConfig:
		return string(spec.Config), len(spec.Config) > 0
	case fieldHookName:
		return spec.Name, true
	}
	if !c.inRun {
		return "", false
	}
	tx := c.tx
	switch id {
	case fieldTrigger:
		return string(tx.Trigger()), true
	case fieldGrantType:
		return tx.GrantType(), true
	case fieldClientID:
		id := tx.ClientID()
		return id, tx.Client() != nil || id != ""
	case fieldClientName:
		if tx.Client() == nil {
			return "", false
		}
		return tx.Client().Name, true
	case fieldClientType:
		if tx.Client() == nil {
			return "", false
		}
		return string(tx.Client().Type), true
	case fieldAudience:
		if tx.API() == nil {
			return "", false
		}
		return tx.API().Identifier, true
	case fieldRequestedScopes:
		req := tx.Requested()
		if req == nil {
			return "", false
		}
		return strings.Join(req, " "), true
	case fieldScopes:
		return strings.Join(tx.Scopes(), " "), true
	case fieldGrantScopes:
		if tx.Grant() == nil {
			return "", false
		}
		return strings.Join(tx.Grant().Scopes, " "), true
	case fieldSubject:
		return tx.Subject(), tx.Subject() != ""
	case fieldUserID:
		if tx.User() == nil {
			return "", false
		}
		return tx.User().ID, true
	case fieldIP:
		return tx.IP(), tx.IP() != ""
	case fieldUserAgent:
		return tx.UserAgent(), tx.UserAgent() != ""
	case fieldRequestID:
		return tx.RequestID(), tx.RequestID() != ""
	case fieldTime:
		return tx.Time().UTC().Format(time.RFC3339Nano), !tx.Time().IsZero()
	case fieldTimeUnix:
		return strconv.FormatInt(tx.Time().Unix(), 10), !tx.Time().IsZero()
	}
	return "", false
}

func knownField(id uint32) bool { return id >= fieldTrigger && id <= fieldGrantScopes }

// instantiateHostModule defines the ABI's host functions in r.
func instantiateHostModule(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(ImportModule)
	def := func(name string, fn api.GoModuleFunc) {
		s := hostSignatures[name]
		b.NewFunctionBuilder().WithGoModuleFunction(fn, s.params, s.results).Export(name)
	}
	callOf := func(ctx context.Context) *call { return instanceOf(ctx).call }
	u32 := func(v uint64) uint32 { return api.DecodeU32(v) }

	def("input", func(ctx context.Context, mod api.Module, st []uint64) {
		c := callOf(ctx)
		if !c.inRun {
			st[0] = api.EncodeI32(statusAbsent)
			return
		}
		if c.input == nil {
			doc, err := NewEvent(c.tx, c.hook.spec).MarshalJSON()
			if err != nil {
				c.violate("input", "encoding the input document: %v", err)
			}
			if len(doc) > MaxInput {
				c.violate("input", "the input document is %d bytes, more than %d", len(doc), MaxInput)
			}
			c.input = doc
		}
		st[0] = c.putBytes(mod, c.input, u32(st[0]), u32(st[1]))
	})
	def("field", func(ctx context.Context, mod api.Module, st []uint64) {
		c := callOf(ctx)
		id := u32(st[0])
		if !knownField(id) {
			st[0] = api.EncodeI32(statusNoField)
			return
		}
		v, ok := c.field(id)
		if !ok {
			st[0] = api.EncodeI32(statusAbsent)
			return
		}
		st[0] = c.put(mod, v, u32(st[1]), u32(st[2]))
	})
	def("client_metadata", func(ctx context.Context, mod api.Module, st []uint64) {
		c := callOf(ctx)
		key := c.view(mod, u32(st[0]), u32(st[1]), "metadata key")
		if !c.inRun || c.tx.Client() == nil {
			st[0] = api.EncodeI32(statusAbsent)
			return
		}
		v, ok := c.tx.Client().Metadata[string(key)] // no copy: a map index
		if !ok {
			st[0] = api.EncodeI32(statusAbsent)
			return
		}
		st[0] = c.put(mod, v, u32(st[2]), u32(st[3]))
	})
	def("secret", func(ctx context.Context, mod api.Module, st []uint64) {
		c := callOf(ctx)
		name := c.view(mod, u32(st[0]), u32(st[1]), "secret name")
		v, ok := c.hook.spec.Secrets[string(name)]
		if !ok {
			st[0] = api.EncodeI32(statusAbsent)
			return
		}
		st[0] = c.put(mod, v.Reveal(), u32(st[2]), u32(st[3]))
	})
	def("has_scope", func(ctx context.Context, mod api.Module, st []uint64) {
		c := callOf(ctx)
		scope := c.view(mod, u32(st[0]), u32(st[1]), "scope")
		if c.inRun && c.tx.HasScope(string(scope)) {
			st[0] = 1
			return
		}
		st[0] = 0
	})
	scopeOp := func(kind engine.HookOpKind) api.GoModuleFunc {
		return func(ctx context.Context, mod api.Module, st []uint64) {
			c := callOf(ctx)
			scope := c.read(mod, u32(st[0]), u32(st[1]), "scope")
			reason := c.read(mod, u32(st[2]), u32(st[3]), "reason")
			st[0] = c.stage(engine.HookOp{Kind: kind, Name: scope, Reason: reason})
		}
	}
	def("add_scope", scopeOp(engine.HookAddScope))
	def("remove_scope", scopeOp(engine.HookRemoveScope))
	def("set_claim", func(ctx context.Context, mod api.Module, st []uint64) {
		c := callOf(ctx)
		name := c.read(mod, u32(st[0]), u32(st[1]), "claim name")
		value := bytes.Clone(c.view(mod, u32(st[2]), u32(st[3]), "claim value"))
		reason := c.read(mod, u32(st[4]), u32(st[5]), "reason")
		st[0] = c.stage(engine.HookOp{Kind: engine.HookSetClaim, Name: name, Value: value, Reason: reason})
	})
	def("remove_claim", func(ctx context.Context, mod api.Module, st []uint64) {
		c := callOf(ctx)
		name := c.read(mod, u32(st[0]), u32(st[1]), "claim name")
		reason := c.read(mod, u32(st[2]), u32(st[3]), "reason")
		st[0] = c.stage(engine.HookOp{Kind: engine.HookRemoveClaim, Name: name, Reason: reason})
	})
	def("deny", func(ctx context.Context, mod api.Module, st []uint64) {
		c := callOf(ctx)
		code := c.read(mod, u32(st[0]), u32(st[1]), "error code")
		reason := c.read(mod, u32(st[2]), u32(st[3]), "reason")
		switch {
		case !c.inRun:
			st[0] = api.EncodeI32(statusNotInRun)
			return
		case c.res.Deny == nil:
			c.res.Deny = &engine.HookDenial{Code: code, Reason: reason}
		}
		st[0] = api.EncodeI32(statusOK)
	})
	def("log", func(ctx context.Context, mod api.Module, st []uint64) {
		c := callOf(ctx)
		level, ptr, n := u32(st[0]), u32(st[1]), u32(st[2])
		// The whole message is checked, as any string argument (§3.4),
		// even when it is dropped or cut: only the part kept is copied.
		msg := c.view(mod, ptr, n, "log message")
		if c.logFull() {
			c.res.DroppedLogs++
			st[0] = api.EncodeI32(statusOK)
			return
		}
		c.log(level, string(msg[:min(n, logKeep)]))
		st[0] = api.EncodeI32(statusOK)
	})
	_, err := b.Instantiate(ctx)
	return err
}

// logWriter receives one of a guest's WASI output streams.
type logWriter struct {
	in     *instance
	stream int
}

func (w *logWriter) Write(p []byte) (int, error) {
	if c := w.in.call; c != nil {
		c.write(w.stream, p)
	}
	return len(p), nil
}
