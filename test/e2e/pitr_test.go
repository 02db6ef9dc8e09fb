//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestPointInTimeRecovery proves point-in-time recovery on the cluster, through the Stash
// API alone: a second BackupConfiguration of the same target, with the Task param
// backupMode: binlogs, ships the server's binary logs into the same Repository; a
// RestoreSession with the Task param until restores the dump and replays the logs up to that
// second, giving exactly the rows committed before it. A time the shipped logs do not reach
// fails the RestoreSession before the target changes, saying until when recovery is possible.
// A RestoreSession with untilGTID recovers up to a transaction and none after it.
func TestPointInTimeRecovery(t *testing.T) {
	start := time.Now()
	defer func() { t.Logf("finished in %s", time.Since(start).Round(time.Second)) }()
	const dumps, binlogs = "shop-dump", "shop-binlogs"

	k := newCaseNamespace(t, "pitr")
	k.logf("MariaDB source sample-mariadb (binary logs on) and target restored-mariadb; REST server; Repository rest-repo")
	k.setup("sample-mariadb", "restored-mariadb")
	k.repository("rest-repo", "pitr/shop", false)
	k.sql("sample-mariadb", "CREATE DATABASE shop; CREATE TABLE shop.w (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6) NOT NULL)")
	insert := func(n int) {
		k.sql("sample-mariadb", strings.Repeat("INSERT INTO shop.w (at) VALUES (NOW(6));", n))
	}
	k.backupConfiguration(bcSpec{Name: dumps, Repo: "rest-repo", Target: "sample-mariadb", Args: "--databases shop"})
	k.apply(shippingConfiguration(binlogs))
	ship := func() {
		t.Helper()
		bs := k.waitSession(k.trigger(binlogs)[0], 4*time.Minute)
		if bs.Status.Phase != "Succeeded" || len(bs.snapshots()) == 0 {
			t.Fatalf("binary log shipping %s: %s with snapshots %v: %s", bs.Metadata.Name, bs.Status.Phase, bs.snapshots(), bs.failure())
		}
		k.logf("shipping %s stored %v", bs.Metadata.Name, bs.snapshots())
	}

	insert(5)
	k.logf("a full backup, binary logs shipped, then more rows; until: a second between them")
	k.backup(dumps)
	insert(5)
	ship()
	insert(5)
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1300 * time.Millisecond)))
	until := time.Now().Truncate(time.Second).UTC()
	time.Sleep(1300 * time.Millisecond)
	insert(5)
	// The 20th row's transaction, for the recovery up to a GTID; rows after it are left out.
	gtid := strings.TrimSpace(k.sql("sample-mariadb", "SELECT @@gtid_binlog_pos"))
	insert(3)
	ship()

	restore := func(name, param, value string) restoreSession {
		k.apply(`apiVersion: stash.appscode.com/v1beta1
kind: RestoreSession
metadata:
  name: ` + name + `
spec:
  repository:
    name: rest-repo
  task:
    name: mysql-restore-10.11
    params:
    - {name: ` + param + `, value: "` + value + `"}
  target:
    ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: restored-mariadb}
`)
		var r restoreSession
		eventually(t, "RestoreSession "+name+" to finish", 5*time.Minute, 2*time.Second, func() (bool, string) {
			k.get("restoresession/"+name, &r)
			return finished(r.Status.Phase), "phase " + r.Status.Phase
		})
		return r
	}
	k.logf("RestoreSession to %s into restored-mariadb", until.Format(time.RFC3339))
	if r := restore("to-the-second", "until", until.Format(time.RFC3339)); r.Status.Phase != "Succeeded" {
		k.show("get", "restoresession", "to-the-second", "-o", "yaml")
		t.Fatalf("RestoreSession to-the-second: %s %+v", r.Status.Phase, r.Status.Stats)
	}
	msg, _ := k.try("get", "restoresession", "to-the-second", "-o", `jsonpath={.status.conditions[?(@.type=="RestoreCompleted")].message}`)
	k.logf("RestoreSession to-the-second: %s", msg)
	if !strings.Contains(msg, "recovered to "+until.Format(time.RFC3339)+": replayed ") {
		t.Errorf("RestoreSession to-the-second says %q, want what it recovered to and replayed", msg)
	}
	const sum = "SELECT COUNT(*), SUM(CRC32(CONCAT(id, '@', at))) FROM shop.w"
	want := strings.Join(strings.Fields(k.sql("sample-mariadb", sum+" WHERE at < '"+until.Format(time.DateTime)+"'")), " ")
	got := strings.Join(strings.Fields(k.sql("restored-mariadb", sum)), " ")
	k.logf("source rows before %s (count, checksum): %s; restored: %s", until.Format(time.RFC3339), want, got)
	if got != want || !strings.HasPrefix(got, "15 ") {
		t.Fatalf("restored %q, want %q (15 rows: 5 in the dump, 10 replayed)", got, want)
	}

	k.logf("a time after the shipped binary logs is refused before the target changes")
	k.sql("restored-mariadb", "DROP DATABASE shop")
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	r := restore("too-late", "until", later.Format(time.RFC3339))
	if r.Status.Phase != "Failed" || len(r.Status.Stats) == 0 || !strings.Contains(r.Status.Stats[0].Error, "recovery is possible up to") {
		k.show("get", "restoresession", "too-late", "-o", "yaml")
		t.Fatalf("RestoreSession too-late: %s %+v, want Failed saying until when recovery is possible", r.Status.Phase, r.Status.Stats)
	}
	k.logf("refused: %s", r.Status.Stats[0].Error)
	if dbs := strings.TrimSpace(k.sql("restored-mariadb", "SHOW DATABASES LIKE 'shop'")); dbs != "" {
		t.Fatalf("the refused restore created database shop on restored-mariadb")
	}

	k.logf("RestoreSession up to transaction %s (the 20th row) into restored-mariadb", gtid)
	if r := restore("to-a-transaction", "untilGTID", gtid); r.Status.Phase != "Succeeded" {
		k.show("get", "restoresession", "to-a-transaction", "-o", "yaml")
		t.Fatalf("RestoreSession to-a-transaction: %s %+v", r.Status.Phase, r.Status.Stats)
	}
	msg, _ = k.try("get", "restoresession", "to-a-transaction", "-o", `jsonpath={.status.conditions[?(@.type=="RestoreCompleted")].message}`)
	k.logf("RestoreSession to-a-transaction: %s", msg)
	if !strings.Contains(msg, "recovered to GTID "+gtid+": replayed ") {
		t.Errorf("RestoreSession to-a-transaction says %q, want the GTID it recovered to", msg)
	}
	want = strings.Join(strings.Fields(k.sql("sample-mariadb", sum+" WHERE id <= 20")), " ")
	got = strings.Join(strings.Fields(k.sql("restored-mariadb", sum)), " ")
	k.logf("source rows up to the 20th (count, checksum): %s; restored: %s", want, got)
	if got != want || !strings.HasPrefix(got, "20 ") {
		t.Fatalf("restored %q, want %q (20 rows: 5 in the dump, 15 replayed)", got, want)
	}

	k.logf("streaming: a shipping run follows the active binary log for 30s and ships every 2s; a dump triggered meanwhile waits for it")
	const stream = "shop-stream"
	k.apply(shippingConfiguration(stream, "{name: shipEvery, value: 2s}", "{name: streamFor, value: 30s}"))
	streaming := k.trigger(stream)[0]
	eventually(t, "BackupSession "+streaming+" to run", 2*time.Minute, time.Second, func() (bool, string) {
		bs := k.session(streaming)
		return bs.Status.Phase == "Running", "phase " + bs.Status.Phase
	})
	time.Sleep(8 * time.Second) // past the closed files, into the stream
	insert(4)
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1300 * time.Millisecond)))
	streamed := time.Now().Truncate(time.Second).UTC()
	time.Sleep(1300 * time.Millisecond)
	insert(3)
	dump := k.trigger(dumps)[0]
	time.Sleep(3 * time.Second)
	if bs := k.session(dump); bs.Status.Phase != "Pending" || bs.condition("RepositoryAvailable").Status != "False" {
		t.Errorf("BackupSession %s, triggered while the stream runs: phase %q (%s), want Pending on the repository", dump, bs.Status.Phase, bs.conditions())
	}
	bs := k.waitSession(streaming, 3*time.Minute)
	if bs.Status.Phase != "Succeeded" || len(bs.snapshots()) == 0 {
		t.Fatalf("streaming %s: %s with snapshots %v: %s", streaming, bs.Status.Phase, bs.snapshots(), bs.failure())
	}
	k.logf("streaming %s stored %v", streaming, bs.snapshots())
	k.mustSucceed(k.waitSession(dump, 4*time.Minute))

	k.logf("RestoreSession to %s, a second inside the stream, into restored-mariadb", streamed.Format(time.RFC3339))
	if r := restore("to-a-streamed-second", "until", streamed.Format(time.RFC3339)); r.Status.Phase != "Succeeded" {
		k.show("get", "restoresession", "to-a-streamed-second", "-o", "yaml")
		t.Fatalf("RestoreSession to-a-streamed-second: %s %+v", r.Status.Phase, r.Status.Stats)
	}
	want = strings.Join(strings.Fields(k.sql("sample-mariadb", sum+" WHERE at < '"+streamed.Format(time.DateTime)+"'")), " ")
	got = strings.Join(strings.Fields(k.sql("restored-mariadb", sum)), " ")
	k.logf("source rows before %s (count, checksum): %s; restored: %s", streamed.Format(time.RFC3339), want, got)
	if got != want || !strings.HasPrefix(got, "27 ") {
		t.Fatalf("restored %q, want %q (27 rows: 23 shipped whole, 4 streamed)", got, want)
	}
}

// shippingConfiguration is a BackupConfiguration that ships sample-mariadb's binary logs into
// rest-repo when triggered, with more Task params.
func shippingConfiguration(name string, params ...string) string {
	var more string
	for _, p := range params {
		more += "\n      - " + p
	}
	return `apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata:
  name: ` + name + `
spec:
  schedule: "` + neverSchedule + `"
  task:
    name: mysql-backup-10.11
    params:
      - {name: backupMode, value: binlogs}
      - {name: waitTimeout, value: "60"}` + more + `
  repository:
    name: rest-repo
  target:
    ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: sample-mariadb}
  retentionPolicy: {name: binlogs, keepLast: 1, prune: true}
`
}
