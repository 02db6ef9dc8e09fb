package addon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/mysql"
)

// binlogPosition tells whether the dump can record the binary log position it is consistent
// with (mysqldump --master-data=2, design 0036) at no cost to the backup: binary logging is
// on, and the server gives the position of a consistent snapshot (MariaDB's
// Binlog_snapshot_file), so mysqldump takes no global read lock and needs no privilege beyond
// the dump's own. Otherwise, or when the user chose a position option of their own, the
// dump goes as before, and reason says why it holds no position.
func (s *session) binlogPosition(ctx context.Context, userArgs []string) (ok bool, reason string) {
	for _, a := range userArgs {
		for _, opt := range []string{"--master-data", "--dump-slave", "--source-data", "--lock-all-tables", "-x"} {
			if a == opt || strings.HasPrefix(a, opt+"=") {
				return false, "the dump's arguments set " + opt
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := engineDB(s.target, s.stderr)
	if err != nil {
		return false, err.Error()
	}
	defer func() { _ = db.Close() }()
	on, snapshotFile, err := binlogState(ctx, db)
	switch {
	case err != nil:
		return false, err.Error()
	case !on:
		return false, "binary logging is off on the server"
	case snapshotFile == "":
		return false, "the server gives no consistent snapshot position (Binlog_snapshot_file), and taking one would lock all tables"
	}
	return true, ""
}

// binlogState reads @@log_bin and the position of a consistent snapshot.
func binlogState(ctx context.Context, db *sql.DB) (on bool, snapshotFile string, err error) {
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.log_bin").Scan(&on); err != nil {
		return false, "", fmt.Errorf("failed to read @@log_bin: %w", err)
	}
	var name string
	err = db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Binlog_snapshot_file'").Scan(&name, &snapshotFile)
	if errors.Is(err, sql.ErrNoRows) {
		return on, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("failed to read Binlog_snapshot_file: %w", err)
	}
	return on, snapshotFile, nil
}

// dumpPositionArgs are the options that make mysqldump record the position.
func dumpPositionArgs(ok bool) []string {
	if !ok {
		return nil
	}
	return []string{mysql.BinlogPositionOption}
}
