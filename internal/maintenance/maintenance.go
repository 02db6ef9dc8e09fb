// Package maintenance runs the repository operations a RepositoryOperation asks for (unlock,
// check) inside the operation's Job, and says in one line what they did.
package maintenance

import (
	"context"
	"fmt"
	"strings"

	"github.com/hoard-operator/hoard/internal/restic"
)

// describeLocks is how many of the removed locks the outcome describes.
const describeLocks = 3

// Unlock removes the repository's locks. soleWriter means no other process uses the
// repository (the operator runs the Job only when no other Hoard Job does, and the Repository
// is not shared with other tools): every lock is then stale and all go. Otherwise only
// restic's own stale locks go, and live ones stay.
func Unlock(ctx context.Context, r *restic.Restic, soleWriter bool) (string, error) {
	if !soleWriter {
		before, err := r.ListLocks(ctx)
		if err != nil {
			return "", fmt.Errorf("failed to list the locks: %w", err)
		}
		if err := r.Unlock(ctx); err != nil {
			return "", fmt.Errorf("restic unlock failed: %w", err)
		}
		after, err := r.ListLocks(ctx)
		if err != nil {
			return "", fmt.Errorf("failed to list the locks after unlocking: %w", err)
		}
		msg := fmt.Sprintf("removed %d stale lock(s)", max(0, len(before)-len(after)))
		if len(after) > 0 {
			msg += fmt.Sprintf("; %d lock(s) of live processes stay (the Repository is shared with other tools)", len(after))
		}
		return msg, nil
	}
	ids, described, err := r.RemoveAllLocks(ctx, describeLocks)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "the repository had no locks", nil
	}
	msg := fmt.Sprintf("removed %d lock(s)", len(ids))
	if len(described) > 0 {
		var ds []string
		for _, l := range described {
			ds = append(ds, l.String())
		}
		msg += ": " + strings.Join(ds, "; ")
		if len(ids) > len(described) {
			msg += fmt.Sprintf(" and %d more", len(ids)-len(described))
		}
	}
	return msg, nil
}

// Check runs restic check, reading readDataSubset of the data when it is set. A repository
// with errors is an error that counts them and quotes the first.
func Check(ctx context.Context, r *restic.Restic, readDataSubset string) (string, error) {
	what := "structure"
	if readDataSubset != "" {
		what = "structure and data subset " + readDataSubset
	}
	res, err := r.Check(ctx, readDataSubset)
	if err != nil {
		if res != nil && res.NumErrors > 0 {
			msg := fmt.Sprintf("restic check of the %s found %d error(s)", what, res.NumErrors)
			if len(res.Errors) > 0 {
				msg += ", first: " + res.Errors[0]
			}
			if len(res.BrokenPacks) > 0 {
				msg += fmt.Sprintf("; %d broken pack(s)", len(res.BrokenPacks))
			}
			return "", fmt.Errorf("%s", msg)
		}
		return "", fmt.Errorf("restic check of the %s failed: %w", what, err)
	}
	return "restic check of the " + what + " found no errors", nil
}
