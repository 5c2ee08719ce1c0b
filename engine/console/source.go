package console

import (
	"context"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Source is what the console reads and runs, supplied by the process it
// is part of. Every method must be safe for concurrent use.
type Source interface {
	// Tenant returns the tenant serving now and what is known of it.
	Tenant() TenantState
	// Keys returns the signing keys in use.
	Keys() KeyState
	// Module describes the loaded module of a hook of the current
	// tenant; nil when unknown.
	Module(h *tenant.HookSpec) *Module
	// DryRun runs a token request through the current pipeline for its
	// trace, with no secret and no token minted, and records it on the
	// audit stream marked as a dry run. It returns the decision as the
	// stream carries it; an error means the dry run could not be run or
	// recorded (a refusal is a decision with outcome denied).
	DryRun(ctx context.Context, r *DryRunRequest) (*audit.DecisionData, error)
	// HookStats returns what the hook runtime measured of the hooks it
	// has loaded (hooks.Host.Stats; the figures of the scopeline_hook_*
	// metrics); nil when it measures nothing.
	HookStats() []engine.HookStats
	// Events reads the audit stream; nil when there is none.
	Events() Events
}

// Events reads the audit stream (audit.Reader implements it).
type Events interface {
	// Tail calls fn for each event o selects, in stream order (audit.Tail).
	Tail(ctx context.Context, o audit.TailOptions, fn func(*audit.TailedEvent) error) error
	// Event returns the event at a stream sequence (audit.ErrNoEvent
	// when there is none).
	Event(ctx context.Context, seq uint64) (*audit.TailedEvent, error)
	// LastSeq returns the sequence of the last message stored.
	LastSeq(ctx context.Context) (uint64, error)
}

// Reloader is a Source that can reload the tenant (as SIGHUP does).
type Reloader interface {
	// Reload reloads the tenant on behalf of the console user by; an
	// invalid tenant is refused with an error and the current one keeps
	// serving.
	Reload(ctx context.Context, by string) error
}

// KeyRotator is a Source that can rotate the signing keys (as `scopeline
// keys rotate` does, without --force).
type KeyRotator interface {
	RotateKeys(ctx context.Context, by string) error
}

// RevisionSource is a store that keeps the tenant's revisions, given in
// Config.Revisions when the tenant serving comes from it. A tenant read
// from a file has no history but its reloads (on the audit stream).
type RevisionSource interface {
	// Revisions lists the stored revisions, newest first, at most limit.
	Revisions(ctx context.Context, limit int) ([]Revision, error)
	// RevisionText returns the tenant file of a revision.
	RevisionText(ctx context.Context, id string) ([]byte, error)
}

// Revision is one stored revision of the tenant.
type Revision struct {
	ID   string
	Time time.Time
	// By names who made it; Note says why, when they said.
	By   string
	Note string
}

// TenantState is the tenant serving now.
type TenantState struct {
	Tenant *tenant.Tenant
	// Revision identifies the tenant's contents (such as a digest of its
	// file).
	Revision string
	// Loaded is when it started serving.
	Loaded time.Time
	// Source says where it was read from (a file, "built-in demo tenant").
	Source string
}

// KeyState is the signing keys in use.
type KeyState struct {
	Set *keys.Set
	// Retain is how long a retired key stays published (the longest
	// token lifetime, plus leeway).
	Retain time.Duration
	// MinPublished is how long a next key must have been published
	// before a rotation may make it sign (the JWKS cache lifetime).
	MinPublished time.Duration
	// Store says where the keys are kept.
	Store string
}

// Module is what is known of a hook's WebAssembly module.
type Module struct {
	Size   int
	SHA256 string
	// Language is the source language, as far as the module tells;
	// Evidence says what told; Tools are the producers' tools.
	Language string
	Evidence string
	Tools    []string
}

// DryRunRequest is a token request to run for its trace only.
type DryRunRequest struct {
	// ClientID, and UserID for an end-user request (empty for client
	// credentials).
	ClientID string
	UserID   string
	// Audience names the API ("" for the tenant's default).
	Audience string
	// Scope is the scope parameter ("" when absent).
	Scope string
	// By is the console user who ran it.
	By        string
	RequestID string
	IP        string
	UserAgent string
}
