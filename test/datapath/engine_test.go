package datapath

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/loader"
	"github.com/hoard-operator/hoard/internal/mysql"
)

// keyShapes are tables whose secondary indexes the engine defers, or must not.
const keyShapes = `
CREATE TABLE plain (id INT AUTO_INCREMENT PRIMARY KEY, a INT, b VARCHAR(20), c INT, KEY ka (a), UNIQUE KEY ub (b), KEY kbc (b(5), c DESC)) ENGINE=InnoDB;
CREATE TABLE ai_second (g INT, id INT AUTO_INCREMENT, v INT, PRIMARY KEY (g, id), KEY kid (id), KEY kv (v)) ENGINE=InnoDB;
CREATE TABLE ai_second_first (g INT, id INT AUTO_INCREMENT, v INT, PRIMARY KEY (g, id), KEY kv (v), KEY kid (id)) ENGINE=InnoDB;
CREATE TABLE parent (id INT PRIMARY KEY, code INT NOT NULL, UNIQUE KEY uc (code), KEY kid (id)) ENGINE=InnoDB;
CREATE TABLE child (id INT PRIMARY KEY, pcode INT, note INT, KEY kn (note), KEY kp (pcode), CONSTRAINT fk_code FOREIGN KEY (pcode) REFERENCES parent (code)) ENGINE=InnoDB;
CREATE TABLE child_fk_first (id INT PRIMARY KEY, pcode INT, note INT, KEY kp (pcode), KEY kn (note), CONSTRAINT fk_code2 FOREIGN KEY (pcode) REFERENCES parent (code) ON DELETE CASCADE) ENGINE=InnoDB;
CREATE TABLE ft (id INT PRIMARY KEY, body TEXT, k INT, KEY kk (k), FULLTEXT KEY ftb (body)) ENGINE=InnoDB;
CREATE TABLE sp (id INT PRIMARY KEY, p POINT NOT NULL, k INT, KEY kk (k), SPATIAL KEY sp (p)) ENGINE=InnoDB;
CREATE TABLE uniques (id INT PRIMARY KEY, a INT NOT NULL, b INT NULL, c INT, UNIQUE KEY ub (b), UNIQUE KEY ua (a), KEY kc (c)) ENGINE=InnoDB;
CREATE TABLE long_unique (id INT PRIMARY KEY, b BLOB, k INT, UNIQUE KEY uh (b) USING HASH, KEY kk (k)) ENGINE=InnoDB;
CREATE TABLE no_pk (a INT, b INT, KEY ka (a), KEY kb (b)) ENGINE=InnoDB;
CREATE TABLE myisam (id INT PRIMARY KEY, a INT, KEY ka (a)) ENGINE=MyISAM;
CREATE TABLE parted (id INT, v INT, PRIMARY KEY (id), KEY kv (v)) ENGINE=InnoDB PARTITION BY HASH (id) PARTITIONS 3;
CREATE TABLE versioned (id INT PRIMARY KEY, v INT, KEY kv (v)) ENGINE=InnoDB WITH SYSTEM VERSIONING;
CREATE TABLE virt (id INT PRIMARY KEY, price INT, label VARCHAR(40) AS (CONCAT('item-', id)) VIRTUAL, hid INT INVISIBLE, KEY kl (label), KEY kh (hid)) ENGINE=InnoDB;
CREATE TABLE ` + "`odd ``name`" + ` (` + "`i d`" + ` INT PRIMARY KEY, ` + "`v``v`" + ` INT, KEY ` + "`k ``1`" + ` (` + "`v``v`" + `) COMMENT 'it''s, (a) key', KEY kig (` + "`i d`" + `, ` + "`v``v`" + `) IGNORED) ENGINE=InnoDB;
INSERT INTO plain (a, b, c) SELECT seq % 13, CONCAT('b', seq), seq FROM seq_1_to_500;
INSERT INTO ai_second (g, v) SELECT seq % 3, seq FROM seq_1_to_300;
INSERT INTO ai_second_first (g, v) SELECT seq % 3, seq FROM seq_1_to_300;
INSERT INTO parent SELECT seq, seq * 10 FROM seq_1_to_100;
INSERT INTO child SELECT seq, (seq % 100 + 1) * 10, seq FROM seq_1_to_400;
INSERT INTO child_fk_first SELECT seq, (seq % 100 + 1) * 10, seq FROM seq_1_to_400;
INSERT INTO ft SELECT seq, CONCAT('word', seq, ' other'), seq FROM seq_1_to_200;
INSERT INTO sp SELECT seq, POINT(seq, seq), seq FROM seq_1_to_200;
INSERT INTO uniques SELECT seq, seq, IF(seq % 2, NULL, seq), seq FROM seq_1_to_200;
INSERT INTO long_unique SELECT seq, REPEAT(CHAR(65 + seq % 26), seq), seq FROM seq_1_to_100;
INSERT INTO no_pk SELECT seq, seq FROM seq_1_to_100;
INSERT INTO myisam SELECT seq, seq FROM seq_1_to_100;
INSERT INTO parted SELECT seq, seq FROM seq_1_to_300;
INSERT INTO versioned SELECT seq, seq FROM seq_1_to_100;
INSERT INTO virt (id, price, hid) SELECT seq, seq, seq FROM seq_1_to_100;
INSERT INTO ` + "`odd ``name`" + ` VALUES (1, 1), (2, 2);
`

// wantDeferred are the keys the engine must build after the rows, per table.
var wantDeferred = map[string]string{
	"plain":           "ub|ka|kbc",
	"ai_second":       "kv",
	"parent":          "uc|kid",
	"child_fk_first":  "kn",
	"ft":              "kk",
	"sp":              "", // a SPATIAL key is ordered with plain keys: kk before it stays
	"uniques":         "ua|ub|kc",
	"long_unique":     "kk",
	"parted":          "kv",
	"virt":            "kl|kh",
	"odd `name":       "k `1|kig",
	"ai_second_first": "",
	"child":           "",
	"no_pk":           "",
	"myisam":          "",
	"versioned":       "",
}

// dumpDB runs mysqldump with the addon's options on m and returns the dump.
func dumpDB(t *testing.T, m *MariaDB, extra ...string) []byte {
	t.Helper()
	args := append([]string{"--no-defaults", "--socket=" + m.Socket, "--user=root"}, mysql.DefaultDumpOptions()...)
	args = append(args, extra...)
	cmd := exec.Command(tools.MySQLDump, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mysqldump: %v: %s", err, stderr.String())
	}
	return out.Bytes()
}

// loadEngine runs the restore engine on dump into m.
func loadEngine(t *testing.T, m *MariaDB, r io.Reader, o loader.Options) (*loader.Stats, error) {
	t.Helper()
	return loader.Load(context.Background(), openDB(t, m, ""), r, o)
}

func showCreate(t *testing.T, m *MariaDB, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range mustQuery(t, m, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "+sqlString(db)) {
		out[r[0]] = mustExec(t, m, "SHOW CREATE TABLE "+Ident(db)+"."+Ident(r[0]))
	}
	return out
}

// TestEngineDefersKeys: the engine builds each deferrable index after the rows, keeps the
// others, and the tables come out as SHOW CREATE TABLE shows them in the source.
func TestEngineDefersKeys(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	mustExec(t, src, "CREATE DATABASE k; USE k;\n"+keyShapes)
	dump := dumpDB(t, src, "--databases", "k")
	// The rows each table had when its last report named it loading.
	reported := map[string]int64{}
	var last loader.Progress
	stats, err := loadEngine(t, dst, bytes.NewReader(dump), loader.Options{Connections: 3, DeferIndexes: true, Progress: func(p loader.Progress) {
		for _, tp := range p.Loading {
			reported[tp.Table] = max(reported[tp.Table], tp.Rows)
		}
		last = p
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d statements, %d tables, %d with deferred indexes, %d rows", stats.Statements, stats.Tables, stats.DeferredTables, stats.Rows)
	var total int64
	for _, r := range mustQuery(t, src, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'k'") {
		n, err := strconv.ParseInt(strings.TrimSpace(mustExec(t, src, "SELECT COUNT(*) FROM k."+Ident(r[0]))), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if got := reported["`k`."+Ident(r[0])]; got != n {
			t.Errorf("progress reported %d rows of %s, it has %d", got, r[0], n)
		}
	}
	if stats.Rows != total || last.Rows != total || last.TablesDone != len(wantDeferred) || len(last.Loading) != 0 {
		t.Errorf("rows loaded %d, last progress %+v; the source has %d rows in %d tables", stats.Rows, last, total, len(wantDeferred))
	}
	for table, want := range wantDeferred {
		var names []string
		for _, k := range stats.Deferred["`k`."+Ident(table)] {
			rest := k[strings.Index(k, "KEY `")+len("KEY `"):]
			names = append(names, strings.ReplaceAll(rest[:strings.Index(rest, "` (")], "``", "`"))
		}
		if got := strings.Join(names, "|"); got != want {
			t.Errorf("%s: deferred %q, want %q", table, got, want)
		}
	}
	a, b := showCreate(t, src, "k"), showCreate(t, dst, "k")
	if len(a) != len(wantDeferred) {
		t.Fatalf("source has %d tables", len(a))
	}
	for name, sc := range a {
		if b[name] != sc {
			t.Errorf("SHOW CREATE TABLE %s:\nsource:   %s\nrestored: %s", name, sc, b[name])
		}
	}
	// CHECKSUM TABLE of a table with an indexed virtual and an invisible column changes from
	// one run to the next on the same server: its rows are compared instead.
	q := "SELECT id, price, label, hid FROM k.virt ORDER BY id"
	if a, b := mustExec(t, src, q), mustExec(t, dst, q); a != b {
		t.Errorf("the rows of virt differ")
	}
	sa, sb := tableChecksums(t, src, "k"), tableChecksums(t, dst, "k")
	for k, v := range sa {
		if sb[k] != v && k != "k.virt" {
			t.Errorf("%s: source %s, restored %s", k, v, sb[k])
		}
	}
	// The foreign keys work after the restore.
	mustExec(t, dst, "DELETE FROM k.child WHERE pcode = 50; DELETE FROM k.parent WHERE id = 5")
	if got := mustExec(t, dst, "SELECT COUNT(*) FROM k.child_fk_first WHERE pcode = 50"); got != "0\n" {
		t.Errorf("ON DELETE CASCADE: %q rows left", got)
	}
}

// TestEngineConnectionLimit: an account allowed fewer connections than the engine would
// choose loads with those it gets, and the data are whole; a number of connections asked for
// explicitly that the account cannot have fails, with the server's reason.
func TestEngineConnectionLimit(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	mustExec(t, src, "CREATE DATABASE k; USE k;\n"+keyShapes)
	dump := dumpDB(t, src, "--databases", "k")
	// The control connection and one loader; the engine would choose at least 2 loaders.
	mustExec(t, dst, "ALTER USER '"+DBUser+"'@'%' WITH MAX_USER_CONNECTIONS 2")
	load := func(o loader.Options) (*loader.Stats, error) {
		db := openDB(t, dst, "")
		defer db.Close() // its idle connections count against the limit
		return loader.Load(context.Background(), db, bytes.NewReader(dump), o)
	}
	stats, err := load(loader.Options{DeferIndexes: true})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Connections != 1 || stats.Tables != len(wantDeferred) {
		t.Errorf("loaded %d tables over %d connections, want %d over 1", stats.Tables, stats.Connections, len(wantDeferred))
	}
	sa, sb := tableChecksums(t, src, "k"), tableChecksums(t, dst, "k")
	for k, v := range sa {
		if sb[k] != v && k != "k.virt" {
			t.Errorf("%s: source %s, restored %s", k, v, sb[k])
		}
	}
	if _, err := load(loader.Options{Connections: 3}); err == nil || !strings.Contains(err.Error(), "max_user_connections") {
		t.Errorf("3 connections under a limit of 2: %v, want the server's refusal", err)
	}
}

// cutReader returns the first n bytes of b, then an error: a dump stream that broke.
type cutReader struct {
	r *bytes.Reader
}

func (c *cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errors.New("restic dump: connection reset")
	}
	return n, err
}

// pausingReader serves data up to at, then blocks until resume is closed (paused is closed
// when it blocks), then serves the rest.
type pausingReader struct {
	data           []byte
	pos, at        int
	paused, resume chan struct{}
}

func (r *pausingReader) Read(p []byte) (int, error) {
	if r.pos == r.at {
		close(r.paused)
		<-r.resume
	}
	if r.pos >= len(r.data) {
		return 0, io.EOF
	}
	end := len(r.data)
	if r.pos < r.at {
		end = r.at
	}
	n := copy(p, r.data[r.pos:end])
	r.pos += n
	return n, nil
}

// nthIndex is the index of the nth (1-based) occurrence of sep in b, or -1.
func nthIndex(b, sep []byte, n int) int {
	idx := -1
	for i := 0; i < n; i++ {
		j := bytes.Index(b[idx+1:], sep)
		if j < 0 {
			return -1
		}
		idx += j + 1
	}
	return idx
}

// TestEngineFaults: a stream cut just after a complete row of a multi-row INSERT applies no
// part of that statement and names the table; a duplicate key into a non-empty target
// stops the load with the server's message, the statement's line and the table.
func TestEngineFaults(t *testing.T) {
	src := newServer(t)
	mustExec(t, src, `CREATE DATABASE f; USE f;
		CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(100));
		CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(100), KEY kv (v));
		INSERT INTO a SELECT seq, REPEAT('a', 90) FROM seq_1_to_2000;
		INSERT INTO b SELECT seq, REPEAT('b', 90) FROM seq_1_to_20000;`)
	// Many INSERT statements of about 16 KiB.
	dump := dumpDB(t, src, "--net-buffer-length=16384", "--databases", "f")

	t.Run("stream cut after a complete row", func(t *testing.T) {
		dst := newServer(t)
		// The 10th INSERT of b, cut right after its first row: "(id,'bbb…')" is complete.
		const insert = "INSERT INTO `b` VALUES\n"
		idx := 0
		for i := 0; i < 10; i++ {
			j := bytes.Index(dump[idx:], []byte(insert))
			if j < 0 {
				t.Fatal("not enough INSERTs of b in the dump")
			}
			idx += j + 1
		}
		start := idx - 1 + len(insert)
		end := start + bytes.Index(dump[start:], []byte("),")) + 1
		firstID, err := strconv.Atoi(string(dump[start+1 : start+bytes.IndexByte(dump[start:], ',')]))
		if err != nil {
			t.Fatal(err)
		}
		_, err = loadEngine(t, dst, &cutReader{bytes.NewReader(dump[:end])}, loader.Options{Connections: 2, DeferIndexes: true})
		var le *loader.Error
		if !errors.As(err, &le) {
			t.Fatalf("load of a cut stream: %v, want a loader.Error", err)
		}
		t.Logf("failed as expected: %v", err)
		if !strings.Contains(err.Error(), "connection reset") || !strings.Contains(strings.Join(le.Loading, " "), "`f`.`b`") || !strings.Contains(strings.Join(le.Completed, " "), "`f`.`a`") {
			t.Errorf("error %q does not name the stream's error, the table being loaded (b) and the one loaded (a)", err)
		}
		if got := mustExec(t, dst, fmt.Sprintf("SELECT COUNT(*) FROM f.b WHERE id >= %d", firstID)); got != "0\n" {
			t.Errorf("%q rows of the cut statement (ids from %d) were applied", got, firstID)
		}
		if got := mustExec(t, dst, "SELECT COUNT(*) FROM f.b"); got == "0\n" {
			t.Errorf("none of the 9 complete statements of b was applied")
		}
	})

	t.Run("server killed mid-load", func(t *testing.T) {
		dst := newServer(t)
		at := nthIndex(dump, []byte("INSERT INTO `b` VALUES"), 10)
		if at < 0 {
			t.Fatal("not enough INSERTs of b in the dump")
		}
		r := &pausingReader{data: dump, at: at, paused: make(chan struct{}), resume: make(chan struct{})}
		db := openDB(t, dst, "")
		done := make(chan error, 1)
		go func() {
			_, err := loader.Load(context.Background(), db, r, loader.Options{Connections: 2, DeferIndexes: true})
			done <- err
		}()
		select {
		case <-r.paused:
		case err := <-done:
			t.Fatalf("the load ended before the stream paused: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("the stream did not reach the 10th INSERT of b within a minute")
		}
		dst.Kill()
		close(r.resume)
		var err error
		select {
		case err = <-done:
		case <-time.After(time.Minute):
			t.Fatal("the load hangs a minute after the server was killed")
		}
		var le *loader.Error
		if !errors.As(err, &le) {
			t.Fatalf("load into a killed server: %v, want a loader.Error", err)
		}
		t.Logf("failed as expected: %v", err)
		if !slices.Contains(le.Completed, "`f`.`a`") || le.Table != "`f`.`b`" && !slices.Contains(le.Loading, "`f`.`b`") || le.Line == 0 ||
			!strings.Contains(err.Error(), "the connection to the server was lost") {
			t.Errorf("error %q (%+v): want a loaded, b failed or loading, and the dump line", err, le)
		}
	})

	t.Run("duplicate key into a non-empty target", func(t *testing.T) {
		dst := newServer(t)
		mustExec(t, dst, "CREATE DATABASE f; CREATE TABLE f.a (id INT PRIMARY KEY, v VARCHAR(100)); CREATE TABLE f.b (id INT PRIMARY KEY, v VARCHAR(100), KEY kv (v)); INSERT INTO f.b VALUES (15000, 'already here')")
		data := dumpDB(t, src, "--no-create-info", "--databases", "f")
		_, err := loadEngine(t, dst, bytes.NewReader(data), loader.Options{Connections: 2, DeferIndexes: true})
		var le *loader.Error
		if !errors.As(err, &le) {
			t.Fatalf("load into a non-empty target: %v, want a loader.Error", err)
		}
		t.Logf("failed as expected: %v", err)
		if le.Table != "`f`.`b`" || le.Line == 0 || !strings.Contains(err.Error(), "Duplicate entry '15000'") {
			t.Errorf("error %q: want the table `f`.`b`, a line and the server's duplicate entry message", err)
		}
	})
}
