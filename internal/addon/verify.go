package addon

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/hoard-operator/hoard/internal/dumpfacts"
	"github.com/hoard-operator/hoard/internal/result"
)

// systemSchema is not compared: the server itself writes its tables (InnoDB's statistics of
// the tables just restored, for one), so their rows differ from the dump's by design.
const systemSchema = "mysql"

// The server's errors for a table or database that is not there.
const (
	errBadDB       = 1049
	errNoSuchTable = 1146
)

// verify compares the restored tables with the record the dump carries of its rows, taken
// when the backup ran: each table the dump held must have exactly its rows (at least them,
// when some INSERTs could not be counted). The target is a scratch server the restore
// filled from nothing; anything it held before would count too.
func (s *session) verify(ctx context.Context, snapshot string, finder *dumpfacts.Finder) (*result.Verification, error) {
	v := &result.Verification{Snapshot: snapshot}
	facts, err := finder.Facts()
	if err != nil {
		return v, fmt.Errorf("verification failed: %w", err)
	}
	if facts == nil {
		v.NoRecord = true
		s.log.Info("the dump carries no record of its rows (written by upstream Stash or an older Hoard): verified only that it restores")
		return v, nil
	}
	db, err := engineDB(s.target, s.stderr)
	if err != nil {
		// The scratch server, not the snapshot: no verdict.
		return nil, err
	}
	defer func() { _ = db.Close() }()
	v.Tables = len(facts.Tables)
	for _, t := range facts.Tables {
		if t.DB == systemSchema {
			continue
		}
		v.Compared++
		v.Rows += t.Rows
		var n int64
		var problem string
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.Name()).Scan(&n); err != nil {
			var me *gomysql.MySQLError
			if !errors.As(err, &me) || (me.Number != errNoSuchTable && me.Number != errBadDB) {
				// The scratch server failed, not the snapshot: no verdict.
				return nil, fmt.Errorf("verification stopped: counting the rows of %s: %w", t.Name(), err)
			}
			problem = fmt.Sprintf("%s: not restored (%s)", t.Name(), me.Message)
		} else if n != t.Rows && (facts.Exact() || n < t.Rows) {
			problem = fmt.Sprintf("%s: %d rows restored, %d in the backup", t.Name(), n, t.Rows)
		}
		if problem != "" {
			v.MismatchCount++
			if len(v.Mismatches) < result.MaxLoadTables {
				v.Mismatches = append(v.Mismatches, problem)
			}
		}
	}
	if !facts.Exact() {
		s.log.Info("some INSERTs of the dump were not of literal rows: their rows are lower bounds", "statements", facts.Uncounted)
	}
	if v.MismatchCount > 0 {
		more := ""
		if v.MismatchCount > len(v.Mismatches) {
			more = fmt.Sprintf(" (and %d more)", v.MismatchCount-len(v.Mismatches))
		}
		return v, fmt.Errorf("verification failed: %d of %d tables differ from what the backup recorded: %s%s",
			v.MismatchCount, v.Compared, strings.Join(v.Mismatches, "; "), more)
	}
	s.log.Info("verified: every table holds the rows the backup recorded", "tables", v.Compared, "rows", v.Rows)
	return v, nil
}
