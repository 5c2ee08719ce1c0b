package keys

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FileName is the key file inside the data directory.
const FileName = "signing-keys.json"

// Store reads and writes the key file of one data directory. Writers take
// an exclusive lock and replace the file atomically, so a running server
// and `scopeline keys rotate` can share it.
type Store struct {
	dir string
}

// NewStore returns the store for a data directory.
func NewStore(dir string) *Store { return &Store{dir: dir} }

// Path is the key file's path.
func (s *Store) Path() string { return filepath.Join(s.dir, FileName) }

type file struct {
	Version int         `json:"version"`
	Keys    []storedKey `json:"keys"`
}

// Load reads the key file. A missing file is an empty set.
func (s *Store) Load() (*Set, error) {
	keys, err := s.read()
	if err != nil {
		return nil, err
	}
	return newSet(keys)
}

func (s *Store) read() ([]*Key, error) {
	data, err := os.ReadFile(s.Path())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", s.Path(), err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("keys: %s: unsupported version %d", s.Path(), f.Version)
	}
	keys := make([]*Key, 0, len(f.Keys))
	for _, sk := range f.Keys {
		k, err := sk.key()
		if err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, s.Path())
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func (s *Store) write(keys []*Key) error {
	f := file{Version: 1}
	for _, k := range keys {
		sk, err := k.stored()
		if err != nil {
			return err
		}
		f.Keys = append(f.Keys, sk)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".signing-keys-*.json")
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path()); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

// update runs change on the keys under the lock and writes the result when
// change reports a change.
func (s *Store) update(change func(keys []*Key) ([]*Key, bool, error)) (*Set, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	unlock, err := lock(filepath.Join(s.dir, ".signing-keys.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	keys, err := s.read()
	if err != nil {
		return nil, err
	}
	keys, changed, err := change(keys)
	if err != nil {
		return nil, err
	}
	set, err := newSet(keys)
	if err != nil {
		return nil, err
	}
	if changed {
		if err := s.write(keys); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// Ensure makes sure every algorithm in algs has a current and a next key,
// generating what is missing, and returns the resulting set.
func (s *Store) Ensure(algs []string, now time.Time) (*Set, error) {
	return s.update(func(keys []*Key) ([]*Key, bool, error) { return ensureKeys(keys, algs, now) })
}

// Rotate makes each next key current, retires the current one, publishes a
// new next key and drops retired keys whose retention has passed.
func (s *Store) Rotate(now time.Time, o RotateOptions) (*Set, error) {
	return s.update(func(keys []*Key) ([]*Key, bool, error) {
		keys, err := rotateKeys(keys, now, o)
		return keys, err == nil, err
	})
}

// Stamp identifies a version of the key file, to notice changes cheaply.
type Stamp struct {
	mod  time.Time
	size int64
}

// Stamp returns the key file's current stamp.
func (s *Store) Stamp() Stamp {
	fi, err := os.Stat(s.Path())
	if err != nil {
		return Stamp{}
	}
	return Stamp{fi.ModTime(), fi.Size()}
}
