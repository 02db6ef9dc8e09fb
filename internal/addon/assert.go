package addon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/hoard-operator/hoard/internal/sqldump"
)

// errParse is the server's "You have an error in your SQL syntax".
const errParse = 1064

// maxAssertionText bounds an assertion's SQL in messages.
const maxAssertionText = 120

// Assertion is one of the user's SQL assertions (the Task param verifySQL).
type Assertion struct {
	// SQL is the statement, or the database of a USE.
	SQL string
	// DB is set for a USE, which selects the database of the assertions after it.
	DB string
}

// ParseAssertions splits the param verifySQL into statements the way the mysql client would
// (quotes, comments, DELIMITER), so that a ';' inside a string stays in its statement.
func ParseAssertions(text string) ([]Assertion, error) {
	sp := sqldump.NewSplitter(strings.NewReader(text))
	var out []Assertion
	for {
		st, err := sp.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("verifySQL cannot be read: %w", err)
		}
		if st.Kind == sqldump.Use {
			out = append(out, Assertion{DB: st.DB})
			continue
		}
		if q := strings.TrimSpace(string(st.Text)); q != "" {
			out = append(out, Assertion{SQL: q})
		}
	}
}

// checkAssertions runs the user's assertions on the scratch server, in one read-only
// transaction: each must return a row whose first column is true (not NULL, not empty, not
// a number equal to 0). It returns the assertions that do not hold, with why. A statement
// the server cannot parse is the param's fault, not the snapshot's; it and a scratch server
// that fails return err (no verdict).
func checkAssertions(ctx context.Context, db *sql.DB, assertions []Assertion) (ran int, failed []string, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("verification stopped: %w", err)
	}
	defer func() { _ = conn.Close() }()
	// Read-only for the session, not only for this transaction: an assertion that ends the
	// transaction (COMMIT) leaves the next ones read-only still.
	for _, q := range []string{"SET SESSION TRANSACTION READ ONLY", "START TRANSACTION"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return 0, nil, fmt.Errorf("verification stopped: %s: %w", q, err)
		}
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") }()
	for _, a := range assertions {
		if a.DB != "" {
			// A USE is no assertion, but one that fails (the database is not there) is
			// counted as one that does not hold.
			if _, err := conn.ExecContext(ctx, "USE "+sqldump.QuoteIdent(a.DB)); err != nil {
				msg, ok := verdictError(err)
				if !ok {
					return ran, failed, fmt.Errorf("verification stopped: USE %s: %w", a.DB, err)
				}
				ran++
				failed = append(failed, fmt.Sprintf("USE %s: %s", a.DB, msg))
			}
			continue
		}
		ran++
		name := fmt.Sprintf("assertion %d (%s)", ran, clip(a.SQL, maxAssertionText))
		held, got, err := assertRow(ctx, conn, a.SQL)
		if err != nil {
			var me *gomysql.MySQLError
			if errors.As(err, &me) && me.Number == errParse {
				return ran, failed, fmt.Errorf("verifySQL: %s is not valid SQL: %s", name, me.Message)
			}
			msg, ok := verdictError(err)
			if !ok {
				return ran, failed, fmt.Errorf("verification stopped: %s: %w", name, err)
			}
			got = msg
		}
		if !held {
			failed = append(failed, fmt.Sprintf("%s returned %s", name, got))
		}
	}
	return ran, failed, nil
}

// verdictError tells whether err is the server refusing the statement (a missing table, a
// write in the read-only transaction): the assertion does not hold, for that reason.
func verdictError(err error) (string, bool) {
	var me *gomysql.MySQLError
	if !errors.As(err, &me) {
		return "", false
	}
	return fmt.Sprintf("error %d: %s", me.Number, me.Message), true
}

// assertRow runs q and reads its first row's first column.
func assertRow(ctx context.Context, conn *sql.Conn, q string) (held bool, got string, err error) {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return false, "", err
	}
	defer func() { _ = rows.Close() }()
	cols, err := rows.Columns()
	if err != nil {
		return false, "", err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return false, "", err
		}
		return false, "no row", nil
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return false, "", err
	}
	if len(vals) == 0 || !vals[0].Valid {
		return false, "NULL", nil
	}
	return truthy(vals[0].String), strconv.Quote(clip(vals[0].String, maxAssertionText)), nil
}

// truthy is SQL's truth of a value read as text: not empty, and not a number equal to 0.
func truthy(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f != 0
	}
	return true
}
