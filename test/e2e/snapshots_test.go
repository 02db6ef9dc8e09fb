//go:build e2e

package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSnapshotObjects: upstream Stash's snapshot commands, run verbatim against Hoard's
// Snapshot CRD on the real cluster. After two backups, `kubectl get snapshots -n <ns> -l
// repository=<repo>` lists both with Stash's columns; `kubectl delete snapshot <name>`
// forgets that snapshot in restic through a Job, and the object goes only then; with the next
// sync asked for on the Repository, a snapshot forgotten behind Hoard's back disappears and one
// written outside Hoard appears.
func TestSnapshotObjects(t *testing.T) {
	k := newCaseNamespace(t, "e2e-snapshots")
	k.setup("snapdb")
	k.smallData("snapdb", "shop")
	k.repository("snap-repo", "snap-repo", false)
	url := k.restURL("snap-repo")
	k.backupConfiguration(bcSpec{Name: "shop", Repo: "snap-repo", Target: "snapdb", Args: "--databases shop", Keep: 5})
	first := k.backup("shop")
	second := k.backup("shop")
	third := k.backup("shop")
	k.logf("snapshots %s, %s, %s", first, second, third)

	// The guide's command, verbatim.
	var out string
	eventually(t, "kubectl get snapshots lists the three", time.Minute, 2*time.Second, func() (bool, string) {
		out = mustKubectl(t, "", "get", "snapshots", "-n", k.ns, "-l", "repository=snap-repo")
		for _, id := range []string{first, second, third} {
			if !strings.Contains(out, "snap-repo-"+id) {
				return false, out
			}
		}
		return true, ""
	})
	k.logf("$ kubectl get snapshots -n %s -l repository=snap-repo\n%s", k.ns, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "NAME ID REPOSITORY HOSTNAME CREATED AT" {
		t.Errorf("columns %q, want Stash's NAME ID REPOSITORY HOSTNAME CREATED AT", got)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 5 || f[0] != "snap-repo-"+f[1] || f[2] != "snap-repo" || f[3] != "host-0" {
			t.Errorf("row %q: want <repo>-<id>, <id>, snap-repo, host-0, age", l)
		}
	}
	wide := k.run("get", "snapshot", "snap-repo-"+third, "-o", "wide")
	if !strings.Contains(wide, "AppBinding/snapdb") || !strings.Contains(wide, "shop-") {
		t.Errorf("-o wide lacks the target or the session:\n%s", wide)
	}
	k.logf("$ kubectl get snapshot snap-repo-%s -o wide\n%s", third, wide)

	// kubectl delete snapshot: forgotten in restic, then the object goes.
	start := time.Now()
	k.run("delete", "snapshot", "snap-repo-"+first, "--wait=false")
	eventually(t, "Snapshot snap-repo-"+first+" gone", 3*time.Minute, 2*time.Second, func() (bool, string) {
		o, err := k.try("get", "snapshot", "snap-repo-"+first, "-o", "jsonpath={.status.conditions}")
		if err != nil && strings.Contains(err.Error(), "NotFound") {
			return true, ""
		}
		return false, o
	})
	k.logf("kubectl delete snapshot: object gone %s after the delete", time.Since(start).Round(time.Second))
	st := k.resticState(url, false)
	if st.has(first) || !st.has(second) || !st.has(third) {
		t.Fatalf("restic after deleting Snapshot %s: %v, want %s and %s only", first, st.ids(), second, third)
	}

	// Behind Hoard's back, as Stash or a user would: one snapshot forgotten, one written
	// (host-0, /dumpfile.sql, no tags). A sync asked for on the Repository removes the stale
	// object and adds the new one.
	out = k.resticPod(url, `set -e; export RESTIC_PASSWORD="$(cat /secret/RESTIC_PASSWORD)"; restic forget `+second+`
echo "-- written outside Hoard" | restic backup --host host-0 --stdin --stdin-filename dumpfile.sql --json | tail -n 1`)
	m := regexp.MustCompile(`"snapshot_id":"([0-9a-f]{8})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("restic backup from outside reported no snapshot:\n%s", out)
	}
	outside := m[1]
	k.run("annotate", "repository", "snap-repo", "hoard.io/sync-snapshots=now", "--overwrite")
	eventually(t, "stale Snapshot snap-repo-"+second+" gone and snap-repo-"+outside+" listed after the sync", 3*time.Minute, 2*time.Second, func() (bool, string) {
		_, err := k.try("get", "snapshot", "snap-repo-"+second)
		if err == nil || !strings.Contains(err.Error(), "NotFound") {
			return false, "stale one still listed"
		}
		o, err := k.try("get", "snapshot", "snap-repo-"+outside, "-o", "jsonpath={.status.hostname} {.status.paths[0]} {.status.target}|")
		return err == nil && o == "host-0 /dumpfile.sql |", fmt.Sprintf("%q %v", o, err)
	})
	eventually(t, "sync recorded on the Repository", time.Minute, 2*time.Second, func() (bool, string) {
		a := k.run("get", "repository", "snap-repo", "-o", "jsonpath={.metadata.annotations}")
		return strings.Contains(a, "hoard.io/snapshots-synced-at") && !strings.Contains(a, "hoard.io/sync-snapshots"), a
	})
	if _, err := k.try("get", "snapshot", "snap-repo-"+third); err != nil {
		t.Errorf("the sync removed a snapshot restic still has: %v", err)
	}
	k.show("get", "events", "--field-selector", "involvedObject.kind=Repository")
}
