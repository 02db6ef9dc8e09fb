// Package snapshot keeps the Snapshot objects (repositories.stash.appscode.com/v1alpha1) of
// a Repository: their names, labels and contents, made from what a Job reported, and their
// removal once restic forgot the snapshot. restic is the truth; these objects are a cache
// that backup results, retention runs and repository syncs keep in step
// (docs/design/0021-snapshots-as-objects.md).
package snapshot

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	repov1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/snaptag"
)

// Finalizer holds a deleted Snapshot until restic has forgotten the snapshot.
const Finalizer = "hoard.io/forget-snapshot"

// Name is upstream Stash's name of a snapshot: `<repository>-<short id>`.
func Name(repository, shortID string) string {
	return repository + "-" + restic.ShortID(shortID)
}

// Labels are the Repository's own labels plus `repository` and `hostname` (Stash's keys,
// which win over the Repository's). A host name that is not a valid label value is left
// out rather than mangled: a selector on it could never match.
func Labels(repo *stashv1alpha1.Repository, hostname string) map[string]string {
	l := make(map[string]string, len(repo.Labels)+2)
	for k, v := range repo.Labels {
		l[k] = v
	}
	l[repov1alpha1.LabelRepository] = repo.Name
	if len(validation.IsValidLabelValue(hostname)) == 0 {
		l[repov1alpha1.LabelHostname] = hostname
	} else {
		delete(l, repov1alpha1.LabelHostname)
	}
	return l
}

// Object is the Snapshot for s, a snapshot of repo; session names the BackupSession that
// made it ("<namespace>/<name>"), empty when a sync found it.
func Object(repo *stashv1alpha1.Repository, s *result.Snapshot, session string) *repov1alpha1.Snapshot {
	short := restic.ShortID(s.ID)
	if short == "" {
		short = s.Name
	}
	obj := &repov1alpha1.Snapshot{
		ObjectMeta: metav1.ObjectMeta{
			Name:       Name(repo.Name, short),
			Namespace:  repo.Namespace,
			Labels:     Labels(repo, s.Hostname),
			Finalizers: []string{Finalizer},
			// Owned, so that they go with their Repository (and, as it is gone then, without a
			// forget); not blocking, as nothing waits for them.
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: stashv1alpha1.GroupVersion.String(), Kind: "Repository", Name: repo.Name, UID: repo.UID,
			}},
		},
		Status: repov1alpha1.SnapshotStatus{
			Tree:       s.Tree,
			Paths:      s.Paths,
			Hostname:   s.Hostname,
			Username:   s.Username,
			UID:        s.UID,
			Gid:        s.GID,
			Tags:       s.Tags,
			Repository: repo.Name,
			ID:         short,
			FullID:     s.ID,
			TotalBytes: s.TotalBytes,
			Target:     s.Target,
			Session:    session,
		},
	}
	if obj.Status.TotalBytes > 0 {
		obj.Status.TotalSize = result.FormatBytes(obj.Status.TotalBytes)
	}
	if b := s.Binlog; b != nil {
		obj.Status.Binlog = &repov1alpha1.SnapshotBinlog{File: b.File, Position: b.Pos, GTID: b.GTID}
	}
	if obj.Status.Target == "" {
		if id, ok := snaptag.Of(s.Tags); ok {
			obj.Status.Target = id.String()
		}
	}
	if t, err := time.Parse(time.RFC3339, s.Time); err == nil {
		obj.Status.Time = &metav1.Time{Time: t}
	}
	return obj
}

// Create makes the Snapshot objects of snaps in repo's namespace. One that exists already
// (a backup result and a sync reported the same snapshot) is completed with what it lacks.
func Create(ctx context.Context, c client.Client, repo *stashv1alpha1.Repository, snaps []result.Snapshot, session string) error {
	for i := range snaps {
		obj := Object(repo, &snaps[i], session)
		err := c.Create(ctx, obj)
		if err == nil {
			continue
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("failed to create Snapshot %s/%s: %w", obj.Namespace, obj.Name, err)
		}
		if err := complete(ctx, c, obj); err != nil {
			return err
		}
	}
	return nil
}

// complete fills the existing object's empty fields from want (e.g. the session that a
// sync could not know, or the tree a backup result lacked).
func complete(ctx context.Context, c client.Client, want *repov1alpha1.Snapshot) error {
	have := &repov1alpha1.Snapshot{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(want), have); err != nil {
		return client.IgnoreNotFound(err)
	}
	base := have.DeepCopy()
	h, w := &have.Status, &want.Status
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&h.Tree, w.Tree)
	fill(&h.Username, w.Username)
	fill(&h.FullID, w.FullID)
	fill(&h.Target, w.Target)
	fill(&h.Session, w.Session)
	fill(&h.TotalSize, w.TotalSize)
	if h.TotalBytes == 0 {
		h.TotalBytes = w.TotalBytes
	}
	if h.Time == nil {
		h.Time = w.Time
	}
	if len(h.Tags) == 0 {
		h.Tags = w.Tags
	}
	if len(h.Paths) == 0 {
		h.Paths = w.Paths
	}
	if h.Binlog == nil {
		h.Binlog = w.Binlog
	}
	if equality.Semantic.DeepEqual(base.Status, have.Status) {
		return nil
	}
	if err := c.Patch(ctx, have, client.MergeFrom(base)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("failed to update Snapshot %s/%s: %w", have.Namespace, have.Name, err))
	}
	return nil
}

// Remove deletes the objects of snapshots restic no longer has (short ids): their
// finalizer goes first, as there is nothing left to forget.
func Remove(ctx context.Context, c client.Client, repo *stashv1alpha1.Repository, shortIDs []string) error {
	for _, id := range shortIDs {
		obj := &repov1alpha1.Snapshot{}
		key := client.ObjectKey{Namespace: repo.Namespace, Name: Name(repo.Name, id)}
		if err := c.Get(ctx, key, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("failed to get Snapshot %s: %w", key, err)
		}
		if err := Release(ctx, c, obj); err != nil {
			return err
		}
		if obj.DeletionTimestamp.IsZero() {
			if err := c.Delete(ctx, obj, client.Preconditions{UID: &obj.UID}); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("failed to delete Snapshot %s: %w", key, err)
			}
		}
	}
	return nil
}

// Release removes the finalizer: restic no longer has the snapshot, or it must be kept and
// only the object goes (its Repository is gone).
func Release(ctx context.Context, c client.Client, obj *repov1alpha1.Snapshot) error {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	base := obj.DeepCopy()
	controllerutil.RemoveFinalizer(obj, Finalizer)
	if err := c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("failed to remove the finalizer of Snapshot %s/%s: %w", obj.Namespace, obj.Name, err)
	}
	return nil
}

// AnnotationSync on a Repository asks for a sync of its Snapshot objects now (any value);
// the operator removes it when the sync is done.
const AnnotationSync = "hoard.io/sync-snapshots"

// RequestSync asks for a sync of repo's Snapshots.
func RequestSync(ctx context.Context, c client.Client, repo *stashv1alpha1.Repository) error {
	if _, ok := repo.Annotations[AnnotationSync]; ok {
		return nil
	}
	base := repo.DeepCopy()
	if repo.Annotations == nil {
		repo.Annotations = map[string]string{}
	}
	repo.Annotations[AnnotationSync] = "retention"
	if err := c.Patch(ctx, repo, client.MergeFrom(base)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("failed to ask Repository %s/%s for a snapshot sync: %w", repo.Namespace, repo.Name, err)
	}
	return nil
}

// RecordVerification sets the outcome of a verifying restore on the Snapshot of shortID in
// repo. A snapshot without an object (not synced yet, or forgotten since) is skipped: a
// sync creates the object later, without the outcome.
func RecordVerification(ctx context.Context, c client.Client, repo *stashv1alpha1.Repository, shortID string, v *repov1alpha1.SnapshotVerification) error {
	obj := &repov1alpha1.Snapshot{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: repo.Namespace, Name: Name(repo.Name, shortID)}, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	base := obj.DeepCopy()
	obj.Status.Verification = v
	if err := c.Patch(ctx, obj, client.MergeFrom(base)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("failed to record the verification of Snapshot %s/%s: %w", obj.Namespace, obj.Name, err))
	}
	return nil
}
