package repoqueue

import "testing"

// TestHolderSeenFrom: a holder in the entrant's namespace is named; one in another namespace
// is only described, so that no other namespace's names reach the entrant's status.
func TestHolderSeenFrom(t *testing.T) {
	h := &Holder{Kind: "BackupSession", Namespace: "team-a", Name: "nightly-1700000000", Running: true}
	for _, c := range []struct {
		from string
		h    *Holder
		want string
	}{
		{"team-a", h, "BackupSession team-a/nightly-1700000000, which is using the repository"},
		{"team-b", h, "a BackupSession in another namespace, which is using the repository"},
		{"team-b", &Holder{Kind: "RestoreSession", Namespace: "team-a", Name: "r"}, "a RestoreSession in another namespace, which is ahead in line"},
		{"team-a", &Holder{Kind: "RestoreSession", Namespace: "team-a", Name: "r"}, "RestoreSession team-a/r, which is ahead in line"},
	} {
		if got := c.h.seenFrom(c.from).String(); got != c.want {
			t.Errorf("seen from %s: %q, want %q", c.from, got, c.want)
		}
	}
	if h.seenFrom("team-b").Name != "" || h.seenFrom("team-b").Namespace != "" {
		t.Errorf("seen from another namespace: %+v", h.seenFrom("team-b"))
	}
	var none *Holder
	if none.seenFrom("team-a") != nil {
		t.Error("no holder became one")
	}
}
