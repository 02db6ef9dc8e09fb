package addon

import (
	"context"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
)

// RestoreOptions configure one restore.
type RestoreOptions struct {
	Common
	// SourceHostname is the host whose snapshot is restored; Hostname when empty.
	SourceHostname string
	// Snapshot is "latest", a restic snapshot id or an upstream snapshot name.
	Snapshot string
	// MySQLArgs are extra arguments for mysql (e.g. a database to restore into).
	MySQLArgs string
}

// Restore streams a snapshot's dump into mysql. It always returns a Result.
func Restore(ctx context.Context, o *RestoreOptions) *result.Result {
	start := time.Now()
	res := &result.Result{Kind: result.KindRestore, Hostname: o.hostname()}
	s := newSession(&o.Common)
	defer s.close()
	err := s.open()
	if err == nil {
		err = s.restore(ctx, o, res)
	}
	return s.finish(res, start, err)
}

func (s *session) restore(ctx context.Context, o *RestoreOptions, res *result.Result) error {
	userArgs, err := SplitArgs(o.MySQLArgs)
	if err != nil {
		return fmt.Errorf("failed to parse --mysql-args: %w", err)
	}
	id, err := snapshotID(o.Snapshot)
	if err != nil {
		return err
	}
	source := o.SourceHostname
	if source == "" {
		source = o.hostname()
	}
	if err := s.waitDB(ctx); err != nil {
		return err
	}

	// The dump of "latest" does not wait for the lookup of the snapshot it reads (for the
	// report and the progress total), so the restore streams at once instead of after a
	// separate restic run. restic resolves "latest" by the same filter: both find the same
	// snapshot unless a backup of the source host ends in the instant between them. A failed
	// lookup stops the dump. A snapshot id is looked up first, for the file it holds.
	dctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	ref, file, filter := id, "/"+DumpFileName, restic.Filter{}
	var lookup func() (*restic.Snapshot, error)
	progress := &streamProgress{pp: newProgressPrinter(s.o.Stdout, time.Second)}
	if id == "latest" {
		filter = latestFilter(source)
		lookup = s.lookupAsync(dctx, id, source, func(snap *restic.Snapshot, err error) {
			if err != nil {
				stop(err)
			} else if snap.Summary != nil {
				progress.total.Store(int64(snap.Summary.TotalBytesProcessed))
			}
		})
		s.log.Info("restoring", "snapshot", "latest", "host", source, "file", file)
	} else {
		snap, err := s.findSnapshot(ctx, id, source)
		if err != nil {
			return err
		}
		ref = snap.ID
		if len(snap.Paths) == 1 {
			file = snap.Paths[0]
		}
		if snap.Summary != nil {
			progress.total.Store(int64(snap.Summary.TotalBytesProcessed))
		}
		lookup = func() (*restic.Snapshot, error) { return snap, nil }
		s.log.Info("restoring", "snapshot", snap.ShortID, "host", snap.Hostname, "file", file, "size", FormatBytes(progress.total.Load()))
	}

	load, err := s.db.StartLoad(ctx, userArgs)
	if err != nil {
		stop(err)
		_, _ = lookup()
		return err
	}
	stopProgress := s.followLoad(load, progress)
	dumpErr := s.restic.Dump(dctx, ref, file, filter, load.Stdin())
	stopProgress()
	snap, lookupErr := lookup()
	if lookupErr != nil && dumpErr != nil {
		// The failed lookup stopped the dump, or both failed for the same reason: the
		// lookup's error says it better (e.g. which snapshot does not exist).
		load.Abort()
		if progress.done.Load() == 0 {
			return lookupErr
		}
		return fmt.Errorf("restore stopped after %s of the dump, the database may be partly restored: %w", FormatBytes(progress.done.Load()), lookupErr)
	}
	switch {
	case dumpErr == nil:
		if err := load.Finish(); err != nil {
			return fmt.Errorf("restore failed after %s of the dump: %w", FormatBytes(progress.done.Load()), err)
		}
	case restic.ReaderGone(dumpErr):
		// mysql stopped reading: its own exit status says why.
		err := load.Finish()
		if err == nil {
			err = dumpErr
		}
		return fmt.Errorf("restore failed after %s of the dump: %w", FormatBytes(progress.done.Load()), err)
	default:
		// Kill mysql rather than let it execute a truncated last statement.
		load.Abort()
		return fmt.Errorf("restore failed after %s of the dump, the database may be partly restored: %w", FormatBytes(progress.done.Load()), dumpErr)
	}
	// restic wrote the whole file and mysql executed all of it.
	if total := progress.total.Load(); total > 0 {
		progress.done.Store(total)
	}
	progress.pp.report(progress.progress(), true)
	name := ""
	if lookupErr != nil {
		s.log.Warn("the snapshot was restored, but which one is not known", "error", lookupErr)
	} else {
		name = snap.ShortID
		if name == "" && len(snap.ID) >= 8 {
			name = snap.ID[:8]
		}
	}
	// Without a recorded size, this is the last reading of mysql's input.
	n := progress.done.Load()
	res.Snapshots = []result.Snapshot{{Name: name, Path: path.Base(file), TotalSize: FormatBytes(n), TotalBytes: n}}
	s.log.Info("restored", "snapshot", name, "size", FormatBytes(n))
	return nil
}

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

// latestFilter selects the snapshots "latest" is chosen from: the source host's dumps.
func latestFilter(source string) restic.Filter {
	return restic.Filter{Host: source, Paths: []string{"/" + DumpFileName}}
}

// lookupAsync runs findSnapshot in the background, calls done with its outcome, and returns
// a function that waits for it.
func (s *session) lookupAsync(ctx context.Context, id, source string, done func(*restic.Snapshot, error)) func() (*restic.Snapshot, error) {
	var snap *restic.Snapshot
	var err error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		snap, err = s.findSnapshot(ctx, id, source)
		done(snap, err)
	}()
	return func() (*restic.Snapshot, error) {
		<-finished
		return snap, err
	}
}

// findSnapshot resolves "latest" (of the source host's dumps) or an id to one snapshot.
func (s *session) findSnapshot(ctx context.Context, id, source string) (*restic.Snapshot, error) {
	var snaps []restic.Snapshot
	err := s.withStorageTimeout(ctx, func(ctx context.Context) error {
		var err error
		if id == "latest" {
			snaps, err = s.restic.Snapshots(ctx, latestFilter(source), 1)
		} else {
			snaps, err = s.restic.Snapshots(ctx, restic.Filter{}, 0, id)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to find the snapshot to restore: %w", err)
	}
	if len(snaps) == 0 {
		if id == "latest" {
			return nil, fmt.Errorf("the repository has no snapshot of %s from host %q", DumpFileName, source)
		}
		return nil, fmt.Errorf("the repository has no snapshot %s", id)
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.After(snaps[j].Time) })
	return &snaps[0], nil
}
