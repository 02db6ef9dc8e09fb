package addon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/binlog"
	"github.com/hoard-operator/hoard/internal/dumpfacts"
	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/snaptag"
)

// maxPositionSearch bounds how much of a dump's start is read for its binary log position,
// which mysqldump writes before the first table.
const maxPositionSearch = 4 << 20

// recoveryPlan is a point-in-time recovery, decided and downloaded before anything on the
// server changes: the dump to load, the position it is consistent with, and the binary logs
// to replay from there up to the chosen time.
type recoveryPlan struct {
	until time.Time
	base  *restic.Snapshot
	file  string // the binary log the dump's position is in
	pos   int64
	// binlogs are the downloaded files in replay order, names their names.
	binlogs, names []string
}

// ParseUntil reads a point in time: RFC 3339, or "YYYY-MM-DD HH:MM:SS" in UTC. The binary
// log stamps events to the second, so a fraction of a second is refused rather than
// rounded.
func ParseUntil(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		if t, err = time.ParseInLocation(time.DateTime, v, time.UTC); err != nil {
			return time.Time{}, fmt.Errorf("until %q is not a time: use RFC 3339 (2026-12-03T14:05:00Z) or \"2026-12-03 14:05:00\" (UTC)", v)
		}
	}
	if t.Nanosecond() != 0 {
		return time.Time{}, fmt.Errorf("until %q has a fraction of a second; binary logs stamp events to the second: give whole seconds", v)
	}
	return t.UTC(), nil
}

// planRecovery chooses the dump (the newest one taken before the time, or the one asked for)
// and the binary logs after its position, checks that they reach the time without a gap, and
// downloads them into the work directory.
func (s *session) planRecovery(ctx context.Context, until time.Time, id string, req LatestRequest) (*recoveryPlan, error) {
	p := &recoveryPlan{until: until}
	var dumps []restic.Snapshot
	err := s.retryLocked(ctx, "snapshots", func(ctx context.Context) error {
		return s.withStorageTimeout(ctx, func(ctx context.Context) error {
			var err error
			dumps, err = s.restic.Snapshots(ctx, latestFilter(req.Host), 0)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list the dumps: %w", err)
	}
	if id == "latest" {
		var before []restic.Snapshot
		for _, d := range dumps {
			if !d.Time.After(until) {
				before = append(before, d)
			}
		}
		if len(before) == 0 {
			return nil, fmt.Errorf("no dump of host %q was taken before %s, the time to recover to: the oldest is %s", req.Host, formatTime(until), oldestTime(dumps))
		}
		if p.base, err = SelectLatest(before, req); err != nil {
			return nil, err
		}
	} else {
		if p.base, err = s.findSnapshot(ctx, id, req); err != nil {
			return nil, err
		}
		if p.base.Time.After(until) {
			return nil, fmt.Errorf("snapshot %s was taken at %s, after %s, the time to recover to", p.base.ShortID, formatTime(p.base.Time), formatTime(until))
		}
	}
	target, ok := snaptag.Of(p.base.Tags)
	if !ok {
		return nil, fmt.Errorf("snapshot %s carries no target identity (it was written before Hoard's tags, e.g. by upstream Stash): its binary logs cannot be found", p.base.ShortID)
	}
	if p.file, p.pos, err = s.dumpPosition(ctx, p.base); err != nil {
		return nil, err
	}

	var snaps []restic.Snapshot
	err = s.retryLocked(ctx, "snapshots", func(ctx context.Context) error {
		var err error
		snaps, err = s.restic.Snapshots(ctx, restic.Filter{Host: p.base.Hostname, Tags: append(snaptag.Tags(target, "", ""), binlog.Tag)}, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list the shipped binary logs: %w", err)
	}
	chain, err := recoveryChain(shippedOf(snaps), p, dumps)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.work, "binlogs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create a directory for the binary logs: %w", err)
	}
	for _, b := range chain {
		path := filepath.Join(dir, fmt.Sprintf("%04d-%s", len(p.binlogs), b.File))
		if err := s.download(ctx, b.snap, "/"+b.File, path); err != nil {
			return nil, fmt.Errorf("failed to download binary log %s (snapshot %s): %w", b.File, b.snap.ShortID, err)
		}
		p.binlogs = append(p.binlogs, path)
		p.names = append(p.names, b.File)
	}
	s.log.Info("point-in-time recovery planned", "until", formatTime(until), "dump", p.base.ShortID, "dumpTime", formatTime(p.base.Time),
		"position", fmt.Sprintf("%s:%d", p.file, p.pos), "binlogs", p.names)
	return p, nil
}

// recoveryChain picks the shipped binary logs that lead from the dump's position to the time:
// the position's file (the first shipped after the dump began, should the server have used
// its name twice), then the files after it until one ends at or after the time. A gap on the
// way, or an end before the time, refuses the recovery and says which times are possible.
func recoveryChain(shipped []shippedBinlog, p *recoveryPlan, dumps []restic.Snapshot) ([]shippedBinlog, error) {
	start := chainStart(shipped, p.file, p.base.Time)
	if start < 0 {
		newest := "none has been shipped"
		if len(shipped) > 0 {
			l := shipped[len(shipped)-1]
			newest = fmt.Sprintf("the newest shipped is %s, up to %s", l.File, formatTime(l.Last))
		}
		return nil, fmt.Errorf("dump %s (%s) is consistent with binary log position %s:%d, but %s is not in the repository (%s): "+
			"recovery from this dump needs its binary logs shipped (a BackupConfiguration with the Task param backupMode: binlogs)",
			p.base.ShortID, formatTime(p.base.Time), p.file, p.pos, p.file, newest)
	}
	chain := []shippedBinlog{shipped[start]}
	for i := start + 1; i < len(shipped) && chain[len(chain)-1].Last.Before(p.until); i++ {
		b, prev := shipped[i], chain[len(chain)-1]
		if b.Gap || !b.Begin.Equal(prev.End) {
			return nil, fmt.Errorf("the binary logs between %s and %s are missing (purged before they were shipped, or reset on the server): "+
				"recovery to %s is not possible. Recovery is possible up to %s from dump %s, %s",
				prev.File, b.File, formatTime(p.until), formatTime(prev.Last), p.base.ShortID, afterGap(b.First, dumps))
		}
		chain = append(chain, b)
	}
	if end := chain[len(chain)-1].Last; end.Before(p.until) {
		return nil, fmt.Errorf("the shipped binary logs reach %s (%s), before %s, the time to recover to: recovery is possible up to %s; later times are recoverable once the next binary logs are shipped",
			formatTime(end), chain[len(chain)-1].File, formatTime(p.until), formatTime(end))
	}
	return chain, nil
}

// chainStart is the index of the shipped file that holds a dump's position: file, the first
// one shipped after the dump began (should the server have used the name twice), else the
// last one of that name; -1 when it was not shipped.
func chainStart(shipped []shippedBinlog, file string, dumpTime time.Time) int {
	start := -1
	for i, b := range shipped {
		if b.File == file {
			start = i
			if !b.snap.Time.Before(dumpTime) {
				break
			}
		}
	}
	return start
}

// afterGap says from when recovery is possible again after a gap that ends at first: from the
// first dump taken after it.
func afterGap(first time.Time, dumps []restic.Snapshot) string {
	var next *restic.Snapshot
	for i := range dumps {
		if d := &dumps[i]; d.Time.After(first) && (next == nil || d.Time.Before(next.Time)) {
			next = d
		}
	}
	if next == nil {
		return fmt.Sprintf("and from the first dump taken after %s on (there is none yet)", formatTime(first))
	}
	return fmt.Sprintf("and from %s on, the time of dump %s, the first taken after the gap", formatTime(next.Time), next.ShortID)
}

func oldestTime(snaps []restic.Snapshot) string {
	if len(snaps) == 0 {
		return "none: the repository holds no dump of it"
	}
	oldest := snaps[0].Time
	for _, s := range snaps[1:] {
		if s.Time.Before(oldest) {
			oldest = s.Time
		}
	}
	return formatTime(oldest)
}

// notABinlog refuses to load a snapshot of a binary log as if it were a dump.
func notABinlog(snap *restic.Snapshot) error {
	if b, ok := binlog.FromTags(snap.Tags); ok {
		return fmt.Errorf("snapshot %s holds binary log %s, not a dump: restore a dump, with the Task param until to replay the binary logs after it up to a time",
			snap.ShortID, b.File)
	}
	return nil
}

// dumpPosition reads the binary log position a dump recorded (mysqldump --master-data=2)
// from the dump's start, without reading the rest.
func (s *session) dumpPosition(ctx context.Context, snap *restic.Snapshot) (string, int64, error) {
	file := "/" + DumpFileName
	if len(snap.Paths) == 1 {
		file = snap.Paths[0]
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", 0, err
	}
	done := make(chan error, 1)
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		err := s.restic.Dump(dctx, snap.ID, file, restic.Filter{}, w)
		w.Close()
		done <- err
	}()
	var (
		name  string
		pos   int64
		found bool
		read  int
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxPositionSearch)
	for sc.Scan() && read < maxPositionSearch {
		line := sc.Bytes()
		read += len(line) + 1
		if name, pos, found = dumpfacts.ParsePosition(line); found {
			break
		}
		// The position comes before the first table's data.
		if strings.HasPrefix(string(line), "INSERT INTO") {
			break
		}
	}
	// restic is interrupted, not killed by a closed pipe: so it removes its lock, which would
	// stop the exclusive commands after it. Its output is drained until it exits.
	cancel()
	_, _ = io.Copy(io.Discard, r)
	r.Close()
	if err := <-done; err != nil && !found && ctx.Err() == nil {
		return "", 0, fmt.Errorf("failed to read the start of dump %s: %w", snap.ShortID, err)
	}
	if !found {
		return "", 0, fmt.Errorf("dump %s (%s) records no binary log position: it was taken with binary logging off, or before Hoard recorded positions, "+
			"so binary logs cannot be replayed on it; choose a later dump", snap.ShortID, formatTime(snap.Time))
	}
	return name, pos, nil
}

// download writes file of snap to path.
func (s *session) download(ctx context.Context, snap restic.Snapshot, file, path string) error {
	return s.retryLocked(ctx, "dump", func(ctx context.Context) error {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		err = s.restic.Dump(ctx, snap.ID, file, restic.Filter{}, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// replay applies the plan's binary logs to the server, from the dump's position up to the
// plan's time: mariadb-binlog's SQL, executed by mysql.
func (s *session) replay(ctx context.Context, p *recoveryPlan, skipBinlog bool) error {
	var args []string
	if skipBinlog {
		// As the engine's sessions: replicas of the target do not get the replayed changes.
		args = append(args, "--init-command=SET SESSION sql_log_bin=0")
	}
	load, err := s.db.StartLoad(ctx, args)
	if err != nil {
		return err
	}
	argv := s.db.ReplayCommand(p.pos, p.until, p.binlogs)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = s.db.ReplayEnv()
	cmd.Stdout = load.Stdin()
	tail := mysql.NewTail(4096)
	cmd.Stderr = tail
	if err := cmd.Run(); err != nil {
		load.Abort()
		return mysql.RunError(argv, err, tail.Lines())
	}
	return load.Finish()
}
