package datapath

import (
	"fmt"
	"hash/crc32"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// schemaQueries read every definition a logical backup must carry; each runs with the list
// of corpus databases substituted for %s.
var schemaQueries = map[string]string{
	"schemata": "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (%s)",
	// Aria lists page_checksum=1 once it is explicit in CREATE TABLE (as in a dump) although it
	// was the default before: the same table, so the option is left out of the comparison.
	"tables": "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, ROW_FORMAT, AUTO_INCREMENT, TABLE_COLLATION, " +
		"TRIM(REPLACE(CREATE_OPTIONS, 'page_checksum=1', '')), TABLE_COMMENT " +
		"FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (%s)",
	"columns": "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, COLUMN_TYPE, CHARACTER_SET_NAME, " +
		"COLLATION_NAME, EXTRA, GENERATION_EXPRESSION, COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN (%s)",
	"indexes": "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, SUB_PART, INDEX_TYPE " +
		"FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN (%s)",
	"foreign keys": "SELECT CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME, UPDATE_RULE, DELETE_RULE " +
		"FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA IN (%s)",
	"checks":     "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA IN (%s)",
	"partitions": "SELECT TABLE_SCHEMA, TABLE_NAME, PARTITION_NAME, PARTITION_METHOD, PARTITION_EXPRESSION, PARTITION_DESCRIPTION, TABLE_ROWS FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA IN (%s) AND PARTITION_NAME IS NOT NULL",
	"routines": "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, ROUTINE_DEFINITION, IS_DETERMINISTIC, SQL_DATA_ACCESS, " +
		"SECURITY_TYPE, SQL_MODE, DEFINER, CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN (%s)",
	"parameters": "SELECT SPECIFIC_SCHEMA, SPECIFIC_NAME, ORDINAL_POSITION, PARAMETER_MODE, PARAMETER_NAME, DTD_IDENTIFIER FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA IN (%s)",
	"triggers": "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_ORDER, ACTION_STATEMENT, ACTION_TIMING, " +
		"SQL_MODE, DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN (%s)",
	"views": "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, IS_UPDATABLE, DEFINER, SECURITY_TYPE, ALGORITHM " +
		"FROM information_schema.VIEWS WHERE TABLE_SCHEMA IN (%s)",
	"events": "SELECT EVENT_SCHEMA, EVENT_NAME, DEFINER, EVENT_DEFINITION, EVENT_TYPE, EXECUTE_AT, INTERVAL_VALUE, INTERVAL_FIELD, STARTS, " +
		"STATUS, ON_COMPLETION, EVENT_COMMENT FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN (%s)",
}

// minObjects guards against comparing two empty lists.
var minObjects = map[string]int{"routines": 3, "triggers": 2, "views": 4, "events": 2, "foreign keys": 3, "checks": 2, "partitions": 3}

func corpusDBs() []string {
	var dbs []string
	for _, s := range corpus() {
		dbs = append(dbs, s.db)
	}
	return dbs
}

func inList(dbs []string) string {
	q := make([]string, len(dbs))
	for i, d := range dbs {
		q[i] = sqlString(d)
	}
	return strings.Join(q, ",")
}

func loadCorpus(t *testing.T, m *MariaDB) {
	t.Helper()
	for _, s := range corpus() {
		if _, err := m.Exec(fmt.Sprintf("CREATE DATABASE %s; USE %s;\n%s", Ident(s.db), Ident(s.db), s.sql)); err != nil {
			t.Fatalf("shape %s: %v", s.db, err)
		}
	}
}

// compareServers asserts that dbs are the same on both servers: data, definitions, grants.
// With the whole corpus, it also checks the corpus has the objects it is meant to have.
func compareServers(t *testing.T, src, dst *MariaDB, dbs []string, whole bool) {
	t.Helper()
	srcSums, dstSums := tableChecksums(t, src, dbs...), tableChecksums(t, dst, dbs...)
	if len(srcSums) < len(dbs) {
		t.Fatalf("only %d tables in the source", len(srcSums))
	}
	for k, v := range srcSums {
		if dstSums[k] != v {
			t.Errorf("table %s: source %s, restored %q", k, v, dstSums[k])
		}
	}
	if len(dstSums) != len(srcSums) {
		t.Errorf("restored %d tables, source has %d", len(dstSums), len(srcSums))
	}
	for name, q := range schemaQueries {
		q = fmt.Sprintf(q, inList(dbs)) + " ORDER BY 1, 2, 3"
		a, b := mustQuery(t, src, q), mustQuery(t, dst, q)
		if onlyA, onlyB := diffRows(a, b); len(onlyA)+len(onlyB) > 0 {
			t.Errorf("%s differ:\nonly in the source:   %q\nonly after restoring: %q", name, onlyA, onlyB)
		}
		if n, ok := minObjects[name]; ok && whole && len(a) < n {
			t.Errorf("source has %d %s, the corpus defines at least %d", len(a), name, n)
		}
	}
	for _, tbl := range mustQuery(t, src, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ("+inList(dbs)+") ORDER BY 1, 2") {
		q := "SHOW CREATE TABLE " + Ident(tbl[0]) + "." + Ident(tbl[1])
		if a, b := mustExec(t, src, q), mustExec(t, dst, q); a != b {
			t.Errorf("%s:\nsource:   %s\nrestored: %s", q, a, b)
		}
	}
}

func TestRoundTripCorpus(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	loadCorpus(t, src)
	dbs := corpusDBs()
	if len(dbs) < 30 {
		t.Fatalf("corpus has %d shapes, want at least 30", len(dbs))
	}
	repo, _ := localRepo(t)

	run := backup(t, repo, targetDir(t, src, DBPassword))
	mustSucceed(t, run)
	snap := run.Result.Snapshots[0]
	if snap.TotalBytes < 12<<20 {
		t.Errorf("dump is %d bytes: the 12 MiB row alone is larger", snap.TotalBytes)
	}

	if rows := mustQuery(t, dst, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ("+inList(dbs)+")"); rows[0][0] != "0" {
		t.Fatalf("the target server already has corpus databases: %v", rows)
	}
	rr := restore(t, repo, targetDir(t, dst, DBPassword))
	mustSucceed(t, rr)
	if rr.Result.Snapshots[0].Name != snap.Name || rr.Result.Snapshots[0].TotalBytes != snap.TotalBytes {
		t.Errorf("restored %+v, backed up %+v", rr.Result.Snapshots[0], snap)
	}

	compareServers(t, src, dst, dbs, true)

	// Stash's way gives the same server.
	t.Run("pipe", func(t *testing.T) {
		pdst := newServer(t)
		mustSucceed(t, restore(t, repo, targetDir(t, pdst, DBPassword), "--restore-mode=pipe"))
		compareServers(t, src, pdst, dbs, true)
	})

	// A snapshot Stash wrote with restic 0.12 (a version 1 repository, mysqldump with the
	// client's own defaults: LOCK TABLES around each table's rows, no --hex-blob, no
	// character set, no FLUSH PRIVILEGES) restores the whole corpus through the engine.
	// Stash's own pipe cannot: the client stops at the LOCK TABLES of the table whose default
	// is NEXTVAL of a sequence, which the engine does not take for an InnoDB table.
	t.Run("restic 0.12 repository", func(t *testing.T) {
		old, _ := restic012Repo(t)
		stashMariaDBBackup(t, old, src, "--all-databases --routines --events")
		edst, pdst := newServer(t), newServer(t)
		mustSucceed(t, restore(t, old, targetDir(t, edst, DBPassword)))
		compareServers(t, src, edst, dbs, true)
		mustFail(t, restore(t, old, targetDir(t, pdst, DBPassword), "--restore-mode=pipe"), "ERROR 1100", "was not locked with LOCK TABLES")
	})

	t.Run("sequence state", func(t *testing.T) {
		q := "SELECT next_not_cached_value, increment FROM c_sequence.s"
		if a, b := mustQuery(t, src, q), mustQuery(t, dst, q); !reflect.DeepEqual(a, b) {
			t.Errorf("sequence: source %v, restored %v", a, b)
		}
	})
	t.Run("grants", func(t *testing.T) {
		for _, u := range []string{"'app'@'%'", "'ro'@'10.0.0.%'", "reporting"} {
			q := "SHOW GRANTS FOR " + u
			if a, b := mustExec(t, src, q), mustExec(t, dst, q); a != b || a == "" {
				t.Errorf("%s: source %q, restored %q", q, a, b)
			}
		}
	})
	t.Run("restored objects work", func(t *testing.T) {
		if got := mustExec(t, dst, "SELECT c_routines.twice(21), c_routines.greet('x')"); got != "42\théllo x 😀 'quoted'\n" {
			t.Errorf("functions returned %q", got)
		}
		mustExec(t, dst, "USE c_routines; CALL add_row(3, 30, @n); SELECT @n")
		mustExec(t, dst, "INSERT INTO c_triggers.t (id, v) VALUES (9, 4)")
		if got := mustExec(t, dst, "SELECT v FROM c_triggers.t WHERE id = 9"); got != "8\n" {
			t.Errorf("trigger did not fire after restore: v = %q", got)
		}
		if got := mustExec(t, dst, "SELECT COUNT(*) FROM c_fks.child"); got != "3\n" {
			t.Fatalf("child rows %q", got)
		}
		mustExec(t, dst, "DELETE FROM c_fks.parent WHERE id = 2")
		if got := mustExec(t, dst, "SELECT COUNT(*) FROM c_fks.child"); got != "1\n" {
			t.Errorf("ON DELETE CASCADE did not survive the restore: %q children left", got)
		}
	})
}

// TestRoundTripSelectedDatabases: user args replace --all-databases, and a restore can load a
// single-database dump into a database of another name on another server.
func TestRoundTripSelectedDatabases(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	loadCorpus(t, src)
	repo, _ := localRepo(t)

	mustSucceed(t, backup(t, repo, targetDir(t, src, DBPassword), "--mysql-args=--databases c_routines 'odd db-name`with tick' c_views"))
	mustSucceed(t, restore(t, repo, targetDir(t, dst, DBPassword)))
	got := mustQuery(t, dst, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1")
	want := [][]string{{"c_routines"}, {"c_views"}, {"odd db-name`with tick"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restored databases %q, want %q", got, want)
	}
	compareServers(t, src, dst, []string{"c_routines", "c_views", "odd db-name`with tick"}, false)

	// A dump of one database without CREATE DATABASE, loaded into a differently named one.
	mustSucceed(t, backup(t, repo, targetDir(t, src, DBPassword), "--hostname=single", "--mysql-args=c_fks"))
	mustExec(t, dst, "CREATE DATABASE copy_of_fks")
	mustSucceed(t, restore(t, repo, targetDir(t, dst, DBPassword), "--hostname=single", "--mysql-args=copy_of_fks"))
	a := tableChecksums(t, src, "c_fks")
	b := tableChecksums(t, dst, "copy_of_fks")
	if len(a) != 4 || len(b) != 4 {
		t.Fatalf("tables: source %v, copy %v", a, b)
	}
	for k, v := range a {
		if c := b["copy_of_fks"+strings.TrimPrefix(k, "c_fks")]; c != v {
			t.Errorf("%s: source %s, copy %s", k, v, c)
		}
	}
}

// diffRows returns the rows only in a and only in b.
func diffRows(a, b [][]string) (onlyA, onlyB [][]string) {
	count := map[string]int{}
	for _, r := range b {
		count[strings.Join(r, "\x00")]++
	}
	for _, r := range a {
		k := strings.Join(r, "\x00")
		if count[k] > 0 {
			count[k]--
		} else {
			onlyA = append(onlyA, r)
		}
	}
	count = map[string]int{}
	for _, r := range a {
		count[strings.Join(r, "\x00")]++
	}
	for _, r := range b {
		k := strings.Join(r, "\x00")
		if count[k] > 0 {
			count[k]--
		} else {
			onlyB = append(onlyB, r)
		}
	}
	return onlyA, onlyB
}

// tinyRowsDump is a dump of one table of n tiny rows with a secondary key, as mysqldump
// writes it: its header and footer settings, and extended INSERTs of about 1 MB each.
func tinyRowsDump(n int) []byte {
	b := make([]byte, 0, n*14+4096)
	b = append(b, "/*!40101 SET NAMES utf8mb4 */;\n"+
		"/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n"+
		"/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;\n"+
		"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"+
		"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `big` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n"+
		"USE `big`;\n"+
		"DROP TABLE IF EXISTS `tiny`;\n"+
		"CREATE TABLE `tiny` (\n  `id` int(11) NOT NULL,\n  `v` tinyint(4) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `kv` (`v`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"+
		"/*!40000 ALTER TABLE `tiny` DISABLE KEYS */;\n"...)
	line := len(b)
	for i := 1; i <= n; i++ {
		if i == 1 || len(b)-line > 1<<20 {
			if i > 1 {
				b = append(b, ";\n"...)
			}
			line = len(b)
			b = append(b, "INSERT INTO `tiny` VALUES "...)
		} else {
			b = append(b, ',')
		}
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(i%100), 10)
		b = append(b, ')')
	}
	return append(b, ";\n/*!40000 ALTER TABLE `tiny` ENABLE KEYS */;\n"+
		"/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n"+
		"/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;\n"+
		"/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;\n"...)
}

// TestRoundTripTenMillionRows: a snapshot of a table of 10 M tiny rows (with a secondary
// key the engine defers) restores through the engine to exactly the rows of the dump: their
// count, sums and a CRC32 of every row, computed here from what the dump holds. The table
// comes out as its CREATE TABLE makes it. The dump is written here, as mysqldump writes it,
// rather than dumped from a server that would first have to hold the rows, and Stash's pipe
// is not run on it (it takes twice as long): the tier's time goes to the engine.
func TestRoundTripTenMillionRows(t *testing.T) {
	const rows = 10_000_000
	repo, _ := localRepo(t)
	if _, err := repo.Restic(ctxT(t), tools, "init"); err != nil {
		t.Fatal(err)
	}
	id := stdinSnapshot(t, repo, string(tinyRowsDump(rows)))
	dst := newServer(t, "--innodb-buffer-pool-size=512M", "--innodb-log-file-size=256M")
	run := restore(t, repo, targetDir(t, dst, DBPassword), "--snapshot="+id)
	mustSucceed(t, run)
	t.Logf("restored %d rows in %s", rows, run.Duration.Round(time.Millisecond))

	var sumID, sumV int64
	var crc uint32
	var buf []byte
	for i := int64(1); i <= rows; i++ {
		sumID += i
		sumV += i % 100
		buf = strconv.AppendInt(buf[:0], i, 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, i%100, 10)
		crc ^= crc32.ChecksumIEEE(buf)
	}
	want := fmt.Sprintf("%d\t%d\t%d\t%d\n", rows, sumID, sumV, crc)
	if got := mustExec(t, dst, "SELECT COUNT(*), SUM(id), SUM(v), BIT_XOR(CRC32(CONCAT(id, ',', v))) FROM big.tiny"); got != want {
		t.Errorf("restored count, sums, CRC32 %q, the dump holds %q", got, want)
	}
	mustExec(t, dst, "CREATE DATABASE ref; CREATE TABLE ref.tiny (`id` int(11) NOT NULL, `v` tinyint(4) DEFAULT NULL, PRIMARY KEY (`id`), KEY `kv` (`v`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
	if a, b := mustExec(t, dst, "SHOW CREATE TABLE big.tiny"), mustExec(t, dst, "SHOW CREATE TABLE ref.tiny"); a != b {
		t.Errorf("restored table:\n%s\nits CREATE TABLE makes:\n%s", a, b)
	}
}
