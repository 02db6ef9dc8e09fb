//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBackupVerification proves restore verification on the cluster: a BackupVerification with
// a managed scratch server verifies each backup of its configuration once the session succeeded
// (the Snapshot and the BackupVerification say Passed, with the rows compared and the SQL
// assertions held); a snapshot whose dump was tampered with in the repository (a row removed,
// repackaged by the test) fails verification naming the table; and the scratch server, a
// native sidecar of the restore Job's pod, is stopped every time, after the pass and after the
// failure, with nothing of it left running.
func TestBackupVerification(t *testing.T) {
	start := time.Now()
	defer func() { t.Logf("finished in %s", time.Since(start).Round(time.Second)) }()
	const bc, bv, repoPath = "shop-backup", "shop-verify", "verify/shop"

	k := newCaseNamespace(t, "verification")
	k.logf("MariaDB source sample-mariadb with database shop (3 rows); REST server; Repository rest-repo")
	k.setup("sample-mariadb")
	k.repository("rest-repo", repoPath, false)
	k.smallData("sample-mariadb", "shop")
	k.backupConfiguration(bcSpec{Name: bc, Repo: "rest-repo", Target: "sample-mariadb", Args: "--databases shop"})

	k.logf("BackupVerification %s: every backup, into a hoard.local/mariadb:10.11 server in the Job's pod", bv)
	k.apply(`apiVersion: operations.hoard.io/v1alpha1
kind: BackupVerification
metadata:
  name: ` + bv + `
spec:
  backupConfiguration: ` + bc + `
  sql: "SELECT COUNT(*) = 3 FROM shop.small; SELECT MAX(name) = 'shop-3' FROM shop.small"
  historyLimit: 2
  scratch:
    server:
      image: hoard.local/mariadb:10.11
      resources:
        requests: {cpu: 100m, memory: 256Mi}
`)
	eventually(t, "BackupVerification "+bv+" Ready", time.Minute, 2*time.Second, func() (bool, string) {
		c, _ := k.try("get", "backupverification", bv, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}`)
		return strings.HasPrefix(c, "True "), c
	})

	k.logf("a backup: its snapshot is verified without being asked")
	snap := k.backup(bc)
	var session string
	eventually(t, "BackupVerification "+bv+" to record a verdict on "+snap, 5*time.Minute, 2*time.Second, func() (bool, string) {
		v, _ := k.try("get", "backupverification", bv, "-o", `jsonpath={.status.last.snapshot} {.status.last.phase} {.status.last.restoreSession}: {.status.last.message}`)
		f := strings.Fields(v)
		if len(f) > 2 {
			session = strings.TrimSuffix(f[2], ":")
		}
		return strings.HasPrefix(v, snap+" "), v
	})
	k.show("get", "backupverification", bv, "-o", "wide")
	last, _ := k.try("get", "backupverification", bv, "-o", `jsonpath={.status.last.phase}: {.status.last.message}`)
	if !strings.HasPrefix(last, "Passed: ") || !strings.Contains(last, "1 tables, 3 rows compared; rows' checksums match for 1 tables; SQL assertions held: 2") {
		k.show("get", "restoresession", session, "-o", "yaml")
		t.Fatalf("verification of %s: %q, want Passed with 1 table, 3 rows and 2 assertions", snap, last)
	}
	v, _ := k.try("get", "snapshot", "rest-repo-"+snap, "-o", `jsonpath={.status.verification.phase} {.status.verification.session}`)
	if v != "Passed "+k.ns+"/"+session {
		t.Errorf("Snapshot rest-repo-%s verification %q, want Passed by %s", snap, v, session)
	}
	k.scratchStopped(session)
	if src := k.sql("sample-mariadb", "SELECT COUNT(*) FROM shop.small"); strings.TrimSpace(src) != "3" {
		t.Errorf("the source's shop.small has %q rows after the verification, want 3", src)
	}

	k.logf("a tampered snapshot: row 2 of shop.small removed from the dump, stored again with restic")
	out := k.resticPod(k.restURL(repoPath), `set -e; export RESTIC_PASSWORD="$(cat /secret/RESTIC_PASSWORD)"
restic dump --no-lock `+snap+` /dumpfile.sql | sed "s/(2,'shop-2'),//" > /tmp/dump.sql
if grep -q "(2,'shop-2')" /tmp/dump.sql; then echo "row 2 still there"; exit 1; fi
restic backup --no-cache --stdin --stdin-filename dumpfile.sql --host host-0 --json < /tmp/dump.sql | tail -n 1`)
	var summary struct {
		ID string `json:"snapshot_id"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &summary); err != nil || len(summary.ID) < 8 {
		t.Fatalf("restic backup of the tampered dump printed %q: %v", out, err)
	}
	tampered := summary.ID[:8]
	k.run("annotate", "repository", "rest-repo", "hoard.io/sync-snapshots=now", "--overwrite")
	eventually(t, "Snapshot rest-repo-"+tampered+" listed", 2*time.Minute, 2*time.Second, func() (bool, string) {
		_, err := k.try("get", "snapshot", "rest-repo-"+tampered)
		return err == nil, errString(err)
	})
	k.logf("a verifying RestoreSession of %s into the BackupVerification's scratch server", tampered)
	k.apply(`apiVersion: stash.appscode.com/v1beta1
kind: RestoreSession
metadata:
  name: verify-tampered
spec:
  repository:
    name: rest-repo
  task:
    name: mysql-restore-10.11
    params:
    - {name: verify, value: "true"}
  target:
    ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: ` + bv + `-scratch}
  rules:
  - snapshots: ["` + tampered + `"]
`)
	var r restoreSession
	eventually(t, "RestoreSession verify-tampered to finish", 5*time.Minute, 2*time.Second, func() (bool, string) {
		k.get("restoresession/verify-tampered", &r)
		return finished(r.Status.Phase), "phase " + r.Status.Phase
	})
	want := "verification failed: 1 of 1 tables differ from what the backup recorded: `shop`.`small`: 2 rows restored, 3 in the backup"
	if r.Status.Phase != "Failed" || len(r.Status.Stats) == 0 || !strings.Contains(r.Status.Stats[0].Error, want) {
		k.show("get", "restoresession", "verify-tampered", "-o", "yaml")
		t.Fatalf("RestoreSession verify-tampered: %s %+v, want Failed saying %q", r.Status.Phase, r.Status.Stats, want)
	}
	eventually(t, "Snapshot rest-repo-"+tampered+" Failed", time.Minute, 2*time.Second, func() (bool, string) {
		v, _ := k.try("get", "snapshot", "rest-repo-"+tampered, "-o", `jsonpath={.status.verification.phase}: {.status.verification.message}`)
		return strings.HasPrefix(v, "Failed: ") && strings.Contains(v, "`shop`.`small`: 2 rows restored, 3 in the backup"), v
	})
	k.scratchStopped("verify-tampered")
	if v, _ := k.try("get", "snapshot", "rest-repo-"+snap, "-o", `jsonpath={.status.verification.phase}`); v != "Passed" {
		t.Errorf("Snapshot rest-repo-%s verification %q after the tampered copy failed, want Passed still", snap, v)
	}

	k.logf("a second backup is verified too, and the history keeps 2 verifications")
	second := k.backup(bc)
	eventually(t, "BackupVerification "+bv+" to verify "+second, 5*time.Minute, 2*time.Second, func() (bool, string) {
		v, _ := k.try("get", "backupverification", bv, "-o", `jsonpath={.status.last.snapshot} {.status.last.phase}`)
		return v == second+" Passed", v
	})
	k.show("get", "restoresession")
	k.verifyRepository(k.restURL(repoPath), snap, second, tampered)
}

// scratchStopped requires that the restore Job of a verification ran its scratch server as
// a native sidecar and that nothing of it runs any more: the pod has ended and the server's
// container has terminated.
func (k *kns) scratchStopped(restoreSession string) {
	k.t.Helper()
	job := "stash-restore-" + restoreSession
	if c := k.run("get", "job", job, "-o", `jsonpath={.spec.template.spec.initContainers[0].name} {.spec.template.spec.initContainers[0].restartPolicy}`); c != "scratch-server Always" {
		k.t.Errorf("Job %s's first init container is %q, want the scratch server as a native sidecar", job, c)
	}
	eventually(k.t, "the scratch server of "+job+" stopped", 2*time.Minute, 2*time.Second, func() (bool, string) {
		v, _ := k.try("get", "pod", "-l", "job-name="+job, "-o",
			`jsonpath={range .items[*]}{.status.phase} {range .status.initContainerStatuses[?(@.name=="scratch-server")]}{.state.terminated.reason}{end};{end}`)
		for _, p := range strings.Split(strings.TrimSuffix(v, ";"), ";") {
			if f := strings.Fields(p); len(f) != 2 || (f[0] != "Succeeded" && f[0] != "Failed") {
				return false, v
			}
		}
		return v != "", v
	})
}
