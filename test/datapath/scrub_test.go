package datapath

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/cmd/hoard/app"
)

// rowMark is in every row value of TestRowDataNotInMessages: it must not appear in anything
// the addon prints or reports.
const rowMark = "ROWDATA7x"

// TestRowDataNotInMessages restores dumps that make the real MariaDB client fail with errors
// that quote row values. The result, stdout and stderr keep the error code and the message's
// shape but none of the values.
func TestRowDataNotInMessages(t *testing.T) {
	dst := newServer(t)
	target := targetDir(t, dst, DBPassword)
	repo, _ := localRepo(t)
	if _, err := repo.Restic(ctxT(t), tools, "init"); err != nil {
		t.Fatal(err)
	}
	const schema = "DROP DATABASE IF EXISTS d; CREATE DATABASE d; " +
		"CREATE TABLE d.t (id INT PRIMARY KEY, email VARCHAR(64) UNIQUE, n INT, born DATETIME, code VARCHAR(4));\n"
	for _, c := range []struct {
		name, sql string
		want      []string
	}{
		{"duplicate entry", "INSERT INTO d.t (id, email) VALUES (1, 'alice-" + rowMark + "@example.com');\nINSERT INTO d.t (id, email) VALUES (2, 'alice-" + rowMark + "@example.com');",
			[]string{"ERROR 1062 (23000) at line 3", "Duplicate entry '***' for key 'email'"}},
		{"duplicate entry with quotes", "INSERT INTO d.t (id, email) VALUES (1, 'O''Brien-" + rowMark + "'), (2, 'O''Brien-" + rowMark + "');",
			[]string{"ERROR 1062 (23000) at line 2", "Duplicate entry '***' for key 'email'"}},
		{"incorrect integer value", "INSERT INTO d.t (id, n) VALUES (1, 'forty-" + rowMark + "');",
			[]string{"ERROR 1366 (22007) at line 2", "Incorrect integer value: '***' for column `d`.`t`.`n` at row 1"}},
		{"incorrect datetime value", "INSERT INTO d.t (id, born) VALUES (1, '2024-13-45 " + rowMark + "');",
			[]string{"ERROR 1292 (22007) at line 2", "Incorrect datetime value: '***' for column `d`.`t`.`born` at row 1"}},
		{"data too long", "INSERT INTO d.t (id, code) VALUES (1, 'long-" + rowMark + "');",
			[]string{"ERROR 1406 (22001) at line 2", "Data too long for column 'code' at row 1"}},
		{"syntax error quoting values", "INSERT INTO d.t (id, email) VALUES (1 'bob-" + rowMark + "', 'x');",
			[]string{"ERROR 1064 (42000) at line 2", "near '***' at line 1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := stdinSnapshot(t, repo, schema+c.sql+"\n")
			run := restore(t, repo, target, "--snapshot="+id)
			mustFail(t, run, c.want...)
			// Where the load stopped, as fields of the result (the RestoreSession's status.failure).
			if l := run.Result.Load; l == nil || l.Line != strings.Count(schema+c.sql, "\n")+1 || l.Table != "`d`.`t`" ||
				l.TablesCompleted != 0 || !slices.Equal(l.PartlyLoaded, []string{"`d`.`t`"}) {
				t.Errorf("load failure %+v, want line %d of table `d`.`t`, partly loaded", l, strings.Count(schema+c.sql, "\n")+1)
			}
			for what, text := range map[string]string{"stdout": run.Stdout, "stderr": run.Stderr, "output.json": string(run.Output)} {
				if strings.Contains(text, rowMark) {
					t.Errorf("%s quotes row data:\n%s", what, text)
				}
			}
		})
	}
}

// stdinSnapshot stores sql as dumpfile.sql of host-0, as a dump from another tool would be,
// and returns the snapshot's id.
func stdinSnapshot(t *testing.T, repo *Repo, sql string) string {
	t.Helper()
	cmd := exec.CommandContext(ctxT(t), tools.Restic, "backup", "--no-cache", "--json", "--stdin", "--stdin-filename", "dumpfile.sql", "--host", "host-0")
	cmd.Env = append(os.Environ(), repo.Env...)
	cmd.Stdin = strings.NewReader(sql)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic backup --stdin: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`"snapshot_id":"([0-9a-f]{8})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no snapshot id in %s", out)
	}
	return string(m[1])
}

// secretForms are the forms TestNoSecretsInArgvOrOutput and the e2e look for: raw, URL-escaped
// and base64.
func secretForms(s string) []string {
	return []string{s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)), base64.URLEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))}
}

// holdsSecret tells whether text holds a form of s: anywhere for long secrets, as a whole
// token for short ones (see package scrub).
func holdsSecret(text, s string) bool {
	for _, f := range secretForms(s) {
		if len(s) >= 4 {
			if strings.Contains(text, f) {
				return true
			}
			continue
		}
		if regexp.MustCompile(`(^|[^\p{L}\p{N}])` + regexp.QuoteMeta(f) + `($|[^\p{L}\p{N}])`).MatchString(text) {
			return true
		}
	}
	return false
}

// TestWipeCommandScrubs runs `hoard wipe-repository` as the wipe Job does, against a REST
// server it cannot use: what it prints holds no credential, and a REST URL without
// credentials shows as the URL it is, not http://:***@host.
func TestWipeCommandScrubs(t *testing.T) {
	// The command runs restic from PATH, as in the operator image.
	t.Setenv("PATH", filepath.Dir(tools.Restic)+string(os.PathListSeparator)+os.Getenv("PATH"))
	wipeCmd := func(t *testing.T, timeout time.Duration, secret map[string]string, endpoint string) (string, error) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "secret")
		if _, err := NewRepo(dir, nil, secret); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd := app.NewRootCommand()
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"wipe-repository", "--provider=rest", "--endpoint=" + endpoint, "--secret-dir=" + dir, "--scratch-dir=" + t.TempDir(), "--sole-writer"})
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		err := cmd.ExecuteContext(ctx)
		if err != nil {
			out.WriteString("\nreturned: " + err.Error())
		}
		t.Logf("wipe-repository printed:\n%s", out.String())
		return out.String(), err
	}

	t.Run("wrong credentials", func(t *testing.T) {
		repo, _, _, _ := restRepo(t, "hoard", "rest-Wipe-pw")
		for _, wrong := range []map[string]string{
			{"RESTIC_PASSWORD": "wrong-Restic-pw", "REST_SERVER_USERNAME": "hoard", "REST_SERVER_PASSWORD": "rest-Wipe-pw"},
			{"RESTIC_PASSWORD": resticPassword, "REST_SERVER_USERNAME": "hoard", "REST_SERVER_PASSWORD": "wr"},
		} {
			out, err := wipeCmd(t, time.Minute, wrong, restEndpoint(t, repo))
			if err == nil {
				t.Fatal("the wipe succeeded")
			}
			for _, s := range []string{wrong["RESTIC_PASSWORD"], wrong["REST_SERVER_PASSWORD"], "hoard:" + wrong["REST_SERVER_PASSWORD"]} {
				if holdsSecret(out, s) {
					t.Errorf("the output holds %q", s)
				}
			}
		}
	})

	t.Run("no credentials, server down", func(t *testing.T) {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		endpoint := "http://127.0.0.1:" + strconv.Itoa(port) + "/repo"
		out, err := wipeCmd(t, 8*time.Second, map[string]string{"RESTIC_PASSWORD": resticPassword}, endpoint)
		if err == nil {
			t.Fatal("the wipe succeeded")
		}
		if strings.Contains(out, ":***@") || !strings.Contains(out, `"`+endpoint+`/config"`) {
			t.Errorf("the output does not show the URL as it is (%s)", endpoint)
		}
		if holdsSecret(out, resticPassword) {
			t.Error("the output holds the restic password")
		}
	})
}
