package addon

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/dumpfacts"
	"github.com/hoard-operator/hoard/internal/loader"
	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/snaptag"
)

// RestoreOptions configure one restore.
type RestoreOptions struct {
	Common
	// SourceHostname is the host whose snapshot is restored; Hostname when empty.
	SourceHostname string
	// Snapshot is "latest", a restic snapshot id or an upstream snapshot name.
	Snapshot string
	// TargetKind and TargetName are the restore's own target: "latest" prefers its snapshots.
	TargetKind string
	TargetName string
	// SourceTarget ("<Kind>/<name>" or "<namespace>/<Kind>/<name>") restricts "latest" to
	// the snapshots of that target.
	SourceTarget string
	// MySQLArgs are extra arguments for mysql (e.g. a database to restore into).
	MySQLArgs string
	// Mode is ModeEngine (the default, also when empty) or ModePipe. MySQLArgs need the pipe.
	Mode string
	// Connections is the restore engine's number of loading connections; 0 for one per CPU.
	Connections int
	// SkipBinlog: the engine's sessions do not write the binary log (sql_log_bin=0), so
	// replicas do not get the restored data. Only when the user allows it.
	SkipBinlog bool
	// NoDeferIndexes: the engine creates secondary indexes with their tables.
	NoDeferIndexes bool
	// KeepAccounts: the engine leaves the target's mysql schema, and so its accounts, as they
	// are (loader.Options.KeepAccounts). It needs the engine.
	KeepAccounts bool
	// Verify compares the restored tables with the record the dump carries of its rows
	// (package dumpfacts), for a restore into an empty scratch server. It needs the engine.
	Verify bool
	// VerifySQL holds the user's SQL assertions, run on the scratch server after the
	// comparison (see checkAssertions). It needs Verify.
	VerifySQL string
	// Until, when set, is a point in time (see ParseUntil): the newest dump taken before it
	// (or Snapshot, when not "latest") is loaded, then the shipped binary logs are replayed
	// from the dump's position up to it.
	Until string
	// UntilGTID, instead of Until, is the last transaction to recover (domain-server-sequence):
	// the newest dump before it is loaded, then the binary logs are replayed up to its end.
	UntilGTID string
}

// Restore streams a snapshot's dump into mysql. It always returns a Result.
func Restore(ctx context.Context, o *RestoreOptions) *result.Result {
	start := time.Now()
	res := &result.Result{Kind: result.KindRestore, Hostname: o.hostname()}
	s := newSession(&o.Common)
	defer s.close()
	// Refused arguments stop the step before anything runs.
	_, err := UserArgs(o.MySQLArgs)
	if err == nil && o.Mode != "" && o.Mode != ModeEngine && o.Mode != ModePipe {
		err = fmt.Errorf("unknown restore mode %q: %s or %s", o.Mode, ModeEngine, ModePipe)
	}
	if err == nil && o.KeepAccounts && (o.Mode == ModePipe || strings.TrimSpace(o.MySQLArgs) != "") {
		err = fmt.Errorf("keepAccounts needs the restore engine, which skips the dump's accounts; restoreMode %s and the mysql arguments (args) load everything the dump holds", ModePipe)
	}
	if err == nil && o.Verify && (o.Mode == ModePipe || strings.TrimSpace(o.MySQLArgs) != "") {
		err = fmt.Errorf("verify needs the restore engine; restoreMode %s and the mysql arguments (args) load through the mysql client", ModePipe)
	}
	var assertions []Assertion
	if err == nil {
		assertions, err = ParseAssertions(o.VerifySQL)
	}
	if err == nil && len(assertions) > 0 && !o.Verify {
		err = errors.New("verifySQL holds assertions for a verification: set verify to \"true\" too")
	}
	var target *recoveryTarget
	if err == nil {
		t, ok, perr := ParseRecoveryTarget(o.Until, o.UntilGTID)
		switch {
		case perr != nil:
			err = perr
		case ok && o.Verify:
			err = errors.New("until (or untilGTID) and verify cannot be combined: a verification compares the restore with the dump alone")
		case ok:
			target = &t
		}
	}
	if err == nil {
		err = s.open()
	}
	if err == nil {
		err = s.restore(ctx, o, res, assertions, target)
	}
	return s.finish(res, start, err)
}

func (s *session) restore(ctx context.Context, o *RestoreOptions, res *result.Result, assertions []Assertion, pitr *recoveryTarget) error {
	userArgs, err := UserArgs(o.MySQLArgs)
	if err != nil {
		return err
	}
	id, err := snapshotID(o.Snapshot)
	if err != nil {
		return err
	}
	req := LatestRequest{Host: o.SourceHostname, Own: snaptag.Identity{Namespace: o.Namespace, Kind: o.TargetKind, Name: o.TargetName}}
	if req.Host == "" {
		req.Host = o.hostname()
	}
	if strings.TrimSpace(o.SourceTarget) != "" {
		if req.Source, err = snaptag.Parse(o.SourceTarget, o.Namespace); err != nil {
			return err
		}
	}
	if err := s.waitDB(ctx); err != nil {
		return err
	}
	accounts := s.watchAccount(ctx)

	// The snapshot is resolved to an id first, so that what is reported is what was loaded.
	// A point-in-time recovery also fetches its binary logs first: whatever stops it then
	// stops it before the server changes.
	var (
		snap *restic.Snapshot
		plan *recoveryPlan
	)
	if pitr == nil {
		snap, err = s.findSnapshot(ctx, id, req)
	} else if plan, err = s.planRecovery(ctx, *pitr, id, req); err == nil {
		snap = plan.base
	}
	if err == nil {
		err = notABinlog(snap)
	}
	if err != nil {
		return err
	}
	file := "/" + DumpFileName
	if len(snap.Paths) == 1 {
		file = snap.Paths[0]
	}
	target, _ := snaptag.Of(snap.Tags)
	var facts *dumpfacts.Finder
	if o.Verify {
		facts = dumpfacts.NewFinder()
	}
	progress := &streamProgress{pp: newProgressPrinter(s.o.Stdout, time.Second)}
	if snap.Summary != nil {
		progress.total.Store(int64(snap.Summary.TotalBytesProcessed))
	}
	s.log.Info("restoring", "snapshot", snap.ShortID, "host", snap.Hostname, "target", target.String(),
		"time", snap.Time.UTC().Format(time.RFC3339), "file", file, "size", result.FormatBytes(progress.total.Load()))

	if o.Mode == ModePipe || len(userArgs) > 0 {
		if len(userArgs) > 0 && o.Mode != ModePipe {
			s.log.Info("the mysql arguments (args) need the mysql client: restoring with restic dump | mysql")
		}
		err = s.loadWithPipe(ctx, userArgs, snap, file, progress)
	} else {
		err = s.loadWithEngine(ctx, o, snap, file, progress, facts)
	}
	if err != nil {
		var le *loader.Error
		if errors.As(err, &le) {
			res.Load = loadFailure(le)
			if o.Verify {
				// A statement of the dump failed: the snapshot does not restore. (A
				// server or storage gone away says nothing of the snapshot.)
				res.Verification = &result.Verification{Snapshot: restic.ShortID(snap.ID)}
			}
		}
		return err
	}
	if err := accounts.check(ctx); err != nil {
		if plan != nil {
			return fmt.Errorf("%w; the binary logs were not replayed: the database holds the data of dump %s, not the data as of %s", err, snap.ShortID, plan.target)
		}
		return err
	}
	if plan != nil {
		s.log.Info("replaying binary logs", "from", fmt.Sprintf("%s:%d", plan.file, plan.pos), "until", plan.target.String(), "files", len(plan.names))
		if err := s.replay(ctx, plan, o.SkipBinlog); err != nil {
			return fmt.Errorf("dump %s was loaded, but replaying binary logs %s…%s up to %s failed; the database holds the dump's data and possibly part of the binary logs' changes: %w",
				snap.ShortID, plan.names[0], plan.names[len(plan.names)-1], plan.target, err)
		}
		s.log.Info("recovered to the point in time", "until", plan.target.String(), "dump", snap.ShortID, "binlogs", len(plan.names))
		res.Recovery = &result.Recovery{From: fmt.Sprintf("%s:%d", plan.file, plan.pos),
			Binlogs: len(plan.names), First: plan.names[0], Last: plan.names[len(plan.names)-1]}
		if g := plan.target.gtid; g != nil {
			res.Recovery.GTID = g.String()
		} else {
			res.Recovery.Until = formatTime(plan.target.until)
		}
	}
	if o.Verify {
		if res.Verification, err = s.verify(ctx, restic.ShortID(snap.ID), facts, assertions); err != nil {
			return err
		}
	}
	// restic wrote the whole file and mysql executed all of it.
	if total := progress.total.Load(); total > 0 {
		progress.done.Store(total)
	}
	progress.pp.report(progress.progress(), true)
	name := snap.ShortID
	if name == "" && len(snap.ID) >= 8 {
		name = snap.ID[:8]
	}
	// Without a recorded size, this is the last reading of mysql's input.
	n := progress.done.Load()
	res.Snapshots = []result.Snapshot{{
		Name: name, Hostname: snap.Hostname, Target: target.String(), Time: formatTime(snap.Time),
		Path: path.Base(file), TotalSize: result.FormatBytes(n), TotalBytes: n,
	}}
	s.log.Info("restored", "snapshot", name, "host", snap.Hostname, "target", target.String(), "size", result.FormatBytes(n))
	return nil
}

// loadWithPipe is Stash's restore: `restic dump | mysql`.
func (s *session) loadWithPipe(ctx context.Context, userArgs []string, snap *restic.Snapshot, file string, progress *streamProgress) error {
	load, err := s.db.StartLoad(ctx, userArgs)
	if err != nil {
		return err
	}
	stopProgress := s.followLoad(load, progress)
	// restic exits with "locked" only when it could not take its lock, before it writes
	// anything: mysql has read nothing of the dump then, and the dump can run again.
	dumpErr := s.retryLocked(ctx, "dump", func(ctx context.Context) error {
		return s.restic.Dump(ctx, snap.ID, file, restic.Filter{}, load.Stdin())
	})
	stopProgress()
	switch {
	case dumpErr != nil && ctx.Err() != nil:
		// The Job is being stopped (its pod deleted, its deadline passed): restic was
		// interrupted first and removed its lock; mysql must not run a truncated statement.
		load.Abort()
		return fmt.Errorf("the restore was stopped by a termination signal (pod deleted or deadline passed) after %s of the dump"+partlyRestored+": %w",
			result.FormatBytes(progress.done.Load()), dumpErr)
	case dumpErr == nil:
		if err := load.Finish(); err != nil {
			return fmt.Errorf("restore failed after %s of the dump%s: %w", result.FormatBytes(progress.done.Load()), pipeChanged(err, progress.done.Load()), err)
		}
	case restic.ReaderGone(dumpErr):
		// mysql stopped reading: its own exit status says why.
		err := load.Finish()
		if err == nil {
			err = dumpErr
		}
		return fmt.Errorf("restore failed after %s of the dump%s: %w", result.FormatBytes(progress.done.Load()), pipeChanged(err, progress.done.Load()), err)
	default:
		// Kill mysql rather than let it execute a truncated last statement.
		load.Abort()
		return fmt.Errorf("restore failed after %s of the dump"+partlyRestored+": %w", result.FormatBytes(progress.done.Load()), dumpErr)
	}
	return nil
}

// pipeChanged is what a failed mysql of the pipe may have changed, for its error: a statement
// failed ("ERROR … at line N") after those before it ran, or mysql ended another way after
// part of the dump reached it. An error before the first statement (it could not connect, or
// select the database) changed nothing.
func pipeChanged(err error, done int64) string {
	var se *mysql.ServerError
	if errors.As(err, &se) && se.Code != 0 && !strings.Contains(strings.Join(se.Stderr, " "), " at line ") {
		return ""
	}
	return changedAfter(done)
}

// changedAfter is what a restore broken off after done bytes of the dump may have changed:
// nothing before the first byte reached the server, and some of the database after.
func changedAfter(done int64) string {
	if done == 0 {
		return ""
	}
	return partlyRestored
}

// partlyRestored ends the error of a restore that may have changed some of the database.
const partlyRestored = ", the database may be partly restored"

// followLoad reports mysql's progress through its input once a second until the returned
// function is called. Without the snapshot's size (snapshots of restic < 0.17 do not record
// it) the progress has no total.
func (s *session) followLoad(load *mysql.Load, progress *streamProgress) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			n, err := load.BytesRead()
			if err != nil {
				// mysql has exited, or /proc is not readable: the outcome will tell.
				continue
			}
			if total := progress.total.Load(); total > 0 {
				n = min(n, total)
			}
			progress.update(n)
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// findSnapshot resolves "latest" (see SelectLatest) or an id to one snapshot, with one
// `restic snapshots` call.
func (s *session) findSnapshot(ctx context.Context, id string, req LatestRequest) (*restic.Snapshot, error) {
	var snaps []restic.Snapshot
	err := s.retryLocked(ctx, "snapshots", func(ctx context.Context) error {
		return s.withStorageTimeout(ctx, func(ctx context.Context) error {
			var err error
			if id == "latest" {
				snaps, err = s.restic.Snapshots(ctx, latestFilter(req.Host), 0)
			} else {
				snaps, err = s.restic.Snapshots(ctx, restic.Filter{}, 0, id)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("failed to find the snapshot to restore: %w", err)
	}
	if id == "latest" {
		return SelectLatest(snaps, req)
	}
	if len(snaps) == 0 {
		return nil, fmt.Errorf("the repository has no snapshot %s", id)
	}
	return newest(snaps), nil
}
