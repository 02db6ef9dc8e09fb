package addon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
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
	// CheckReadDataSubset makes the integrity check read that part of the data ("5%").
	CheckReadDataSubset string
	// Self is this executable; restic runs its dump-exec subcommand around mysqldump.
	Self string
}

// Tags are the snapshot's tags: they let forget and restore select this target's snapshots.
func (o *BackupOptions) Tags() []string {
	tags := []string{"namespace=" + o.Namespace}
	if o.InvokerKind != "" && o.InvokerName != "" {
		tags = append(tags, "invoker="+o.InvokerKind+"/"+o.InvokerName)
	}
	if o.TargetKind != "" && o.TargetName != "" {
		tags = append(tags, "target="+o.TargetKind+"/"+o.TargetName)
	}
	return tags
}

// Backup dumps the database into a new snapshot, then applies retention, checks the
// repository and reads its statistics. It always returns a Result.
func Backup(ctx context.Context, o *BackupOptions) *result.Result {
	start := time.Now()
	res := &result.Result{Kind: result.KindBackup, Hostname: o.hostname()}
	s := newSession(&o.Common)
	defer s.close()
	err := s.open()
	if err == nil {
		err = s.backup(ctx, o, res)
	}
	return s.finish(res, start, err)
}

func (s *session) backup(ctx context.Context, o *BackupOptions, res *result.Result) error {
	userArgs, err := SplitArgs(o.MySQLArgs)
	if err != nil {
		return fmt.Errorf("failed to parse --mysql-args: %w", err)
	}
	if err := s.waitDB(ctx); err != nil {
		return err
	}

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
			Command:  DumpExecCommand(o.Self, statusFile, s.db.DumpCommand(userArgs)),
		}, func(st restic.BackupStatus) {
			pp.report(result.Progress{PercentDone: st.PercentDone * 100, BytesDone: int64(st.BytesDone), TotalBytes: int64(st.TotalBytes)}, false)
		})
	}
	s.log.Info("backing up", "host", o.hostname(), "tags", o.Tags())
	sum, err := run()
	if errors.Is(err, restic.ErrNoRepository) && !dumpStarted(statusFile) {
		// restic stops before running the dump when there is no repository: create it and
		// start again.
		if err := s.initRepository(ctx); err != nil {
			return err
		}
		res.PreActions = append(res.PreActions, result.ActionInitializeRepository)
		sum, err = run()
	}
	if cause := context.Cause(bctx); err != nil && cause != nil && ctx.Err() == nil {
		err = cause
	}
	if err != nil {
		return s.backupError(err, statusFile)
	}
	pp.report(result.Progress{PercentDone: 100, BytesDone: int64(sum.TotalBytesProcessed), TotalBytes: int64(sum.TotalBytesProcessed)}, true)
	res.Snapshots = []result.Snapshot{snapshotResult(sum)}
	s.log.Info("snapshot created", "snapshot", res.Snapshots[0].Name, "size", res.Snapshots[0].TotalSize, "uploaded", res.Snapshots[0].Uploaded)
	unlocked()

	// The snapshot exists now; what follows maintains the repository. A failure there fails
	// the backup too (the operator must see it), but every step is still tried.
	res.Repository = &result.Repository{}
	if err := s.maintain(ctx, o, res); err != nil {
		return fmt.Errorf("snapshot %s was created, but %w", res.Snapshots[0].Name, err)
	}
	return nil
}

// dumpStarted tells whether restic started the dump, which it does only once it has opened,
// locked and indexed the repository (see DumpStatus.Running).
func dumpStarted(statusFile string) bool {
	_, err := os.Stat(statusFile)
	return err == nil
}

func (s *session) initRepository(ctx context.Context) error {
	s.log.Info("initializing the repository")
	err := s.withStorageTimeout(ctx, func(ctx context.Context) error {
		_, err := s.restic.Init(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("failed to initialize the restic repository: %w", err)
	}
	return nil
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
func (s *session) maintain(ctx context.Context, o *BackupOptions, res *result.Result) error {
	repo := res.Repository
	var errs []error
	if r := o.Retention; !(restic.ForgetOptions{KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily,
		KeepWeekly: r.KeepWeekly, KeepMonthly: r.KeepMonthly, KeepYearly: r.KeepYearly, KeepTags: r.KeepTags}).Empty() {
		groups, err := s.restic.Forget(ctx, restic.ForgetOptions{
			// Only this host's snapshots: other hosts sharing the repository keep theirs.
			Filter:   restic.Filter{Host: o.hostname()},
			KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily,
			KeepWeekly: r.KeepWeekly, KeepMonthly: r.KeepMonthly, KeepYearly: r.KeepYearly,
			KeepTags: r.KeepTags, Prune: r.Prune, DryRun: r.DryRun,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("failed to apply the retention policy: %w", err))
		} else {
			res.PostActions = append(res.PostActions, result.ActionApplyRetention)
			if !r.DryRun {
				repo.SnapshotsRemoved = int64(restic.Removed(groups))
			}
			s.log.Info("retention policy applied", "removed", restic.Removed(groups), "dryRun", r.DryRun)
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
		check, checkErr = s.restic.Check(ctx, o.CheckReadDataSubset)
	}()
	// Without a lock, as check holds an exclusive one.
	stats, statsErr = s.restic.Stats(ctx, restic.StatsOptions{Mode: "raw-data", NoLock: true})
	wg.Wait()
	if statsErr != nil && ctx.Err() == nil {
		// Unlocked reads fail if a prune elsewhere removes what they read: read again, locked.
		s.log.Warn("reading the repository's statistics failed, trying again with a lock", "error", statsErr)
		stats, statsErr = s.restic.Stats(ctx, restic.StatsOptions{Mode: "raw-data"})
	}

	if check != nil && check.Ran {
		ok := check.NumErrors == 0
		repo.Integrity = &ok
	}
	if checkErr != nil {
		errs = append(errs, fmt.Errorf("failed to verify the repository's integrity: %w", checkErr))
	} else {
		res.PostActions = append(res.PostActions, result.ActionVerifyIntegrity)
	}
	if statsErr != nil {
		errs = append(errs, fmt.Errorf("failed to read the repository's statistics: %w", statsErr))
	} else {
		repo.SizeBytes = int64(stats.TotalSize)
		repo.TotalSize = FormatBytes(repo.SizeBytes)
		repo.SnapshotCount = int64(stats.SnapshotsCount)
		res.PostActions = append(res.PostActions, result.ActionSendMetrics)
	}
	return errors.Join(errs...)
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

func snapshotResult(sum *restic.BackupSummary) result.Snapshot {
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
		Path:           DumpFileName,
		TotalSize:      FormatBytes(int64(sum.TotalBytesProcessed)),
		Uploaded:       FormatBytes(int64(sum.DataAdded)),
		TotalBytes:     int64(sum.TotalBytesProcessed),
		UploadedBytes:  int64(sum.DataAdded),
		ProcessingTime: formatSeconds(sum.TotalDuration),
		FileStats: &result.FileStats{
			TotalFiles: &total, NewFiles: &newFiles, ModifiedFiles: &modified, UnmodifiedFiles: &unmodified,
		},
	}
}
