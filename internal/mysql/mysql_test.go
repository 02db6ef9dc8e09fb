package mysql

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFiles(t *testing.T, kv map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range kv {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadTarget(t *testing.T) {
	dir := writeFiles(t, map[string]string{"host": "mysql.demo.svc\n", "username": "root\n", "password": "pa ss\n"})
	tg, err := LoadTarget(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := &Target{Host: "mysql.demo.svc", Port: 3306, Username: "root", Password: "pa ss\n"}
	if !reflect.DeepEqual(tg, want) {
		t.Errorf("target = %+v, want %+v", tg, want)
	}

	dir = writeFiles(t, map[string]string{"host": "h", "port": "3307", "username": "u", "password": "", "ca.crt": "pem", "insecure-skip-tls-verify": "true\n"})
	tg, err = LoadTarget(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Port != 3307 || tg.CAFile != filepath.Join(dir, "ca.crt") || !tg.InsecureSkipVerify || tg.Password != "" {
		t.Errorf("target = %+v", tg)
	}
	if tg.Address() != "h:3307" {
		t.Errorf("Address = %q", tg.Address())
	}
}

func TestLoadTargetErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no host", map[string]string{"username": "u", "password": "p"}, "no file host"},
		{"no username", map[string]string{"host": "h", "password": "p"}, "no file username"},
		{"no password", map[string]string{"host": "h", "username": "u"}, "no file password"},
		{"bad port", map[string]string{"host": "h", "port": "http", "username": "u", "password": "p"}, `"http", not a port number`},
		{"empty host", map[string]string{"host": " \n", "username": "u", "password": "p"}, "host is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, err := LoadTarget(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error = %v, want one naming %s and %q", err, dir, tt.want)
			}
		})
	}
}

func TestOptionFileContent(t *testing.T) {
	tests := []struct {
		name   string
		target Target
		want   string
	}{
		{
			name:   "plain",
			target: Target{Host: "db", Port: 3306, Username: "root", Password: `p@ss "w#rd' \ x` + "\n"},
			want:   "[client]\nhost=\"db\"\nport=3306\nprotocol=TCP\nuser=\"root\"\npassword=\"p@ss \\\"w#rd' \\\\ x\\n\"\n",
		},
		{
			name:   "verified TLS",
			target: Target{Host: "db", Port: 3306, Username: "u", Password: "p", CAFile: "/etc/hoard/target/ca.crt"},
			want:   "[client]\nhost=\"db\"\nport=3306\nprotocol=TCP\nuser=\"u\"\npassword=\"p\"\nssl\nssl-ca=\"/etc/hoard/target/ca.crt\"\nssl-verify-server-cert\n",
		},
		{
			name:   "unverified TLS",
			target: Target{Host: "db", Port: 3306, Username: "u", Password: "p", CAFile: "/ca.crt", InsecureSkipVerify: true},
			want:   "[client]\nhost=\"db\"\nport=3306\nprotocol=TCP\nuser=\"u\"\npassword=\"p\"\nssl\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OptionFileContent(&tt.target); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestWriteOptionFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	p, err := WriteOptionFile(dir, &Target{Host: "h", Port: 1, Username: "u", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	if filepath.Dir(p) != dir {
		t.Errorf("written to %s, not into %s", p, dir)
	}
}

func TestDumpCommand(t *testing.T) {
	c := &Client{OptionFile: "/tmp/x/client.cnf"}
	got := c.DumpCommand(nil)
	if got[0] != "mysqldump" || got[1] != "--defaults-file=/tmp/x/client.cnf" {
		t.Errorf("argv starts %q: --defaults-file must be the first option", got[:2])
	}
	for _, want := range []string{"--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", "--all-databases"} {
		if !contains(got, want) {
			t.Errorf("default argv %q lacks %s", got, want)
		}
	}
	if got[len(got)-1] != "--all-databases" {
		t.Errorf("database selection is not last: %q", got)
	}
	for _, a := range got {
		if strings.Contains(a, "lock-tables") || strings.Contains(a, "lock-all-tables") || strings.HasPrefix(a, "-p") || strings.HasPrefix(a, "--password") {
			t.Errorf("unexpected option %q", a)
		}
	}

	user := []string{"--databases", "shop", "crm"}
	got = c.DumpCommand(user)
	if contains(got, "--all-databases") {
		t.Errorf("user args did not replace --all-databases: %q", got)
	}
	if !reflect.DeepEqual(got[len(got)-3:], user) || !contains(got, "--single-transaction") {
		t.Errorf("argv = %q", got)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCleanEnv(t *testing.T) {
	in := []string{"PATH=/bin", "HOME=/h", "RESTIC_PASSWORD=x", "AWS_SECRET_ACCESS_KEY=y", "MYSQL_PWD=z", "MYSQL_HOST=evil", "LC_ALL=C", "TZ=UTC", "TMPDIR=/t"}
	want := []string{"PATH=/bin", "HOME=/h", "LC_ALL=C", "TZ=UTC", "TMPDIR=/t"}
	if got := CleanEnv(in); !reflect.DeepEqual(got, want) {
		t.Errorf("CleanEnv = %q, want %q", got, want)
	}
}

func TestServerError(t *testing.T) {
	// A real exit status to wrap.
	err := exec.Command("sh", "-c", "exit 2").Run()
	e := NewServerError("mysqldump", err, []string{`mysqldump: Got error: 2013: "Lost connection to server during query" when dumping table t`})
	if e.ExitCode != 2 || e.Code != 2013 || e.Permanent() {
		t.Errorf("error = %+v", e)
	}
	if want := `mysqldump failed (exit code 2): mysqldump: Got error: 2013: "Lost connection`; !strings.HasPrefix(e.Error(), want) {
		t.Errorf("message %q", e.Error())
	}
	denied := NewServerError("mysql", err, []string{"ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: YES)"})
	if denied.Code != 1045 || !denied.Permanent() {
		t.Errorf("access denied: %+v", denied)
	}
	refused := NewServerError("mysql", err, []string{"ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)"})
	if refused.Code != 2002 || refused.Permanent() {
		t.Errorf("refused: %+v", refused)
	}
	var se *ServerError
	if !errors.As(error(refused), &se) {
		t.Error("errors.As failed")
	}
}

func TestTail(t *testing.T) {
	tl := NewTail(20)
	_, _ = tl.Write([]byte("first line that is long\nsecond\n"))
	_, _ = tl.Write([]byte("third\n"))
	// The partial first line left after trimming to 20 bytes is dropped.
	if got, want := tl.Lines(), []string{"second", "third"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
}

func TestLoadCommand(t *testing.T) {
	c := &Client{MySQL: "/usr/bin/mysql", OptionFile: "/tmp/c.cnf"}
	want := []string{"/usr/bin/mysql", "--defaults-file=/tmp/c.cnf", "--max-allowed-packet=1G", "--skip-print-query-on-error", "--one-database", "shop"}
	if got := c.LoadCommand([]string{"--one-database", "shop"}); !reflect.DeepEqual(got, want) {
		t.Errorf("LoadCommand = %q, want %q", got, want)
	}
}

func TestReplayCommand(t *testing.T) {
	c := &Client{MySQLBinlog: "/usr/bin/mariadb-binlog"}
	files := []string{"/w/0000-mysql-bin.000002", "/w/0001-mysql-bin.000003"}
	until := time.Date(2026, 12, 3, 14, 5, 0, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		until time.Time
		stop  int64
		want  []string
	}{
		{until, 0, []string{"--stop-datetime=2026-12-03 13:05:00"}},
		{time.Time{}, 4711, []string{"--stop-position=4711"}},
	} {
		want := append(append([]string{"/usr/bin/mariadb-binlog", "--no-defaults", "--start-position=385"}, tc.want...), files...)
		if got := c.ReplayCommand(385, tc.until, tc.stop, files); !reflect.DeepEqual(got, want) {
			t.Errorf("ReplayCommand = %q, want %q", got, want)
		}
	}
}
