package wipe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hoard-operator/hoard/internal/restic"
)

const keyFile = `{"created":"2026-01-01T00:00:00Z","username":"u","hostname":"h","kdf":"scrypt","N":32768,"r":8,"p":5,"salt":"c2FsdA==","data":"ZGF0YQ=="}`

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLocalRepositoryDeletesOnlyResticEntries(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"config": "encrypted", "keys/k1": keyFile, "data/00/abc": "x", "index/i1": "x", "snapshots/s1": "x", "locks/l1": "x",
		"lost+found/x": "not restic's", "notes.txt": "mine",
	})
	rep, err := LocalRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"snapshots", "index", "data", "locks", "keys", "config"}; !reflect.DeepEqual(rep.Removed, want) {
		t.Errorf("removed %q, want %q", rep.Removed, want)
	}
	if want := []string{"lost+found", "notes.txt"}; !reflect.DeepEqual(rep.Left, want) {
		t.Errorf("left %q, want %q", rep.Left, want)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if !reflect.DeepEqual(left, []string{"lost+found", "notes.txt"}) {
		t.Errorf("directory holds %q after the wipe", left)
	}
}

func TestLocalRepositoryRefusesWhatIsNotARepository(t *testing.T) {
	cases := map[string]map[string]string{
		"empty":                  {},
		"other files":            {"data/file": "x", "notes.txt": "x"},
		"config without keys":    {"config": "x", "data/00/abc": "x"},
		"keys without config":    {"keys/k1": keyFile, "data/00/abc": "x"},
		"keys that are not keys": {"config": "x", "keys/k1": "hello"},
		"empty config":           {"config": "", "keys/k1": keyFile},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, files)
			before, _ := os.ReadDir(dir)
			_, err := LocalRepository(dir)
			if !errors.Is(err, ErrNotRepository) {
				t.Fatalf("err = %v, want ErrNotRepository", err)
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Errorf("entries before %d, after %d", len(before), len(after))
			}
		})
	}
	for _, bad := range []string{"/", "", "relative/path", "/.."} {
		if _, err := LocalRepository(bad); err == nil {
			t.Errorf("LocalRepository(%q) succeeded", bad)
		}
	}
	if _, err := LocalRepository(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory was wiped")
	}
}

// TestRepositoryChoosesByProvider: a local repository is wiped in bucket/prefix without
// restic; any other backend goes through the restic that open prepares.
func TestRepositoryChoosesByProvider(t *testing.T) {
	base := t.TempDir()
	write(t, base, map[string]string{"repo/config": "encrypted", "repo/keys/k1": keyFile, "repo/data/00/abc": "x", "repo/notes.txt": "mine"})
	opened := false
	open := func() (*restic.Restic, error) { opened = true; return nil, errors.New("no restic here") }
	rep, err := Repository(context.Background(), restic.Config{Provider: restic.ProviderLocal, Bucket: base, Prefix: "repo"}, open, RemoteOptions{})
	if err != nil || opened {
		t.Fatalf("local wipe: err %v, restic opened %v", err, opened)
	}
	if want := "deleted restic's entries data, keys, config from local repository " + filepath.Join(base, "repo"); rep.Done() != want {
		t.Errorf("Done() = %q, want %q", rep.Done(), want)
	}
	if want := "left in place, not restic's: notes.txt"; rep.Kept() != want {
		t.Errorf("Kept() = %q, want %q", rep.Kept(), want)
	}
	if _, err := Repository(context.Background(), restic.Config{Provider: restic.ProviderS3, Bucket: "b"}, open, RemoteOptions{}); err == nil || !opened {
		t.Fatalf("s3 wipe: err %v, restic opened %v; want open called and its error", err, opened)
	}
}
