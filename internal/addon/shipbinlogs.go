package addon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// maxListedBinlogs bounds the shipped snapshots a result lists, so that it fits a
// termination message; the operator's next repository sync finds the others.
const maxListedBinlogs = 8

// shippedBinlog is a binary log file's snapshot in the repository.
type shippedBinlog struct {
	binlog.Shipped
	snap restic.Snapshot
}

// shipBinlogs ships the binary log files the server closed since the last run, each as a
// snapshot of its own, then forgets those no kept dump needs. Every precondition is checked
// before anything is written. A file that does not start where the last shipped one ended
// (the logs between were purged, or reset) is still shipped, tagged as after a gap, and
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
	if err := checkBinlogPreconditions(ctx, db); err != nil {
		return err
	}

	shipped, dumps, err := s.listTarget(ctx, o, res)
	if err != nil {
		return err
	}
	var last *shippedBinlog
	if len(shipped) > 0 {
		last = &shipped[len(shipped)-1]
	}
	// Everything committed until now goes to closed files.
	if _, err := db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return fmt.Errorf("failed to close the active binary log with FLUSH BINARY LOGS (it needs the RELOAD privilege, or BINLOG ADMIN on MariaDB 10.5.2 and later): %w", err)
	}
	files, err := binaryLogs(ctx, db)
	if err != nil {
		return err
	}
	todo := pendingBinlogs(files[:len(files)-1], last)
	if len(todo) == 0 {
		s.log.Info("no closed binary log to ship")
		return nil
	}
	dir := filepath.Join(s.work, "binlogs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create a directory for the binary logs: %w", err)
	}
	if err := s.fetchBinlogs(ctx, dir, todo); err != nil {
		return err
	}

	var gaps []string
	prev := last
	for i, f := range todo {
		info, err := binlog.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		gap := prev != nil && !info.Begin.Equal(prev.End)
		if gap {
			gaps = append(gaps, describeGap(prev, f, info))
		}
		snap, err := s.shipBinlog(ctx, o, filepath.Join(dir, f), f, info, gap)
		if err != nil {
			return fmt.Errorf("failed to ship binary log %s (%s shipped before it in this run): %w", f, plural(i, "file"), err)
		}
		s.log.Info("binary log shipped", "file", f, "snapshot", snap.Name, "first", info.First.Format(time.RFC3339), "last", info.Last.Format(time.RFC3339),
			"transactions", info.Transactions, "gtid", info.End.String(), "size", snap.TotalSize)
		if len(res.Snapshots) < maxListedBinlogs {
			res.Snapshots = append(res.Snapshots, snap)
		}
		prev = &shippedBinlog{
			Shipped: binlog.Shipped{File: f, First: info.First, Last: info.Last, Begin: info.Begin, End: info.End, Gap: gap},
			snap:    restic.Snapshot{ID: snap.ID, ShortID: snap.Name, Time: time.Now()},
		}
		shipped = append(shipped, *prev)
	}
	s.log.Info("binary logs shipped", "files", len(todo), "from", todo[0], "to", todo[len(todo)-1])

	if err := s.forgetBinlogs(ctx, o, res, shipped, dumps); err != nil {
		res.FailedActions = append(res.FailedActions, result.ActionFailure{Action: result.ActionApplyRetention, Error: clip(s.scrub.String(err.Error()), maxActionError)})
		return fmt.Errorf("%s shipped and kept, but applying the retention of binary logs failed: %w", plural(len(todo), "binary log"), err)
	}
	if len(gaps) > 0 {
		return fmt.Errorf("%s shipped, but the binary logs have a gap: %s", plural(len(todo), "binary log"), strings.Join(gaps, "; "))
	}
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
// serving point-in-time recovery.
func checkBinlogPreconditions(ctx context.Context, db *sql.DB) error {
	var (
		on       bool
		format   string
		serverID uint64
	)
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.server_id").Scan(&on, &format, &serverID); err != nil {
		return fmt.Errorf("failed to read the server's binary log settings: %w", err)
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
	if expiry, err := binlogExpiry(ctx, db); err != nil {
		return err
	} else if expiry > 0 && expiry < MinBinlogExpiry {
		problems = append(problems, fmt.Sprintf("binary logs expire after %s, before the %s they must be kept until shipped (binlog_expire_logs_seconds or expire_logs_days)", expiry, MinBinlogExpiry))
	}
	if len(problems) > 0 {
		return fmt.Errorf("the server's binary logs cannot serve point-in-time recovery, nothing was shipped: %s", strings.Join(problems, "; "))
	}
	return nil
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
		files = append(files, string(vals[0]))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed to read SHOW BINARY LOGS: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("the server lists no binary log (SHOW BINARY LOGS)")
	}
	return files, nil
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
		if binlogAfter(f, last.File) {
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

// shippedOf keeps the snapshots that hold a binary log, in the order they were shipped.
func shippedOf(snaps []restic.Snapshot) []shippedBinlog {
	var out []shippedBinlog
	for _, sn := range snaps {
		if b, ok := binlog.FromTags(sn.Tags); ok {
			out = append(out, shippedBinlog{Shipped: b, snap: sn})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].snap.Time.Before(out[j].snap.Time) })
	return out
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

// shipBinlog stores one file as a snapshot.
func (s *session) shipBinlog(ctx context.Context, o *BackupOptions, path, file string, info *binlog.Info, gap bool) (result.Snapshot, error) {
	tags := append(o.Tags(), binlog.Tags(file, info, gap)...)
	var sum *restic.BackupSummary
	err := s.retryLocked(ctx, "backup", func(ctx context.Context) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sum, err = s.restic.BackupReader(ctx, restic.BackupOptions{Host: o.hostname(), Tags: tags, Filename: file}, f)
		return err
	})
	if err != nil {
		return result.Snapshot{}, err
	}
	// Not completed with restic's tree and user (completeSnapshot): one more restic call per
	// file, at every interval; the operator's next repository sync fills them in.
	return snapshotResult(sum, o, file, tags), nil
}

// forgetBinlogs forgets the shipped binary logs that no kept dump of the target needs: those
// shipped before the file that holds the oldest dump's position (the oldest dump that records
// one). Times before that dump cannot be recovered to anyway. Without such a dump, or before
// its file is shipped, every file is kept.
func (s *session) forgetBinlogs(ctx context.Context, o *BackupOptions, res *result.Result, shipped []shippedBinlog, dumps []restic.Snapshot) error {
	// Only files shipped before a dump can come before its position's file: without any, the
	// dumps' positions need not be read.
	newestDump := time.Time{}
	for _, d := range dumps {
		if d.Time.After(newestDump) {
			newestDump = d.Time
		}
	}
	if len(shipped) < 2 || !shipped[0].snap.Time.Before(newestDump) {
		return nil
	}
	sort.Slice(dumps, func(i, j int) bool { return dumps[i].Time.Before(dumps[j].Time) })
	start := -1
	var (
		oldest *restic.Snapshot
		file   string
	)
	for i := range dumps {
		var err error
		file, _, err = s.dumpPosition(ctx, &dumps[i])
		if err != nil {
			s.log.Info("a dump without a binary log position does not bound the binary logs' retention", "dump", dumps[i].ShortID, "reason", err)
			continue
		}
		oldest, start = &dumps[i], chainStart(shipped, file, dumps[i].Time)
		break
	}
	if oldest == nil {
		s.log.Info("no dump of the target records a binary log position: every shipped binary log is kept")
		return nil
	}
	if start <= 0 {
		s.log.Info("every shipped binary log is kept: none was shipped before the one of the oldest dump's position", "dump", oldest.ShortID, "file", file, "shipped", start >= 0)
		return nil
	}
	var ids, names []string
	for _, b := range shipped[:start] {
		ids = append(ids, b.snap.ID)
		names = append(names, b.File)
	}
	if o.Retention.DryRun {
		s.log.Info("retention (dry run) would forget binary logs from before the oldest dump", "files", names, "oldestDump", oldest.ShortID)
		return nil
	}
	if err := s.retryLocked(ctx, "forget", func(ctx context.Context) error {
		return s.restic.ForgetIDs(ctx, ids, o.Retention.Prune)
	}); err != nil {
		return err
	}
	s.log.Info("forgot binary logs from before the oldest dump", "files", names, "oldestDump", oldest.ShortID, "dumpTime", formatTime(oldest.Time))
	res.PostActions = append(res.PostActions, result.ActionApplyRetention)
	for _, id := range ids {
		res.Forgotten = append(res.Forgotten, restic.ShortID(id))
	}
	return nil
}
