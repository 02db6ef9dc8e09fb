package datapath

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/hoard-operator/hoard/internal/sqldump"
)

// sent is one command the server received: "Query" text or "Init DB" name.
type sent struct{ kind, text string }

func openDB(t *testing.T, m *MariaDB, db string) *sql.DB {
	t.Helper()
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = DBUser, DBPassword, "tcp", "127.0.0.1:"+strconv.Itoa(m.Port), db
	cfg.MaxAllowedPacket = 0
	c, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := sql.OpenDB(c)
	t.Cleanup(func() { d.Close() })
	return d
}

// clientSends runs the real mysql client (with the options of Hoard's restore, and --force
// to go on after errors) on input and returns what the server received from it, read from
// the general log.
func clientSends(t *testing.T, m *MariaDB, log *sql.Conn, input []byte) []sent {
	t.Helper()
	ctx := context.Background()
	if _, err := log.ExecContext(ctx, "TRUNCATE mysql.general_log"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tools.MySQL, "--no-defaults", "--socket="+m.Socket, "--user=root", "--force", "--max-allowed-packet=1G", "--skip-print-query-on-error", "split")
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run() // syntax errors are expected
	rows, err := log.QueryContext(ctx, "SELECT command_type, argument FROM mysql.general_log WHERE thread_id <> CONNECTION_ID()")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sent
	for rows.Next() {
		var kind string
		var arg []byte
		if err := rows.Scan(&kind, &arg); err != nil {
			t.Fatal(err)
		}
		// The client asks for the current database before each USE.
		if kind == "Query" && string(arg) != "SELECT DATABASE()" || kind == "Init DB" {
			out = append(out, sent{kind, string(arg)})
		}
	}
	return out
}

// splitterSends runs the splitter on input, executing each statement on one connection so
// that it follows the sql_mode as the client does, and returns what it would send.
func splitterSends(t *testing.T, db *sql.DB, input []byte) ([]sent, error) {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "SET SESSION sql_mode=DEFAULT"); err != nil {
		t.Fatal(err)
	}
	sp := sqldump.NewSplitter(bytes.NewReader(input))
	var out []sent
	for {
		st, err := sp.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if st.Kind == sqldump.Use {
			// The server logs only a database it could select.
			if _, err := c.ExecContext(ctx, "USE "+sqldump.QuoteIdent(st.DB)); err == nil {
				out = append(out, sent{"Init DB", st.DB})
			}
			continue
		}
		// The server's log shows a query without its leading spaces and trailing semicolons.
		out = append(out, sent{"Query", strings.TrimLeft(strings.TrimRight(string(st.Text), "; \t\n\r"), " \t\n\r")})
		_, _ = c.ExecContext(ctx, string(st.Text))
		var mode string
		if err := c.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		mode = "," + mode + ","
		sp.AnsiQuotes = strings.Contains(mode, ",ANSI_QUOTES,")
		sp.NoBackslashEscapes = strings.Contains(mode, ",NO_BACKSLASH_ESCAPES,")
	}
}

// splitCases are inputs written by hand for what mysqldump writes and what the client does
// with it.
var splitCases = []string{
	"SELECT 1;\nSELECT 2;",
	"SELECT 'a;b', \"c;d\", `e;f`;\n",
	"SELECT 'it''s', 'back\\'slash;', \"dq\\\"x;\";",
	"-- a comment; with a semicolon\nSELECT 1; # hash ; comment\nSELECT /* inline ; */ 2;",
	"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n/*!40101 SET NAMES utf8mb4 */;\n/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */;",
	"/*M!999999\\- enable the sandbox mode */ \nSELECT 1;",
	"SELECT 1 /* multi\nline ; comment */ + 1;\n/* alone */\nSELECT 3;",
	"DELIMITER ;;\nCREATE PROCEDURE p() BEGIN\n  SELECT 1; -- inner\n  SELECT 'x;;';\nEND ;;\nDELIMITER ;\nSELECT 4;",
	"delimiter //\nSELECT 1//\nSELECT 2 //  \ndelimiter ;\nSELECT 3;",
	"USE split;\nSELECT 1;\nUSE `split2`;\nSELECT 2;\nuse split\nSELECT 3;",
	"SELECT 1;SELECT 2;   SELECT 3;\n\n\n;;SELECT 4",
	"SELECT '\nmulti\nline\n';\nSELECT 'trailing",
	"SET sql_mode='NO_BACKSLASH_ESCAPES';\nSELECT 'a\\';\nSELECT 'b';\nSET sql_mode='';\nSELECT 'c\\';'d';",
	"SET sql_mode='ANSI_QUOTES';\nSELECT \"a\\\";\nSET sql_mode='';\nSELECT \"a\\\"\";",
	"SELECT \\N;\nSELECT 1\\g\nSELECT 2\\G\nSELECT 'x'\\c\nSELECT 5;",
	"\xef\xbb\xbfSELECT 0x41, _binary'\\0\\'', X'4142';\r\nSELECT 'cr\r';\r\n",
	"--no space is a comment at a statement's start\nSELECT 1--1;\nSELECT 1 --1\n;",
	"SELECT 'line end backslash \\\n continued';",
	"SELECT `a``b;`, 'q''\"';",
	"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a=1 */;",
}

// splitPieces are well-formed pieces: comments and quotes are closed (the client's handling of
// unterminated ones mixed with version comments is not reproduced).
var splitPieces = []string{
	"SELECT 1", "SELECT 'a;b'", `SELECT "x;\"y"`, "SELECT 'it''s'", `SELECT 'bs\'q'`, "SELECT `we;ird`",
	"-- c ;\n", "#h;\n", "--\n", "/* m ; \n l */", "/*!40101 SELECT 2 */", "/*M!100100 SELECT 3 */", "'--;'", "'#'", "'/*'",
	";", ";", ";", "\n", "\n", "\r\n", " ", "\t", "DELIMITER //\n", "DELIMITER ;\n", "//", "'\\''", "\"'\"", "`'`", "\\N", "\\g",
	"SET sql_mode='NO_BACKSLASH_ESCAPES'", "SET sql_mode='ANSI_QUOTES'", "SET sql_mode=''", "USE split", "USE split2",
	"SELECT 0x41", "SELECT _binary'\\0'", "é", "--", "-", "#", "SELECT 1--1", "\\\n",
}

// TestSplitterMatchesClient: the splitter sends exactly what the mysql client sends, for
// hand-written cases and for random mixtures of quotes, comments, delimiters and modes. Both
// are read from the server's general log, which logs invalid UTF-8 escaped: the inputs are
// valid UTF-8 (the splitter passes any other byte through as it is).
func TestSplitterMatchesClient(t *testing.T) {
	m := newServer(t)
	mustExec(t, m, "CREATE DATABASE split; CREATE DATABASE split2; SET GLOBAL log_output='TABLE'; SET GLOBAL general_log=1")
	db := openDB(t, m, "split")
	log, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	inputs := append([]string(nil), splitCases...)
	rnd := rand.New(rand.NewSource(14))
	for i := 0; i < 150; i++ {
		var b strings.Builder
		for j := 0; j < 5+rnd.Intn(30); j++ {
			b.WriteString(splitPieces[rnd.Intn(len(splitPieces))])
		}
		inputs = append(inputs, b.String())
	}
	failures := 0
	for i, in := range inputs {
		want := clientSends(t, m, log, []byte(in))
		got, err := splitterSends(t, db, []byte(in))
		if err != nil {
			t.Errorf("input %d %q: splitter failed: %v", i, in, err)
			failures++
		} else if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("input %d %q:\nclient sent   %q\nsplitter sent %q", i, in, want, got)
			failures++
		}
		if failures > 5 {
			t.Fatal("too many differences")
		}
	}
	t.Logf("%d inputs (%d random), the same statements as the client", len(inputs), len(inputs)-len(splitCases))
}
