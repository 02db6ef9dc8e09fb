package maintenance

import (
	"context"
	"fmt"

	"github.com/hoard-operator/hoard/internal/restic"
)

// Migrate upgrades a Stash-era repository (format 1, no compression) to format 2, whose new
// data restic compresses. It checks the repository first and touches nothing when the check
// finds errors; a repository at format 2 already is left as it is.
func Migrate(ctx context.Context, r *restic.Restic) (string, error) {
	cfg, err := r.CatConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("failed to read the repository's config: %w", err)
	}
	if cfg.Version >= 2 {
		return fmt.Sprintf("the repository is at format %d already (compression on); nothing to do", cfg.Version), nil
	}
	if _, err := Check(ctx, r, ""); err != nil {
		return "", fmt.Errorf("not migrated, the repository is unchanged: %w", err)
	}
	if err := r.MigrateUpgradeRepoV2(ctx); err != nil {
		return "", fmt.Errorf("restic migrate upgrade_repo_v2 failed: %w", err)
	}
	after, err := r.CatConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("migrated, but the config cannot be read back: %w", err)
	}
	if after.Version != 2 {
		return "", fmt.Errorf("restic migrate reported success but the repository is at format %d", after.Version)
	}
	return fmt.Sprintf("checked, then upgraded the repository from format %d to 2: new backups are compressed (existing data stays as it is until a prune repacks it)", cfg.Version), nil
}
