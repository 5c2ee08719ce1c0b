package engine

import (
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/dpop"
)

// Snapshot is everything a request reads, immutable: the issuer
// identifier, the tenant with its built pipelines, and the signing keys
// prepared for use. A request acquires one (Issuer.Acquire) and uses it
// from start to end, so a reload that changes the tenant's algorithm and
// its keys can never be seen half done (see docs/design.md, "One
// snapshot"). What the HTTP layer derives from a snapshot (discovery
// documents, CORS origins, sealing keys) it derives from this one value.
//
// Snapshots are reference counted; the hooks of the pipelines are closed
// once no snapshot using them is left.
type Snapshot struct {
	issuer    string
	tenant    *tenant.Tenant
	pipelines map[tenant.Trigger]*Pipeline
	hooks     *hookSet
	keys      *keyring
	refs      atomic.Int64

	// dpop checks DPoP proofs with the tenant's settings (and a nonce
	// derived from the keys).
	dpop *dpop.Verifier
}

// Issuer is the issuer identifier, the `iss` of every token.
func (s *Snapshot) Issuer() string { return s.issuer }

// Tenant is the tenant the snapshot serves.
func (s *Snapshot) Tenant() *tenant.Tenant { return s.tenant }

// Pipeline is the pipeline of trigger: the baseline policy, then the
// tenant's hooks.
func (s *Snapshot) Pipeline(trigger tenant.Trigger) *Pipeline { return s.pipelines[trigger] }

// Keys is the signing key set: current, next and retired keys.
func (s *Snapshot) Keys() *keys.Set { return s.keys.set }

// JWKS is the JSON Web Key Set to publish, encoded once.
func (s *Snapshot) JWKS() []byte { return s.keys.jwks }

// Release gives back a snapshot acquired with Issuer.Acquire.
func (s *Snapshot) Release() {
	if s.refs.Add(-1) == 0 {
		s.hooks.release()
	}
}

// withKeys returns a copy of s that signs with kr, sharing s's hooks.
func (s *Snapshot) withKeys(kr *keyring) *Snapshot {
	n := &Snapshot{issuer: s.issuer, tenant: s.tenant, pipelines: s.pipelines, hooks: s.hooks, keys: kr}
	n.refs.Store(1)
	s.hooks.refs.Add(1)
	return n
}

// hookSet owns the hooks of one build of the pipelines. Snapshots that
// differ only by their keys (after SetKeys) share it.
type hookSet struct {
	closers []io.Closer
	refs    atomic.Int64
	log     *slog.Logger
}

func (h *hookSet) release() {
	if h.refs.Add(-1) == 0 {
		if err := closeAll(h.closers); err != nil {
			h.log.Warn("closing retired tenant snapshot", "err", err)
		}
	}
}
