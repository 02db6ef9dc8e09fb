package wipe

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLocalDir(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"config", "data/00/abc", "keys/k1"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := LocalDir(dir)
	if err != nil || n != 3 {
		t.Fatalf("LocalDir = %d, %v; want 3 entries", n, err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the directory itself was removed: %v", err)
	}
	for _, bad := range []string{"/", "", "relative/path", "/.."} {
		if _, err := LocalDir(bad); err == nil {
			t.Errorf("LocalDir(%q) succeeded", bad)
		}
	}
}
