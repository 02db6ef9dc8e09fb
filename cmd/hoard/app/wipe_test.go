package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runWipe runs `hoard wipe-repository` for a local directory as the wipe Job does.
func runWipe(t *testing.T, dir string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewRootCommand()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"wipe-repository", "--provider=local", "--bucket=" + dir, "--secret-dir=" + t.TempDir()})
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestWipeRepositoryLocal(t *testing.T) {
	t.Run("not a repository: refused on stderr, nothing deleted", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "precious.db"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := runWipe(t, dir)
		if err == nil || !strings.Contains(stderr, "Error: refusing to wipe: "+dir+" is not a restic repository") {
			t.Errorf("err %v, stderr %q", err, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "precious.db")); err != nil {
			t.Errorf("the refused wipe deleted a file: %v", err)
		}
	})
	t.Run("repository: restic's entries deleted, others reported", func(t *testing.T) {
		dir := t.TempDir()
		for p, content := range map[string]string{
			"config": "encrypted", "data/00/abc": "x", "other/file": "x",
			"keys/k1": `{"kdf":"scrypt","N":32768,"r":8,"p":5,"salt":"c2FsdA==","data":"ZGF0YQ=="}`,
		} {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		stdout, stderr, err := runWipe(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout, "deleted restic's entries data, keys, config from local repository "+dir) ||
			!strings.Contains(stderr, "left in place, not restic's: other") {
			t.Errorf("stdout %q, stderr %q", stdout, stderr)
		}
	})
}
