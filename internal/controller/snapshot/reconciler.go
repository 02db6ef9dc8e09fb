// Package snapshot reconciles the Snapshot objects of each Repository with restic: a deleted
// Snapshot is forgotten (and the repository pruned) by a Job under the repository's
// one-writer rule, and the same Job syncs the list, on a schedule and on demand. The
// requests are Repositories: one Job at a time serves all of a repository's Snapshots.
//
// A deleted Snapshot keeps its finalizer until restic no longer has the snapshot. A failed
// forget keeps the object, with the reason in its Forgotten condition, and is tried again
// with the next sync. When the Repository itself is gone or being deleted, nothing can
// forget: the finalizer goes and the snapshot stays in restic (deleting a Repository never
// deletes data unless it asks for wipeOut, which its own controller handles).
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	repov1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repojob"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/repoqueue"
	"github.com/hoard-operator/hoard/internal/session"
	"github.com/hoard-operator/hoard/internal/snapshot"
)

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// Snapshots are the operator's records: it creates them from results, removes its finalizer
// once restic forgot one, deletes those restic no longer has, and writes a failed forget's
// reason on them.
// +kubebuilder:rbac:groups=repositories.stash.appscode.com,resources=snapshots,verbs=get;list;watch;create;patch;delete
// The snapshots Job is deleted once its result is recorded, so that the next one can start.
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// The Job reads the known snapshot ids from a Secret the operator writes before it and
// deletes after it (get: its owner, metadata only).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;delete

// Annotations on a Repository. AnnotationSync asks for a sync now (any value; the operator
// removes it when the sync is done). AnnotationSyncedAt records the end of the last sync, from
// which the next scheduled one is counted. AnnotationPrune: "false" keeps a forget from
// pruning (prune frees the space, but takes an exclusive lock for a while).
const (
	AnnotationSync     = snapshot.AnnotationSync
	AnnotationSyncedAt = "hoard.io/snapshots-synced-at"
	AnnotationPrune    = "hoard.io/prune-on-forget"
)

// maxForget is the most snapshots one Job forgets: their whole ids stay within the 128 KiB
// one argument may hold, and a bigger deletion takes several Jobs, one after another.
const maxForget = 1000

// repositoryIndex finds a Repository's Snapshots.
const repositoryIndex = "hoard.snapshotRepository"

// Reconciler keeps one Repository's Snapshots in step with restic.
type Reconciler struct {
	// Env runs the snapshots Job (`hoard snapshots`).
	repojob.Env
	// SyncInterval is how often every Repository's list is synced; zero means only on demand
	// and when Snapshots are deleted.
	SyncInterval time.Duration
	Now          func() time.Time
}

// SetupWithManager registers the reconciler: Repositories, their Snapshots and the Jobs they
// own all lead to the Repository.
func SetupWithManager(mgr ctrl.Manager, image string, queue *repoqueue.Queue, syncInterval, startGrace time.Duration) error {
	r := &Reconciler{Env: repojob.NewEnv(mgr, "snapshot", image, queue), SyncInterval: syncInterval, Now: time.Now}
	r.StartGrace = startGrace
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &repov1alpha1.Snapshot{}, repositoryIndex, func(o client.Object) []string {
		if s, ok := o.(*repov1alpha1.Snapshot); ok && s.Status.Repository != "" {
			return []string{s.Status.Repository}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("failed to index Snapshots by Repository: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("snapshot").
		For(&stashv1alpha1.Repository{}).
		Owns(&batchv1.Job{}).
		Watches(&repov1alpha1.Snapshot{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			s, ok := o.(*repov1alpha1.Snapshot)
			// Only a deletion asks for work; the operator's own creations do not.
			if !ok || s.DeletionTimestamp.IsZero() || s.Status.Repository == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: s.Namespace, Name: s.Status.Repository}}}
		})).
		Complete(r)
}

// Reconcile records a finished Job, then starts the next one when Snapshots wait to be
// forgotten or a sync is due.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	snaps := &repov1alpha1.SnapshotList{}
	if err := r.List(ctx, snaps, client.InNamespace(req.Namespace), client.MatchingFields{repositoryIndex: req.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("failed to list the Snapshots of Repository %s: %w", req.NamespacedName, err)
	}
	repo := &stashv1alpha1.Repository{}
	if err := r.Get(ctx, req.NamespacedName, repo); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("failed to get Repository %s: %w", req.NamespacedName, err)
		}
		return ctrl.Result{}, r.releaseDeleted(ctx, snaps)
	}
	if !repo.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.releaseDeleted(ctx, snaps)
	}

	job := &batchv1.Job{}
	key := client.ObjectKey{Namespace: repo.Namespace, Name: JobName(repo.Name)}
	err := r.Get(ctx, key, job)
	if apierrors.IsNotFound(err) {
		// The cache may not have seen the Job the last reconcile created yet: starting again
		// would replace the known ids' Secret under it. Its arrival in the cache wakes us.
		if err = r.APIReader.Get(ctx, key, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}}); apierrors.IsNotFound(err) {
			return r.start(ctx, repo, snaps)
		}
		if err == nil {
			return ctrl.Result{}, nil
		}
	}
	switch {
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("failed to get Job %s/%s: %w", key.Namespace, key.Name, err)
	case !metav1.IsControlledBy(job, repo):
		log.FromContext(ctx).Info("a Job with the snapshots Job's name belongs to something else; waiting", "job", job.Name)
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	case !job.DeletionTimestamp.IsZero():
		return ctrl.Result{}, nil // its deletion wakes us
	}
	return r.finish(ctx, repo, snaps, job)
}

// releaseDeleted lets the deleted Snapshots of a Repository that is gone go, keeping the
// snapshots in restic.
func (r *Reconciler) releaseDeleted(ctx context.Context, snaps *repov1alpha1.SnapshotList) error {
	for i := range snaps.Items {
		if s := &snaps.Items[i]; !s.DeletionTimestamp.IsZero() {
			if err := snapshot.Release(ctx, r.Client, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncDue says whether a sync is due, and otherwise when it will be.
func (r *Reconciler) syncDue(repo *stashv1alpha1.Repository) (bool, time.Duration) {
	if _, ok := repo.Annotations[AnnotationSync]; ok {
		return true, 0
	}
	if r.SyncInterval <= 0 {
		return false, 0
	}
	last := repo.CreationTimestamp.Time
	if t, err := time.Parse(time.RFC3339, repo.Annotations[AnnotationSyncedAt]); err == nil {
		last = t
	}
	wait := last.Add(r.SyncInterval).Sub(r.Now())
	return wait <= 0, wait
}

func (r *Reconciler) start(ctx context.Context, repo *stashv1alpha1.Repository, snaps *repov1alpha1.SnapshotList) (ctrl.Result, error) {
	due, wait := r.syncDue(repo)
	var spec JobSpec
	var forgetting []*repov1alpha1.Snapshot
	for i := range snaps.Items {
		s := &snaps.Items[i]
		spec.Known = append(spec.Known, s.Status.ID)
		if s.DeletionTimestamp.IsZero() || !controllerutil.ContainsFinalizer(s, snapshot.Finalizer) {
			continue
		}
		// A failed forget is tried again with the next sync, not in a loop.
		if c := meta.FindStatusCondition(s.Status.Conditions, repov1alpha1.ConditionForgotten); c != nil && c.Reason == repov1alpha1.ReasonForgetFailed && !due {
			continue
		}
		id := s.Status.FullID
		if id == "" {
			id = s.Status.ID
		}
		// The ids go on the Job's command line, 65 bytes each: the rest wait for the next Job.
		if len(spec.Forget) < maxForget {
			spec.Forget = append(spec.Forget, id)
			forgetting = append(forgetting, s)
		}
	}
	if len(spec.Forget) == 0 && !due {
		if wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		return ctrl.Result{}, nil
	}
	spec.Prune = repo.Annotations[AnnotationPrune] != "false"
	slices.Sort(spec.Known)

	loc, err := location.Of(repo.Namespace, &repo.Spec.Backend)
	var job *batchv1.Job
	var known *corev1.Secret
	if err == nil {
		job, err = RenderJob(repo, r.Image, loc.Key(), spec)
	}
	if err == nil && len(spec.Known) > 0 {
		known, err = RenderKnownSecret(job, repo.Name, spec.Known)
	}
	if err != nil {
		return ctrl.Result{}, r.setForgotten(ctx, forgetting, repov1alpha1.ReasonForgetFailed, "cannot run the forget: "+err.Error())
	}
	var before func(context.Context) error
	if known != nil {
		before = func(ctx context.Context) error { return r.createKnown(ctx, repo, known) }
	}
	holder, err := r.StartAfter(ctx, repoqueue.Entrant{Location: loc, Object: repo, Kind: "Repository", JumpLine: true}, job, before)
	var foreign *session.ForeignObjectError
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace goes, and its Snapshots with it: their snapshots stay in restic.
		return ctrl.Result{}, r.releaseDeleted(ctx, snaps)
	case errors.As(err, &foreign):
		return ctrl.Result{RequeueAfter: 10 * time.Second}, r.setForgotten(ctx, forgetting, repov1alpha1.ReasonForgetWaiting, foreign.Error())
	case err != nil:
		return ctrl.Result{}, err
	case holder != nil:
		return ctrl.Result{RequeueAfter: 10 * time.Second}, r.setForgotten(ctx, forgetting, repov1alpha1.ReasonForgetWaiting, "the forget is waiting for "+holder.String())
	}
	event.SnapshotsJobStarted.Emit(r.Recorder, repo, job.Name, len(spec.Forget))
	return ctrl.Result{}, r.setForgotten(ctx, forgetting, repov1alpha1.ReasonForgetRunning, fmt.Sprintf("Job %s is forgetting the snapshot", job.Name))
}

// finish records a finished Job's outcome and deletes the Job.
func (r *Reconciler) finish(ctx context.Context, repo *stashv1alpha1.Repository, snaps *repov1alpha1.SnapshotList, job *batchv1.Job) (ctrl.Result, error) {
	out, err := session.ReadOutcome(ctx, r.APIReader, job)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !out.Finished {
		why, recheck, err := r.Stuck(ctx, job, r.Now())
		if err != nil || why == "" {
			return ctrl.Result{RequeueAfter: recheck}, err
		}
		// Recorded like a failed Job: the forgets wait for the next sync, not a loop.
		out = session.Outcome{Finished: true, Error: why}
	}
	sc, err := session.JobScrubber(ctx, r.APIReader, job)
	if err != nil {
		return ctrl.Result{}, err
	}
	out.Scrub(sc)
	more := false
	if res := out.Result; out.Succeeded && res != nil {
		if err := snapshot.Create(ctx, r.Client, repo, res.Snapshots, ""); err != nil {
			return ctrl.Result{}, err
		}
		if err := snapshot.Remove(ctx, r.Client, repo, append(append([]string(nil), res.Forgotten...), res.Gone...)); err != nil {
			return ctrl.Result{}, err
		}
		more = res.More
		event.SnapshotsSynced.Emit(r.Recorder, repo, len(res.Snapshots), len(res.Forgotten), len(res.Gone))
	} else {
		asked := strings.Split(job.Annotations[AnnotationForget], ",")
		var failed []*repov1alpha1.Snapshot
		for i := range snaps.Items {
			if s := &snaps.Items[i]; !s.DeletionTimestamp.IsZero() && slices.Contains(asked, s.Status.ID) {
				failed = append(failed, s)
			}
		}
		if err := r.setForgotten(ctx, failed, repov1alpha1.ReasonForgetFailed,
			"the forget failed and is tried again with the next sync (annotate the Repository with "+AnnotationSync+" to try now): "+out.Error); err != nil {
			return ctrl.Result{}, err
		}
		event.SnapshotsJobFailed.Emit(r.Recorder, repo, out.Error)
	}
	if !more {
		if err := r.markSynced(ctx, repo); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &job.UID}); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("failed to delete Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	_, err = r.deleteKnown(ctx, repo)
	return ctrl.Result{}, err
}

// createKnown creates the Secret of the known ids, controlled by the Repository. One the
// Repository controls already is from a Job that ended (or was never created) before the
// operator could delete it: it is replaced. Any other is a *session.ForeignObjectError.
func (r *Reconciler) createKnown(ctx context.Context, repo *stashv1alpha1.Repository, secret *corev1.Secret) error {
	if err := controllerutil.SetControllerReference(repo, secret, r.Scheme); err != nil {
		return err
	}
	err := r.Create(ctx, secret.DeepCopy())
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	owned, err := r.deleteKnown(ctx, repo)
	if err != nil {
		return err
	}
	if !owned {
		return &session.ForeignObjectError{Kind: "Secret", Namespace: secret.Namespace, Name: secret.Name}
	}
	return r.Create(ctx, secret)
}

// deleteKnown deletes the Secret of the known ids when the Repository controls it, and says
// whether it did (or there was none).
func (r *Reconciler) deleteKnown(ctx context.Context, repo *stashv1alpha1.Repository) (bool, error) {
	// Metadata only, and from the API server: Secrets are not cached, and their data is not read.
	s := &metav1.PartialObjectMetadata{}
	s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	key := client.ObjectKey{Namespace: repo.Namespace, Name: KnownSecretName(repo.Name)}
	if err := r.APIReader.Get(ctx, key, s); err != nil {
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(s, repo) {
		return false, nil
	}
	if err := r.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
		return false, fmt.Errorf("failed to delete Secret %s/%s: %w", key.Namespace, key.Name, err)
	}
	return true, nil
}

// markSynced records the sync's end and clears a request for one.
func (r *Reconciler) markSynced(ctx context.Context, repo *stashv1alpha1.Repository) error {
	base := repo.DeepCopy()
	if repo.Annotations == nil {
		repo.Annotations = map[string]string{}
	}
	delete(repo.Annotations, AnnotationSync)
	repo.Annotations[AnnotationSyncedAt] = r.Now().UTC().Format(time.RFC3339)
	if err := r.Patch(ctx, repo, client.MergeFrom(base)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("failed to record the snapshot sync on Repository %s/%s: %w", repo.Namespace, repo.Name, err)
	}
	return nil
}

// setForgotten writes the Forgotten condition on each Snapshot whose forget waits, runs or
// failed.
func (r *Reconciler) setForgotten(ctx context.Context, snaps []*repov1alpha1.Snapshot, reason, msg string) error {
	for _, s := range snaps {
		base := s.DeepCopy()
		if !meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{Type: repov1alpha1.ConditionForgotten, Status: metav1.ConditionFalse, Reason: reason, Message: msg}) {
			continue
		}
		if err := r.Patch(ctx, s, client.MergeFrom(base)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("failed to update Snapshot %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	return nil
}
