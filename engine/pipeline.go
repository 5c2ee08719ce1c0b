package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
)

// Stage is one step of a trigger's pipeline: the baseline policy first, then
// the tenant's hooks in order. A stage changes the transaction only through
// its methods; an *Error stops the pipeline and becomes the response.
type Stage interface {
	Name() string
	Run(ctx context.Context, tx *Transaction) error
}

// Pipeline is the ordered list of stages run for one trigger.
type Pipeline struct {
	Trigger tenant.Trigger
	// Timeout bounds the hooks of one request.
	Timeout time.Duration
	Stages  []Stage
	hooks   int
}

// Run runs every stage in order, timing each (tx.Timings). It stops at
// the first error.
func (p *Pipeline) Run(ctx context.Context, tx *Transaction) error {
	if p.hooks > 0 && tx.Deadline.IsZero() {
		tx.Deadline = tx.Time.Add(p.Timeout)
	}
	if tx.Timings == nil {
		tx.Timings = tx.timings[:0]
	}
	for _, st := range p.Stages {
		start := time.Now()
		err := st.Run(ctx, tx)
		tx.Timings = append(tx.Timings, StageTiming{Stage: st.Name(), Duration: time.Since(start)})
		if err != nil {
			return err
		}
	}
	return nil
}

// exceedsGrant reports whether the hook named stage in p may add scopes
// outside the grant's ceiling (allow_exceed_grant).
func (p *Pipeline) exceedsGrant(stage string) bool {
	if p == nil {
		return false
	}
	for _, st := range p.Stages {
		if h, ok := st.(*hookStage); ok && h.spec.Name == stage {
			return h.spec.AllowExceedGrant
		}
	}
	return false
}

// Hook is a loaded hook, ready to run: package hooks implements it for
// WebAssembly modules (hooks.WasmHook), from the tenant file's
// tenant.HookSpec. Invoke runs the hook once against a read-only view of
// the transaction and returns what the hook asked for, which the
// pipeline applies with the transaction's rules. It must return within
// min(spec timeout, v.Deadline()) plus a small margin. Any error is a
// fault, handled by the hook's failure policy.
//
// A Hook that also implements io.Closer is closed when the tenant snapshot
// that loaded it is retired.
type Hook interface {
	Invoke(ctx context.Context, v View) (*HookResult, error)
}

// HookLoader turns a pipeline entry of the tenant file into a Hook. It is
// called when a tenant snapshot is built (at start and on every reload),
// never per request.
type HookLoader interface {
	LoadHook(ctx context.Context, spec *tenant.HookSpec) (Hook, error)
}

// HookResult is what one hook run asked for. Ops are applied in order, and
// only when the hook returned cleanly and did not deny.
type HookResult struct {
	Ops  []HookOp
	Deny *HookDenial
	Logs []string
	// DroppedLogs counts lines the hook logged past the runtime's limits.
	DroppedLogs int
}

// HookOpKind is the kind of a staged hook op.
type HookOpKind uint8

// The hook ops.
const (
	HookAddScope HookOpKind = iota + 1
	HookRemoveScope
	HookSetClaim
	HookRemoveClaim
)

// HookOp is one staged change: a scope (Name) to add or remove, or a claim
// (Name) to set to Value (JSON) or remove.
type HookOp struct {
	Kind   HookOpKind
	Name   string
	Value  []byte
	Reason string
}

// HookDenial is a hook's decision to refuse the request.
type HookDenial struct {
	// Code is the OAuth error code; a code a hook may not deny with
	// (see hookDenialCodes) becomes access_denied.
	Code   string
	Reason string
}

// hookDenialCodes are the error codes a hook may deny with.
var hookDenialCodes = map[string]*Error{
	"access_denied":        ErrAccessDenied,
	"invalid_scope":        ErrInvalidScope,
	"invalid_request":      ErrInvalidRequest,
	"unauthorized_client":  ErrUnauthorizedClient,
	"invalid_grant":        ErrInvalidGrant,
	"interaction_required": NewError("interaction_required", statusBadRequest),
	"login_required":       NewError("login_required", statusBadRequest),
	"consent_required":     NewError("consent_required", statusBadRequest),
}

// HookFault is an error a Hook returns to say how it failed. Kind is a short
// word for traces and metrics ("timeout", "trap", "memory", "abi", ...).
type HookFault struct {
	Kind string
	Err  error
}

// Error describes the failure.
func (f *HookFault) Error() string { return "hook " + f.Kind + ": " + f.Err.Error() }

// Unwrap returns the underlying error.
func (f *HookFault) Unwrap() error { return f.Err }

// Limits on hook output the engine enforces, whatever runs the hook.
const (
	MaxHookOps     = 64
	MaxHookLogs    = 32
	MaxHookLogLine = 1024
)

// hookStage runs one hook and applies its result per the tenant's spec.
type hookStage struct {
	spec *tenant.HookSpec
	hook Hook
	// redact replaces the hook's secret values in what it writes (logs,
	// reasons), so that no trace, log, audit event or error description
	// can carry them; nil when the hook has no secrets.
	redact *tenant.Redactor
}

// newHookStage prepares the stage for spec, once per tenant snapshot.
func newHookStage(spec *tenant.HookSpec, h Hook) *hookStage {
	return &hookStage{spec: spec, hook: h, redact: tenant.NewRedactor(spec.SecretValues()...)}
}

// clean redacts the hook's secrets from text the hook wrote.
func (s *hookStage) clean(text string) string { return s.redact.Redact(text) }

func (s *hookStage) Name() string { return s.spec.Name }

func (s *hookStage) Run(ctx context.Context, tx *Transaction) error {
	res, err := s.hook.Invoke(ctx, tx.View())
	if res != nil {
		dropped := res.DroppedLogs
		for i, line := range res.Logs {
			if i == MaxHookLogs {
				dropped += len(res.Logs) - i
				break
			}
			tx.Logs = append(tx.Logs, HookLog{Hook: s.spec.Name, Message: truncate(s.clean(line), MaxHookLogLine)})
		}
		if dropped > 0 {
			tx.Logs = append(tx.Logs, HookLog{Hook: s.spec.Name, Message: fmt.Sprintf("[%d more lines dropped]", dropped)})
		}
	}
	if err == nil && res != nil && len(res.Ops) > MaxHookOps {
		err = &HookFault{Kind: "abi", Err: fmt.Errorf("%d ops, more than %d", len(res.Ops), MaxHookOps)}
	}
	if err != nil {
		return s.fail(tx, err)
	}
	if res == nil {
		return nil
	}
	if d := res.Deny; d != nil {
		base, ok := hookDenialCodes[d.Code]
		if !ok {
			base = ErrAccessDenied
		}
		reason := truncate(s.clean(d.Reason), MaxReasonLen)
		tx.record(TraceEntry{Stage: s.spec.Name, Op: OpDeny, Reason: reason})
		if reason == "" {
			reason = fmt.Sprintf("denied by hook %q", s.spec.Name)
		}
		return base.WithDescription("%s", reason).Wrap(&HookDenied{Hook: s.spec.Name, Code: d.Code})
	}
	mark := len(tx.Trace)
	for _, op := range res.Ops {
		switch op.Kind {
		case HookAddScope:
			tx.AddScope(s.spec.Name, op.Name, s.clean(op.Reason), s.spec.AllowExceedGrant)
		case HookRemoveScope:
			tx.RemoveScope(s.spec.Name, op.Name, s.clean(op.Reason))
		case HookSetClaim:
			tx.SetClaim(s.spec.Name, op.Name, op.Value, s.clean(op.Reason))
		case HookRemoveClaim:
			tx.RemoveClaim(s.spec.Name, op.Name, s.clean(op.Reason))
		}
	}
	if s.redact != nil {
		// A scope or claim a hook names is its writing too: the trace
		// (read in the console, logs and the audit stream) shows it
		// redacted; the token has it as the hook wrote it.
		for i := mark; i < len(tx.Trace); i++ {
			e := &tx.Trace[i]
			e.Scope, e.Claim = s.clean(e.Scope), s.clean(e.Claim)
		}
	}
	return nil
}

// RunHook runs one hook on tx as a pipeline stage would: the result is
// applied with the engine's rules and traced, a denial returns an *Error,
// and a fault goes through the hook's failure policy. It is for running a
// hook outside an issuer (scopeline hook test).
func RunHook(ctx context.Context, spec *tenant.HookSpec, h Hook, tx *Transaction) error {
	return newHookStage(spec, h).Run(ctx, tx)
}

// fail applies the hook's failure policy to a fault.
func (s *hookStage) fail(tx *Transaction, err error) error {
	kind := "error"
	var f *HookFault
	if errors.As(err, &f) {
		kind = f.Kind
	}
	tx.record(TraceEntry{Stage: s.spec.Name, Op: OpFault, Reason: kind})
	if s.redact != nil { // the fault's text may quote what the guest wrote
		inner := err
		if f != nil {
			inner = f.Err
		}
		err = &HookFault{Kind: kind, Err: errors.New(s.clean(inner.Error()))}
	}
	failure := &HookFailure{Hook: s.spec.Name, Kind: kind, Err: err}
	tx.Failures = append(tx.Failures, failure)
	if s.spec.Failure == tenant.FailSkip {
		tx.record(TraceEntry{Stage: s.spec.Name, Op: OpSkip, Reason: "failure policy skip"})
		return nil
	}
	return ErrServerError.WithDescription("hook %q failed", s.spec.Name).Wrap(failure)
}

// HookDenied is the cause of an *Error a hook's deny produced.
type HookDenied struct {
	Hook string
	Code string
}

// Error describes the failure.
func (d *HookDenied) Error() string { return fmt.Sprintf("denied by hook %q (%s)", d.Hook, d.Code) }

// HookFailure records a hook that faulted during a transaction.
type HookFailure struct {
	Hook string
	Kind string
	Err  error
}

// Error describes the failure.
func (f *HookFailure) Error() string { return fmt.Sprintf("hook %q: %v", f.Hook, f.Err) }

// Unwrap returns the underlying error.
func (f *HookFailure) Unwrap() error { return f.Err }

// buildPipeline makes the pipeline for one trigger: baseline, then hooks.
func buildPipeline(ctx context.Context, p *tenant.Pipeline, loader HookLoader) (*Pipeline, []io.Closer, error) {
	out := &Pipeline{Trigger: p.Trigger, Timeout: p.Timeout, Stages: []Stage{baseline{}}}
	var closers []io.Closer
	for _, spec := range p.Hooks {
		if loader == nil {
			closeAll(closers)
			return nil, nil, fmt.Errorf("engine: pipeline %s: hook %q: no hook runtime configured", p.Trigger, spec.Name)
		}
		h, err := loader.LoadHook(ctx, spec)
		if err != nil {
			closeAll(closers)
			return nil, nil, fmt.Errorf("engine: pipeline %s: hook %q (line %d): %w", p.Trigger, spec.Name, spec.Line, err)
		}
		if c, ok := h.(io.Closer); ok {
			closers = append(closers, c)
		}
		out.Stages = append(out.Stages, newHookStage(spec, h))
		out.hooks++
	}
	return out, closers, nil
}

func closeAll(cs []io.Closer) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
