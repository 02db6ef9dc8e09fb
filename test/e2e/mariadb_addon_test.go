//go:build e2e

package e2e

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// kubeDBMariaDBBinding turns an AppBinding of mariadb.yaml into what KubeDB makes for a MariaDB:
// type kubedb.com/mariadb and StashAddon parameters naming the Tasks of Stash's MariaDB addon.
const kubeDBMariaDBBinding = `{"spec":{"type":"kubedb.com/mariadb","version":"10.5.8","parameters":{
  "apiVersion":"appcatalog.appscode.com/v1alpha1","kind":"StashAddon",
  "stash":{"addon":{"backupTask":{"name":"mariadb-backup-10.5.8"},"restoreTask":{"name":"mariadb-restore-10.5.8"}}}}}}`

// TestStashMariaDBAddon runs Stash's MariaDB guide with its BackupConfiguration unchanged
// (task mariadb-backup-10.5.8, args --databases testdb, schedule */2; only the Repository's
// name differs) against KubeDB-style MariaDB AppBindings: the configuration is Ready, a
// session triggered the way `hoard trigger` makes one Succeeds, the snapshot holds testdb
// only, and a RestoreSession with mariadb-restore-10.5.8 into a second server brings testdb
// back with equal checksums; so does one naming no Task, which the AppBinding's restoreTask
// selects.
func TestStashMariaDBAddon(t *testing.T) {
	start := time.Now()
	defer func() { t.Logf("finished in %s", time.Since(start).Round(time.Second)) }()
	const bc, rs, repoPath = "sample-mariadb-backup", "sample-mariadb-restore", "mariadb/sample-mariadb"

	mustKubectl(t, "", "-n", operatorNamespace, "rollout", "status", "deploy/"+operatorRelease, "--timeout=180s")
	eventually(t, "Tasks mariadb-backup-10.5.8 and mariadb-restore-10.5.8 (the default MySQLAddon)", 2*time.Minute, 2*time.Second, func() (bool, string) {
		_, err := kubectl("", "get", "task", "mariadb-backup-10.5.8", "mariadb-restore-10.5.8")
		return err == nil, errString(err)
	})

	k := newCaseNamespace(t, "mariadb-addon")
	k.logf("MariaDB source (sample-mariadb) and target (restored-mariadb) with KubeDB MariaDB AppBindings; REST server; Repository rest-repo")
	k.setup("sample-mariadb", "restored-mariadb")
	for _, ab := range []string{"sample-mariadb", "restored-mariadb"} {
		k.run("patch", "appbinding", ab, "--type=merge", "-p", kubeDBMariaDBBinding)
	}
	k.repository("rest-repo", repoPath, false)
	k.sql("sample-mariadb", `CREATE DATABASE testdb;
CREATE TABLE testdb.company (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL, employees INT NOT NULL);
INSERT INTO testdb.company (name, employees) VALUES ('AppsCode Inc.', 50), ('Hoard', 3), ('Acme', 1200);`)
	// A database the guide's args leave out of the backup.
	k.smallData("sample-mariadb", "otherdb")
	atBackup := k.checksums("sample-mariadb", "testdb.company")
	k.logf("testdb.company checksum, rows: %s", atBackup)

	k.logf("BackupConfiguration %s, as in Stash's MariaDB guide", bc)
	k.apply(manifest(t, "mariadb-addon-backupconfiguration.yaml"))
	eventually(t, "BackupConfiguration "+bc+" Ready", 2*time.Minute, 2*time.Second, func() (bool, string) {
		phase, _ := k.try("get", "backupconfiguration", bc, "-o", "jsonpath={.status.phase}")
		conds, _ := k.try("get", "backupconfiguration", bc, "-o", `jsonpath={range .status.conditions[*]}{.type}={.status} {.message}; {end}`)
		return phase == "Ready", "phase " + phase + ": " + conds
	})
	if msg, _ := k.try("get", "backupconfiguration", bc, "-o", `jsonpath={.status.conditions[?(@.type=="TaskFound")].message}`); !strings.Contains(msg, "mariadb-backup-10.5.8") {
		t.Errorf("TaskFound says %q, want Task mariadb-backup-10.5.8", msg)
	}
	k.show("get", "backupconfiguration")

	k.logf("a BackupSession, triggered as `hoard trigger` makes it, succeeds")
	snap := k.backup(bc)
	k.logf("snapshot %s", snap)
	// The schedule stays out of the restore, as the guide says before restoring.
	k.pause(bc, true)
	k.sql("sample-mariadb", `INSERT INTO testdb.company (name, employees) VALUES ('after-the-backup', 1);`)
	k.show("get", "backupsession")

	k.logf("the snapshot: Stash's layout (host-0, /dumpfile.sql) and only testdb, as the args ask")
	url := k.restURL(repoPath)
	out := k.resticPod(url, `export RESTIC_PASSWORD="$(cat /secret/RESTIC_PASSWORD)"
restic snapshots --json --no-lock latest; echo; echo "@@DUMP"
restic dump --no-lock latest /dumpfile.sql`)
	snapsJSON, dump, _ := strings.Cut(out, "@@DUMP")
	if !strings.Contains(snapsJSON, `"hostname":"host-0"`) || !strings.Contains(snapsJSON, `"paths":["/dumpfile.sql"]`) {
		t.Errorf("latest snapshot is not host-0 /dumpfile.sql: %s", strings.TrimSpace(snapsJSON))
	}
	var created []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, "CREATE DATABASE") {
			created = append(created, l)
		}
	}
	if len(created) != 1 || !strings.Contains(created[0], "`testdb`") {
		t.Errorf("the snapshot creates databases %q, want only testdb", created)
	}

	// restore applies a RestoreSession into restored-mariadb, waits for success and checks that
	// its Job ran Function mariadb-restore-10.5.8 and that testdb, alone, came back as backed up.
	restore := func(name, yaml string) {
		t.Helper()
		k.apply(yaml)
		var r restoreSession
		eventually(t, "RestoreSession "+name+" to finish", 4*time.Minute, 2*time.Second, func() (bool, string) {
			k.get("restoresession/"+name, &r)
			return finished(r.Status.Phase), fmt.Sprintf("phase %q", r.Status.Phase)
		})
		if r.Status.Phase != "Succeeded" {
			k.show("get", "restoresession", name, "-o", "yaml")
			t.Fatalf("RestoreSession %s: %s (%+v)", name, r.Status.Phase, r.Status.Stats)
		}
		if c := k.run("get", "job", "stash-restore-"+name, "-o", "jsonpath={.spec.template.spec.initContainers[0].name}"); c != "mariadb-restore-10-5-8-0" {
			t.Errorf("RestoreSession %s ran step %q, want Function mariadb-restore-10.5.8", name, c)
		}
		restored := k.checksums("restored-mariadb", "testdb.company")
		k.logf("testdb.company at backup: %s; restored: %s; source now: %s", atBackup, restored, k.checksums("sample-mariadb", "testdb.company"))
		if restored != atBackup {
			t.Errorf("restored checksum %q, want %q (the source when it was backed up)", restored, atBackup)
		}
		dbs := strings.Fields(k.sql("restored-mariadb", `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA
WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1;`))
		if !reflect.DeepEqual(dbs, []string{"testdb"}) {
			t.Errorf("restored-mariadb has databases %q, want only testdb", dbs)
		}
	}
	k.logf("RestoreSession %s with mariadb-restore-10.5.8 into restored-mariadb", rs)
	restore(rs, manifest(t, "mariadb-addon-restoresession.yaml"))

	k.logf("a RestoreSession naming no Task: restored-mariadb's KubeDB AppBinding selects mariadb-restore-10.5.8")
	k.sql("restored-mariadb", "DROP DATABASE testdb;")
	restore("by-appbinding", `apiVersion: stash.appscode.com/v1beta1
kind: RestoreSession
metadata:
  name: by-appbinding
spec:
  repository:
    name: rest-repo
  target:
    ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: restored-mariadb}
  rules:
  - snapshots: [latest]
`)

	k.logf("a verifying restore (params verify and verifySQL) into restored-mariadb without testdb: the Snapshot is Passed")
	k.sql("restored-mariadb", "DROP DATABASE testdb;")
	restore("verify", `apiVersion: stash.appscode.com/v1beta1
kind: RestoreSession
metadata:
  name: verify
spec:
  repository:
    name: rest-repo
  task:
    name: mariadb-restore-10.5.8
    params:
    - {name: verify, value: "true"}
    - {name: verifySQL, value: "SELECT COUNT(*) = 3 FROM testdb.company; SELECT SUM(employees) = 1253 FROM testdb.company"}
  target:
    ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: restored-mariadb}
  rules:
  - snapshots: ["`+snap+`"]
`)
	eventually(t, "Snapshot rest-repo-"+snap+" verified", time.Minute, 2*time.Second, func() (bool, string) {
		v, _ := k.try("get", "snapshot", "rest-repo-"+snap, "-o", `jsonpath={.status.verification.phase} {.status.verification.session}: {.status.verification.message}`)
		return strings.HasPrefix(v, "Passed "+k.ns+"/verify: ") && strings.HasSuffix(v, "restored with the rows the backup recorded: 1 tables, 3 rows compared; rows' checksums match for 1 tables; SQL assertions held: 2"), v
	})
	k.show("get", "restoresession")

	k.verifyRepository(url, snap)
	k.run("delete", "backupconfiguration", bc, "--wait=true", "--timeout=120s")
}
