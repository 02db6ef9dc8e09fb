package restic

import "context"

// Unlock removes stale locks: those of processes that no longer run on this host and those
// not refreshed for 30 minutes. It never removes the locks of live processes (no
// --remove-all), so it is safe while another job uses the repository. It also tells whether
// the repository exists: restic exits with ErrNoRepository otherwise.
func (r *Restic) Unlock(ctx context.Context) error {
	return r.run(ctx, call{command: "unlock"})
}
