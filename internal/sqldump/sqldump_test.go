package sqldump

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func split(t *testing.T, in string) []string {
	t.Helper()
	sp := NewSplitter(strings.NewReader(in))
	var out []string
	for {
		st, err := sp.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		s := string(st.Text)
		if st.Kind == Use {
			s = "USE:" + st.DB
		}
		if st.Trailing {
			s += " (trailing)"
		}
		out = append(out, s)
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want []string
	}{
		{"simple", "SELECT 1;\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"quotes", "SELECT 'a;b', \"c;d\", `e;f`;", []string{"SELECT 'a;b', \"c;d\", `e;f`"}},
		{"escapes", `SELECT 'it\'s;', "q\";";`, []string{`SELECT 'it\'s;', "q\";"`}},
		{"comments stripped", "-- x;\nSELECT /* y; */ 1; # z;\n", []string{"SELECT  1"}},
		{"space after a comment", "SELECT/* c */1;", []string{"SELECT 1"}},
		{"version comments kept", "/*!40101 SET NAMES utf8mb4 */;", []string{"/*!40101 SET NAMES utf8mb4 */"}},
		{"delimiter", "DELIMITER ;;\nCREATE TRIGGER t BEGIN SET @a=1; END ;;\nDELIMITER ;\nSELECT 1;",
			[]string{"CREATE TRIGGER t BEGIN SET @a=1; END", "SELECT 1"}},
		{"use", "USE `my``db`;\nuse other\nSELECT 1;", []string{"USE:my`db", "USE:other", "SELECT 1"}},
		{"crlf", "SELECT 1;\r\nSELECT 'a\r';\r\n", []string{"SELECT 1", "SELECT 'a\r'"}},
		{"trailing statement", "SELECT 1;\nSELECT 2", []string{"SELECT 1", "SELECT 2 (trailing)"}},
		{"sandbox line", "/*M!999999\\- enable the sandbox mode */ \nSET @a=1;", []string{"/*M!999999 enable the sandbox mode */ \nSET @a=1"}},
		{"binary", "INSERT INTO t VALUES (_binary '\x00\\0\xff\\'');", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "binary" {
				// A raw NUL is refused, as the client refuses it.
				_, err := NewSplitter(strings.NewReader(c.in)).Next()
				if !errors.Is(err, ErrNul) {
					t.Fatalf("got %v, want ErrNul", err)
				}
				return
			}
			if got := split(t, c.in); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestNoBackslashEscapes(t *testing.T) {
	sp := NewSplitter(strings.NewReader("SELECT 'a\\';SELECT 2;"))
	sp.NoBackslashEscapes = true
	st, err := sp.Next()
	if err != nil || string(st.Text) != `SELECT 'a\'` {
		t.Fatalf("got %q, %v", st.Text, err)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Class
	}{
		{"/*!40101 SET NAMES utf8mb4 */", Class{Role: Session}},
		{"SET @saved_cs_client = @@character_set_client", Class{Role: Session}},
		{"SET GLOBAL max_connections = 10", Class{}},
		{"SET autocommit=0", Class{}},
		{"SET @id = NEXTVAL(s)", Class{Serial: true}},
		{"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */", Class{Role: Session}},
		{"DROP TABLE IF EXISTS `t`", Class{Role: DropTable, Table: "t"}},
		{"DROP TABLE IF EXISTS `a`, `b`", Class{}},
		{"CREATE TABLE `d`.`t` (\n  `id` int NOT NULL\n) ENGINE=InnoDB", Class{Role: CreateTable, DB: "d", Table: "t"}},
		{"CREATE TABLE t LIKE u", Class{}},
		{"CREATE TABLE t (a int) SELECT 1", Class{}},
		{"/*!50001 CREATE TABLE `v` (\n `a` tinyint NOT NULL\n) ENGINE=MyISAM */", Class{}},
		{"CREATE TEMPORARY TABLE t (a int)", Class{Serial: true}},
		{"LOCK TABLES `t` WRITE", Class{Role: LockTable, Table: "t"}},
		{"UNLOCK TABLES", Class{Role: UnlockTables}},
		{"/*!40000 ALTER TABLE `t` DISABLE KEYS */", Class{Role: DisableKeys, Table: "t"}},
		{"INSERT INTO `t` VALUES (1,'a;b',_binary 'x',NULL,-1.5e3,0x0A),(2,X'00',b'1',DEFAULT,'',TRUE)", Class{Role: Insert, Table: "t", Rows: 2}},
		{"INSERT INTO `t` VALUES (1,'(a),(b)',0x28),\n(2,'x'),\n(3,'y')", Class{Role: Insert, Table: "t", Rows: 3}},
		{"INSERT INTO `t` (`a`, `b`) VALUES (1,2)", Class{Role: Insert, Table: "t", Rows: 1}},
		{"INSERT INTO `t` VALUES (NEXTVAL(s))", Class{}},
		{"INSERT INTO `t` SELECT * FROM u", Class{}},
		{"INSERT INTO `t` VALUES (1) ON DUPLICATE KEY UPDATE a=1", Class{}},
		{"CREATE VIEW v AS SELECT 1", Class{}},
	} {
		if got := Classify([]byte(c.in)); got != c.want {
			t.Errorf("%q: got %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestDeferKeys(t *testing.T) {
	for _, c := range []struct {
		name, in   string
		wantCreate string
		wantKeys   []string
	}{
		{"secondary keys",
			"CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  `a` int,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`a`),\n  KEY `k` (`a`,`id`) COMMENT 'x, (y)'\n) ENGINE=InnoDB",
			"CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  `a` int,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB",
			[]string{"UNIQUE KEY `u` (`a`)", "KEY `k` (`a`,`id`) COMMENT 'x, (y)'"}},
		{"auto_increment key stays", "CREATE TABLE t (g int, id int AUTO_INCREMENT, v int, PRIMARY KEY (g, id), KEY ki (id), KEY kv (v)) ENGINE=InnoDB",
			"CREATE TABLE t (g int, id int AUTO_INCREMENT, v int, PRIMARY KEY (g, id), KEY ki (id)) ENGINE=InnoDB", []string{"KEY kv (v)"}},
		{"foreign key's key stays, and what comes before it", "CREATE TABLE t (id int, p int, n int, PRIMARY KEY (id), KEY kn (n), KEY kp (p), CONSTRAINT f FOREIGN KEY (p) REFERENCES u (id)) ENGINE=InnoDB", "", nil},
		{"fulltext stays, listed last", "CREATE TABLE t (id int, b text, k int, PRIMARY KEY (id), KEY kk (k), FULLTEXT KEY f (b)) ENGINE=InnoDB",
			"CREATE TABLE t (id int, b text, k int, PRIMARY KEY (id), FULLTEXT KEY f (b)) ENGINE=InnoDB", []string{"KEY kk (k)"}},
		{"spatial stays with what comes before", "CREATE TABLE t (id int, p point NOT NULL, k int, PRIMARY KEY (id), KEY kk (k), SPATIAL KEY s (p)) ENGINE=InnoDB", "", nil},
		{"long unique stays", "CREATE TABLE t (id int, b blob, PRIMARY KEY (id), UNIQUE KEY u (b) USING HASH) ENGINE=InnoDB", "", nil},
		{"no primary key", "CREATE TABLE t (a int, KEY k (a)) ENGINE=InnoDB", "", nil},
		{"not InnoDB", "CREATE TABLE t (id int PRIMARY KEY, a int, KEY k (a)) ENGINE=MyISAM", "", nil},
		{"if not exists", "CREATE TABLE IF NOT EXISTS t (id int, a int, PRIMARY KEY (id), KEY k (a)) ENGINE=InnoDB", "", nil},
		{"system versioned", "CREATE TABLE t (id int, a int, PRIMARY KEY (id), KEY k (a)) ENGINE=InnoDB WITH SYSTEM VERSIONING", "", nil},
		{"version comment among the elements", "CREATE TABLE t (id int, a int, PRIMARY KEY (id), KEY k (a) /*!80000 INVISIBLE */) ENGINE=InnoDB", "", nil},
		{"functional key", "CREATE TABLE t (id int, a int, PRIMARY KEY (id), KEY k ((a + 1))) ENGINE=InnoDB", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct, err := ParseCreateTable([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			d := ct.DeferKeys()
			if c.wantKeys == nil {
				if d != nil {
					t.Fatalf("deferred %q, want nothing", d.Keys)
				}
				return
			}
			if d == nil {
				t.Fatal("nothing deferred")
			}
			if string(d.Create) != c.wantCreate || !reflect.DeepEqual(d.Keys, c.wantKeys) {
				t.Errorf("got\n%s\n%q\nwant\n%s\n%q", d.Create, d.Keys, c.wantCreate, c.wantKeys)
			}
		})
	}
	d := &Deferred{Keys: []string{"KEY `a` (`a`)", "UNIQUE KEY `b` (`b`)"}}
	if got := d.AlterTable("my`db", "t"); got != "ALTER TABLE `my``db`.`t` ADD KEY `a` (`a`), ADD UNIQUE KEY `b` (`b`)" {
		t.Errorf("AlterTable: %s", got)
	}
}

// TestCountInsert: the rows of what Classify counts, and of rows that are not all literals;
// nothing for other statements.
func TestCountInsert(t *testing.T) {
	for _, c := range []struct {
		in        string
		db, table string
		rows      int64
		ok        bool
	}{
		{"INSERT INTO `t` VALUES (1,'a;b',_binary 'x',NULL,-1.5e3,0x0A),(2,X'00',b'1',DEFAULT,'',TRUE)", "", "t", 2, true},
		{"INSERT INTO `d`.`t` VALUES (1,'(a),(b)',0x28),\n(2,'x\\')'),\n(3,'y'')(')", "d", "t", 3, true},
		{`INSERT INTO t VALUES (1,"a""),(b\"),(c")`, "", "t", 1, true},
		{"REPLACE INTO `t` (`a`, `b`) VALUES (1,2)", "", "t", 1, true},
		{"INSERT IGNORE INTO `t` VALUES (NEXTVAL(`s`)),(NEXTVAL(`s)`))", "", "t", 2, true},
		{"INSERT INTO `t` SELECT * FROM u", "", "", 0, false},
		{"INSERT INTO `t` VALUES (1) ON DUPLICATE KEY UPDATE a=VALUES(a)", "", "", 0, false},
		{"INSERT INTO `t` VALUES (1,'unterminated)", "", "", 0, false},
		{"INSERT INTO `t` VALUES (1,(2)", "", "", 0, false},
		{"INSERT INTO `t` VALUES (1 /* (2) */)", "", "", 0, false},
		{"CREATE TABLE t (a int)", "", "", 0, false},
	} {
		db, table, rows, ok := CountInsert([]byte(c.in))
		if db != c.db || table != c.table || rows != c.rows || ok != c.ok {
			t.Errorf("%q: got %q %q %d %v, want %q %q %d %v", c.in, db, table, rows, ok, c.db, c.table, c.rows, c.ok)
		}
		if cl := Classify([]byte(c.in)); ok && cl.Role == Insert && (cl.Rows != rows || cl.Table != table) {
			t.Errorf("%q: Classify counts %+v, CountInsert %d %v", c.in, cl, rows, ok)
		}
	}
}

// TestSumInsert: a table's sum does not depend on the order of its rows or on how they are
// grouped into INSERTs, and changes with any byte of a row.
func TestSumInsert(t *testing.T) {
	sum := func(stmts ...string) uint64 {
		t.Helper()
		var total uint64
		for _, st := range stmts {
			_, _, _, s, ok := SumInsert([]byte(st))
			if !ok {
				t.Fatalf("SumInsert(%q) did not read it", st)
			}
			total += s
		}
		return total
	}
	one := sum("INSERT INTO `t` VALUES (1,'a'),(2,'b),(c'),(3,NULL)")
	if regrouped := sum("INSERT INTO `t` VALUES (3,NULL)", "INSERT INTO `t` VALUES (2,'b),(c'),(1,'a')"); regrouped != one {
		t.Errorf("regrouped and reordered rows sum to %d, want %d", regrouped, one)
	}
	if changed := sum("INSERT INTO `t` VALUES (1,'a'),(2,'b),(d'),(3,NULL)"); changed == one {
		t.Error("a changed value sums the same")
	}
	if _, table, rows, _, ok := SumInsert([]byte("INSERT INTO `shop`.`t` VALUES (1),(2)")); !ok || table != "t" || rows != 2 {
		t.Errorf("SumInsert: table %q, rows %d, ok %v", table, rows, ok)
	}
}
