package restic

import "context"

// Unlock removes stale locks: those of processes that no longer run on this host and those
// not refreshed for 30 minutes. restic does not ignore stale locks by itself: any lock stops
// an exclusive command such as check or prune. Unlock never removes the locks of live
// processes (no --remove-all), so it is safe while other jobs, or this one, use the repository.
func (r *Restic) Unlock(ctx context.Context) error {
	return r.run(ctx, call{command: "unlock"})
}
