package addon

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/binlog"
	"github.com/hoard-operator/hoard/internal/restic"
)

func TestParseUntil(t *testing.T) {
	for in, want := range map[string]string{
		"2026-12-03T14:05:00Z":      "2026-12-03T14:05:00Z",
		"2026-12-03T15:05:00+01:00": "2026-12-03T14:05:00Z",
		"2026-12-03 14:05:00":       "2026-12-03T14:05:00Z",
	} {
		got, err := ParseUntil(in)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("ParseUntil(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"yesterday":                "is not a time",
		"2026-12-03T14:05:00.5Z":   "fraction of a second",
		"2026-12-03T14:05:00.000Z": "", // no fraction: accepted
	} {
		_, err := ParseUntil(in)
		if want == "" {
			if err != nil {
				t.Errorf("ParseUntil(%q): %v", in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseUntil(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestPendingBinlogs(t *testing.T) {
	last := &shippedBinlog{Shipped: binlog.Shipped{File: "mysql-bin.000009"}}
	for name, tc := range map[string]struct {
		closed []string
		last   *shippedBinlog
		want   string
	}{
		"first run ships what the server has":  {[]string{"mysql-bin.000003", "mysql-bin.000004"}, nil, "mysql-bin.000003 mysql-bin.000004"},
		"the files after the last shipped":     {[]string{"mysql-bin.000008", "mysql-bin.000009", "mysql-bin.000010", "mysql-bin.000011"}, last, "mysql-bin.000010 mysql-bin.000011"},
		"past 999999":                          {[]string{"mysql-bin.999999", "mysql-bin.1000000"}, &shippedBinlog{Shipped: binlog.Shipped{File: "mysql-bin.999999"}}, "mysql-bin.1000000"},
		"numbers started again (RESET MASTER)": {[]string{"mysql-bin.000001", "mysql-bin.000002"}, last, "mysql-bin.000001 mysql-bin.000002"},
		"another base name":                    {[]string{"db-bin.000001"}, last, "db-bin.000001"},
		"nothing new":                          {[]string{"mysql-bin.000009"}, last, ""},
		"a file streamed before, whole now":    {[]string{"mysql-bin.000009", "mysql-bin.000010"}, &shippedBinlog{Shipped: binlog.Shipped{File: "mysql-bin.000009", Partial: true}}, "mysql-bin.000009 mysql-bin.000010"},
	} {
		if got := strings.Join(pendingBinlogs(tc.closed, tc.last), " "); got != tc.want {
			t.Errorf("%s: pendingBinlogs = %q, want %q", name, got, tc.want)
		}
	}
}

// shippedFile is a shipped binary log for the chain tests: shipped at minute ship, its events
// from minute first to minute last, its GTID state from begin to end (domain 0, server 7).
func shippedFile(name string, ship, first, last int, begin, end uint64, gap bool) shippedBinlog {
	at := func(m int) time.Time { return time.Date(2026, 12, 3, 12, m, 0, 0, time.UTC) }
	st := func(seq uint64) binlog.State { return binlog.State{0: {Domain: 0, Server: 7, Seq: seq}} }
	return shippedBinlog{
		Shipped: binlog.Shipped{File: name, First: at(first), Last: at(last), Begin: st(begin), End: st(end), Gap: gap},
		snap:    restic.Snapshot{ID: name, ShortID: name, Time: at(ship)},
	}
}

// TestShippedOf: the snapshots of one file, starts shipped while it was streamed and the
// file shipped whole, are one entry, the newest, which lists the others as superseded. A file
// of the same name after a reset is not the same file.
func TestShippedOf(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 12, 3, 12, 0, s, 0, time.UTC) }
	snap := func(id string, ship int, file string, begin, end uint64, partial bool) restic.Snapshot {
		st := func(seq uint64) binlog.State {
			if seq == 0 {
				return binlog.State{}
			}
			return binlog.State{0: {Domain: 0, Server: 7, Seq: seq}}
		}
		info := &binlog.Info{First: at(0), Last: at(ship), Begin: st(begin), End: st(end)}
		return restic.Snapshot{ID: id, ShortID: id, Time: at(ship), Tags: binlog.Tags(file, info, false, partial)}
	}
	snaps := []restic.Snapshot{
		snap("p2b", 4, "mysql-bin.000002", 10, 15, true),
		snap("w1", 1, "mysql-bin.000001", 5, 10, false),
		snap("p2a", 3, "mysql-bin.000002", 10, 12, true),
		{ID: "dump", Time: at(2), Paths: []string{"/dumpfile.sql"}},
		snap("w2", 6, "mysql-bin.000002", 10, 20, false),
		snap("p3", 7, "mysql-bin.000003", 20, 22, true),
		snap("r1", 9, "mysql-bin.000001", 0, 3, false), // after RESET MASTER
	}
	var got []string
	for _, b := range shippedOf(snaps) {
		e := b.snap.ID
		for _, o := range b.older {
			e += "<" + o.ID
		}
		got = append(got, e)
	}
	if want := "w1 w2<p2a<p2b p3 r1"; strings.Join(got, " ") != want {
		t.Fatalf("shippedOf = %q, want %q", strings.Join(got, " "), want)
	}
}

func TestRecoveryChain(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 12, 3, 12, m, 0, 0, time.UTC) }
	base := &restic.Snapshot{ShortID: "dump1", Time: at(10)}
	shipped := []shippedBinlog{
		shippedFile("mysql-bin.000001", 5, 0, 5, 0, 10, false),
		shippedFile("mysql-bin.000002", 15, 5, 15, 10, 20, false),
		shippedFile("mysql-bin.000003", 25, 15, 25, 20, 30, false),
		shippedFile("mysql-bin.000005", 35, 30, 35, 40, 45, true),
	}
	dumps := []restic.Snapshot{*base, {ShortID: "dump2", Time: at(32)}}
	names := func(c []shippedBinlog) string {
		var n []string
		for _, b := range c {
			n = append(n, b.File)
		}
		return strings.Join(n, " ")
	}
	plan := func(until int) *recoveryPlan {
		return &recoveryPlan{target: recoveryTarget{until: at(until)}, base: base, file: "mysql-bin.000002", pos: 400}
	}

	for until, want := range map[int]string{
		12: "mysql-bin.000002",
		15: "mysql-bin.000002",
		16: "mysql-bin.000002 mysql-bin.000003",
		25: "mysql-bin.000002 mysql-bin.000003",
	} {
		chain, err := recoveryChain(shipped, plan(until), dumps)
		if err != nil || names(chain) != want {
			t.Errorf("until 12:%02d: chain %q, %v; want %q", until, names(chain), err, want)
		}
	}
	for until, want := range map[int][]string{
		// The gap before 000005 is crossed: say until when, and from which dump on.
		33: {"between mysql-bin.000003 and mysql-bin.000005 are missing", "possible up to 2026-12-03T12:25:00Z from dump dump1", "from 2026-12-03T12:32:00Z on, the time of dump dump2"},
		// After the last shipped event.
		50: {"between mysql-bin.000003 and mysql-bin.000005 are missing"},
	} {
		_, err := recoveryChain(shipped, plan(until), dumps)
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("until 12:%02d: error %v, want %q", until, err, w)
			}
		}
	}
	if _, err := recoveryChain(shipped[:3], plan(40), dumps); err == nil || !strings.Contains(err.Error(), "reach 2026-12-03T12:25:00Z (mysql-bin.000003)") {
		t.Errorf("past the shipped logs: error %v", err)
	}
	p := plan(20)
	p.file = "mysql-bin.000004"
	if _, err := recoveryChain(shipped, p, dumps); err == nil || !strings.Contains(err.Error(), "mysql-bin.000004 is not in the repository") {
		t.Errorf("an unshipped position file: error %v", err)
	}
	// A name used twice (the numbers started again): the file shipped after the dump began.
	again := append(append([]shippedBinlog{}, shipped[:3]...), shippedFile("mysql-bin.000002", 45, 40, 45, 0, 3, true))
	late := &recoveryPlan{target: recoveryTarget{until: at(44)}, base: &restic.Snapshot{ShortID: "dump3", Time: at(41)}, file: "mysql-bin.000002"}
	if chain, err := recoveryChain(again, late, dumps); err != nil || len(chain) != 1 || !chain[0].snap.Time.Equal(at(45)) {
		t.Errorf("a reused name: chain %+v, %v; want the file shipped at 12:45", chain, err)
	}
	// The file of dump1's position was never shipped, and its name was used again later.
	reset := []shippedBinlog{shippedFile("mysql-bin.000002", 45, 40, 45, 0, 3, true)}
	if _, err := recoveryChain(reset, plan(44), dumps); err == nil || !strings.Contains(err.Error(), "the shipped mysql-bin.000002 was created at 2026-12-03T12:40:00Z, after the dump") {
		t.Errorf("a reused name, the dump's file never shipped: error %v", err)
	}
}

func TestRecoveryChainToGTID(t *testing.T) {
	base := &restic.Snapshot{ShortID: "dump1", Time: time.Date(2026, 12, 3, 12, 10, 0, 0, time.UTC)}
	shipped := []shippedBinlog{
		shippedFile("mysql-bin.000001", 5, 0, 5, 0, 10, false),
		shippedFile("mysql-bin.000002", 15, 5, 15, 10, 20, false),
		shippedFile("mysql-bin.000003", 25, 15, 25, 20, 30, false),
	}
	plan := func(seq uint64) *recoveryPlan {
		return &recoveryPlan{target: recoveryTarget{gtid: &binlog.GTID{Domain: 0, Server: 7, Seq: seq}}, base: base, file: "mysql-bin.000002", pos: 400}
	}
	for seq, want := range map[uint64]string{11: "mysql-bin.000002", 20: "mysql-bin.000002", 21: "mysql-bin.000002 mysql-bin.000003", 30: "mysql-bin.000002 mysql-bin.000003"} {
		chain, err := recoveryChain(shipped, plan(seq), nil)
		var names []string
		for _, b := range chain {
			names = append(names, b.File)
		}
		if err != nil || strings.Join(names, " ") != want {
			t.Errorf("GTID 0-7-%d: chain %v, %v; want %q", seq, names, err, want)
		}
		if g := gtidFile(shipped, *plan(seq).target.gtid); shipped[g].File != strings.Fields(want)[len(strings.Fields(want))-1] {
			t.Errorf("GTID 0-7-%d is in %s, want the chain's last file", seq, shipped[g].File)
		}
	}
	// Before the position's file: the dump holds it.
	if _, err := recoveryChain(shipped, plan(10), nil); !errors.Is(err, errPastTarget) {
		t.Errorf("GTID 0-7-10, before the dump's file: error %v, want errPastTarget", err)
	}
	if _, err := recoveryChain(shipped, plan(31), nil); err == nil || !strings.Contains(err.Error(), `reach GTID "0-7-30" (mysql-bin.000003)`) {
		t.Errorf("GTID 0-7-31, not shipped: error %v", err)
	}
	if g := gtidFile(shipped, binlog.GTID{Domain: 1, Server: 7, Seq: 3}); g != -1 {
		t.Errorf("a domain no file holds: file %d", g)
	}
	if err := notShipped(shipped, binlog.GTID{Seq: 31, Server: 7}); !strings.Contains(err.Error(), `up to "0-7-30" (mysql-bin.000003)`) {
		t.Errorf("notShipped: %v", err)
	}
	if err := notShipped(shipped[1:], binlog.GTID{Seq: 5, Server: 7}); !strings.Contains(err.Error(), `older than every shipped binary log: they start after "0-7-10" (mysql-bin.000002)`) {
		t.Errorf("notShipped, a forgotten transaction: %v", err)
	}
}

func TestParseRecoveryTarget(t *testing.T) {
	if tg, ok, err := ParseRecoveryTarget("", " 0-7-1234 "); err != nil || !ok || tg.gtid == nil || tg.gtid.String() != "0-7-1234" || tg.String() != "GTID 0-7-1234" {
		t.Errorf("a GTID: %+v, %v, %v", tg, ok, err)
	}
	if tg, ok, err := ParseRecoveryTarget("2026-12-03 14:05:00", ""); err != nil || !ok || tg.gtid != nil || tg.String() != "2026-12-03T14:05:00Z" {
		t.Errorf("a time: %+v, %v, %v", tg, ok, err)
	}
	if _, ok, err := ParseRecoveryTarget(" ", ""); ok || err != nil {
		t.Errorf("neither: %v, %v", ok, err)
	}
	for until, gtid := range map[string]string{"2026-12-03 14:05:00": "0-7-1", "": "0-7-1,1-7-2", "x": "", "_": "0-7"} {
		if until == "_" {
			until = ""
		}
		if _, _, err := ParseRecoveryTarget(until, gtid); err == nil {
			t.Errorf("until %q, untilGTID %q: no error", until, gtid)
		}
	}
}

// TestNeededFrom: retention keeps the file of the oldest dump's position and those after it,
// and no file shipped after that dump began goes: not when the position's name was used
// again after a reset.
func TestNeededFrom(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 12, 3, 12, m, 0, 0, time.UTC) }
	shipped := []shippedBinlog{
		shippedFile("mysql-bin.000001", 1, 0, 1, 0, 5, false),
		shippedFile("mysql-bin.000002", 2, 1, 2, 5, 9, false),
		shippedFile("mysql-bin.000003", 4, 2, 4, 9, 12, false),
		// The server was reset: its numbers started again.
		shippedFile("mysql-bin.000001", 10, 9, 10, 0, 2, true),
		shippedFile("mysql-bin.000002", 11, 10, 11, 2, 4, false),
		shippedFile("mysql-bin.000003", 12, 11, 12, 4, 6, false),
		shippedFile("mysql-bin.000004", 13, 12, 13, 6, 8, false),
	}
	for name, tc := range map[string]struct {
		file     string
		dumpTime int
		want     int
	}{
		"the position's file and after":        {"mysql-bin.000003", 3, 2},
		"a name used again after the reset":    {"mysql-bin.000004", 3, 2},
		"the position's file of the new files": {"mysql-bin.000002", 11, 4},
		"every file shipped after the dump":    {"mysql-bin.000001", 0, 0},
	} {
		if got := neededFrom(shipped, tc.file, at(tc.dumpTime)); got != tc.want {
			t.Errorf("%s: neededFrom = %d, want %d", name, got, tc.want)
		}
	}
}

func TestPlainFileName(t *testing.T) {
	for name, want := range map[string]bool{
		"mysql-bin.000001": true, "db_bin.1000000": true,
		"": false, ".": false, "..": false, "--result-file=x": false, "-v": false, "../etc/x": false, "a/b": false, "a\x00b": false,
	} {
		if got := plainFileName(name); got != want {
			t.Errorf("plainFileName(%q) = %v, want %v", name, got, want)
		}
	}
}
