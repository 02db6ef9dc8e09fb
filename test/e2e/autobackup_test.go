//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Issue 13, auto-backup on the real cluster: a cluster-scoped BackupBlueprint whose REST
// backend has a per-database path (${TARGET_NAMESPACE}/${TARGET_NAME}), two MariaDBs whose
// AppBindings are annotated with it and a one-minute schedule. Each gets a Succeeded backup
// within one schedule period, into its own restic repository (the snapshots are disjoint);
// removing one annotation deletes that BackupConfiguration and its CronJob and keeps the
// Repository and its snapshots.
func TestAutoBackup(t *testing.T) {
	requireHoard(t)
	k := newCaseNamespace(t, "e2e-autobackup")
	k.setup("db-a", "db-b")
	k.smallData("db-a", "alpha")
	k.smallData("db-b", "beta")

	blueprint := "hoard-e2e-autobackup"
	mustKubectl(t, fmt.Sprintf(`apiVersion: stash.appscode.com/v1beta1
kind: BackupBlueprint
metadata: {name: %s}
spec:
  backend:
    rest: {url: "http://rest-server.%s.svc:8000/${TARGET_NAMESPACE}/${TARGET_NAME}"}
    storageSecretName: rest-secret
  schedule: "0 0 1 1 *"
  task:
    name: mysql-backup-10.11
    params:
      - {name: waitTimeout, value: "60"}
  retentionPolicy: {name: keep-last-5, keepLast: 5, prune: true}
`, blueprint, k.ns), "apply", "-f", "-")
	t.Cleanup(func() { _, _ = kubectl("", "delete", "backupblueprint", blueprint, "--ignore-not-found") })

	k.logf("annotating AppBindings db-a and db-b with BackupBlueprint %s and schedule */1", blueprint)
	annotated := time.Now()
	for _, db := range []string{"db-a", "db-b"} {
		k.run("annotate", "appbinding", db, "stash.appscode.com/backup-blueprint="+blueprint,
			"stash.appscode.com/schedule=*/1 * * * *", "params.stash.appscode.com/args=--databases "+map[string]string{"db-a": "alpha", "db-b": "beta"}[db])
	}

	// One schedule period: the next minute boundary, plus the time the backup takes.
	snapOf := map[string]string{}
	for _, db := range []string{"db-a", "db-b"} {
		bc := "app-" + db
		var first backupSession
		eventually(t, "a Succeeded BackupSession of "+bc, 3*time.Minute, 3*time.Second, func() (bool, string) {
			for _, bs := range k.sessions(bc) {
				if bs.Status.Phase == "Succeeded" {
					first = bs
					return true, ""
				}
				if bs.Status.Phase == "Failed" {
					t.Fatalf("BackupSession %s failed: %s", bs.Metadata.Name, bs.failure())
				}
			}
			return false, fmt.Sprintf("%d sessions", len(k.sessions(bc)))
		})
		if created := first.Metadata.CreationTimestamp.Sub(annotated); created > 75*time.Second {
			t.Errorf("the first session of %s was created %s after the annotation, more than one schedule period", bc, created)
		}
		snapOf[db] = k.mustSucceed(first)
		url := k.run("get", "repository", bc, "-o", "jsonpath={.spec.backend.rest.url}")
		if want := k.restURL(k.ns + "/" + db); url != want {
			t.Errorf("Repository %s points at %s, want %s", bc, url, want)
		}
		k.logf("%s: BackupSession %s created %s after the annotation, Succeeded, snapshot %s", bc, first.Metadata.Name,
			first.Metadata.CreationTimestamp.Sub(annotated).Round(time.Second), snapOf[db])
	}
	k.show("get", "backupblueprint,repository,backupconfiguration,backupsession")

	// Two databases, two repositories: each holds its own snapshot and none of the other's.
	states := map[string]repoState{}
	for _, db := range []string{"db-a", "db-b"} {
		states[db] = k.resticState(k.restURL(k.ns+"/"+db), false)
		k.logf("restic at %s/%s: snapshots %v", k.ns, db, states[db].ids())
	}
	for db, other := range map[string]string{"db-a": "db-b", "db-b": "db-a"} {
		if !states[db].has(snapOf[db]) {
			t.Errorf("%s's repository lacks its snapshot %s (has %v)", db, snapOf[db], states[db].ids())
		}
		for _, s := range states[db].Snapshots {
			if states[other].has(s.ID) {
				t.Errorf("snapshot %s is in the repositories of both %s and %s", s.ShortID, db, other)
			}
		}
	}

	// Removing the annotation stops db-a's backups and keeps its data.
	k.logf("removing the blueprint annotation from db-a")
	k.run("annotate", "appbinding", "db-a", "stash.appscode.com/backup-blueprint-")
	eventually(t, "BackupConfiguration app-db-a and CronJob stash-trigger-app-db-a deleted", time.Minute, 2*time.Second, func() (bool, string) {
		out, _ := k.try("get", "backupconfiguration/app-db-a", "cronjob/stash-trigger-app-db-a", "--ignore-not-found", "-o", "name")
		return strings.TrimSpace(out) == "", out
	})
	if _, err := k.try("get", "repository", "app-db-a"); err != nil {
		t.Errorf("Repository app-db-a must stay: %v", err)
	}
	if _, err := k.try("get", "backupconfiguration", "app-db-b"); err != nil {
		t.Errorf("db-b's BackupConfiguration must stay: %v", err)
	}
	after := k.resticState(k.restURL(k.ns+"/db-a"), false)
	for _, s := range states["db-a"].Snapshots {
		if !after.has(s.ID) {
			t.Errorf("snapshot %s of db-a is gone after the annotation was removed (left: %v)", s.ShortID, after.ids())
		}
	}
	// Its sessions go with the configuration (garbage collector), and with the CronJob gone
	// no new one comes.
	eventually(t, "no BackupSession of app-db-a", time.Minute, 2*time.Second, func() (bool, string) {
		n := len(k.sessions("app-db-a"))
		return n == 0, fmt.Sprintf("%d sessions", n)
	})
	events := k.run("get", "events", "--field-selector", "involvedObject.kind=AppBinding,involvedObject.name=db-a", "-o", "custom-columns=REASON:.reason,MESSAGE:.message", "--no-headers")
	if !strings.Contains(events, "AutoBackupRemoved") {
		t.Errorf("no AutoBackupRemoved event on AppBinding db-a:\n%s", events)
	}
	k.logf("AppBinding db-a events:\n%s", events)
	// db-b's annotation goes too, so that its schedule stops before the namespace is deleted.
	k.run("annotate", "appbinding", "db-b", "stash.appscode.com/backup-blueprint-")
}
