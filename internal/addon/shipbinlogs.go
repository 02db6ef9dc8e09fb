package addon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/binlog"
	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/snaptag"
)

// The backup modes: a dump of the databases, or the server's binary logs since the last run
// (point-in-time recovery, design 0040).
const (
	BackupModeDump    = "dump"
	BackupModeBinlogs = "binlogs"
)

// MinBinlogExpiry is the shortest binary log expiry that shipping accepts: a server that
// purges its logs sooner may purge them before they are shipped.
const MinBinlogExpiry = time.Hour

// neededExpiry is how long the server must keep its binary logs for shipping on a schedule
// whose runs are at most interval apart: two intervals, so that one failed or skipped run
// loses nothing, and MinBinlogExpiry at least.
func neededExpiry(interval time.Duration) time.Duration {
	return max(MinBinlogExpiry, 2*interval)
}

// maxListedBinlogs bounds the shipped snapshots a result lists, so that it fits a
// termination message; the operator's next repository sync finds the others.
const maxListedBinlogs = 8

// shippedBinlog is a binary log file's snapshot in the repository.
type shippedBinlog struct {
	binlog.Shipped
	snap restic.Snapshot
	// older are the earlier snapshots of the same file (starts shipped while it was being
	// written) that this one supersedes.
	older []restic.Snapshot
}

// shipBinlogs ships the binary log files the server closed since the last run, each as a
// snapshot of its own; when streaming (o.ShipEvery), it then follows the active file and ships
// its whole transactions every interval (design 0043). Last it forgets those no kept dump
// needs, and the starts of files that later snapshots supersede. Every precondition is
// checked before anything is written. A file that does not start where the last shipped one
// ended (the logs between were purged, or reset) is still shipped, tagged as after a gap, and
// fails the run with the times that cannot be recovered.
func (s *session) shipBinlogs(ctx context.Context, o *BackupOptions, res *result.Result) error {
	if o.Target().IsZero() {
		return errors.New("shipping binary logs needs the target's identity (--target-kind/--target-name): " +
			"their snapshots are found again by it")
	}
	if err := s.waitDB(ctx); err != nil {
		return err
	}
	db, err := engineDB(s.target, s.stderr)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	short, err := checkBinlogPreconditions(ctx, db, o.ScheduleInterval)
	if err != nil {
		return err
	}
	if short != "" {
		s.log.Info("binary logs are shipped, and the run then fails", "reason", short)
	}

	shipped, dumps, err := s.listTarget(ctx, o, res)
	if err != nil {
		return err
	}
	sh := &binlogShipping{s: s, o: o, res: res, shipped: shipped}
	// Everything committed until now goes to closed files.
	if _, err := db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return fmt.Errorf("failed to close the active binary log with FLUSH BINARY LOGS (it needs the RELOAD privilege, or BINLOG ADMIN on MariaDB 10.5.2 and later): %w", err)
	}
	files, err := binaryLogs(ctx, db)
	if err != nil {
		return err
	}
	if err := sh.shipClosed(ctx, pendingBinlogs(files[:len(files)-1], sh.last())); err != nil {
		return err
	}
	var problems []string
	if o.ShipEvery > 0 {
		if err := sh.stream(ctx, files[len(files)-1]); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if short != "" {
		problems = append(problems, short)
	}
	if sh.count == 0 {
		if len(problems) > 0 {
			return fmt.Errorf("nothing was shipped, and %s", strings.Join(problems, "; "))
		}
		return nil
	}

	if err := s.forgetBinlogs(ctx, o, res, sh.shipped, dumps); err != nil {
		res.FailedActions = append(res.FailedActions, result.ActionFailure{Action: result.ActionApplyRetention, Error: clip(s.scrub.String(err.Error()), maxActionError)})
		return fmt.Errorf("%s shipped and kept, but applying the retention of binary logs failed: %w", plural(sh.count, "binary log snapshot"), err)
	}
	if len(sh.gaps) > 0 {
		problems = append(problems, "the binary logs have a gap: "+strings.Join(sh.gaps, "; "))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s shipped, but %s", plural(sh.count, "binary log snapshot"), strings.Join(problems, "; "))
	}
	return nil
}

// binlogShipping is one shipping run: the target's shipped files, in order, with what the run
// adds, and the gaps it found.
type binlogShipping struct {
	s       *session
	o       *BackupOptions
	res     *result.Result
	shipped []shippedBinlog
	count   int
	gaps    []string
}

func (b *binlogShipping) last() *shippedBinlog {
	if len(b.shipped) == 0 {
		return nil
	}
	return &b.shipped[len(b.shipped)-1]
}

// shipClosed copies closed files from the server and ships them.
func (b *binlogShipping) shipClosed(ctx context.Context, todo []string) error {
	if len(todo) == 0 {
		b.s.log.Info("no closed binary log to ship")
		return nil
	}
	dir := filepath.Join(b.s.work, "binlogs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create a directory for the binary logs: %w", err)
	}
	if err := b.s.fetchBinlogs(ctx, dir, todo); err != nil {
		return err
	}
	for i, f := range todo {
		path := filepath.Join(dir, f)
		info, err := binlog.ReadFile(path)
		if err != nil {
			return err
		}
		if err := b.ship(ctx, path, f, -1, false, info); err != nil {
			return fmt.Errorf("failed to ship binary log %s (%s shipped before it in this run): %w", f, plural(i, "file"), err)
		}
	}
	b.s.log.Info("binary logs shipped", "files", len(todo), "from", todo[0], "to", todo[len(todo)-1])
	return nil
}

// ship stores binary log file, read as info, from path as a snapshot: its first size bytes
// (all when size < 0), partial for the start of a file still written to. A file that does not
// start where the file before it ended is tagged as after a gap, and the gap noted.
func (b *binlogShipping) ship(ctx context.Context, path, file string, size int64, partial bool, info *binlog.Info) error {
	cur := binlog.Shipped{File: file, First: info.First, Last: info.Last, Begin: info.Begin, End: info.End, Partial: partial}
	last := b.last()
	again := last != nil && cur.Supersedes(last.Shipped)
	switch {
	case again:
		cur.Gap = last.Gap
	case last != nil && !info.Begin.Equal(last.End):
		cur.Gap = true
		b.gaps = append(b.gaps, describeGap(last, file, info))
	}
	snap, err := b.s.shipBinlog(ctx, b.o, path, size, file, info, cur.Gap, cur.Partial)
	if err != nil {
		return err
	}
	b.s.log.Info("binary log shipped", "file", file, "partial", cur.Partial, "snapshot", snap.Name, "first", info.First.Format(time.RFC3339),
		"last", info.Last.Format(time.RFC3339), "transactions", info.Transactions, "gtid", info.End.String(), "size", snap.TotalSize)
	// The newest are listed: the older starts of a streamed file are forgotten.
	if len(b.res.Snapshots) == maxListedBinlogs {
		b.res.Snapshots = b.res.Snapshots[1:]
	}
	b.res.Snapshots = append(b.res.Snapshots, snap)
	b.count++
	entry := shippedBinlog{Shipped: cur, snap: restic.Snapshot{ID: snap.ID, ShortID: snap.Name, Time: time.Now()}}
	if again {
		entry.older = append(last.older, last.snap)
		*last = entry
		return nil
	}
	b.shipped = append(b.shipped, entry)
	return nil
}

// describeGap says which times cannot be recovered: those between the last event shipped
// before the gap and the first event after it.
func describeGap(prev *shippedBinlog, file string, info *binlog.Info) string {
	return fmt.Sprintf("%s starts at GTID position %q, but %s, shipped before it, ended at %q: the binary logs between them were purged before they were shipped, "+
		"or the server's binary logs were reset. Recovery to a time between %s and %s is not possible; "+
		"a full backup taken after %s makes later times recoverable again",
		file, info.Begin.String(), prev.File, prev.End.String(),
		prev.Last.UTC().Format(time.RFC3339), info.First.UTC().Format(time.RFC3339), info.First.UTC().Format(time.RFC3339))
}

// checkBinlogPreconditions reports, all at once, what stops the server's binary logs from
// serving point-in-time recovery. An expiry of an hour or more that is still shorter than
// two of the schedule's intervals does not stop the shipping, which keeps what the server
// still has: it is returned as short, for the run to fail with after it shipped.
func checkBinlogPreconditions(ctx context.Context, db *sql.DB, interval time.Duration) (short string, err error) {
	var (
		on       bool
		format   string
		serverID uint64
	)
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.server_id").Scan(&on, &format, &serverID); err != nil {
		return "", fmt.Errorf("failed to read the server's binary log settings: %w", err)
	}
	var problems []string
	if !on {
		problems = append(problems, "binary logging is off (start the server with log_bin)")
	}
	if f := strings.ToUpper(format); f != "ROW" && f != "MIXED" {
		problems = append(problems, fmt.Sprintf("binlog_format is %s; replaying it could give other rows than the source had: set ROW (or MIXED)", format))
	}
	if serverID == 0 {
		problems = append(problems, "server_id is 0; binary logs need a server id")
	}
	expiry, err := binlogExpiry(ctx, db)
	if err != nil {
		return "", err
	}
	if need := neededExpiry(interval); expiry > 0 && expiry < need {
		why := "an hour at least"
		if need > MinBinlogExpiry {
			why = fmt.Sprintf("twice the schedule's longest interval, %s, so that a failed or skipped run loses nothing", interval)
		}
		short = fmt.Sprintf("binary logs expire after %s, before the %s they must be kept until shipped (%s): raise binlog_expire_logs_seconds or expire_logs_days", expiry, need, why)
		if expiry < MinBinlogExpiry {
			problems = append(problems, short)
		}
	}
	if missing := missingBinlogPrivileges(ctx, db); len(missing) > 0 {
		problems = append(problems, "the account lacks "+strings.Join(missing, ", "))
	}
	if len(problems) > 0 {
		if short != "" && expiry >= MinBinlogExpiry {
			problems = append(problems, short)
		}
		return "", fmt.Errorf("the server's binary logs cannot serve point-in-time recovery, nothing was shipped: %s", strings.Join(problems, "; "))
	}
	return short, nil
}

// binlogPrivilege is a privilege shipping needs: any of grantedBy gives it.
type binlogPrivilege struct {
	name, why string
	grantedBy []string
}

func binlogPrivileges() []binlogPrivilege {
	return []binlogPrivilege{
		{"REPLICATION SLAVE", "to read the binary logs over the replication protocol", []string{"REPLICATION SLAVE", "REPLICATION REPLICA"}},
		{"BINLOG MONITOR", "to list them with SHOW BINARY LOGS; REPLICATION CLIENT before MariaDB 10.5.2", []string{"BINLOG MONITOR", "REPLICATION CLIENT"}},
		{"RELOAD", "to close the active one with FLUSH BINARY LOGS; or BINLOG ADMIN", []string{"RELOAD", "BINLOG ADMIN"}},
	}
}

// missingBinlogPrivileges reads the account's global grants (SHOW GRANTS) and names the
// privileges shipping needs that they do not give. When the grants cannot tell (a role, SUPER,
// a grant it cannot read), it names none: the statement that needs the privilege then fails,
// still before anything is stored. The grant lines are never logged: they hold the password's
// hash.
func missingBinlogPrivileges(ctx context.Context, db *sql.DB) []string {
	rows, err := db.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return nil
	}
	defer func() { _ = rows.Close() }()
	granted := map[string]bool{}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil
		}
		privs, ok := globalPrivileges(line)
		if !ok {
			return nil
		}
		for _, p := range privs {
			granted[p] = true
		}
	}
	if rows.Err() != nil || granted["ALL PRIVILEGES"] || granted["SUPER"] {
		return nil
	}
	var missing []string
	for _, p := range binlogPrivileges() {
		if !slices.ContainsFunc(p.grantedBy, func(g string) bool { return granted[g] }) {
			missing = append(missing, p.name+" ("+p.why+")")
		}
	}
	return missing
}

// globalPrivileges reads one line of SHOW GRANTS: the privileges it grants on *.*, none for
// other objects; ok is false for a line it cannot read, such as a role's grant.
func globalPrivileges(line string) (privs []string, ok bool) {
	rest, found := strings.CutPrefix(line, "GRANT ")
	if !found {
		return nil, strings.HasPrefix(line, "SET DEFAULT ROLE NONE")
	}
	list, object, found := strings.Cut(rest, " ON ")
	if !found {
		return nil, false
	}
	if !strings.HasPrefix(object, "*.* ") {
		return nil, true
	}
	for _, p := range strings.Split(list, ",") {
		privs = append(privs, strings.ToUpper(strings.TrimSpace(p)))
	}
	return privs, true
}

// binlogExpiry is how long the server keeps binary logs; 0 for ever.
func binlogExpiry(ctx context.Context, db *sql.DB) (time.Duration, error) {
	var seconds float64
	// binlog_expire_logs_seconds exists from MariaDB 10.6 on; expire_logs_days everywhere.
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_expire_logs_seconds").Scan(&seconds); err == nil {
		return time.Duration(seconds) * time.Second, nil
	}
	var days float64
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.expire_logs_days").Scan(&days); err != nil {
		return 0, fmt.Errorf("failed to read the binary log expiry: %w", err)
	}
	return time.Duration(days * float64(24*time.Hour)), nil
}

// binaryLogs lists the server's binary log files, oldest first; the last one is active.
func binaryLogs(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("failed to list the binary logs with SHOW BINARY LOGS (it needs the BINLOG MONITOR privilege, or REPLICATION CLIENT before MariaDB 10.5.2): %w", err)
	}
	defer func() { _ = rows.Close() }()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var files []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("failed to read SHOW BINARY LOGS: %w", err)
		}
		name := string(vals[0])
		if !plainFileName(name) {
			return nil, fmt.Errorf("the server lists binary log %q (SHOW BINARY LOGS), which is not a plain file name: nothing is shipped from it", name)
		}
		files = append(files, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed to read SHOW BINARY LOGS: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("the server lists no binary log (SHOW BINARY LOGS)")
	}
	return files, nil
}

// plainFileName tells whether a binary log's name, as the server gives it, is a file name
// that can be neither an option of mariadb-binlog nor a path out of the work directory.
func plainFileName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.HasPrefix(name, "-") && !strings.ContainsAny(name, "/\x00")
}

// pendingBinlogs are the closed files not shipped yet: those after the last shipped one. When
// the server's files are all older than it (their numbers started again after RESET
// MASTER), all of them; the gap check then reports the reset.
func pendingBinlogs(closed []string, last *shippedBinlog) []string {
	if last == nil {
		return closed
	}
	var after []string
	for _, f := range closed {
		// A file shipped while it was written is shipped again, whole.
		if binlogAfter(f, last.File) || last.Partial && f == last.File {
			after = append(after, f)
		}
	}
	if len(after) == 0 && len(closed) > 0 && binlogAfter(last.File, closed[len(closed)-1]) {
		return closed
	}
	return after
}

// binlogAfter tells whether file a comes after file b: the same base name with a higher
// number, or another base name (the server's log_basename changed).
func binlogAfter(a, b string) bool {
	ab, an, _ := strings.Cut(a, ".")
	bb, bn, _ := strings.Cut(b, ".")
	if ab != bb {
		return true
	}
	if len(an) != len(bn) {
		return len(an) > len(bn)
	}
	return an > bn
}

// listTarget lists the target's snapshots with one restic call, creating the repository when
// there is none: its shipped binary logs in the order they were shipped, and its dumps.
func (s *session) listTarget(ctx context.Context, o *BackupOptions, res *result.Result) ([]shippedBinlog, []restic.Snapshot, error) {
	var snaps []restic.Snapshot
	list := func() error {
		return s.retryLocked(ctx, "snapshots", func(ctx context.Context) error {
			return s.withStorageTimeout(ctx, func(ctx context.Context) error {
				var err error
				snaps, err = s.restic.Snapshots(ctx, restic.Filter{Host: o.hostname(), Tags: snaptag.Tags(o.Target(), "", "")}, 0)
				return err
			})
		})
	}
	err := list()
	if errors.Is(err, restic.ErrNoRepository) {
		if err := s.initRepository(ctx, res); err != nil {
			return nil, nil, err
		}
		err = list()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("failed to list the target's snapshots: %w", err)
	}
	var dumps []restic.Snapshot
	for _, sn := range snaps {
		if len(sn.Paths) == 1 && sn.Paths[0] == "/"+DumpFileName {
			dumps = append(dumps, sn)
		}
	}
	return shippedOf(snaps), dumps, nil
}

// shippedOf keeps the snapshots that hold a binary log, one per file, in the order they were
// shipped.
func shippedOf(snaps []restic.Snapshot) []shippedBinlog {
	var out []shippedBinlog
	for _, sn := range snaps {
		if b, ok := binlog.FromTags(sn.Tags); ok {
			out = append(out, shippedBinlog{Shipped: b, snap: sn})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].snap.Time.Before(out[j].snap.Time) })
	// A file's later snapshot supersedes the starts shipped while it was written.
	var files []shippedBinlog
	for _, b := range out {
		if n := len(files); n > 0 && b.Supersedes(files[n-1].Shipped) {
			b.older = append(files[n-1].older, files[n-1].snap)
			b.Gap = b.Gap || files[n-1].Gap
			files[n-1] = b
			continue
		}
		files = append(files, b)
	}
	return files
}

// fetchBinlogs copies files from the server into dir.
func (s *session) fetchBinlogs(ctx context.Context, dir string, files []string) error {
	argv := s.db.FetchBinlogsCommand(dir, files)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = s.db.Env
	tail := mysql.NewTail(4096)
	cmd.Stdout, cmd.Stderr = tail, tail
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("failed to read binary logs %s…%s from the server (reading them over the replication protocol needs the REPLICATION SLAVE privilege): %w",
			files[0], files[len(files)-1], mysql.RunError(argv, err, tail.Lines()))
	}
	return nil
}

// shipBinlog stores one file as a snapshot: its first size bytes, or all of it (size < 0).
func (s *session) shipBinlog(ctx context.Context, o *BackupOptions, path string, size int64, file string, info *binlog.Info, gap, partial bool) (result.Snapshot, error) {
	tags := append(o.Tags(), binlog.Tags(file, info, gap, partial)...)
	var sum *restic.BackupSummary
	err := s.retryLocked(ctx, "backup", func(ctx context.Context) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var r io.Reader = f
		if size >= 0 {
			r = io.LimitReader(f, size)
		}
		sum, err = s.restic.BackupReader(ctx, restic.BackupOptions{Host: o.hostname(), Tags: tags, Filename: file}, r)
		return err
	})
	if err != nil {
		return result.Snapshot{}, err
	}
	// Not completed with restic's tree and user (completeSnapshot): one more restic call per
	// file, at every interval; the operator's next repository sync fills them in.
	return snapshotResult(sum, o, file, tags), nil
}

// forgetBinlogs forgets the shipped binary logs that no kept dump of the target needs, and
// the starts of files that later snapshots of them supersede.
func (s *session) forgetBinlogs(ctx context.Context, o *BackupOptions, res *result.Result, shipped []shippedBinlog, dumps []restic.Snapshot) error {
	var ids, names []string
	start, oldest := s.binlogsNeeded(ctx, shipped, dumps)
	for i, b := range shipped {
		if i < start {
			ids = append(ids, b.snap.ID)
			names = append(names, b.File)
		}
		for _, sn := range b.older {
			ids = append(ids, sn.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	superseded := len(ids) - len(names)
	if o.Retention.DryRun {
		s.log.Info("retention (dry run) would forget binary logs from before the oldest dump, and superseded starts of files", "files", names, "superseded", superseded)
		return nil
	}
	if err := s.retryLocked(ctx, "forget", func(ctx context.Context) error {
		return s.restic.ForgetIDs(ctx, ids, o.Retention.Prune)
	}); err != nil {
		return err
	}
	if len(names) > 0 {
		s.log.Info("forgot binary logs from before the oldest dump", "files", names, "oldestDump", oldest.ShortID, "dumpTime", formatTime(oldest.Time))
	}
	if superseded > 0 {
		s.log.Info("forgot starts of binary logs that later snapshots of them hold", "snapshots", superseded)
	}
	res.PostActions = append(res.PostActions, result.ActionApplyRetention)
	gone := map[string]bool{}
	for _, id := range ids {
		res.Forgotten = append(res.Forgotten, restic.ShortID(id))
		gone[restic.ShortID(id)] = true
	}
	// Listed snapshots that are gone already are not reported as new.
	kept := res.Snapshots[:0]
	for _, sn := range res.Snapshots {
		if !gone[sn.Name] {
			kept = append(kept, sn)
		}
	}
	res.Snapshots = kept
	return nil
}

// binlogsNeeded is the index of the first shipped file a kept dump of the target may need.
// Two bounds are taken, and the lower one kept, so that neither alone can make a needed file
// look unneeded:
//   - by position: the file that holds the oldest dump's position (of the dumps that record
//     one). A dump whose start cannot be read keeps every file;
//   - by time: the first file whose newest snapshot was taken after that dump began. A dump's
//     position is in the file the server was writing when it began, which was shipped after
//     that; files shipped before it ended before that dump, or any later one, began. This
//     bound holds when the server used a file's name again (after a reset) and the position
//     names the wrong file. Older dumps without a position need no binary log.
//
// Without a dump that records a position, or before its file is shipped, every file is
// needed (0).
func (s *session) binlogsNeeded(ctx context.Context, shipped []shippedBinlog, dumps []restic.Snapshot) (int, *restic.Snapshot) {
	// Only files shipped before a dump can come before its position's file: without any, the
	// dumps' positions need not be read.
	newestDump := time.Time{}
	for _, d := range dumps {
		if d.Time.After(newestDump) {
			newestDump = d.Time
		}
	}
	if len(shipped) < 2 || !shipped[0].snap.Time.Before(newestDump) {
		return 0, nil
	}
	sort.Slice(dumps, func(i, j int) bool { return dumps[i].Time.Before(dumps[j].Time) })
	for i := range dumps {
		file, _, err := s.dumpPosition(ctx, &dumps[i])
		if errors.Is(err, errNoPosition) {
			s.log.Info("a dump without a binary log position does not bound the binary logs' retention", "dump", dumps[i].ShortID)
			continue
		}
		if err != nil {
			s.log.Info("every shipped binary log is kept: the position of a dump could not be read", "dump", dumps[i].ShortID, "reason", err)
			return 0, nil
		}
		start := neededFrom(shipped, file, dumps[i].Time)
		if start <= 0 {
			s.log.Info("every shipped binary log is kept: none was shipped before the one of the oldest dump's position", "dump", dumps[i].ShortID, "file", file)
			return 0, nil
		}
		return start, &dumps[i]
	}
	s.log.Info("no dump of the target records a binary log position: every shipped binary log is kept")
	return 0, nil
}

// neededFrom is the lower of the two bounds of binlogsNeeded for the oldest dump with a
// position: file, its position's file, and the time it began.
func neededFrom(shipped []shippedBinlog, file string, dumpTime time.Time) int {
	return min(chainStart(shipped, file, dumpTime), shippedSince(shipped, dumpTime))
}

// shippedSince is the index of the first shipped file whose newest snapshot was taken at or
// after t; len(shipped) when none was.
func shippedSince(shipped []shippedBinlog, t time.Time) int {
	for i, b := range shipped {
		if !b.snap.Time.Before(t) {
			return i
		}
	}
	return len(shipped)
}
