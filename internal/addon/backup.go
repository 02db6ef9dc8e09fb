package addon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
)

// Names of the actions around a backup, as upstream Stash reported them.
const (
	ActionInitializeRepository = "InitializeBackendRepository"
	ActionApplyRetention       = "ApplyRetentionPolicy"
	ActionVerifyIntegrity      = "VerifyRepositoryIntegrity"
	ActionSendMetrics          = "SendRepositoryMetrics"
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
	initialized, err := s.ensureRepository(ctx)
	if err != nil {
		return err
	}
	if initialized {
		res.PreActions = append(res.PreActions, ActionInitializeRepository)
	}

	statusFile := filepath.Join(s.work, "dump-status.json")
	pp := newProgressPrinter(s.o.Stdout, time.Second)
	s.log.Info("backing up", "host", o.hostname(), "tags", o.Tags())
	sum, err := s.restic.BackupFromCommand(ctx, restic.BackupOptions{
		Host:     o.hostname(),
		Tags:     o.Tags(),
		Filename: DumpFileName,
		Command:  DumpExecCommand(o.Self, statusFile, s.db.DumpCommand(userArgs)),
	}, func(st restic.BackupStatus) {
		pp.report(result.Progress{PercentDone: st.PercentDone * 100, BytesDone: int64(st.BytesDone), TotalBytes: int64(st.TotalBytes)}, false)
	})
	if err != nil {
		return s.backupError(err, statusFile)
	}
	pp.report(result.Progress{PercentDone: 100, BytesDone: int64(sum.TotalBytesProcessed), TotalBytes: int64(sum.TotalBytesProcessed)}, true)
	res.Snapshots = []result.Snapshot{snapshotResult(sum)}
	s.log.Info("snapshot created", "snapshot", res.Snapshots[0].Name, "size", res.Snapshots[0].TotalSize, "uploaded", res.Snapshots[0].Uploaded)

	// The snapshot exists now; what follows maintains the repository. A failure there fails
	// the backup too (the operator must see it), but every step is still tried.
	repo := &result.Repository{}
	res.Repository = repo
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
			res.PostActions = append(res.PostActions, ActionApplyRetention)
			if !r.DryRun {
				repo.SnapshotsRemoved = int64(restic.Removed(groups))
			}
			s.log.Info("retention policy applied", "removed", restic.Removed(groups), "dryRun", r.DryRun)
		}
	}
	check, err := s.restic.Check(ctx, o.CheckReadDataSubset)
	if check != nil && check.Ran {
		ok := check.NumErrors == 0
		repo.Integrity = &ok
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("failed to verify the repository's integrity: %w", err))
	} else {
		res.PostActions = append(res.PostActions, ActionVerifyIntegrity)
	}
	stats, err := s.restic.Stats(ctx, "raw-data")
	if err != nil {
		errs = append(errs, fmt.Errorf("failed to read the repository's statistics: %w", err))
	} else {
		repo.SizeBytes = int64(stats.TotalSize)
		repo.TotalSize = FormatBytes(repo.SizeBytes)
		repo.SnapshotCount = int64(stats.SnapshotsCount)
		res.PostActions = append(res.PostActions, ActionSendMetrics)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("snapshot %s was created, but %w", res.Snapshots[0].Name, err)
	}
	return nil
}

// ensureRepository removes stale locks and creates the repository if it does not exist yet;
// it reports whether it did. `unlock` doubles as the existence probe.
func (s *session) ensureRepository(ctx context.Context) (bool, error) {
	err := s.withStorageTimeout(ctx, s.restic.Unlock)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, restic.ErrNoRepository) {
		return false, fmt.Errorf("failed to open the restic repository: %w", err)
	}
	s.log.Info("initializing the repository")
	if err := s.withStorageTimeout(ctx, func(ctx context.Context) error {
		_, err := s.restic.Init(ctx)
		return err
	}); err != nil {
		return false, fmt.Errorf("failed to initialize the restic repository: %w", err)
	}
	return true, nil
}

// backupError says which side failed: mysqldump (its exit status and last stderr lines) or
// restic (its exit code's meaning and message).
func (s *session) backupError(err error, statusFile string) error {
	st, serr := ReadDumpStatus(statusFile)
	if serr != nil {
		s.log.Error("could not tell how mysqldump ended", "error", serr)
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
