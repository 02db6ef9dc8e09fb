package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what Check reports instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, format)
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	if err := os.WriteFile(path, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(UpdateVar, "")
	r := &recorder{TB: t}
	Check(r, path, "a\nb\n", "same", nil)
	if len(r.errors) != 0 {
		t.Errorf("equal texts reported %q", r.errors)
	}
	Check(r, path, "a\nc\n", "the table differs", nil)
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "rerun with") {
		t.Errorf("a difference reported %q", r.errors)
	}
	t.Setenv(UpdateVar, "1")
	Check(r, path, "a\nc\n", "the table differs", nil)
	if b, _ := os.ReadFile(path); string(b) != "a\nc\n" || len(r.errors) != 1 {
		t.Errorf("update wrote %q, errors %q", b, r.errors)
	}
}
