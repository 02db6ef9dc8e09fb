package dumpfacts

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/sqldump"
)

// A dump as MariaDB's mysqldump writes it: a view's placeholder table, an empty table, rows
// over two INSERTs, a string holding what looks like the record, two databases.
const dump = `/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19
-- Server version	10.11.19-MariaDB
/*!40101 SET NAMES utf8mb4 */;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ ` + "`shop`" + `;
USE ` + "`shop`" + `;
DROP TABLE IF EXISTS ` + "`orders`" + `;
CREATE TABLE ` + "`orders`" + ` (
  ` + "`id`" + ` int(11) NOT NULL,
  ` + "`note`" + ` text,
  PRIMARY KEY (` + "`id`" + `)
) ENGINE=InnoDB;
LOCK TABLES ` + "`orders`" + ` WRITE;
INSERT INTO ` + "`orders`" + ` VALUES (1,'a'),(2,'(b),(c)'),(3,'x\n-- hoard-dump-facts: {}');
INSERT INTO ` + "`orders`" + ` VALUES (4,NULL);
UNLOCK TABLES;
DROP TABLE IF EXISTS ` + "`empty`" + `;
CREATE TABLE ` + "`empty`" + ` (` + "`id`" + ` int) ENGINE=InnoDB;
DROP TABLE IF EXISTS ` + "`v`" + `;
CREATE TABLE ` + "`v`" + ` (` + "`id`" + ` int) ENGINE=MyISAM;
DROP TABLE IF EXISTS ` + "`v`" + `;
/*!50001 CREATE VIEW ` + "`v`" + ` AS SELECT 1 AS ` + "`id`" + ` */;
USE ` + "`other`" + `;
CREATE TABLE ` + "`t`" + ` (` + "`id`" + ` int) ENGINE=InnoDB;
INSERT INTO ` + "`t`" + ` VALUES (1);
-- Dump completed
`

// rowSum is the checksum of rows (sqldump.RowsChecksum), computed here on its own.
func rowSum(rows ...string) uint64 {
	var sum uint64
	for _, r := range rows {
		sum += uint64(crc32.Checksum([]byte(r), crc32.MakeTable(crc32.Castagnoli)))
	}
	return sum
}

func TestCopyCountsAndFinderFinds(t *testing.T) {
	var out bytes.Buffer
	facts, reason, err := Copy(&out, strings.NewReader(dump))
	if err != nil || reason != nil {
		t.Fatalf("Copy: %v, %v", reason, err)
	}
	if out.String() != dump {
		t.Fatalf("the copy differs from the dump:\n%s", out.String())
	}
	want := []Table{
		{"shop", "orders", 4, rowSum(`(1,'a')`, `(2,'(b),(c)')`, `(3,'x\n-- hoard-dump-facts: {}')`, `(4,NULL)`)},
		{"shop", "empty", 0, 0},
		{"other", "t", 1, rowSum(`(1)`)},
	}
	if !reflect.DeepEqual(facts.Tables, want) || facts.Bytes != int64(len(dump)) || !facts.Exact() {
		t.Fatalf("facts = %+v, want tables %+v and %d bytes", facts, want, len(dump))
	}
	if facts.Checksum != sqldump.RowsChecksum || facts.Client != "MariaDB dump 10.19" || facts.Server != "10.11.19-MariaDB" {
		t.Fatalf("checksum %q, client %q; want %q and the header's", facts.Checksum, facts.Client, sqldump.RowsChecksum)
	}
	line, err := facts.Line()
	if err != nil {
		t.Fatal(err)
	}
	whole := out.String() + string(line)
	// Any split of the stream into writes finds the record.
	for _, size := range []int{1, 2, 7, len(Prefix) - 1, 4096} {
		f := NewFinder()
		for s := whole; len(s) > 0; {
			n := min(size, len(s))
			_, _ = f.Write([]byte(s[:n]))
			s = s[n:]
		}
		got, err := f.Facts()
		if err != nil || !reflect.DeepEqual(got, facts) {
			t.Errorf("writes of %d bytes: found %+v, %v; want %+v", size, got, err, facts)
		}
	}
}

func TestFinderWithoutRecord(t *testing.T) {
	f := NewFinder()
	_, _ = f.Write([]byte(dump))
	if got, err := f.Facts(); got != nil || err != nil {
		t.Fatalf("a dump without a record: %+v, %v", got, err)
	}
	// A record cut by the end of the stream is none either.
	f = NewFinder()
	_, _ = f.Write([]byte(dump + Prefix + `{"v":1,"tables":[`))
	if got, err := f.Facts(); got != nil || err != nil {
		t.Fatalf("a cut record: %+v, %v", got, err)
	}
}

func TestUncountedInsert(t *testing.T) {
	d := "USE `a`;\nCREATE TABLE `t` (`id` int);\nINSERT INTO `t` SELECT 1;\nINSERT INTO `t` VALUES (2);\n"
	facts, _, err := Copy(&bytes.Buffer{}, strings.NewReader(d))
	if err != nil {
		t.Fatal(err)
	}
	if facts.Exact() || facts.Uncounted != 1 || facts.Tables[0].Rows != 1 {
		t.Fatalf("facts = %+v, want one uncounted INSERT and 1 counted row", facts)
	}
}

func TestCopyOfWhatIsNoDump(t *testing.T) {
	in := "SELECT 1;\n\x00binary\n"
	var out bytes.Buffer
	facts, reason, err := Copy(&out, strings.NewReader(in))
	if err != nil || facts != nil || reason == nil {
		t.Fatalf("Copy = %+v, %v, %v; want no facts and a reason", facts, reason, err)
	}
	if out.String() != in {
		t.Fatalf("copy = %q, want %q", out.String(), in)
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("broken pipe")
	}
	w.n--
	return len(p), nil
}

func TestCopyWriteError(t *testing.T) {
	_, _, err := Copy(&failingWriter{}, strings.NewReader(dump))
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("err = %v, want the write's error", err)
	}
}

func BenchmarkCopy(b *testing.B) {
	var d strings.Builder
	d.WriteString("USE `b`;\nCREATE TABLE `t` (`id` int) ENGINE=InnoDB;\n")
	for i := range 20000 {
		if i%1000 == 0 {
			d.WriteString("INSERT INTO `t` VALUES ")
		}
		d.WriteString("(1,'" + strings.Repeat("lorem ipsum ", 30) + "',0x" + strings.Repeat("0123456789ABCDEF", 37) + ")")
		if i%1000 == 999 {
			d.WriteString(";\n")
		} else {
			d.WriteString(",")
		}
	}
	dump := d.String()
	b.SetBytes(int64(len(dump)))
	b.ResetTimer()
	for range b.N {
		if _, _, err := Copy(io.Discard, strings.NewReader(dump)); err != nil {
			b.Fatal(err)
		}
	}
}

// The position comments of mysqldump --master-data=2 (MariaDB 10.11): the file and offset at
// the top, the GTID position near the end. The same text inside a statement (a routine's
// body) is not the dump's position.
func TestBinlogPosition(t *testing.T) {
	d := `-- MariaDB dump 10.19
/*!40101 SET NAMES utf8mb4 */;

-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000012', MASTER_LOG_POS=857;

USE ` + "`shop`" + `;
CREATE PROCEDURE p()
BEGIN
-- CHANGE MASTER TO MASTER_LOG_FILE='other.000001', MASTER_LOG_POS=4;
  SELECT 1;
END;
CREATE TABLE ` + "`t`" + ` (` + "`id`" + ` int) ENGINE=InnoDB;
INSERT INTO ` + "`t`" + ` VALUES (1),(2);

-- The deferred gtid setting for slave corresponding to the master-data CHANGE-MASTER follows

-- SET GLOBAL gtid_slave_pos='0-7-3,1-7-40';
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;
`
	facts, reason, err := Copy(io.Discard, strings.NewReader(d))
	if err != nil || reason != nil {
		t.Fatalf("Copy: %v, %v", reason, err)
	}
	want := &Binlog{File: "mysql-bin.000012", Pos: 857, GTID: "0-7-3,1-7-40"}
	if !reflect.DeepEqual(facts.Binlog, want) {
		t.Fatalf("binlog = %+v, want %+v", facts.Binlog, want)
	}
	if want := []Table{{"shop", "t", 2, facts.Tables[0].Sum}}; !reflect.DeepEqual(facts.Tables, want) || want[0].Sum == 0 {
		t.Fatalf("tables = %+v, want %+v", facts.Tables, want)
	}
	// Without the comments, no position.
	facts, _, _ = Copy(io.Discard, strings.NewReader(dump))
	if facts.Binlog != nil {
		t.Fatalf("a dump without a position has binlog %+v", facts.Binlog)
	}
}
