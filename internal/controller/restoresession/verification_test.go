package restoresession

import (
	"testing"

	"github.com/hoard-operator/hoard/internal/result"
)

func TestDescribeVerification(t *testing.T) {
	for _, c := range []struct {
		v    result.Verification
		want string
	}{
		{result.Verification{Tables: 33, Compared: 3, Rows: 350},
			"restored with the rows the backup recorded: 3 tables, 350 rows compared; the mysql schema's 30 tables are not compared"},
		{result.Verification{Tables: 1, Compared: 1, Rows: 3, Assertions: 2},
			"restored with the rows the backup recorded: 1 tables, 3 rows compared; SQL assertions held: 2"},
		{result.Verification{NoRecord: true, Assertions: 1},
			"restored; the dump carries no record of its rows (written by upstream Stash or an older Hoard), so the tables were not counted; SQL assertions held: 1"},
	} {
		if got := describeVerification(&c.v); got != c.want {
			t.Errorf("describeVerification(%+v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestDescribeRecovery(t *testing.T) {
	for _, c := range []struct {
		rc   result.Recovery
		want string
	}{
		{result.Recovery{Until: "2026-12-03T14:05:00Z", From: "mysql-bin.000002:385", Binlogs: 1, First: "mysql-bin.000002", Last: "mysql-bin.000002"},
			"2026-12-03T14:05:00Z: replayed mysql-bin.000002 from position mysql-bin.000002:385"},
		{result.Recovery{Until: "2026-12-03T14:05:00Z", From: "mysql-bin.000002:385", Binlogs: 3, First: "mysql-bin.000002", Last: "mysql-bin.000004"},
			"2026-12-03T14:05:00Z: replayed 3 binary logs, mysql-bin.000002…mysql-bin.000004 from position mysql-bin.000002:385"},
		{result.Recovery{GTID: "0-7-1234", From: "mysql-bin.000002:385", Binlogs: 1, First: "mysql-bin.000002", Last: "mysql-bin.000002"},
			"GTID 0-7-1234: replayed mysql-bin.000002 from position mysql-bin.000002:385"},
	} {
		if got := describeRecovery(&c.rc); got != c.want {
			t.Errorf("describeRecovery(%+v) = %q, want %q", c.rc, got, c.want)
		}
	}
}
