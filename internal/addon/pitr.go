package addon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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

// positionFileSlack is how much later than its dump's snapshot time the file of the dump's
// position may have been created: mysqldump reads the position a moment after restic starts
// (longer when it waits for a global read lock), and the server's clock is not the pod's.
const positionFileSlack = 10 * time.Minute

// maxRecoveryDumps bounds the dumps whose positions a recovery reads, newest first, looking
// for one that is not past the point to recover to: each is one restic dump of a dump's start.
const maxRecoveryDumps = 5

// recoveryTarget is where a point-in-time recovery stops: before the first event stamped at or
// after until (mysqlbinlog's --stop-datetime), or right after the transaction gtid.
type recoveryTarget struct {
	until time.Time
	gtid  *binlog.GTID
}

func (t recoveryTarget) String() string {
	if t.gtid != nil {
		return "GTID " + t.gtid.String()
	}
	return formatTime(t.until)
}

// ParseRecoveryTarget reads the restore's until or untilGTID, of which at most one may be
// set; ok is false when neither is.
func ParseRecoveryTarget(until, untilGTID string) (t recoveryTarget, ok bool, err error) {
	until, untilGTID = strings.TrimSpace(until), strings.TrimSpace(untilGTID)
	switch {
	case until != "" && untilGTID != "":
		return t, false, errors.New("until and untilGTID cannot be combined: recover either to a time or to a transaction")
	case until != "":
		t.until, err = ParseUntil(until)
		return t, err == nil, err
	case untilGTID != "":
		st, err := binlog.ParseState(untilGTID)
		if err != nil || len(st) != 1 || strings.Contains(untilGTID, ",") {
			return t, false, fmt.Errorf("untilGTID %q is not one GTID: give the last transaction to recover, domain-server-sequence (0-1-1234)", untilGTID)
		}
		for _, g := range st {
			t.gtid = &g
		}
		return t, true, nil
	}
	return t, false, nil
}

// recoveryPlan is a point-in-time recovery, decided and downloaded before anything on the
// server changes: the dump to load, the position it is consistent with, and the binary logs
// to replay from there up to the target.
type recoveryPlan struct {
	target recoveryTarget
	base   *restic.Snapshot
	file   string // the binary log the dump's position is in
	pos    int64
	// stop is the offset in the last file where the replay ends (a GTID target), else 0.
	stop int64
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

// errPastTarget marks a dump consistent with a position after the recovery's target: it holds
// changes the recovery must leave out, so an older dump is tried.
var errPastTarget = errors.New("the dump is past the target")

// planRecovery chooses the dump (the newest one not past the target, or the one asked for)
// and the binary logs after its position, checks that they reach the target without a gap,
// and downloads them into the work directory.
func (s *session) planRecovery(ctx context.Context, t recoveryTarget, id string, req LatestRequest) (*recoveryPlan, error) {
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
	cands, err := s.recoveryCandidates(ctx, t, id, req, dumps)
	if err != nil {
		return nil, err
	}
	target, ok := snaptag.Of(cands[0].Tags)
	if !ok {
		return nil, fmt.Errorf("snapshot %s carries no target identity (it was written before Hoard's tags, e.g. by upstream Stash): its binary logs cannot be found", cands[0].ShortID)
	}
	var snaps []restic.Snapshot
	err = s.retryLocked(ctx, "snapshots", func(ctx context.Context) error {
		var err error
		snaps, err = s.restic.Snapshots(ctx, restic.Filter{Host: cands[0].Hostname, Tags: append(snaptag.Tags(target, "", ""), binlog.Tag)}, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list the shipped binary logs: %w", err)
	}
	shipped := shippedOf(snaps)
	bound := t.until
	if t.gtid != nil {
		g := gtidFile(shipped, *t.gtid)
		if g < 0 {
			return nil, notShipped(shipped, *t.gtid)
		}
		// A dump that began after the transaction's file ended is past it (event times are
		// whole seconds: the last one's second is included).
		bound = shipped[g].Last.Add(time.Second)
	}
	dir := filepath.Join(s.work, "binlogs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create a directory for the binary logs: %w", err)
	}
	fetched := map[string]string{}
	var past []string
	for i := range cands {
		if cands[i].Time.After(bound) {
			continue
		}
		if len(past) == maxRecoveryDumps {
			break
		}
		p := &recoveryPlan{target: t, base: &cands[i]}
		if p.file, p.pos, err = s.dumpPosition(ctx, p.base); err != nil {
			return nil, err
		}
		err := s.fetchChain(ctx, p, shipped, dumps, dir, fetched)
		if errors.Is(err, errPastTarget) {
			s.log.Info("a dump is past the point to recover to: an older one is tried", "dump", p.base.ShortID, "reason", err)
			past = append(past, err.Error())
			if id != "latest" {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		s.log.Info("point-in-time recovery planned", "target", t.String(), "dump", p.base.ShortID, "dumpTime", formatTime(p.base.Time),
			"position", fmt.Sprintf("%s:%d", p.file, p.pos), "binlogs", p.names)
		return p, nil
	}
	if len(past) == 0 {
		return nil, noDumpBefore(req.Host, t, "the oldest is "+oldestTime(dumps))
	}
	return nil, noDumpBefore(req.Host, t, strings.Join(past, "; "))
}

// noDumpBefore refuses a recovery that no dump of host can start from, and says why.
func noDumpBefore(host string, t recoveryTarget, why string) error {
	return fmt.Errorf("no dump of host %q was taken before %s, the point to recover to: %s", host, t, why)
}

// recoveryCandidates are the dumps a recovery may start from, newest first: the one asked
// for, or those of the target SelectLatest picks that were taken before the time.
func (s *session) recoveryCandidates(ctx context.Context, t recoveryTarget, id string, req LatestRequest, dumps []restic.Snapshot) ([]restic.Snapshot, error) {
	if id != "latest" {
		base, err := s.findSnapshot(ctx, id, req)
		if err != nil {
			return nil, err
		}
		if t.gtid == nil && base.Time.After(t.until) {
			return nil, fmt.Errorf("snapshot %s was taken at %s, after %s, the time to recover to", base.ShortID, formatTime(base.Time), formatTime(t.until))
		}
		return []restic.Snapshot{*base}, nil
	}
	var before []restic.Snapshot
	for _, d := range dumps {
		if t.gtid != nil || !d.Time.After(t.until) {
			before = append(before, d)
		}
	}
	if len(before) == 0 {
		return nil, noDumpBefore(req.Host, t, "the oldest is "+oldestTime(dumps))
	}
	newestDump, err := SelectLatest(before, req)
	if err != nil {
		return nil, err
	}
	// The older dumps of the same target and host, should the newest be past the target.
	identity, tagged := snaptag.Of(newestDump.Tags)
	var cands []restic.Snapshot
	for _, d := range before {
		if ident, ok := snaptag.Of(d.Tags); d.Hostname == newestDump.Hostname && ok == tagged && ident == identity {
			cands = append(cands, d)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].Time.After(cands[j].Time) })
	return cands, nil
}

// fetchChain finds the binary logs from the plan's position to its target, downloads them
// (once per snapshot: fetched maps snapshot ids to files), and checks that the dump is not
// past the target; for a GTID it finds where the replay stops.
func (s *session) fetchChain(ctx context.Context, p *recoveryPlan, shipped []shippedBinlog, dumps []restic.Snapshot, dir string, fetched map[string]string) error {
	chain, err := recoveryChain(shipped, p, dumps)
	if err != nil {
		return err
	}
	for _, b := range chain {
		path, ok := fetched[b.snap.ID]
		if !ok {
			path = filepath.Join(dir, fmt.Sprintf("%04d-%s", len(fetched), b.File))
			if err := s.download(ctx, b.snap, "/"+b.File, path); err != nil {
				return fmt.Errorf("failed to download binary log %s (snapshot %s): %w", b.File, b.snap.ShortID, err)
			}
			fetched[b.snap.ID] = path
		}
		p.binlogs = append(p.binlogs, path)
		p.names = append(p.names, b.File)
	}
	return p.checkBounds()
}

// checkBounds reads the downloaded files: the dump must not hold what the recovery leaves
// out, and a GTID's transaction must end where the replay stops.
func (p *recoveryPlan) checkBounds() error {
	if p.target.gtid == nil {
		// mysqlbinlog --stop-datetime stops at the first event stamped at or after the time:
		// an earlier one in the dump would be kept.
		var stamped time.Time
		err := scanFile(p.binlogs[0], p.names[0], func(e *binlog.Event) error {
			if e.Offset >= p.pos {
				return errStopScan
			}
			if !e.Time.Before(p.target.until) {
				stamped = e.Time
				return errStopScan
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !stamped.IsZero() {
			return fmt.Errorf("%w: dump %s is consistent with position %s:%d, after events stamped %s, not before %s",
				errPastTarget, p.base.ShortID, p.file, p.pos, formatTime(stamped), formatTime(p.target.until))
		}
		return nil
	}
	g := *p.target.gtid
	last := len(p.binlogs) - 1
	at, stop, err := locateGTID(p.binlogs[last], p.names[last], g)
	if err != nil {
		return err
	}
	if at < 0 {
		return fmt.Errorf("transaction %s is not in binary log %s, although its tags say so", g, p.names[last])
	}
	if len(p.binlogs) == 1 && stop < p.pos {
		return fmt.Errorf("%w: dump %s is consistent with position %s:%d, after transaction %s and others after it",
			errPastTarget, p.base.ShortID, p.file, p.pos, g)
	}
	p.stop = stop
	return nil
}

// errStopScan ends a scan early without an error.
var errStopScan = errors.New("stop")

// scanFile scans binary log name, downloaded to path (binlog.Scan). fn's errors are returned
// as they are, the file's own named.
func scanFile(path, name string, fn func(*binlog.Event) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var fnErr error
	err = binlog.Scan(bufio.NewReaderSize(f, 1<<20), func(e *binlog.Event) error {
		fnErr = fn(e)
		return fnErr
	})
	switch {
	case errors.Is(fnErr, errStopScan):
		return nil
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("binary log %s: %w", name, err)
	}
	return nil
}

// locateGTID finds transaction g in binary log name, at path: the offset of its GTID event
// and where the next transaction starts (the file's end after the last one); at is -1 when
// the file does not hold it. A transaction of g's domain and number from another server is
// refused: the GTID names another history.
func locateGTID(path, name string, g binlog.GTID) (at, stop int64, err error) {
	at, stop = -1, -1
	err = scanFile(path, name, func(e *binlog.Event) error {
		switch {
		case e.GTID != nil && at >= 0:
			stop = e.Offset
			return errStopScan
		case e.GTID != nil && e.GTID.Domain == g.Domain && e.GTID.Seq == g.Seq:
			if e.GTID.Server != g.Server {
				return fmt.Errorf("transaction %d-%d-%d is server %d's, not %s", g.Domain, e.GTID.Server, g.Seq, e.GTID.Server, g)
			}
			at = e.Offset
		}
		stop = e.End
		return nil
	})
	return at, stop, err
}

// gtidFile is the index of the shipped file that holds transaction g, by the GTID states its
// tags record; -1 when none does.
func gtidFile(shipped []shippedBinlog, g binlog.GTID) int {
	for i, b := range shipped {
		end, ok := b.End[g.Domain]
		if !ok || end.Seq < g.Seq {
			continue
		}
		if begin, ok := b.Begin[g.Domain]; !ok || begin.Seq < g.Seq {
			return i
		}
	}
	return -1
}

// notShipped says that transaction g is in no shipped binary log, and what they hold.
func notShipped(shipped []shippedBinlog, g binlog.GTID) error {
	if len(shipped) == 0 {
		return fmt.Errorf("transaction %s is in no shipped binary log: none has been shipped (a BackupConfiguration with the Task param backupMode: binlogs ships them)", g)
	}
	first, last := shipped[0], shipped[len(shipped)-1]
	if begin, ok := first.Begin[g.Domain]; ok && g.Seq <= begin.Seq {
		return fmt.Errorf("transaction %s is older than every shipped binary log: they start after %q (%s). "+
			"Binary logs from before the oldest dump's position are forgotten; recover to a later transaction or restore a dump", g, first.Begin.String(), first.File)
	}
	return fmt.Errorf("transaction %s is in no shipped binary log: they hold the transactions after %q (%s) up to %q (%s); "+
		"later transactions are recoverable once the next binary logs are shipped",
		g, first.Begin.String(), first.File, last.End.String(), last.File)
}

// recoveryChain picks the shipped binary logs that lead from the dump's position to the
// target: the position's file (the first shipped after the dump began, should the server have
// used its name twice), then the files after it until one ends at or after the time, or holds
// the transaction. A gap on the way, or an end before the time, refuses the recovery and says
// which times are possible.
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
	// A file created after the dump began is not the one that holds its position: the server
	// used the name again (its binary logs were reset, or it was recreated), and the file of
	// the dump's time was never shipped. Replaying it would claim a recovery it is not.
	if first := shipped[start].First; first.After(p.base.Time.Add(positionFileSlack)) {
		return nil, fmt.Errorf("dump %s (%s) is consistent with binary log position %s:%d, but the shipped %s was created at %s, after the dump: "+
			"the server's binary logs were reset (or the server recreated) since, and the %s of the dump's time was never shipped. "+
			"Recovery from this dump is not possible; restore it without a point in time, or recover from a dump taken after %s",
			p.base.ShortID, formatTime(p.base.Time), p.file, p.pos, p.file, formatTime(first), p.file, formatTime(first))
	}
	reached := func(b shippedBinlog) bool { return !b.Last.Before(p.target.until) }
	if g := p.target.gtid; g != nil {
		if begin, ok := shipped[start].Begin[g.Domain]; ok && begin.Seq >= g.Seq {
			return nil, fmt.Errorf("%w: dump %s is consistent with position %s:%d, after transaction %s", errPastTarget, p.base.ShortID, p.file, p.pos, g)
		}
		reached = func(b shippedBinlog) bool { end, ok := b.End[g.Domain]; return ok && end.Seq >= g.Seq }
	}
	chain := []shippedBinlog{shipped[start]}
	for i := start + 1; i < len(shipped) && !reached(chain[len(chain)-1]); i++ {
		b, prev := shipped[i], chain[len(chain)-1]
		if b.Gap || !b.Begin.Equal(prev.End) {
			return nil, fmt.Errorf("the binary logs between %s and %s are missing (purged before they were shipped, or reset on the server): "+
				"recovery to %s is not possible. Recovery is possible up to %s from dump %s, %s",
				prev.File, b.File, p.target, formatTime(prev.Last), p.base.ShortID, afterGap(b.First, dumps))
		}
		chain = append(chain, b)
	}
	if last := chain[len(chain)-1]; !reached(last) {
		if p.target.gtid != nil {
			return nil, fmt.Errorf("the shipped binary logs from dump %s's position reach GTID %q (%s), before transaction %s",
				p.base.ShortID, last.End.String(), last.File, p.target.gtid)
		}
		return nil, fmt.Errorf("the shipped binary logs reach %s (%s), before %s, the time to recover to: recovery is possible up to %s; later times are recoverable once the next binary logs are shipped",
			formatTime(last.Last), last.File, formatTime(p.target.until), formatTime(last.Last))
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

// errNoPosition: a dump that was read whole up to its first table records no binary log
// position. Any other error of dumpPosition says nothing about the dump.
var errNoPosition = errors.New("records no binary log position")

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
		// passed: the search went past where the position would be, so restic's error (it
		// is interrupted then) does not matter.
		passed bool
		read   int
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxPositionSearch)
	for sc.Scan() {
		line := sc.Bytes()
		read += len(line) + 1
		if name, pos, found = dumpfacts.ParsePosition(line); found {
			break
		}
		// The position comes before the first table's data.
		if passed = strings.HasPrefix(string(line), "INSERT INTO") || read >= maxPositionSearch; passed {
			break
		}
	}
	// A line longer than the search is table data.
	passed = passed || errors.Is(sc.Err(), bufio.ErrTooLong)
	// restic is interrupted, not killed by a closed pipe: so it removes its lock, which would
	// stop the exclusive commands after it. Its output is drained until it exits.
	cancel()
	_, _ = io.Copy(io.Discard, r)
	r.Close()
	err = <-done
	switch {
	case found:
	case ctx.Err() != nil:
		return "", 0, fmt.Errorf("failed to read the start of dump %s: %w", snap.ShortID, ctx.Err())
	case !passed && err != nil:
		return "", 0, fmt.Errorf("failed to read the start of dump %s: %w", snap.ShortID, err)
	case !passed && sc.Err() != nil:
		return "", 0, fmt.Errorf("failed to read the start of dump %s: %w", snap.ShortID, sc.Err())
	default:
		return "", 0, fmt.Errorf("dump %s (%s) %w: it was taken with binary logging off, or before Hoard recorded positions, "+
			"so binary logs cannot be replayed on it; choose a later dump", snap.ShortID, formatTime(snap.Time), errNoPosition)
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
// plan's target: mariadb-binlog's SQL, executed by mysql.
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
	argv := s.db.ReplayCommand(p.pos, p.target.until, p.stop, p.binlogs)
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
