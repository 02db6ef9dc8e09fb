package addon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/snaptag"
)

// Retention is the BackupConfiguration's retention policy.
type Retention struct {
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly, KeepYearly int
	KeepTags                                                             []string
	Prune, DryRun                                                        bool
}

// BackupOptions configure one backup.
type BackupOptions struct {
	Common
	// MySQLArgs replace the database selection of mysqldump (--all-databases).
	MySQLArgs   string
	InvokerKind string
	InvokerName string
	TargetKind  string
	TargetName  string
	Retention   Retention
	// Mode is BackupModeDump (also when empty) or BackupModeBinlogs.
	Mode string
	// ShipEvery, when not zero, makes a binary log shipping stream the active file for
	// StreamFor and ship its whole transactions at this interval (design 0043).
	ShipEvery, StreamFor time.Duration
	// ScheduleInterval is the longest gap between two runs of the schedule; 0 when unknown.
	ScheduleInterval time.Duration
	// CheckReadDataSubset makes the integrity check read that part of the data ("5%").
	CheckReadDataSubset string
	// Self is this executable; restic runs its dump-exec subcommand around mysqldump.
	Self string
}

// Target is the identity of the backup's target (see Identity).
func (o *BackupOptions) Target() snaptag.Identity {
	return snaptag.Identity{Namespace: o.Namespace, Kind: o.TargetKind, Name: o.TargetName}
}

// Tags are the snapshot's tags: they let retention and restores select this target's
// snapshots.
func (o *BackupOptions) Tags() []string {
	return snaptag.Tags(o.Target(), o.InvokerKind, o.InvokerName)
}

// retentionFilter selects the snapshots this configuration's retention policy applies to: its
// own, by host, all three tags and the dump's path. Snapshots of other targets, and those
// without Hoard's tags (written by upstream Stash), are never selected.
func (o *BackupOptions) retentionFilter() (restic.Filter, error) {
	if o.Target().IsZero() || o.InvokerKind == "" || o.InvokerName == "" {
		return restic.Filter{}, errors.New("the retention policy is not applied: without --invoker-kind/--invoker-name and --target-kind/--target-name " +
			"this backup's snapshots cannot be told apart from other configurations' snapshots in the same repository")
	}
	return restic.Filter{Host: o.hostname(), Tags: o.Tags(), Paths: []string{"/" + DumpFileName}}, nil
}

// Backup dumps the database into a new snapshot, then applies retention, checks the
// repository and reads its statistics. It always returns a Result.
func Backup(ctx context.Context, o *BackupOptions) *result.Result {
	start := time.Now()
	res := &result.Result{Kind: result.KindBackup, Hostname: o.hostname()}
	s := newSession(&o.Common)
	defer s.close()
	// Refused arguments stop the step before anything runs.
	_, err := UserArgs(o.MySQLArgs)
	if err == nil && o.Mode != "" && o.Mode != BackupModeDump && o.Mode != BackupModeBinlogs {
		err = fmt.Errorf("unknown backup mode %q: %s or %s", o.Mode, BackupModeDump, BackupModeBinlogs)
	}
	if err == nil {
		err = o.checkStreaming()
	}
	if err == nil {
		err = s.open()
	}
	switch {
	case err != nil:
	case o.Mode == BackupModeBinlogs:
		err = s.shipBinlogs(ctx, o, res)
	default:
		err = s.backup(ctx, o, res)
	}
	return s.finish(res, start, err)
}

// MinShipEvery is the shortest streaming interval: each shipping is a restic backup, whose
// start (key derivation, index) takes about a second.
const MinShipEvery = time.Second

// checkStreaming refuses streaming options that cannot work.
func (o *BackupOptions) checkStreaming() error {
	switch {
	case o.ShipEvery == 0:
		return nil
	case o.Mode != BackupModeBinlogs:
		return fmt.Errorf("shipEvery streams binary logs: it needs backupMode %s", BackupModeBinlogs)
	case o.ShipEvery < MinShipEvery:
		return fmt.Errorf("shipEvery %s is shorter than %s: each shipping is a restic backup, which takes about a second to start", o.ShipEvery, MinShipEvery)
	case o.StreamFor < o.ShipEvery:
		return fmt.Errorf("streamFor %s is shorter than shipEvery %s: set it a little under the schedule's interval", o.StreamFor, o.ShipEvery)
	}
	return nil
}

func (s *session) backup(ctx context.Context, o *BackupOptions, res *result.Result) error {
	userArgs, err := UserArgs(o.MySQLArgs)
	if err != nil {
		return err
	}
	if err := s.waitDB(ctx); err != nil {
		return err
	}

	position, noPosition := s.binlogPosition(ctx, userArgs)
	if !position {
		s.log.Info("the dump records no binary log position", "reason", noPosition)
	}
	dump := s.db.DumpCommand(userArgs, dumpPositionArgs(position)...)

	statusFile := filepath.Join(s.work, "dump-status.json")
	// `restic unlock` runs next to the backup. It removes stale locks of killed jobs, which
	// would stop the check after this backup (or the backup itself, if exclusive), and it
	// probes the repository: restic retries an unreachable backend for 15 minutes, the probe
	// gives up after the storage timeout and stops the backup with it.
	bctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	unlocked := s.unlockStale(ctx, func(err error) {
		if !dumpStarted(statusFile) {
			stop(err)
		}
	})
	defer unlocked()

	pp := newProgressPrinter(s.o.Stdout, time.Second)
	run := func() (*restic.BackupSummary, error) {
		return s.restic.BackupFromCommand(bctx, restic.BackupOptions{
			Host:     o.hostname(),
			Tags:     o.Tags(),
			Filename: DumpFileName,
			Command:  DumpExecCommand(o.Self, statusFile, dump),
		}, func(st restic.BackupStatus) {
			pp.report(result.Progress{PercentDone: st.PercentDone * 100, BytesDone: int64(st.BytesDone), TotalBytes: int64(st.TotalBytes)}, false)
		})
	}
	s.log.Info("backing up", "host", o.hostname(), "tags", o.Tags())
	sum, err := run()
	if errors.Is(err, restic.ErrNoRepository) && !dumpStarted(statusFile) {
		// restic stops before running the dump when there is no repository: create it and
		// start again.
		if err := s.initRepository(ctx, res); err != nil {
			return err
		}
		sum, err = run()
	}
	if err != nil && !dumpStarted(statusFile) {
		// A lock may have stopped the backup before the dump. The rule is restic's; the first
		// run has happened above. The unlock probe is the only other restic process of this
		// Job: it is waited for before every lock is removed.
		first := err
		err = s.restic.RetryLocked(ctx, s.lockRetry("backup", unlocked), func(context.Context) error {
			if first != nil {
				e := first
				first = nil
				return e
			}
			var err error
			sum, err = run()
			return err
		})
	}
	if cause := context.Cause(bctx); err != nil && cause != nil && ctx.Err() == nil {
		err = cause
	}
	if err != nil {
		return s.backupError(err, statusFile)
	}
	pp.report(result.Progress{PercentDone: 100, BytesDone: int64(sum.TotalBytesProcessed), TotalBytes: int64(sum.TotalBytesProcessed)}, true)
	res.Snapshots = []result.Snapshot{snapshotResult(sum, o, DumpFileName, o.Tags())}
	s.log.Info("snapshot created", "snapshot", res.Snapshots[0].Name, "size", res.Snapshots[0].TotalSize, "uploaded", res.Snapshots[0].Uploaded)
	st, serr := ReadDumpStatus(statusFile)
	switch {
	case serr != nil:
		s.log.Info("the dump's status cannot be read", "error", serr)
	case st != nil && st.NotCounted != "":
		s.log.Info("the dump holds no record of its rows, a verification can only check that it restores", "reason", st.NotCounted)
	case st != nil:
		s.log.Info("the dump's rows were counted and recorded at its end", "tables", st.Tables, "rows", st.Rows)
	}
	if b := st.binlog(); b != nil {
		res.Snapshots[0].Binlog = b
		s.log.Info("the dump is consistent with the binary log position", "file", b.File, "pos", b.Pos, "gtid", b.GTID)
	}
	unlocked()

	// The snapshot exists now; what follows maintains the repository. A failure there fails
	// the backup too (the operator must see it), but every step is still tried, and the
	// result keeps the snapshot and names each failed step.
	res.Repository = &result.Repository{}
	failed := s.maintain(ctx, o, res)
	s.completeSnapshot(ctx, &res.Snapshots[0])
	if len(failed) > 0 {
		res.FailedActions = failed
		return fmt.Errorf("snapshot %s was created and is kept, but %s", res.Snapshots[0].Name, describeFailures(failed))
	}
	return nil
}

// actionSteps names the actions in error messages.
var actionSteps = map[string]string{
	result.ActionInitializeRepository: "initializing the repository",
	result.ActionApplyRetention:       "applying the retention policy",
	result.ActionVerifyIntegrity:      "verifying the repository's integrity",
	result.ActionSendMetrics:          "reading the repository's statistics",
}

// maxActionError bounds each failed action's reason: the result, which carries each reason
// twice (in failedActions and in the error), must fit a termination message (4 KiB) without
// being shortened, which would cut the error's start ("snapshot … was created and is kept").
const maxActionError = 400

// clip shortens s to at most n bytes, keeping its start (restic's command, exit code and the
// first words of its message) and marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// describeFailures says which steps failed and why, in one sentence.
func describeFailures(failed []result.ActionFailure) string {
	parts := make([]string, len(failed))
	for i, f := range failed {
		parts[i] = actionSteps[f.Action] + " failed: " + f.Error
	}
	return strings.Join(parts, "; ")
}

// dumpStarted tells whether restic started the dump, which it does only once it has opened,
// locked and indexed the repository (see DumpStatus.Running).
func dumpStarted(statusFile string) bool {
	_, err := os.Stat(statusFile)
	return err == nil
}

// initRepository creates the repository. It never initialises over existing files: a
// location with key files but no config is reported as half-initialised, with what to do.
// Another process that created the repository in the meantime is not a failure.
func (s *session) initRepository(ctx context.Context, res *result.Result) error {
	s.log.Info("initializing the repository")
	err := s.withStorageTimeout(ctx, func(ctx context.Context) error {
		_, err := s.restic.Init(ctx)
		return err
	})
	switch {
	case err == nil:
		res.PreActions = append(res.PreActions, result.ActionInitializeRepository)
		return nil
	case errors.Is(err, restic.ErrAlreadyInitialized):
		s.log.Info("the repository was created by someone else meanwhile", "detail", err)
		return nil
	case errors.Is(err, restic.ErrKeysWithoutConfig):
		err = fmt.Errorf("the repository at %s is half-initialised: it has key files but no config file "+
			"(left, for example, by interrupted or concurrent first backups). Hoard does not initialise over existing keys. "+
			"If the location holds no data, delete its keys/ directory (or the whole location) and run the backup again; "+
			"otherwise restore its config file from a copy of the repository (restic: %w)", s.location, err)
	default:
		err = fmt.Errorf("failed to initialize the restic repository: %w", err)
	}
	res.FailedActions = append(res.FailedActions, result.ActionFailure{Action: result.ActionInitializeRepository, Error: clip(s.scrub.String(err.Error()), maxActionError)})
	return fmt.Errorf("backup failed, no snapshot was created: %w", err)
}

// unlockStale runs `restic unlock` in the background and returns a function that waits for
// it (callable more than once). unreachable gets the error if the repository did not respond
// within the storage timeout. Other failures are only logged: they matter only if a stale
// lock remains, and then the command it stops says so.
func (s *session) unlockStale(ctx context.Context, unreachable func(error)) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := s.withStorageTimeout(ctx, s.restic.Unlock)
		var timeout *storageTimeoutError
		switch {
		// Without a repository there is nothing to unlock; the backup creates it.
		case err == nil, ctx.Err() != nil, errors.Is(err, restic.ErrNoRepository):
		case errors.As(err, &timeout):
			unreachable(err)
		default:
			s.log.Warn("could not remove stale locks", "error", err)
		}
	}()
	return func() { <-done }
}

// maintain applies the retention policy, then checks the repository and reads its
// statistics side by side: both are mostly restic's key derivation, which takes a CPU each.
// It returns the actions that failed. stats runs without a lock, so that check (exclusive)
// is the only command that can hold one: with SoleWriter, a check stopped by a lock may
// remove all of them.
func (s *session) maintain(ctx context.Context, o *BackupOptions, res *result.Result) []result.ActionFailure {
	repo := res.Repository
	var failed []result.ActionFailure
	fail := func(action string, err error) {
		failed = append(failed, result.ActionFailure{Action: action, Error: clip(s.scrub.String(err.Error()), maxActionError)})
	}
	r := o.Retention
	if policy := (restic.ForgetOptions{KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily,
		KeepWeekly: r.KeepWeekly, KeepMonthly: r.KeepMonthly, KeepYearly: r.KeepYearly, KeepTags: r.KeepTags,
		Prune: r.Prune, DryRun: r.DryRun}); !policy.Empty() {
		var groups []restic.ForgetGroup
		filter, err := o.retentionFilter()
		if err == nil {
			policy.Filter = filter
			err = s.retryLocked(ctx, "forget", func(ctx context.Context) error {
				var err error
				groups, err = s.restic.Forget(ctx, policy)
				return err
			})
		}
		if err != nil {
			fail(result.ActionApplyRetention, err)
		} else {
			res.PostActions = append(res.PostActions, result.ActionApplyRetention)
			if !r.DryRun {
				repo.SnapshotsRemoved = int64(restic.Removed(groups))
				res.Forgotten = forgottenIDs(groups)
			}
			fillFromKept(&res.Snapshots[0], groups)
			s.log.Info("retention policy applied", "removed", restic.Removed(groups), "dryRun", r.DryRun, "tags", filter.Tags)
		}
	}

	var (
		check              *restic.CheckResult
		checkErr, statsErr error
		stats              *restic.Stats
		wg                 sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		checkErr = s.retryLocked(ctx, "check", func(ctx context.Context) error {
			var err error
			check, err = s.restic.Check(ctx, o.CheckReadDataSubset)
			return err
		})
	}()
	// Without a lock, as check holds an exclusive one.
	stats, statsErr = s.restic.Stats(ctx, restic.StatsOptions{Mode: "raw-data", NoLock: true})
	wg.Wait()
	if statsErr != nil && ctx.Err() == nil {
		// Unlocked reads fail if a prune elsewhere removes what they read: read again, locked.
		s.log.Warn("reading the repository's statistics failed, trying again with a lock", "error", statsErr)
		statsErr = s.retryLocked(ctx, "stats", func(ctx context.Context) error {
			var err error
			stats, err = s.restic.Stats(ctx, restic.StatsOptions{Mode: "raw-data"})
			return err
		})
	}

	if check != nil && check.Ran {
		ok := check.NumErrors == 0
		repo.Integrity = &ok
	}
	if checkErr != nil {
		fail(result.ActionVerifyIntegrity, checkErr)
	} else {
		res.PostActions = append(res.PostActions, result.ActionVerifyIntegrity)
	}
	if statsErr != nil {
		fail(result.ActionSendMetrics, statsErr)
	} else {
		repo.SizeBytes = int64(stats.TotalSize)
		repo.TotalSize = result.FormatBytes(repo.SizeBytes)
		repo.SnapshotCount = int64(stats.SnapshotsCount)
		res.PostActions = append(res.PostActions, result.ActionSendMetrics)
	}
	return failed
}

// forgottenIDs are the short ids of the snapshots a forget removed.
func forgottenIDs(groups []restic.ForgetGroup) []string {
	var ids []string
	for _, g := range groups {
		for _, sn := range g.Remove {
			ids = append(ids, restic.ShortID(sn.ID))
		}
	}
	return ids
}

// fillFromKept completes the new snapshot's description (tree, user) from retention's
// output, which lists it among the kept ones: no second restic call is needed.
func fillFromKept(snap *result.Snapshot, groups []restic.ForgetGroup) {
	for _, g := range groups {
		for _, k := range g.Keep {
			if k.ID == snap.ID {
				describe(snap, &k)
				return
			}
		}
	}
}

func describe(snap *result.Snapshot, s *restic.Snapshot) {
	snap.Tree = s.Tree
	snap.Paths = s.Paths
	snap.Username = s.Username
	snap.UID = int32(s.UID) //nolint:gosec // restic's uid is a process's, well below 2^31
	snap.GID = int32(s.GID) //nolint:gosec // as above
	snap.Tags = s.Tags
	if !s.Time.IsZero() {
		snap.Time = formatTime(s.Time)
	}
}

// completeSnapshot reads the new snapshot from restic when retention did not list it (no
// policy, or retention failed), so that its Snapshot object has restic's tree and user. A
// failure is only logged: the operator's next repository sync fills them in.
func (s *session) completeSnapshot(ctx context.Context, snap *result.Snapshot) {
	if snap.Tree != "" || snap.ID == "" {
		return
	}
	snaps, err := s.restic.Snapshots(ctx, restic.Filter{}, 0, snap.ID)
	if err != nil || len(snaps) != 1 {
		s.log.Warn("could not read the new snapshot's description", "snapshot", snap.Name, "error", err)
		return
	}
	describe(snap, &snaps[0])
}

// backupError says which side failed: the repository (restic never ran the dump), mysqldump
// (its exit status and last stderr lines) or restic (its exit code's meaning and message).
func (s *session) backupError(err error, statusFile string) error {
	st, serr := ReadDumpStatus(statusFile)
	if serr != nil {
		s.log.Error("could not tell how mysqldump ended", "error", serr)
	}
	if st == nil && serr == nil {
		return fmt.Errorf("backup failed, no snapshot was created: failed to open the restic repository: %w", err)
	}
	var xe *restic.ExitError
	resticKilled := errors.As(err, &xe) && xe.Signal != ""
	if st != nil && st.Failed() && !resticKilled && !st.BrokenPipe() {
		return fmt.Errorf("backup failed, no snapshot was created: %s", st)
	}
	return fmt.Errorf("backup failed, no snapshot was created: %w", err)
}

// snapshotResult describes the new snapshot of file, with tags.
func snapshotResult(sum *restic.BackupSummary, o *BackupOptions, file string, tags []string) result.Snapshot {
	total := int64(sum.TotalFilesProcessed)
	newFiles := int64(sum.FilesNew)
	modified := int64(sum.FilesChanged)
	unmodified := int64(sum.FilesUnmodified)
	name := sum.SnapshotID
	if len(name) > 8 {
		name = name[:8]
	}
	return result.Snapshot{
		Name:           name,
		ID:             sum.SnapshotID,
		Paths:          []string{"/" + file},
		Tags:           tags,
		Hostname:       o.hostname(),
		Target:         o.Target().String(),
		Time:           formatTime(sum.BackupStart),
		Path:           file,
		TotalSize:      result.FormatBytes(int64(sum.TotalBytesProcessed)),
		Uploaded:       result.FormatBytes(int64(sum.DataAdded)),
		TotalBytes:     int64(sum.TotalBytesProcessed),
		UploadedBytes:  int64(sum.DataAdded),
		ProcessingTime: formatSeconds(sum.TotalDuration),
		FileStats: &result.FileStats{
			TotalFiles: &total, NewFiles: &newFiles, ModifiedFiles: &modified, UnmodifiedFiles: &unmodified,
		},
	}
}

// formatTime renders a snapshot time for results; "" when restic did not report one.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
