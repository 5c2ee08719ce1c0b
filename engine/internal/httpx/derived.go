package httpx

import (
	"sync/atomic"

	"github.com/scopeline/scopeline/engine"
)

// Derived is a value worked out once per snapshot (discovery documents,
// CORS origins, sealing keys): the HTTP layer's own view of the one
// snapshot, never out of step with it, for it is made from it and kept
// with it.
type Derived[T any] struct {
	make func(*engine.Snapshot) T
	last atomic.Pointer[derived[T]]
}

type derived[T any] struct {
	snap *engine.Snapshot // compared by identity only
	val  T
}

// NewDerived returns a Derived that makes its value with mk.
func NewDerived[T any](mk func(*engine.Snapshot) T) *Derived[T] { return &Derived[T]{make: mk} }

// Of returns the value of s, making it when s is not the snapshot it was
// last made for. Holding the last snapshot keeps its address from being
// reused by another.
func (d *Derived[T]) Of(s *engine.Snapshot) T {
	if l := d.last.Load(); l != nil && l.snap == s {
		return l.val
	}
	l := &derived[T]{snap: s, val: d.make(s)}
	d.last.Store(l)
	return l.val
}
