package tenantstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/tenant"
)

// MaxModuleSize bounds a module in the store (as the hook host bounds a
// module file).
const MaxModuleSize = 32 << 20

// ErrNoModule: the module store has no module of that digest or name.
var ErrNoModule = errors.New("tenantstore: no such module")

// Module is a hook module in the store.
type Module struct {
	Digest string
	Size   uint64
	// Names are the names it was pushed under that still point to it.
	Names []string
}

// PushModule stores bin under its digest, and under name too when name is
// set (a later push of the same name moves the name, never the digest).
// Check the module against the hook ABI first; the store takes bytes.
func (s *Store) PushModule(ctx context.Context, bin []byte, name string) (string, error) {
	if len(bin) > MaxModuleSize {
		return "", fmt.Errorf("tenantstore: module of %d bytes, more than %d MiB", len(bin), MaxModuleSize>>20)
	}
	if name != "" && !validModuleName(name) {
		return "", fmt.Errorf("tenantstore: module name %q: use 1 to 64 letters, digits, '-', '_' or '.'", name)
	}
	digest := Digest(bin)
	info, err := s.modules.GetInfo(ctx, digest)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		info, err = s.modules.Put(ctx, jetstream.ObjectMeta{Name: digest, Description: "hook module"}, bytes.NewReader(bin))
		if err != nil {
			return "", fmt.Errorf("tenantstore: storing module %s: %w", digest, err)
		}
	case err != nil:
		return "", fmt.Errorf("tenantstore: module %s: %w", digest, err)
	}
	if name != "" {
		if _, err := s.modules.AddLink(ctx, name, info); err != nil {
			return "", fmt.Errorf("tenantstore: naming module %s %q: %w", digest, name, err)
		}
	}
	return digest, nil
}

func validModuleName(n string) bool {
	if n == "" || len(n) > 64 || strings.HasPrefix(n, tenant.DigestPrefix) {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// ModuleDigest resolves a hook's `module:` that names the store
// ("sha256:<hex>" or "store:NAME") to the digest of a module the store
// holds.
func (s *Store) ModuleDigest(ctx context.Context, ref string) (string, error) {
	name, byName := strings.CutPrefix(ref, tenant.StoreRefPrefix)
	if !byName {
		if !validDigest(ref) {
			return "", fmt.Errorf(`%q: want "sha256:<64 lower-case hex digits>" or "store:NAME"`, ref)
		}
		name = ref
	}
	info, err := s.modules.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return "", fmt.Errorf("%w: %s (push it with `scopeline hook push`)", ErrNoModule, ref)
	}
	if err != nil {
		return "", fmt.Errorf("tenantstore: module %s: %w", ref, err)
	}
	if byName {
		if info.Opts == nil || info.Opts.Link == nil || !validDigest(info.Opts.Link.Name) {
			return "", fmt.Errorf("%w: %s names no module", ErrNoModule, ref)
		}
		return info.Opts.Link.Name, nil
	}
	return info.Name, nil
}

// Modules lists the modules in the store with the names that point to
// them.
func (s *Store) Modules(ctx context.Context) ([]Module, error) {
	infos, err := s.modules.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tenantstore: modules: %w", err)
	}
	byDigest := map[string]*Module{}
	var out []*Module
	for _, in := range infos {
		if validDigest(in.Name) {
			m := &Module{Digest: in.Name, Size: in.Size}
			byDigest[in.Name] = m
			out = append(out, m)
		}
	}
	for _, in := range infos {
		if in.Opts != nil && in.Opts.Link != nil {
			if m := byDigest[in.Opts.Link.Name]; m != nil {
				m.Names = append(m.Names, in.Name)
			}
		}
	}
	res := make([]Module, len(out))
	for i, m := range out {
		res[i] = *m
	}
	return res, nil
}

// FetchModule returns the path of a local copy of the module of digest in
// dir, fetching it from the store unless dir has it already. The copy is
// checked against the digest whether fetched or found.
func (s *Store) FetchModule(ctx context.Context, digest, dir string) (string, error) {
	if !validDigest(digest) {
		return "", fmt.Errorf("tenantstore: %q is not a module digest", digest)
	}
	path := filepath.Join(dir, strings.TrimPrefix(digest, tenant.DigestPrefix)+".wasm")
	if bin, err := os.ReadFile(path); err == nil && Digest(bin) == digest {
		return path, nil
	}
	res, err := s.modules.Get(ctx, digest)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return "", fmt.Errorf("%w: %s", ErrNoModule, digest)
	}
	if err != nil {
		return "", fmt.Errorf("tenantstore: fetching module %s: %w", digest, err)
	}
	defer res.Close()
	bin, err := io.ReadAll(io.LimitReader(res, MaxModuleSize+1))
	if err != nil {
		return "", fmt.Errorf("tenantstore: fetching module %s: %w", digest, err)
	}
	if len(bin) > MaxModuleSize || Digest(bin) != digest {
		return "", fmt.Errorf("tenantstore: module %s in the store does not match its digest", digest)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("tenantstore: %w", err)
	}
	if err := writeFile(path, bin); err != nil {
		return "", err
	}
	return path, nil
}
