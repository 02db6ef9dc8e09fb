package maintenance

import (
	"context"
	"fmt"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
)

// Migrate upgrades a Stash-era repository (format 1, no compression) to format 2 and
// repacks its data compressed, so that the repository is smaller when it ends. It checks the
// repository first and touches nothing when the check finds errors. A repository at format
// 2 already is only repacked: running Migrate again finishes a repack that was interrupted.
//
// The repack is restic's prune, which deletes old packs only after the repacked ones and the
// new index are written: stopped at any point, every snapshot stays readable, and what the
// interruption left is removed by the next prune. soleWriter means every lock in the way is
// stale (package repoqueue) and is removed; log gets one line per removed lock.
func Migrate(ctx context.Context, r *restic.Restic, soleWriter bool, log func(format string, args ...any)) (string, error) {
	cfg, err := r.CatConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("failed to read the repository's config: %w", err)
	}
	did := fmt.Sprintf("the repository is at format %d already", cfg.Version)
	if cfg.Version < 2 {
		if _, err := Check(ctx, r, ""); err != nil {
			return "", fmt.Errorf("not migrated, the repository is unchanged: %w", err)
		}
		if err := r.RetryAfterRemovingLocks(ctx, soleWriter, log, func() error { return r.MigrateUpgradeRepoV2(ctx) }); err != nil {
			return "", fmt.Errorf("restic migrate upgrade_repo_v2 failed: %w", err)
		}
		after, err := r.CatConfig(ctx)
		if err != nil {
			return "", fmt.Errorf("migrated, but the config cannot be read back: %w", err)
		}
		if after.Version != 2 {
			return "", fmt.Errorf("restic migrate reported success but the repository is at format %d", after.Version)
		}
		did = fmt.Sprintf("checked, then upgraded the repository from format %d to 2", cfg.Version)
	}
	before, err := r.Stats(ctx, restic.StatsOptions{Mode: "raw-data"})
	if err != nil {
		return "", fmt.Errorf("%s, but its size cannot be read (%w): the data is not repacked yet; run Migrate again", did, err)
	}
	if err := r.RetryAfterRemovingLocks(ctx, soleWriter, log, func() error { return r.PruneRepackUncompressed(ctx) }); err != nil {
		return "", fmt.Errorf("%s, but repacking its data compressed failed: %w; every snapshot is intact (prune deletes old data only after the repacked data is written and indexed): run Migrate again to finish", did, err)
	}
	after, err := r.Stats(ctx, restic.StatsOptions{Mode: "raw-data"})
	if err != nil {
		return "", fmt.Errorf("%s and repacked its data compressed, but its size cannot be read back: %w", did, err)
	}
	return fmt.Sprintf("%s and repacked its data compressed: %s before, %s after; new backups are compressed", did, result.FormatBytes(int64(before.TotalSize)), result.FormatBytes(int64(after.TotalSize))), nil
}
