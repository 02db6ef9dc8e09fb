package addon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/hoard-operator/hoard/internal/dumpfacts"
	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/sqldump"
)

// systemSchema is not compared: the server itself writes its tables (InnoDB's statistics of
// the tables just restored, for one), so their rows differ from the dump's by design.
const systemSchema = "mysql"

// The server's errors for a table or database that is not there.
const (
	errBadDB       = 1049
	errNoSuchTable = 1146
)

// maxFailedAssertions bounds the failed assertions a result names: each can be long, and a
// termination message is short.
const maxFailedAssertions = 3

// verify compares the restored tables with the record the dump carries of its rows, taken
// when the backup ran: each table the dump held must have exactly its rows (at least them,
// when some INSERTs could not be counted). The target is a scratch server the restore
// filled from nothing; anything it held before would count too. Then the user's SQL
// assertions must hold.
func (s *session) verify(ctx context.Context, snapshot string, finder *dumpfacts.Finder, assertions []Assertion) (*result.Verification, error) {
	v := &result.Verification{Snapshot: snapshot}
	facts, err := finder.Facts()
	if err != nil {
		return v, fmt.Errorf("verification failed: %w", err)
	}
	db, err := engineDB(s.target, s.stderr)
	if err != nil {
		// The scratch server, not the snapshot: no verdict.
		return nil, err
	}
	defer func() { _ = db.Close() }()
	if facts == nil {
		v.NoRecord = true
		s.log.Info("the dump carries no record of its rows (written by upstream Stash or an older Hoard): its tables are not counted")
	} else {
		flagged, err := s.compareRows(ctx, db, facts, v)
		if err != nil {
			return nil, err
		}
		if err := s.compareChecksums(ctx, db, facts, flagged, v); err != nil {
			return nil, err
		}
	}
	if len(assertions) > 0 {
		ran, failed, err := checkAssertions(ctx, db, assertions)
		if err != nil {
			return nil, err
		}
		v.Assertions, v.FailedAssertionCount = ran, len(failed)
		v.FailedAssertions = failed[:min(len(failed), maxFailedAssertions)]
	}
	var problems []string
	if v.MismatchCount > 0 {
		problems = append(problems, listed(v.MismatchCount, v.Compared, "tables differ from what the backup recorded", v.Mismatches))
	}
	if v.FailedAssertionCount > 0 {
		problems = append(problems, listed(v.FailedAssertionCount, v.Assertions, "SQL assertions do not hold", v.FailedAssertions))
	}
	if len(problems) > 0 {
		return v, fmt.Errorf("verification failed: %s", strings.Join(problems, "; "))
	}
	if facts == nil {
		s.log.Info("verified: the snapshot restores", "assertions", v.Assertions)
	} else {
		s.log.Info("verified: every table holds the rows the backup recorded", "tables", v.Compared, "rows", v.Rows, "checksums", v.Checksums,
			"checksumsSkipped", v.ChecksumsSkipped, "assertions", v.Assertions)
	}
	return v, nil
}

// listed says "<n> of <total> <what>: <names>", and how many more there are than named.
func listed(n, total int, what string, names []string) string {
	more := ""
	if n > len(names) {
		more = fmt.Sprintf(" (and %d more)", n-len(names))
	}
	return fmt.Sprintf("%d of %d %s: %s%s", n, total, what, strings.Join(names, "; "), more)
}

// compareRows counts each table of the record on the scratch server and notes in v those
// whose rows differ or that are missing; it returns them. A server that fails is an error:
// no verdict.
func (s *session) compareRows(ctx context.Context, db *sql.DB, facts *dumpfacts.Facts, v *result.Verification) (map[string]bool, error) {
	v.Tables = len(facts.Tables)
	flagged := map[string]bool{}
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
			flagged[t.Name()] = true
			v.AddMismatch(problem)
		}
	}
	if !facts.Exact() {
		s.log.Info("some INSERTs of the dump were not of literal rows: their rows are lower bounds", "statements", facts.Uncounted)
	}
	return flagged, nil
}

// compareChecksums dumps the scratch server again, with the backup's mysqldump options, and
// compares each table's rows checksum with the backup's (sqldump.RowsChecksum): equal row
// counts with other values fail too. The text of a row depends on the server's and
// mysqldump's versions as well as on the data: the checksums are compared only when both
// are those of the backup, and the verification says why not otherwise. Tables flagged by
// their counts already are not flagged twice.
func (s *session) compareChecksums(ctx context.Context, db *sql.DB, facts *dumpfacts.Facts, flagged map[string]bool, v *result.Verification) error {
	if reason := s.checksumsComparable(ctx, db, facts); reason != "" {
		v.ChecksumsSkipped = reason
		s.log.Info("the rows' checksums are not compared", "reason", reason)
		return nil
	}
	again, err := s.dumpAgain(ctx, facts.DumpArgs)
	if err != nil {
		return fmt.Errorf("verification stopped: dumping the scratch server again for the rows' checksums: %w", err)
	}
	if again.Client != facts.Client {
		v.ChecksumsSkipped = fmt.Sprintf("this Job's mysqldump (%s) is not the backup's (%s)", again.Client, facts.Client)
		s.log.Info("the rows' checksums are not compared", "reason", v.ChecksumsSkipped)
		return nil
	}
	sums := map[[2]string]uint64{}
	for _, t := range again.Tables {
		sums[[2]string{t.DB, t.Table}] = t.Sum
	}
	for _, t := range facts.Tables {
		if t.DB == systemSchema {
			continue
		}
		got, ok := sums[[2]string{t.DB, t.Table}]
		if !ok {
			// Not restored: compareRows named it.
			continue
		}
		v.Checksums++
		if got != t.Sum && !flagged[t.Name()] {
			v.AddMismatch(fmt.Sprintf("%s: the rows' values differ from the backup's (checksum %016x restored, %016x in the backup)", t.Name(), got, t.Sum))
		}
	}
	return nil
}

// checksumsComparable says why the backup's checksums cannot be compared on this scratch
// server; "" when they can.
func (s *session) checksumsComparable(ctx context.Context, db *sql.DB, facts *dumpfacts.Facts) string {
	switch {
	case facts.Checksum == "":
		return "the backup recorded no checksums (written by an older Hoard)"
	case facts.Checksum != sqldump.RowsChecksum:
		return fmt.Sprintf("the backup's checksums are %q, this Hoard computes %q", facts.Checksum, sqldump.RowsChecksum)
	case !facts.Exact():
		return "some INSERTs of the dump were not of literal rows"
	case facts.Server == "" || len(facts.DumpArgs) == 0:
		return "the backup did not record its server's version and mysqldump options"
	}
	// The record comes from the repository: options that would send the scratch server's
	// credentials elsewhere are never run (a backup refuses them in its args, so a record
	// holding one was not written by Hoard).
	if err := mysql.CheckUserArgs(facts.DumpArgs); err != nil {
		return "the record's mysqldump options are refused: " + err.Error()
	}
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return "the scratch server's version could not be read: " + err.Error()
	}
	if !sameServerVersion(version, facts.Server) {
		return fmt.Sprintf("the scratch server (%s) is not the backup's version (%s)", version, facts.Server)
	}
	return ""
}

// sameServerVersion tells whether two servers' version strings name one version. MariaDB
// appends "-log" while binary logging is on, which does not change a dump.
func sameServerVersion(a, b string) bool {
	return strings.TrimSuffix(a, "-log") == strings.TrimSuffix(b, "-log")
}

// dumpAgain dumps the scratch server with options and reads the rows' facts of the dump.
func (s *session) dumpAgain(ctx context.Context, options []string) (*dumpfacts.Facts, error) {
	argv := s.db.DumpAgainCommand(options)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = s.db.Env
	tail := mysql.NewTail(4096)
	cmd.Stderr = tail
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, mysql.RunError(argv, err, nil)
	}
	facts, reason, copyErr := dumpfacts.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return nil, mysql.RunError(argv, err, tail.Lines())
	}
	if err := errors.Join(copyErr, reason); err != nil {
		return nil, err
	}
	return facts, nil
}
