package datapath

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/dumpfacts"
)

// verifySQL is a source whose tables a verification counts: rows whose strings look like
// row separators, an empty table, a view, and a second database.
const verifySQL = `CREATE DATABASE shop; CREATE DATABASE crm; USE shop;
CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(60), KEY (note));
INSERT INTO shop.orders SELECT seq, CONCAT('order (', seq, '),(x'', "y")') FROM seq_1_to_300;
CREATE TABLE shop.empty (id INT);
CREATE VIEW shop.big_orders AS SELECT id FROM shop.orders WHERE id > 100;
CREATE TABLE crm.customers (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT);
INSERT INTO crm.customers (name) SELECT CONCAT('customer ', seq) FROM seq_1_to_50;`

// dumpOf is the dump file of a snapshot.
func dumpOf(t *testing.T, r *Repo, id string) string {
	t.Helper()
	out, err := r.Restic(ctxT(t), tools, "dump", id, "/dumpfile.sql")
	if err != nil {
		t.Fatalf("restic dump %s: %v", id, err)
	}
	return out
}

// repackage stores dump as a new snapshot of the same host, as someone with the
// repository's password could: what a verification must catch.
func repackage(t *testing.T, r *Repo, dump string) string {
	t.Helper()
	cmd := exec.Command(tools.Restic, "backup", "--no-cache", "--stdin", "--stdin-filename", "dumpfile.sql", "--host", "host-0", "--json")
	cmd.Env = append(os.Environ(), r.Env...)
	cmd.Stdin = strings.NewReader(dump)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic backup --stdin: %v\n%s", err, out)
	}
	var id string
	for _, line := range strings.Split(string(out), "\n") {
		var m struct {
			Type string `json:"message_type"`
			ID   string `json:"snapshot_id"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Type == "summary" {
			id = m.ID
		}
	}
	if id == "" {
		t.Fatalf("no snapshot id in %s", out)
	}
	return id
}

// TestVerification: a backup records each table's rows at the end of its dump; a verifying
// restore into an empty server compares the restored tables with that record. A snapshot
// whose dump lost a row fails, naming the table; one without a record (Stash's) only
// restores.
func TestVerification(t *testing.T) {
	src := newServer(t)
	mustExec(t, src, verifySQL)
	repo, _ := localRepo(t)
	run := backup(t, repo, targetDir(t, src, DBPassword))
	mustSucceed(t, run)
	id := snapshots(t, repo)[0].ID
	mustExec(t, src, "INSERT INTO shop.orders VALUES (1000, 'after the backup')") // the source moves on

	// The record is the dump's last line, and counts what the source held.
	dump := dumpOf(t, repo, id)
	lines := strings.Split(strings.TrimRight(dump, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, dumpfacts.Prefix) {
		t.Fatalf("the dump's last line is %q, want the record", last)
	}
	var facts dumpfacts.Facts
	if err := json.Unmarshal([]byte(strings.TrimPrefix(last, dumpfacts.Prefix)), &facts); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, tb := range facts.Tables {
		got[tb.DB+"."+tb.Table] = tb.Rows
	}
	for table, rows := range map[string]int64{"shop.orders": 300, "shop.empty": 0, "crm.customers": 50} {
		if n, ok := got[table]; !ok || n != rows {
			t.Errorf("record of %s: %d rows (recorded %v), want %d", table, n, ok, rows)
		}
	}
	if _, ok := got["shop.big_orders"]; ok {
		t.Errorf("the view's placeholder is recorded as a table: %s", last)
	}
	if !strings.Contains(run.Stderr, "the dump's rows were counted and recorded at its end") {
		t.Errorf("the backup's log does not say the rows were counted:\n%s", run.Stderr)
	}

	t.Run("good snapshot verifies", func(t *testing.T) {
		scratch := newServer(t)
		run := restore(t, repo, targetDir(t, scratch, DBPassword), "--snapshot="+id, "--verify")
		mustSucceed(t, run)
		v := run.Result.Verification
		if v == nil || v.NoRecord || v.MismatchCount != 0 || v.Compared < 3 || v.Tables != len(facts.Tables) {
			t.Fatalf("verification = %+v, want every table of %d compared and equal", v, len(facts.Tables))
		}
		if v.Checksums != v.Compared || v.ChecksumsSkipped != "" {
			t.Fatalf("verification = %+v, want the rows' checksums of all %d compared tables compared (record: server %q, client %q, options %v)", v, v.Compared, facts.Server, facts.Client, facts.DumpArgs)
		}
		t.Logf("verified: %d tables in the record, %d compared, %d rows, %d checksums; record: checksum %s, server %s, client %s, options %v",
			v.Tables, v.Compared, v.Rows, v.Checksums, facts.Checksum, facts.Server, facts.Client, facts.DumpArgs)
	})

	t.Run("a changed value fails naming the table", func(t *testing.T) {
		// Same rows, one value changed: the counts agree, the checksum does not.
		tampered := repackage(t, repo, strings.Replace(dump, "'customer 17'", "'customer 71'", 1))
		scratch := newServer(t)
		run := restore(t, repo, targetDir(t, scratch, DBPassword), "--snapshot="+tampered, "--verify")
		mustFail(t, run, "verification failed", "1 of", "`crm`.`customers`: the rows' values differ from the backup's")
		if v := run.Result.Verification; v == nil || v.MismatchCount != 1 {
			t.Fatalf("verification = %+v, want one table that differs", v)
		}
	})

	t.Run("a scratch server of another version does not compare checksums", func(t *testing.T) {
		other := strings.Replace(dump, "-- Server version\t", "-- Server version\t0.", 1)
		if other == dump {
			t.Fatal("the dump has no server version line")
		}
		f := facts
		f.Server = "0." + f.Server
		line, err := f.Line()
		if err != nil {
			t.Fatal(err)
		}
		relabelled := repackage(t, repo, strings.TrimSuffix(other, last+"\n")+strings.TrimPrefix(string(line), "\n"))
		scratch := newServer(t)
		run := restore(t, repo, targetDir(t, scratch, DBPassword), "--snapshot="+relabelled, "--verify")
		mustSucceed(t, run)
		if v := run.Result.Verification; v == nil || v.Checksums != 0 || !strings.Contains(v.ChecksumsSkipped, "is not the backup's version") {
			t.Fatalf("verification = %+v, want the checksums skipped for the server's version", v)
		}
	})

	t.Run("a removed row fails naming the table", func(t *testing.T) {
		// Row 7 of shop.orders goes, and the dump is stored again as a new snapshot.
		row := regexp.MustCompile(`\(7,'order \(7\),\(x\\', \\"y\\"\)'\),`)
		if !row.MatchString(dump) {
			t.Fatal("row 7 of shop.orders is not in the dump as expected")
		}
		tampered := repackage(t, repo, row.ReplaceAllString(dump, ""))
		scratch := newServer(t)
		run := restore(t, repo, targetDir(t, scratch, DBPassword), "--snapshot="+tampered, "--verify")
		mustFail(t, run, "verification failed", "1 of", "`shop`.`orders`: 299 rows restored, 300 in the backup")
		if v := run.Result.Verification; v == nil || v.MismatchCount != 1 || len(v.Mismatches) != 1 {
			t.Fatalf("verification = %+v, want one table that differs", v)
		}
	})

	t.Run("a dump without a record only restores", func(t *testing.T) {
		stashLike := repackage(t, repo, strings.TrimSuffix(dump, last+"\n"))
		scratch := newServer(t)
		run := restore(t, repo, targetDir(t, scratch, DBPassword), "--snapshot="+stashLike, "--verify")
		mustSucceed(t, run)
		if v := run.Result.Verification; v == nil || !v.NoRecord {
			t.Fatalf("verification = %+v, want NoRecord", v)
		}
	})

	t.Run("SQL assertions", func(t *testing.T) {
		// One scratch server for the three runs: each restore replaces the dump's tables.
		scratch := newServer(t)
		target := targetDir(t, scratch, DBPassword)
		holds := "SELECT COUNT(*) = 300 FROM shop.orders;\nUSE crm\nSELECT COUNT(*) FROM customers WHERE name <> 'x;y'"
		run := restore(t, repo, target, "--snapshot="+id, "--verify", "--verify-sql="+holds)
		mustSucceed(t, run)
		if v := run.Result.Verification; v == nil || v.Assertions != 2 || v.FailedAssertionCount != 0 {
			t.Fatalf("verification = %+v, want 2 assertions that hold", v)
		}
		// One that does not hold fails the verification, naming it. A COMMIT returns no row,
		// and the write after it is still refused (the session is read-only), so neither holds.
		fails := "SELECT COUNT(*) = 301 FROM shop.orders; COMMIT; DELETE FROM shop.orders; SELECT 1"
		run = restore(t, repo, target, "--snapshot="+id, "--verify", "--verify-sql="+fails)
		mustFail(t, run, "verification failed: 3 of 4 SQL assertions do not hold", `assertion 1 (SELECT COUNT(*) = 301 FROM shop.orders) returned "0"`,
			"assertion 2 (COMMIT) returned no row", "assertion 3 (DELETE FROM shop.orders) returned error 1792")
		if v := run.Result.Verification; v == nil || v.FailedAssertionCount != 3 || v.MismatchCount != 0 {
			t.Fatalf("verification = %+v, want 3 failed assertions and equal tables", v)
		}
		if n := mustQuery(t, scratch, "SELECT COUNT(*) FROM shop.orders")[0][0]; n != "300" {
			t.Fatalf("the assertions changed the scratch server: %s rows", n)
		}
		// An assertion that is no SQL is the param's fault: no verdict on the snapshot.
		run = restore(t, repo, target, "--snapshot="+id, "--verify", "--verify-sql=SELEC 1")
		mustFail(t, run, "verifySQL: assertion 1 (SELEC 1) is not valid SQL")
		if run.Result.Verification != nil {
			t.Fatalf("verification = %+v, want no verdict", run.Result.Verification)
		}
	})

	t.Run("verify needs the engine", func(t *testing.T) {
		scratch := newServer(t)
		mustFail(t, restore(t, repo, targetDir(t, scratch, DBPassword), "--snapshot="+id, "--verify", "--restore-mode=pipe"), "verify needs the restore engine")
		mustFail(t, restore(t, repo, targetDir(t, scratch, DBPassword), "--snapshot="+id, "--verify-sql=SELECT 1"), `set verify to "true" too`)
	})
}
