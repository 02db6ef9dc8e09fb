package scrub

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestForms(t *testing.T) {
	const pw = "p@ss w/rd+1=\"x\"<"
	s := New(pw)
	for name, form := range map[string]string{
		"raw":           pw,
		"query escaped": url.QueryEscape(pw),
		"path escaped":  url.PathEscape(pw),
		"base64":        base64.StdEncoding.EncodeToString([]byte(pw)),
		"base64 raw":    base64.RawStdEncoding.EncodeToString([]byte(pw)),
		"base64 url":    base64.URLEncoding.EncodeToString([]byte(pw)),
		"base64 rawurl": base64.RawURLEncoding.EncodeToString([]byte(pw)),
		"go quoted":     strconv.Quote(pw),
		"json":          `{"password":"p@ss w/rd+1=\"x\"\u003c"}`,
		"trimmed":       strings.TrimSpace(" " + pw + " "),
	} {
		got := s.String("before " + form + " after")
		if strings.Contains(got, "w/rd") || strings.Contains(got, "w%2Frd") || strings.Contains(got, form) {
			t.Errorf("%s: %q still holds the secret", name, got)
		}
		if !strings.Contains(got, Mask) || !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") {
			t.Errorf("%s: %q, want the secret masked and the rest kept", name, got)
		}
	}
}

func TestLongSecretsAnywhere(t *testing.T) {
	s := New("hunter22", "longer-hunter22-secret", "")
	if got := s.String("a hunter22 b longer-hunter22-secret xhunter22x abc pw"); got != "a *** b *** x***x abc pw" {
		t.Errorf("got %q", got)
	}
}

// Short secrets go as whole tokens only: "a" must not take every a out of a message.
func TestShortSecretsAsTokens(t *testing.T) {
	for _, c := range []struct{ secret, in, want string }{
		{"a", "a backup failed", "*** backup failed"},
		{"a", "password a; key=a, 'a' :a@ (a)", "password ***; key=***, '***' :***@ (***)"},
		{"ab", "abc cab ab", "abc cab ***"},
		{"x1", "rest:http://u:x1@h/repo", "rest:http://u:***@h/repo"},
		{"1", "exit code 1 after 10s", "exit code *** after 10s"},
		{"é", "café é", "café ***"},
		{"!!", "wow!! !!", "wow!! ***"},
		// Encoded forms of short secrets are tokens too: "+" is "%2B" in a query.
		{"+", "a=%2B b", "a=*** b"},
	} {
		if got := New(c.secret).String(c.in); got != c.want {
			t.Errorf("secret %q in %q: got %q, want %q", c.secret, c.in, got, c.want)
		}
	}
}

func TestURLs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// What restic and Go's HTTP client print for a URL without credentials.
		{`Head "http://:***@rest-server:8000/repo/config": dial tcp: connection refused`, `Head "http://rest-server:8000/repo/config": dial tcp: connection refused`},
		{"rest:http://rest-server:8000/repo", "rest:http://rest-server:8000/repo"},
		{"rest:https://alice:p%40ss@rest.example:8000/x", "rest:https://alice:***@rest.example:8000/x"},
		{"rest:https://alice:***@rest.example/x", "rest:https://alice:***@rest.example/x"},
		{"s3:https://user@host/bucket", "s3:https://user@host/bucket"},
		{"http://:real@h/", "http://h/"},
		{"mysql://root:pw@db:3306/x and http://h:80/", "mysql://root:***@db:3306/x and http://h:80/"},
	} {
		if got := New().String(c.in); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAssignments(t *testing.T) {
	var s *Scrubber // nil applies the rules that need no secrets
	for _, c := range []struct{ in, want string }{
		{"password=abc other=1", "password=*** other=1"},
		{"AWS_SECRET_ACCESS_KEY=xyz&token=9;", "AWS_SECRET_ACCESS_KEY=***&token=***;"},
		{"--password-file=/run/pw", "--password-file=***"},
		{"Access denied (using password: YES)", "Access denied (using password: YES)"},
		{"key=value", "key=value"},
	} {
		if got := s.String(c.in); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

// Row data in the errors MariaDB prints (the datapath tests produce them for real).
func TestRowData(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ERROR 1062 (23000) at line 5: Duplicate entry 'alice@example.com' for key 'email'",
			"ERROR 1062 (23000) at line 5: Duplicate entry '***' for key 'email'"},
		{"ERROR 1062 (23000) at line 5: Duplicate entry 'O'Brien-it''s' for key 'PRIMARY'",
			"ERROR 1062 (23000) at line 5: Duplicate entry '***' for key 'PRIMARY'"},
		{"ERROR 1366 (22007) at line 9: Incorrect integer value: 'four thousand' for column `company`.`employees`.`salary` at row 1",
			"ERROR 1366 (22007) at line 9: Incorrect integer value: '***' for column `company`.`employees`.`salary` at row 1"},
		{"ERROR 1292 (22007) at line 2: Truncated incorrect DOUBLE value: 'x1'", "ERROR 1292 (22007) at line 2: Truncated incorrect DOUBLE value: '***'"},
		{"ERROR 1406 (22001) at line 3: Data too long for column 'name' at row 1", "ERROR 1406 (22001) at line 3: Data too long for column 'name' at row 1"},
		{"ERROR 1064 (42000) at line 7: You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near ''Ada', 6000)' at line 1",
			"ERROR 1064 (42000) at line 7: You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '***' at line 1"},
		{"ERROR 1045 (28000): Access denied for user 'root'@'10.244.0.7' (using password: YES)",
			"ERROR 1045 (28000): Access denied for user 'root'@'10.244.0.7' (using password: YES)"},
		{"ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)", "ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)"},
		{"ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)", "ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)"},
		{"ERROR 2005 (HY000): Unknown server host 'db.demo.svc' (-2)", "ERROR 2005 (HY000): Unknown server host 'db.demo.svc' (-2)"},
		{"ERROR 1146 (42S02) at line 1: Table 'company.nope' doesn't exist", "ERROR 1146 (42S02) at line 1: Table 'company.nope' doesn't exist"},
		{"ERROR 1054 (42S22) at line 1: Unknown column 'x' in 'field list'", "ERROR 1054 (42S22) at line 1: Unknown column 'x' in 'field list'"},
		{"mysqldump: Got error: 1049: \"Unknown database 'nope'\" when selecting the database", "mysqldump: Got error: 1049: \"Unknown database 'nope'\" when selecting the database"},
		{"ERROR 9999 (HY000): Something new 'row value' happened 'again", "ERROR 9999 (HY000): Something new '***' happened '***"},
		// The failed statement MariaDB's client prints before the error (print-query-on-error).
		{"mysql failed (exit code 1): --------------; INSERT INTO d.t VALUES (1, 'row'), (2, 'data'); --------------; ERROR 1062 (23000) at line 2: Duplicate entry 'row' for key 'PRIMARY'",
			"mysql failed (exit code 1): --------------; ***; --------------; ERROR 1062 (23000) at line 2: Duplicate entry '***' for key 'PRIMARY'"},
		{"--------------\nINSERT INTO t VALUES ('a')\n--------------\n\nERROR 1136 (21S01) at line 1: Column count doesn't match value count at row 1",
			"--------------\n***\n--------------\n\nERROR 1136 (21S01) at line 1: Column count doesn't match value count at row 1"},
		{"mysqldump: Couldn't execute 'SHOW CREATE TABLE `t`': Lost connection (2013)", "mysqldump: Couldn't execute 'SHOW CREATE TABLE `t`': Lost connection (2013)"},
		{"x; mysqldump: unknown option '--bad'", "x; mysqldump: unknown option '--bad'"},
		// Lines that are not MySQL errors keep their quotes.
		{"AppBinding demo/sample-mysql: port 'x' is not a number", "AppBinding demo/sample-mysql: port 'x' is not a number"},
		{"Fatal: unable to open 'config': no such file", "Fatal: unable to open 'config': no such file"},
		{"restore failed: mysql failed (exit code 1): ERROR 1062 (23000) at line 5: Duplicate entry '7' for key 'PRIMARY'\nnext 'line'",
			"restore failed: mysql failed (exit code 1): ERROR 1062 (23000) at line 5: Duplicate entry '***' for key 'PRIMARY'\nnext 'line'"},
	} {
		if got := New().String(c.in); got != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestError(t *testing.T) {
	base := errors.New("base")
	err := New("s3cr3t-value").Error(fmt.Errorf("login with s3cr3t-value failed: %w", base))
	if err.Error() != "login with *** failed: base" {
		t.Errorf("got %q", err)
	}
	if !errors.Is(err, base) {
		t.Error("the scrubbed error does not wrap the original")
	}
	if New().Error(nil) != nil {
		t.Error("a nil error became non-nil")
	}
}

func TestWith(t *testing.T) {
	s := New("first-secret").With("second-secret", "x")
	if got := s.String("first-secret second-secret x"); got != "*** *** ***" {
		t.Errorf("got %q", got)
	}
	var none *Scrubber
	if got := none.With("abcd").String("abcd"); got != Mask {
		t.Errorf("nil.With: got %q", got)
	}
}

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	w := New("hunter22").Writer(&out)
	_, _ = w.Write([]byte("login hun"))
	_, _ = w.Write([]byte("ter22 failed\n"))
	if out.String() != "login *** failed\n" {
		t.Errorf("got %q", out.String())
	}
	_, _ = w.Write([]byte("next hunter22"))
	w.Use(New("next"))
	w.Flush()
	if out.String() != "login *** failed\n*** hunter22\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestSecretKey(t *testing.T) {
	for _, k := range []string{"RESTIC_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GOOGLE_SERVICE_ACCOUNT_JSON_KEY",
		"AZURE_ACCOUNT_KEY", "AZURE_ACCOUNT_SAS", "B2_ACCOUNT_KEY", "REST_SERVER_PASSWORD", "ST_KEY", "OS_PASSWORD",
		"OS_AUTH_TOKEN", "OS_APPLICATION_CREDENTIAL_SECRET", "password", "tls.key"} {
		if !SecretKey(k) {
			t.Errorf("%s is not taken for a credential", k)
		}
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "username", "host", "port", "ca.crt", "CA_CERT_DATA", "GOOGLE_PROJECT_ID",
		"AZURE_ACCOUNT_NAME", "B2_ACCOUNT_ID", "REST_SERVER_USERNAME"} {
		if SecretKey(k) {
			t.Errorf("%s is taken for a credential", k)
		}
	}
}
