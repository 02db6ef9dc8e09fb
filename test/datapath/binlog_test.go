package datapath

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBinlogPosition: a backup of a server that logs binary logs records the position its
// dump is consistent with, exactly (design 0036). A writer inserts rows before, during and
// after the backup; the snapshot restored into a scratch server and the binary log replayed
// from the recorded position give the source's rows, none missing and none twice. The dump
// takes no global read lock for it.
func TestBinlogPosition(t *testing.T) {
	src := newServer(t, "--log-bin=mysql-bin", "--server-id=7", "--binlog-format=ROW")
	mustExec(t, src, "CREATE DATABASE pitr; CREATE TABLE pitr.w (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6) NOT NULL) ENGINE=InnoDB")
	count := func() int {
		n, err := strconv.Atoi(mustQuery(t, src, "SELECT COUNT(*) FROM pitr.w")[0][0])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitRows := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); count() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("the writer did not reach %d rows", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	writer := startWriter(t, src, 0)
	waitRows(20)

	flushes := func() string { return mustQuery(t, src, "SHOW GLOBAL STATUS LIKE 'Com_flush'")[0][1] }
	before := flushes()
	repo, _ := localRepo(t)
	run := backup(t, repo, targetDir(t, src, DBPassword))
	mustSucceed(t, run)
	if after := flushes(); after != before {
		t.Errorf("the backup ran FLUSH (Com_flush %s → %s): a global read lock", before, after)
	}
	b := run.Result.Snapshots[0].Binlog
	if b == nil || !strings.HasPrefix(b.File, "mysql-bin.") || b.Pos <= 0 || !strings.HasPrefix(b.GTID, "0-7-") {
		t.Fatalf("binlog position = %+v, want a file, an offset and a GTID of server 7\nstderr:\n%s", b, run.Stderr)
	}
	if !strings.Contains(run.Stderr, "the dump is consistent with the binary log position") {
		t.Errorf("the backup's log does not name the position:\n%s", run.Stderr)
	}
	waitRows(count() + 20)
	writer.Stop(t)

	scratch := newServer(t)
	mustSucceed(t, restore(t, repo, targetDir(t, scratch, DBPassword), "--snapshot="+run.Result.Snapshots[0].Name))
	inDump := mustQuery(t, scratch, "SELECT COUNT(*) FROM pitr.w")[0][0]

	// Replay every binary log from the recorded one on, the first from the recorded offset.
	var files []string
	for _, r := range mustQuery(t, src, "SHOW BINARY LOGS") {
		if r[0] >= b.File {
			files = append(files, filepath.Join(src.Dir, "data", r[0]))
		}
	}
	args := append([]string{"--no-defaults", "--start-position=" + strconv.FormatInt(b.Pos, 10)}, files...)
	events, err := exec.Command(tools.MySQLBinlog, args...).Output()
	if err != nil {
		t.Fatalf("mysqlbinlog %v: %v", args, err)
	}
	mustExec(t, scratch, string(events))

	const sum = "SELECT COUNT(*), MAX(id), SUM(CRC32(CONCAT(id, '@', at))) FROM pitr.w"
	want, got := mustQuery(t, src, sum)[0], mustQuery(t, scratch, sum)[0]
	t.Logf("source: %v rows (count, max id, checksum); dump %s rows, then the binary log from %s:%d (GTID %s): %v",
		want, inDump, b.File, b.Pos, b.GTID, got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("dump + binary log = %v, source = %v", got, want)
	}
	if inDump == want[0] || inDump == "0" {
		t.Fatalf("the dump holds %s of %s rows: the writer did not run across the backup", inDump, want[0])
	}

	t.Run("no binary log, no position", func(t *testing.T) {
		plain := newServer(t)
		repo, _ := localRepo(t)
		run := backup(t, repo, targetDir(t, plain, DBPassword))
		mustSucceed(t, run)
		if b := run.Result.Snapshots[0].Binlog; b != nil {
			t.Fatalf("binlog position = %+v on a server without binary logging", b)
		}
		if !strings.Contains(run.Stderr, "binary logging is off on the server") {
			t.Errorf("the backup's log does not say why there is no position:\n%s", run.Stderr)
		}
	})
}
