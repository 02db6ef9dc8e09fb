package backupsession

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/snapshot"
)

// recordSnapshots keeps the Repository's Snapshot objects in step with what the Job did: the
// snapshot it created gets its object (in the Repository's namespace), and the ones its
// retention forgot lose theirs. When the result could not hold every forgotten id, the
// Repository is asked for a sync, which finds the rest.
func (r *Reconciler) recordSnapshots(ctx context.Context, bs *v1beta1.BackupSession, ref v1beta1.RepositoryRef, res *result.Result) error {
	if ref.Name == "" || res == nil || (len(res.Snapshots) == 0 && len(res.Forgotten) == 0 && !res.ForgottenIncomplete) {
		return nil
	}
	repo := &v1alpha1.Repository{}
	if err := r.Client.Get(ctx, ref.Key(bs.Namespace), repo); err != nil {
		return client.IgnoreNotFound(err)
	}
	// As for its status: a Repository of another namespace is written only while it allows
	// the session's.
	if allowed, err := dependency.AllowedNow(ctx, r.Client, repo, bs.Namespace); err != nil || !allowed {
		return err
	}
	if err := snapshot.Create(ctx, r.Client, repo, res.Snapshots, bs.Namespace+"/"+bs.Name); err != nil {
		return err
	}
	if err := snapshot.Remove(ctx, r.Client, repo, res.Forgotten); err != nil {
		return err
	}
	if res.ForgottenIncomplete {
		if err := snapshot.RequestSync(ctx, r.Client, repo); err != nil {
			return fmt.Errorf("retention forgot more snapshots than the result lists: %w", err)
		}
	}
	return nil
}
