package addon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"
)

// erAccessDenied is the server's ER_ACCESS_DENIED_ERROR: wrong password or no such account.
const erAccessDenied = 1045

// account is the restoring account (the AppBinding's user) as the server's grant tables
// hold it.
type account struct {
	user, host string
	// auth is its authentication string (the password's hash); found: it has a row.
	auth  string
	found bool
}

// accountWatch compares the AppBinding's account before and after a restore: a dump of all
// databases carries the source server's mysql schema, whose accounts replace the target's,
// and can lock out the application and Hoard itself.
type accountWatch struct {
	s      *session
	before account
	// err: the account could not be read before the load; only the fresh login is checked.
	err error
	// off: no connection could be made before the load (the mysql client may reach what the
	// driver cannot), so nothing after it would mean anything: no check.
	off bool
}

// watchAccount reads the account before the load.
func (s *session) watchAccount(ctx context.Context) *accountWatch {
	w := &accountWatch{s: s}
	db, err := engineDB(s.target, s.stderr)
	if err == nil {
		defer func() { _ = db.Close() }()
		err = db.PingContext(ctx)
	}
	if err != nil {
		w.off = true
		s.log.Info("the accounts are not checked after the restore: no connection before it", "error", err.Error())
		return w
	}
	w.before, w.err = readAccount(ctx, db)
	if w.err != nil {
		s.log.Info("the account cannot be read from the grant tables: after the restore only a new login is checked", "error", w.err.Error())
	}
	return w
}

// check logs in again, as a new connection, and compares the grant tables' row of the
// account with the one before the load. The server reads its grant tables into memory at
// start and on FLUSH PRIVILEGES, so a changed row that still logs in today fails after the
// next restart: both are errors, which say that the data was restored.
func (w *accountWatch) check(ctx context.Context) error {
	if w.off {
		return nil
	}
	db, err := engineDB(w.s.target, w.s.stderr)
	if err != nil {
		w.s.log.Info("the accounts could not be checked after the restore", "error", err.Error())
		return nil
	}
	defer func() { _ = db.Close() }()
	who := fmt.Sprintf("'%s'@'%s'", w.before.user, w.before.host)
	if w.err != nil {
		who = "the AppBinding's user"
	}
	const restored = "the snapshot was restored completely, but its mysql schema replaced this server's accounts (a dump of all databases carries them)"
	const fix = "; an administrator can set the account again (CREATE USER or ALTER USER), and a restore with the param keepAccounts=true leaves the server's accounts as they are"
	if err := db.PingContext(ctx); err != nil {
		var me *gomysql.MySQLError
		if errors.As(err, &me) && me.Number == erAccessDenied {
			return fmt.Errorf("%s: %s can no longer log in (ERROR %d: %s)%s", restored, who, me.Number, me.Message, fix)
		}
		// Only a refused login says something about the accounts.
		w.s.log.Info("the accounts could not be checked after the restore: a new connection failed", "error", err.Error())
		return nil
	}
	if w.err != nil || !w.before.found {
		return nil
	}
	after, err := readAccount(ctx, db)
	switch {
	case err != nil:
		w.s.log.Info("the account cannot be read from the grant tables after the restore", "error", err.Error())
		return nil
	case !after.found:
		return fmt.Errorf("%s: %s is no longer in them, and cannot log in once the server reads them again (FLUSH PRIVILEGES or a restart)%s", restored, who, fix)
	case after.auth != w.before.auth:
		return fmt.Errorf("%s: %s has another password in them, and cannot log in with the AppBinding's once the server reads them again (FLUSH PRIVILEGES or a restart)%s", restored, who, fix)
	}
	return nil
}

// readAccount reads the current account's row of mysql.user (a table in MySQL and MariaDB
// before 10.4, a view of mysql.global_priv since).
func readAccount(ctx context.Context, db *sql.DB) (account, error) {
	var current string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&current); err != nil {
		return account{}, fmt.Errorf("failed to read the current account: %w", err)
	}
	i := strings.LastIndex(current, "@")
	if i < 0 {
		return account{}, fmt.Errorf("unexpected CURRENT_USER() %q", current)
	}
	a := account{user: current[:i], host: current[i+1:]}
	err := db.QueryRowContext(ctx, "SELECT IFNULL(authentication_string, '') FROM mysql.user WHERE User = ? AND Host = ?", a.user, a.host).Scan(&a.auth)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return a, nil
	case err != nil:
		return a, fmt.Errorf("failed to read the account from mysql.user: %w", err)
	}
	a.found = true
	return a, nil
}
