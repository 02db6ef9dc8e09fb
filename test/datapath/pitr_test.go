package datapath

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pitrServer is a source whose binary logs serve point-in-time recovery, with a table that a
// writer fills with timestamped rows.
func pitrServer(t *testing.T, extra ...string) *MariaDB {
	t.Helper()
	src := newServer(t, append([]string{"--log-bin=mysql-bin", "--server-id=7", "--binlog-format=ROW"}, extra...)...)
	mustExec(t, src, "CREATE DATABASE pitr; CREATE TABLE pitr.w (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6) NOT NULL) ENGINE=InnoDB")
	return src
}

// rowWriter inserts a row stamped with NOW(6) into pitr.w every interval until stopped.
type rowWriter struct {
	stop chan struct{}
	done chan error
}

func startWriter(t *testing.T, m *MariaDB, every time.Duration) *rowWriter {
	t.Helper()
	w := &rowWriter{stop: make(chan struct{}), done: make(chan error, 1)}
	go func(stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				w.done <- nil
				return
			case <-time.After(every):
			}
			if _, err := m.Exec("INSERT INTO pitr.w (at) VALUES (NOW(6))"); err != nil {
				w.done <- err
				return
			}
		}
	}(w.stop)
	t.Cleanup(func() { w.Stop(t) })
	return w
}

// Stop stops the writer (once) and fails the test if an insert failed.
func (w *rowWriter) Stop(t *testing.T) {
	t.Helper()
	if w.stop == nil {
		return
	}
	close(w.stop)
	w.stop = nil
	if err := <-w.done; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// instant returns the next whole second and waits until it has passed. The binary log stamps
// events to the second; a row stamped before the instant is committed before it.
func instant() time.Time {
	at := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at.Add(300 * time.Millisecond)))
	return at.UTC()
}

// rowSum is the rows' count and checksum, of those stamped before until when it is not zero.
func rowSum(t *testing.T, m *MariaDB, until time.Time) string {
	t.Helper()
	q := "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT(id, '@', at))), 0) FROM pitr.w"
	if !until.IsZero() {
		q += fmt.Sprintf(" WHERE at < '%s'", until.Format(time.DateTime))
	}
	return strings.Join(mustQuery(t, m, q)[0], " ")
}

// purgeAll purges every binary log but the active one. MariaDB keeps a file until its binlog
// checkpoint has passed it (for crash recovery), so the purge is repeated until it took.
func purgeAll(t *testing.T, m *MariaDB) {
	t.Helper()
	current := mustQuery(t, m, "SHOW MASTER STATUS")[0][0]
	for deadline := time.Now().Add(30 * time.Second); ; {
		mustExec(t, m, fmt.Sprintf("PURGE BINARY LOGS TO '%s'", current))
		if first := mustQuery(t, m, "SHOW BINARY LOGS")[0][0]; first == current {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the binary logs before %s were not purged within 30s", current)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func shipBinlogs(t *testing.T, r *Repo, target string, extra ...string) *AddonRun {
	t.Helper()
	return backup(t, r, target, append([]string{"--backup-mode=binlogs"}, extra...)...)
}

// recoverTo restores repo's data as of until into a new server and returns the server.
func recoverTo(t *testing.T, r *Repo, until time.Time) (*MariaDB, *AddonRun) {
	t.Helper()
	return recoverWith(t, r, "--until="+until.Format(time.RFC3339))
}

// recoverWith restores the latest dump into a new server with a recovery target flag.
func recoverWith(t *testing.T, r *Repo, flag string) (*MariaDB, *AddonRun) {
	t.Helper()
	scratch := newServer(t)
	return scratch, restore(t, r, targetDir(t, scratch, DBPassword), flag)
}

// TestPointInTimeRecovery: rows are written continuously, with a full backup in the middle
// and binary logs shipped before and after it. Recovery to three instants (after the backup
// before the next upload, between two uploads, after the last but one) gives exactly the rows
// committed before each instant: the same count and checksum as the source's rows stamped
// before it. A time the shipped logs do not reach is refused before anything changes.
func TestPointInTimeRecovery(t *testing.T) {
	src := pitrServer(t)
	repo, _ := localRepo(t)
	target := targetDir(t, src, DBPassword)
	w := startWriter(t, src, 10*time.Millisecond)

	mustSucceed(t, shipBinlogs(t, repo, target))
	time.Sleep(time.Second)
	mustSucceed(t, backup(t, repo, target))
	t1 := instant() // after the backup, before the next upload
	mustSucceed(t, shipBinlogs(t, repo, target))
	time.Sleep(500 * time.Millisecond)
	t2 := instant() // between two uploads
	mustSucceed(t, shipBinlogs(t, repo, target))
	t3 := instant() // after the upload before the last
	time.Sleep(500 * time.Millisecond)
	w.Stop(t)
	last := shipBinlogs(t, repo, target)
	mustSucceed(t, last)
	if len(last.Result.Snapshots) != 1 || !strings.HasPrefix(last.Result.Snapshots[0].Path, "mysql-bin.") {
		t.Fatalf("the last shipping reported %+v, want one binary log's snapshot", last.Result.Snapshots)
	}

	var counts []string
	for _, at := range []struct {
		name string
		t    time.Time
	}{{"after the backup, before an upload", t1}, {"between uploads", t2}, {"after an upload", t3}} {
		scratch, run := recoverTo(t, repo, at.t)
		mustSucceed(t, run)
		want, got := rowSum(t, src, at.t), rowSum(t, scratch, time.Time{})
		t.Logf("%s, %s: source rows before it (count, checksum) %s; recovered %s", at.name, at.t.Format(time.RFC3339), want, got)
		if got != want {
			t.Errorf("recovery to %s gave %s, want %s\nstderr:\n%s", at.t.Format(time.RFC3339), got, want, run.Stderr)
		}
		if !strings.Contains(run.Stderr, "recovered to the point in time") {
			t.Errorf("the restore's log does not say it replayed binary logs:\n%s", run.Stderr)
		}
		if rc := run.Result.Recovery; rc == nil || rc.Until != at.t.Format(time.RFC3339) || rc.Binlogs == 0 || !strings.HasPrefix(rc.From, "mysql-bin.") {
			t.Errorf("the result's recovery is %+v, want the time, the position and the binary logs replayed", rc)
		}
		counts = append(counts, strings.Fields(got)[0])
	}
	if counts[0] == counts[1] || counts[1] == counts[2] {
		t.Fatalf("row counts %v: the writer did not run between the instants", counts)
	}
	if total := rowSum(t, src, time.Time{}); strings.Fields(total)[0] == counts[2] {
		t.Fatalf("the last instant holds all %s rows: nothing was written after it", counts[2])
	}

	t.Run("a binary log's snapshot is not restored as a dump", func(t *testing.T) {
		scratch := newServer(t)
		run := restore(t, repo, targetDir(t, scratch, DBPassword), "--snapshot="+last.Result.Snapshots[0].ID)
		mustFail(t, run, "holds binary log mysql-bin.", "not a dump")
	})
	t.Run("a time after the shipped logs is refused", func(t *testing.T) {
		scratch, run := recoverTo(t, repo, time.Now().Add(time.Hour).Truncate(time.Second))
		mustFail(t, run, "the shipped binary logs reach", "recovery is possible up to")
		if dbs := mustQuery(t, scratch, "SHOW DATABASES LIKE 'pitr'"); len(dbs) != 0 {
			t.Fatalf("the refused recovery created database pitr")
		}
	})
	t.Run("a time before every dump is refused", func(t *testing.T) {
		_, run := recoverTo(t, repo, time.Now().Add(-time.Hour).Truncate(time.Second))
		mustFail(t, run, "no dump of host", "was taken before")
	})
}

// TestPointInTimeRecoveryGap: binary logs purged before they were shipped are a gap. The
// shipping that finds it ships what exists, fails, and names the times that cannot be
// recovered; a recovery across it is refused before anything changes and says from when
// recovery is possible. A recovery before the gap still works, and so does one after the
// next full backup.
func TestPointInTimeRecoveryGap(t *testing.T) {
	src := pitrServer(t)
	repo, _ := localRepo(t)
	target := targetDir(t, src, DBPassword)
	insert := func(n int) {
		for range n {
			mustExec(t, src, "INSERT INTO pitr.w (at) VALUES (NOW(6))")
		}
	}

	mustSucceed(t, backup(t, repo, target))
	insert(5)
	beforeGap := instant()
	mustSucceed(t, shipBinlogs(t, repo, target))
	insert(5)
	// Binary logs with these rows are purged before they are shipped.
	mustExec(t, src, "FLUSH BINARY LOGS")
	insert(5)
	mustExec(t, src, "FLUSH BINARY LOGS")
	purgeAll(t, src)
	insert(5)
	gapRun := shipBinlogs(t, repo, target)
	mustFail(t, gapRun, "the binary logs have a gap", "were purged before they were shipped", "is not possible")
	if len(gapRun.Result.Snapshots) == 0 {
		t.Fatalf("the shipping that found the gap shipped nothing:\n%s", gapRun.Stderr)
	}
	afterGap := instant()
	mustSucceed(t, shipBinlogs(t, repo, target))

	t.Run("across the gap", func(t *testing.T) {
		scratch, run := recoverTo(t, repo, afterGap)
		mustFail(t, run, "are missing", "is not possible. Recovery is possible up to", "from the first dump taken after")
		if dbs := mustQuery(t, scratch, "SHOW DATABASES LIKE 'pitr'"); len(dbs) != 0 {
			t.Fatalf("the refused recovery created database pitr")
		}
	})
	t.Run("before the gap", func(t *testing.T) {
		scratch, run := recoverTo(t, repo, beforeGap)
		mustSucceed(t, run)
		if want, got := rowSum(t, src, beforeGap), rowSum(t, scratch, time.Time{}); got != want || !strings.HasPrefix(got, "5 ") {
			t.Fatalf("recovery to %s gave %s, want %s (5 rows)", beforeGap, got, want)
		}
	})
	t.Run("after a full backup after the gap", func(t *testing.T) {
		mustSucceed(t, backup(t, repo, target))
		insert(5)
		at := instant()
		insert(1)
		mustSucceed(t, shipBinlogs(t, repo, target))
		scratch, run := recoverTo(t, repo, at)
		mustSucceed(t, run)
		if want, got := rowSum(t, src, at), rowSum(t, scratch, time.Time{}); got != want || !strings.HasPrefix(got, "25 ") {
			t.Fatalf("recovery to %s gave %s, want %s (25 rows)", at, got, want)
		}
	})
}

// TestBinlogRetention: shipping keeps the binary logs from the oldest dump's position on and
// forgets those before it, once that dump's file is shipped.
func TestBinlogRetention(t *testing.T) {
	src := pitrServer(t)
	repo, _ := localRepo(t)
	target := targetDir(t, src, DBPassword)
	insert := func() { mustExec(t, src, "INSERT INTO pitr.w (at) VALUES (NOW(6))") }

	mustSucceed(t, shipBinlogs(t, repo, target))
	insert()
	mustSucceed(t, shipBinlogs(t, repo, target))
	insert()
	first := backup(t, repo, target)
	mustSucceed(t, first)
	insert()
	// This shipping ships the file of the first dump's position: the two before it go.
	run := shipBinlogs(t, repo, target)
	mustSucceed(t, run)
	if len(run.Result.Forgotten) != 2 {
		t.Fatalf("shipping the file of the first dump's position forgot %v, want the 2 files shipped before it\nstderr:\n%s", run.Result.Forgotten, run.Stderr)
	}
	insert()
	second := backup(t, repo, target)
	mustSucceed(t, second)
	insert()
	run = shipBinlogs(t, repo, target)
	mustSucceed(t, run)
	if len(run.Result.Forgotten) != 0 {
		t.Fatalf("with the first dump kept, shipping forgot %v, want nothing\nstderr:\n%s", run.Result.Forgotten, run.Stderr)
	}

	ctx := context.Background()
	if _, err := repo.Restic(ctx, tools, "forget", first.Result.Snapshots[0].ID); err != nil {
		t.Fatal(err)
	}
	insert()
	run = shipBinlogs(t, repo, target)
	mustSucceed(t, run)
	if len(run.Result.Forgotten) != 1 {
		t.Fatalf("with only the second dump kept, shipping forgot %v, want the file of the first dump's position\nstderr:\n%s", run.Result.Forgotten, run.Stderr)
	}
	at := instant()
	mustSucceed(t, shipBinlogs(t, repo, target))
	scratch, rec := recoverTo(t, repo, at)
	mustSucceed(t, rec)
	if want, got := rowSum(t, src, at), rowSum(t, scratch, time.Time{}); got != want {
		t.Fatalf("recovery to %s after retention gave %s, want %s", at, got, want)
	}
}

// TestBinlogPreconditions: a server whose binary logs cannot serve recovery is reported with
// every reason at once, and nothing is shipped.
func TestBinlogPreconditions(t *testing.T) {
	src := newServer(t, "--log-bin=mysql-bin", "--binlog-format=STATEMENT", "--binlog-expire-logs-seconds=600")
	repo, _ := localRepo(t)
	run := shipBinlogs(t, repo, targetDir(t, src, DBPassword))
	mustFail(t, run, "cannot serve point-in-time recovery, nothing was shipped", "binlog_format is STATEMENT", "expire after 10m0s")
	if len(run.Result.Snapshots) != 0 {
		t.Fatalf("shipped %+v", run.Result.Snapshots)
	}
	plain := newServer(t)
	mustFail(t, shipBinlogs(t, repo, targetDir(t, plain, DBPassword)), "binary logging is off")

	// An account without the replication privileges is reported with the rest, before anything
	// is stored.
	mustExec(t, src, "CREATE USER 'shipper'@'%' IDENTIFIED BY 'shipper-pw'; GRANT SELECT, RELOAD ON *.* TO 'shipper'@'%'")
	limited := t.TempDir()
	if err := WriteTarget(limited, "127.0.0.1", src.Port, "shipper", "shipper-pw"); err != nil {
		t.Fatal(err)
	}
	mustFail(t, shipBinlogs(t, repo, limited), "binlog_format is STATEMENT",
		"the account lacks REPLICATION SLAVE (to read the binary logs over the replication protocol), BINLOG MONITOR (")

	// Logs kept 2 hours are enough for a run every 30 minutes, not for one every 2 hours.
	kept := pitrServer(t, "--binlog-expire-logs-seconds=7200")
	keptTarget := targetDir(t, kept, DBPassword)
	// Too short for the schedule, but an hour or more: what the server has is shipped, then the
	// run fails.
	short := shipBinlogs(t, repo, keptTarget, "--schedule-interval=2h")
	mustFail(t, short, "binary log snapshot shipped, but binary logs expire after 2h0m0s, before the 4h0m0s they must be kept until shipped "+
		"(twice the schedule's longest interval, 2h0m0s")
	if len(short.Result.Snapshots) == 0 {
		t.Fatal("a run whose only problem is an expiry short for its schedule shipped nothing")
	}
	mustExec(t, kept, "INSERT INTO pitr.w (at) VALUES (NOW(6))")
	mustSucceed(t, shipBinlogs(t, repo, keptTarget, "--schedule-interval=30m"))
}

// TestPointInTimeRecoveryDumpPastTime: a dump is consistent from when mysqldump began, a
// little after the snapshot's time. A time between the two is before the newest dump's
// snapshot time, but that dump holds rows stamped at or after it: the recovery starts from
// the dump before it, and gives exactly the rows stamped before the time.
func TestPointInTimeRecoveryDumpPastTime(t *testing.T) {
	src := pitrServer(t)
	repo, _ := localRepo(t)
	target := targetDir(t, src, DBPassword)
	w := startWriter(t, src, 10*time.Millisecond)

	mustSucceed(t, shipBinlogs(t, repo, target))
	older := backup(t, repo, target)
	mustSucceed(t, older)
	// mysqldump begins 4 s after restic took the snapshot's time.
	slow := filepath.Join(t.TempDir(), "slow-mysqldump")
	if err := os.WriteFile(slow, []byte(fmt.Sprintf("#!/bin/sh\nsleep 4\nexec %q \"$@\"\n", tools.MySQLDump)), 0o755); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	// At least 1 s after the addon started (restic took the time by then), 2 s before mysqldump.
	until := started.Truncate(time.Second).Add(2 * time.Second).UTC()
	newer := backup(t, repo, target, "--mysqldump="+slow)
	mustSucceed(t, newer)
	time.Sleep(500 * time.Millisecond)
	w.Stop(t)
	mustSucceed(t, shipBinlogs(t, repo, target))

	scratch, run := recoverTo(t, repo, until)
	mustSucceed(t, run)
	want, got := rowSum(t, src, until), rowSum(t, scratch, time.Time{})
	t.Logf("until %s: source rows before it %s; recovered %s", until.Format(time.RFC3339), want, got)
	if got != want {
		t.Fatalf("recovery to %s gave %s, want %s\nstderr:\n%s", until.Format(time.RFC3339), got, want, run.Stderr)
	}
	if !strings.Contains(run.Stderr, "a dump is past the point to recover to") || !strings.Contains(run.Stderr, newer.Result.Snapshots[0].Name) {
		t.Errorf("the restore's log does not say that dump %s was past the time:\n%s", newer.Result.Snapshots[0].Name, run.Stderr)
	}
	if len(run.Result.Snapshots) != 1 || run.Result.Snapshots[0].Name != older.Result.Snapshots[0].Name {
		t.Errorf("the recovery loaded %+v, want the older dump %s", run.Result.Snapshots, older.Result.Snapshots[0].Name)
	}
}

// TestPointInTimeRecoveryToGTID: recovery up to a transaction gives the rows committed up to
// it and none after. A transaction not shipped yet, one of another server, and one older than
// the shipped binary logs are refused before anything changes.
func TestPointInTimeRecoveryToGTID(t *testing.T) {
	src := pitrServer(t)
	repo, _ := localRepo(t)
	target := targetDir(t, src, DBPassword)
	first := mustQuery(t, src, "SELECT @@gtid_binlog_pos")[0][0]

	w := startWriter(t, src, 10*time.Millisecond)
	mustSucceed(t, shipBinlogs(t, repo, target))
	mustSucceed(t, backup(t, repo, target))
	time.Sleep(500 * time.Millisecond)
	mustSucceed(t, shipBinlogs(t, repo, target))
	time.Sleep(500 * time.Millisecond)
	// The marker is the only writer when it commits: the GTID position after it is its own.
	w.Stop(t)
	mustExec(t, src, "INSERT INTO pitr.w (at) VALUES (NOW(6))")
	gtid := mustQuery(t, src, "SELECT @@gtid_binlog_pos")[0][0]
	want := rowSum(t, src, time.Time{})
	w = startWriter(t, src, 10*time.Millisecond)
	time.Sleep(time.Second)
	w.Stop(t)
	mustSucceed(t, shipBinlogs(t, repo, target))

	recoverGTID := func(gtid string) (*MariaDB, *AddonRun) { return recoverWith(t, repo, "--until-gtid="+gtid) }
	scratch, run := recoverGTID(gtid)
	mustSucceed(t, run)
	got := rowSum(t, scratch, time.Time{})
	t.Logf("up to GTID %s: source rows up to it (count, checksum) %s; recovered %s; source now %s", gtid, want, got, rowSum(t, src, time.Time{}))
	if got != want {
		t.Fatalf("recovery to GTID %s gave %s, want %s\nstderr:\n%s", gtid, got, want, run.Stderr)
	}
	if rc := run.Result.Recovery; rc == nil || rc.GTID != gtid || rc.Until != "" || rc.Binlogs == 0 {
		t.Errorf("the result's recovery is %+v, want GTID %s", rc, gtid)
	}

	seq := func(g string, add int) string {
		f := strings.Split(g, "-")
		n, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s-%s-%d", f[0], f[1], n+add)
	}
	t.Run("a transaction not shipped yet", func(t *testing.T) {
		scratch, run := recoverGTID(seq(mustQuery(t, src, "SELECT @@gtid_binlog_pos")[0][0], 1))
		mustFail(t, run, "is in no shipped binary log", "recoverable once the next binary logs are shipped")
		if dbs := mustQuery(t, scratch, "SHOW DATABASES LIKE 'pitr'"); len(dbs) != 0 {
			t.Fatalf("the refused recovery created database pitr")
		}
	})
	t.Run("another server's transaction", func(t *testing.T) {
		f := strings.Split(gtid, "-")
		_, run := recoverGTID(f[0] + "-99-" + f[2])
		mustFail(t, run, "is server 7's, not "+f[0]+"-99-"+f[2])
	})
	// Shipping forgot the files before the dump's position file: the first transactions are gone.
	t.Run("a transaction before the shipped binary logs", func(t *testing.T) {
		_, run := recoverGTID(first)
		mustFail(t, run, "transaction "+first+" is older than every shipped binary log")
	})
}
