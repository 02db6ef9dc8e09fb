package pipe

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func capacity(t *testing.T, f *os.File) int {
	t.Helper()
	n, err := unix.FcntlInt(f.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatalf("F_GETPIPE_SZ: %v", err)
	}
	return n
}

func TestNewIsLarge(t *testing.T) {
	r, w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	want := Size
	if b, err := os.ReadFile(maxSizeFile); err == nil {
		var limit int
		if _, err := fmt.Sscan(string(b), &limit); err == nil && limit < want {
			want = limit
		}
	}
	if got := capacity(t, r); got != want {
		t.Fatalf("pipe capacity = %d, want %d", got, want)
	}
}

func TestGrowEitherEnd(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	before := capacity(t, w)
	if err := Grow(r); err != nil {
		t.Fatal(err)
	}
	if got := capacity(t, w); got <= before {
		t.Fatalf("capacity after Grow of the read end = %d, not more than %d", got, before)
	}
}

func TestGrowRejectsAFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "plain"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Grow(f); err == nil {
		t.Fatal("Grow of a regular file succeeded")
	}
}
