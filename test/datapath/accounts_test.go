package datapath

import (
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// loginAs logs in to m over TCP as DBUser with password, as the AppBinding's user does.
func loginAs(m *MariaDB, password string) error {
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = DBUser, password, "tcp", "127.0.0.1:"+strconv.Itoa(m.Port)
	c, err := gomysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	defer db.Close()
	return db.Ping()
}

// TestRestoreAccounts: a dump of all databases carries the source server's accounts. Restored
// into a server whose AppBinding user has another password, the data is restored and the
// restore fails saying that this user will not log in once the server reads its grant tables
// again (which the test then shows); with keepAccounts the target's accounts stay as they were.
// keepAccounts needs the engine, and says so.
func TestRestoreAccounts(t *testing.T) {
	src := newServer(t)
	const srcPassword = "s0urce-Pa55"
	mustExec(t, src, "ALTER USER '"+DBUser+"'@'%' IDENTIFIED BY '"+srcPassword+"';"+
		"CREATE USER 'only_on_source'@'%' IDENTIFIED BY 'x';"+
		"CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v INT); USE app; INSERT INTO app.t SELECT seq, seq FROM seq_1_to_500;")
	repo, _ := localRepo(t)
	mustSucceed(t, backup(t, repo, targetDir(t, src, srcPassword)))
	rows := func(m *MariaDB) string {
		return strings.TrimSpace(mustExec(t, m, "SELECT COUNT(*), SUM(v) FROM app.t"))
	}
	want := rows(src)
	users := func(m *MariaDB) string {
		return strings.TrimSpace(mustExec(t, m, "SELECT COUNT(*) FROM mysql.user WHERE User = 'only_on_source'"))
	}

	t.Run("replaced", func(t *testing.T) {
		dst := newServer(t)
		run := restore(t, repo, targetDir(t, dst, DBPassword))
		mustFail(t, run, "the snapshot was restored completely", "'"+DBUser+"'@'%'", "keepAccounts=true")
		if got := rows(dst); got != want {
			t.Errorf("app.t on the target: %s, want %s", got, want)
		}
		if got := users(dst); got != "1" {
			t.Errorf("the source's account is not in the target's grant tables (%s): the dump did not carry accounts", got)
		}
		// What the message foretells.
		mustExec(t, dst, "FLUSH PRIVILEGES")
		if err := loginAs(dst, DBPassword); err == nil {
			t.Error("after FLUSH PRIVILEGES the AppBinding's password still logs in: the failure was a false alarm")
		}
	})

	// Stash's dumps carry no FLUSH PRIVILEGES: the server goes on with the accounts it read at
	// start, until it is restarted. Through the pipe, as Stash restored.
	t.Run("replaced, not yet read", func(t *testing.T) {
		repo, _ := localRepo(t)
		mustSucceed(t, backup(t, repo, targetDir(t, src, srcPassword), "--mysql-args=--all-databases --skip-flush-privileges"))
		dst := newServer(t)
		run := restore(t, repo, targetDir(t, dst, DBPassword), "--restore-mode=pipe")
		mustFail(t, run, "the snapshot was restored completely", "'"+DBUser+"'@'%' has another password in them", "FLUSH PRIVILEGES or a restart")
		if got := rows(dst); got != want {
			t.Errorf("app.t on the target: %s, want %s", got, want)
		}
		if err := loginAs(dst, DBPassword); err != nil {
			t.Fatalf("before the grant tables are read again the AppBinding's password no longer logs in: %v", err)
		}
		mustExec(t, dst, "FLUSH PRIVILEGES")
		if err := loginAs(dst, DBPassword); err == nil {
			t.Error("after FLUSH PRIVILEGES the AppBinding's password still logs in: the failure was a false alarm")
		}
	})

	t.Run("kept", func(t *testing.T) {
		dst := newServer(t)
		run := restore(t, repo, targetDir(t, dst, DBPassword), "--keep-accounts=true")
		mustSucceed(t, run)
		if got := rows(dst); got != want {
			t.Errorf("app.t on the target: %s, want %s", got, want)
		}
		if got := users(dst); got != "0" {
			t.Errorf("the source's account was loaded (%s)", got)
		}
		if !strings.Contains(run.Stderr, "the accounts were kept") {
			t.Errorf("the log does not say the accounts were kept:\n%s", run.Stderr)
		}
		mustExec(t, dst, "FLUSH PRIVILEGES")
		if err := loginAs(dst, DBPassword); err != nil {
			t.Errorf("after FLUSH PRIVILEGES the AppBinding's password no longer logs in: %v", err)
		}
	})

	// A recovery to a point in time checks the accounts before it replays the binary logs:
	// stopped there, it says that none was replayed.
	t.Run("replaced, before the replay", func(t *testing.T) {
		src := pitrServer(t)
		mustExec(t, src, "ALTER USER '"+DBUser+"'@'%' IDENTIFIED BY '"+srcPassword+"'")
		repo, _ := localRepo(t)
		target := targetDir(t, src, srcPassword)
		mustSucceed(t, backup(t, repo, target))
		mustExec(t, src, "INSERT INTO pitr.w (at) VALUES (NOW(6))")
		at := instant()
		mustSucceed(t, shipBinlogs(t, repo, target))
		scratch, run := recoverTo(t, repo, at)
		mustFail(t, run, "the snapshot was restored completely", "the binary logs were not replayed", "not the data as of "+at.Format(time.RFC3339))
		if got := strings.TrimSpace(mustExec(t, scratch, "SELECT COUNT(*) FROM pitr.w")); got != "0" {
			t.Errorf("pitr.w holds %s rows: a binary log was replayed", got)
		}
	})

	t.Run("needs the engine", func(t *testing.T) {
		dst := newServer(t)
		run := restore(t, repo, targetDir(t, dst, DBPassword), "--keep-accounts=true", "--restore-mode=pipe")
		mustFail(t, run, "keepAccounts needs the restore engine")
		if got := strings.TrimSpace(mustExec(t, dst, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'app'")); got != "0" {
			t.Errorf("a refused restore loaded something")
		}
	})
}
