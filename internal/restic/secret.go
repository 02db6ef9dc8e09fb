package restic

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Secret is a Kubernetes Secret mounted as a directory, one file per key.
type Secret struct {
	dir  string
	data map[string]string
}

// ReadSecretDir reads every regular file in dir. Kubernetes mounts Secrets through symlinks
// (key -> ..data/key), which are followed; the ..data bookkeeping entries are skipped.
func ReadSecretDir(dir string) (*Secret, error) {
	if dir == "" {
		return nil, errors.New("no storage secret directory given (--secret-dir)")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to read storage secret directory: %w", err)
	}
	s := &Secret{dir: dir, data: map[string]string{}}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("failed to read storage secret key %s: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("failed to read storage secret key %s: %w", name, err)
		}
		s.data[name] = string(b)
	}
	return s, nil
}

func (s *Secret) has(key string) bool {
	_, ok := s.data[key]
	return ok
}

// get returns a credential value. A trailing newline, which `kubectl create secret
// --from-file` keeps, is never part of a valid key id or token, so it is dropped.
func (s *Secret) get(key string) (string, bool) {
	v, ok := s.data[key]
	return strings.TrimRight(v, "\r\n"), ok
}

func (s *Secret) path(key string) string { return filepath.Join(s.dir, key) }

// require returns the raw value of key, or an error naming the key and the Secret.
func (s *Secret) require(key string) (string, error) {
	v, ok := s.data[key]
	if !ok {
		return "", s.missing(key)
	}
	if key == KeyResticPassword {
		if v == "" {
			return "", fmt.Errorf("storage secret key %s in %s is empty", key, s.dir)
		}
		return v, nil
	}
	v = strings.TrimRight(v, "\r\n")
	if v == "" {
		return "", fmt.Errorf("storage secret key %s in %s is empty", key, s.dir)
	}
	return v, nil
}

func (s *Secret) missing(key string) error {
	return fmt.Errorf("storage secret %s has no key %s", s.dir, key)
}
