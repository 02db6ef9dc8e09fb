// Package golden compares a test's output with a golden file in the repository, for the tests
// of every tier and build tag (the e2e's `kubectl auth can-i` table, the packaging's RBAC
// grants). HOARD_UPDATE_GOLDEN=1 rewrites the files instead; the diff is then reviewed.
package golden

import (
	"os"
	"testing"
)

// UpdateVar is the environment variable that, set to 1, rewrites the golden files.
const UpdateVar = "HOARD_UPDATE_GOLDEN"

// Check compares got with the golden file at path, or writes got there when UpdateVar is 1.
// A difference fails t with what (what differs) and diff's account of it; a nil diff shows
// both texts whole.
func Check(t testing.TB, path, got, what string, diff func(want, got string) string) {
	t.Helper()
	if os.Getenv(UpdateVar) == "1" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s=1 writes it)", err, UpdateVar)
	}
	if got == string(want) {
		return
	}
	if diff == nil {
		diff = WantGot
	}
	t.Errorf("%s; if that is intended, review and rerun with %s=1:\n%s", what, UpdateVar, diff(string(want), got))
}

// WantGot shows both texts whole.
func WantGot(want, got string) string {
	return "want:\n" + want + "\ngot:\n" + got
}
