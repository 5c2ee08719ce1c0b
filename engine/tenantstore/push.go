package tenantstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/scopeline/scopeline/engine/tenant"
)

// pushedSecret stands for the value of every environment variable a
// tenant names when it is pushed: secrets are read by each replica from
// its own environment when it builds a revision, not from the pusher's.
var pushedSecret = strings.Repeat("x", 64)

// PushFile validates a tenant file with the loader `scopeline serve
// --config` uses (every error at once, at its line), resolves the hook
// modules it names in the module store to their digests, and pushes it as
// the revision after expect (see Push). A hook whose module is a file
// path is refused: replicas cannot read the pusher's files (push the
// module with `scopeline hook push` and name it by digest or name).
//
// Environment variables the tenant names (hook secrets, secret_env) are
// not read: each replica reads them from its own environment when it
// builds the revision, and keeps the previous one if one is missing.
func (s *Store) PushFile(ctx context.Context, data []byte, source, by string, expect uint64) (Revision, error) {
	parts, err := tenant.Split(data, source)
	if err != nil {
		return Revision{}, err
	}
	if err := tenant.Compile(parts, source); err != nil {
		return Revision{}, err
	}
	digestOf := func(ref string) (string, string, error) {
		d, err := s.ModuleDigest(ctx, ref)
		return d, "", err
	}
	t, err := tenant.NewBuilder().Build(parts, source,
		tenant.WithModules(digestOf), tenant.WithDir(filepath.Dir(source)),
		tenant.WithLookupEnv(func(string) (string, bool) { return pushedSecret, true }))
	if err != nil {
		return Revision{}, err
	}
	var errs []error
	for _, trig := range tenant.Triggers {
		for _, h := range t.Pipelines[trig].Hooks {
			if h.Module != "" && h.Digest == "" {
				errs = append(errs, &tenant.FieldError{File: source, Line: h.Line, Field: fmt.Sprintf("pipelines.%s.hooks[%s].module", trig, h.Name),
					Msg: "a file path, which the replicas cannot read: push the module with `scopeline hook push` and name it by digest (sha256:...) or by name (store:NAME)"})
			}
		}
	}
	if len(errs) > 0 {
		return Revision{}, errors.Join(errs...)
	}
	if err := tenant.RewriteModules(&parts[0], func(ref string) (string, error) { return s.ModuleDigest(ctx, ref) }); err != nil {
		return Revision{}, fmt.Errorf("%s: %w", source, err)
	}
	meta := Revision{By: by, Source: filepath.Base(source), Modules: moduleDigests(t), Counts: CountsOf(t)}
	return s.Push(ctx, parts, meta, expect)
}
