package addon

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"time"

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
	snap, err := s.findSnapshot(ctx, id, source)
	if err != nil {
		return err
	}
	file := "/" + DumpFileName
	if len(snap.Paths) == 1 {
		file = snap.Paths[0]
	}
	var total int64
	if snap.Summary != nil {
		total = int64(snap.Summary.TotalBytesProcessed)
	}
	s.log.Info("restoring", "snapshot", snap.ShortID, "host", snap.Hostname, "file", file, "size", FormatBytes(total))

	load, err := s.db.StartLoad(ctx, userArgs)
	if err != nil {
		return err
	}
	pp := newProgressPrinter(s.o.Stdout, time.Second)
	cw := &countingWriter{w: load.Stdin(), total: total, pp: pp}
	n, dumpErr := s.restic.Dump(ctx, snap.ID, file, restic.Filter{}, cw)
	var we *restic.WriteError
	switch {
	case dumpErr == nil:
		if err := load.Finish(); err != nil {
			return fmt.Errorf("restore failed after %s of the dump: %w", FormatBytes(n), err)
		}
	case errors.As(dumpErr, &we):
		// mysql stopped reading: its own exit status says why.
		if err := load.Finish(); err != nil {
			return fmt.Errorf("restore failed after %s of the dump: %w", FormatBytes(n), err)
		}
		return fmt.Errorf("restore failed after %s of the dump: %w", FormatBytes(n), dumpErr)
	default:
		// Kill mysql rather than let it execute a truncated last statement.
		load.Abort()
		return fmt.Errorf("restore failed after %s of the dump, the database may be partly restored: %w", FormatBytes(n), dumpErr)
	}
	pp.report(cw.progress(), true)
	name := snap.ShortID
	if name == "" && len(snap.ID) >= 8 {
		name = snap.ID[:8]
	}
	res.Snapshots = []result.Snapshot{{Name: name, Path: path.Base(file), TotalSize: FormatBytes(n), TotalBytes: n}}
	return nil
}

// findSnapshot resolves "latest" (of the source host's dumps) or an id to one snapshot, so
// that the dump reads exactly the snapshot that is reported.
func (s *session) findSnapshot(ctx context.Context, id, source string) (*restic.Snapshot, error) {
	var snaps []restic.Snapshot
	err := s.withStorageTimeout(ctx, func(ctx context.Context) error {
		var err error
		if id == "latest" {
			snaps, err = s.restic.Snapshots(ctx, restic.Filter{Host: source, Paths: []string{"/" + DumpFileName}}, 1)
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
