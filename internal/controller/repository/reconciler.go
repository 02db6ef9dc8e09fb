// Package repository reconciles Repositories: it reports observedGeneration and, for
// `wipeOut: true`, deletes the repository's data when the Repository is deleted.
//
// Wipe-out: a finalizer holds the Repository while a Job (`hoard wipe-repository`) deletes
// the data. The outcome is written to the Repository's status (condition WipedOut) and as an
// Event before the finalizer goes. When the Job fails, the finalizer stays: a user who asked
// for the data to be deleted must not find it silently kept. The condition says how to go
// on: delete the Job to retry, or set spec.wipeOut to false to let the Repository go and keep
// the data. When the namespace itself is being deleted no Job can be created any more; then
// the failure is reported and the finalizer removed so the namespace does not hang.
package repository

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/repojob"
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/repoqueue"
	"github.com/hoard-operator/hoard/internal/session"
)

// Finalizer holds a Repository with wipeOut until its data is deleted.
const Finalizer = "stash.appscode.com/wipe-out"

// ConditionWipedOut reports the wipe-out of the repository's data.
const ConditionWipedOut = "WipedOut"

// Reasons of ConditionWipedOut.
const (
	ReasonWipeOutRunning   = "WipeOutRunning"
	ReasonWipeOutSucceeded = "WipeOutSucceeded"
	ReasonWipeOutFailed    = "WipeOutFailed"
	// ReasonWipeOutRefused: the data is not only this Repository's (another Repository points
	// at it, or a BackupConfiguration still backs up into it).
	ReasonWipeOutRefused = "WipeOutRefused"
	// ReasonWipeOutWaiting: another Hoard Job uses the repository; the wipe starts after it.
	ReasonWipeOutWaiting = "WaitingForRepository"
)

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// Repositories: read through the cache; patch adds and removes the wipe-out finalizer.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=repositories,verbs=get;list;watch;patch
// A BackupConfiguration that still backs up into a Repository holds its wipe back.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupconfigurations,verbs=get;list;watch
// Namespace labels decide what a usagePolicy selector allows.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=stash.appscode.com,resources=repositories/status,verbs=patch
// The wipe Job's owner reference blocks the Repository's deletion (OpenShift's
// OwnerReferencesPermissionEnforcement wants update on the owner's finalizers for that).
// +kubebuilder:rbac:groups=stash.appscode.com,resources=repositories/finalizers,verbs=update
// The wipe Job mounts the storage Secret itself: the operator reads no Secret for it.
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconciler reconciles one Repository.
type Reconciler struct {
	// Env runs the wipe Job (`hoard wipe-repository`), once no other Hoard Job uses the
	// repository.
	repojob.Env
	// RetryInterval is how often a wipe that waits or was refused is looked at again, on top
	// of the watches that notice the change at once.
	RetryInterval time.Duration
}

// SetupWithManager registers the reconciler; it follows the wipe Jobs it owns, and the
// Repositories and BackupConfigurations that may hold a refused wipe back.
func SetupWithManager(mgr ctrl.Manager, image string, queue *repoqueue.Queue) error {
	r := &Reconciler{Env: repojob.NewEnv(mgr, "repository", image, queue), RetryInterval: 10 * time.Second}
	// An index of the Repositories whose wipe is pending, so that every Repository and
	// BackupConfiguration event looks them up rather than going through all Repositories.
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &stashv1alpha1.Repository{}, pendingWipeIndex, func(o client.Object) []string {
		if r, ok := o.(*stashv1alpha1.Repository); ok && wipePending(r) {
			return []string{"true"}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("failed to index Repositories by pending wipe: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("repository").
		For(&stashv1alpha1.Repository{}).
		Owns(&batchv1.Job{}).
		// Any Repository or BackupConfiguration change may release a refused wipe.
		Watches(&stashv1alpha1.Repository{}, handler.EnqueueRequestsFromMapFunc(r.pendingWipes)).
		Watches(&stashv1beta1.BackupConfiguration{}, handler.EnqueueRequestsFromMapFunc(r.pendingWipes)).
		Complete(r)
}

// pendingWipeIndex is the field index of Repositories whose wipe is still to run.
const pendingWipeIndex = "hoard.pendingWipe"

// wipePending tells a Repository being deleted whose data is still to be wiped.
func wipePending(r *stashv1alpha1.Repository) bool {
	return !r.DeletionTimestamp.IsZero() && r.Spec.WipeOut && controllerutil.ContainsFinalizer(r, Finalizer)
}

// pendingWipes lists the Repositories whose wipe is still to run.
func (r *Reconciler) pendingWipes(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &stashv1alpha1.RepositoryList{}
	if err := r.List(ctx, list, client.MatchingFields{pendingWipeIndex: "true"}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// Reconcile keeps the finalizer in step with spec.wipeOut and runs the wipe on deletion.
// Status is written once at the end, only when it changed, except that the wipe's outcome is
// written before the finalizer is removed (after that the object is gone).
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	repo := &stashv1alpha1.Repository{}
	if err := r.Get(ctx, req.NamespacedName, repo); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("failed to get Repository %s: %w", req.NamespacedName, err)
	}
	base := repo.DeepCopy()
	defer func() {
		if err := r.writeStatus(ctx, base, repo); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	if repo.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.ensureFinalizer(ctx, repo)
	}
	if !controllerutil.ContainsFinalizer(repo, Finalizer) {
		return ctrl.Result{}, nil
	}
	if !repo.Spec.WipeOut {
		// The user turned wipeOut off (e.g. after a failed wipe): let the Repository go and
		// keep the data.
		return ctrl.Result{}, r.removeFinalizer(ctx, repo)
	}
	done, err := r.wipe(ctx, repo)
	if err != nil || !done {
		if c := meta.FindStatusCondition(repo.Status.Conditions, ConditionWipedOut); err == nil && c != nil &&
			(c.Reason == ReasonWipeOutRefused || c.Reason == ReasonWipeOutWaiting) {
			return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
		}
		return ctrl.Result{}, err
	}
	// The outcome must be on record before the object disappears.
	if err := r.writeStatus(ctx, base, repo); err != nil {
		return ctrl.Result{}, err
	}
	*base = *repo.DeepCopy()
	return ctrl.Result{}, r.removeFinalizer(ctx, repo)
}

func (r *Reconciler) writeStatus(ctx context.Context, base, repo *stashv1alpha1.Repository) error {
	repo.Status.ObservedGeneration = repo.Generation
	return r.PatchStatus(ctx, "Repository", base, repo, !equality.Semantic.DeepEqual(base.Status, repo.Status))
}

func (r *Reconciler) ensureFinalizer(ctx context.Context, repo *stashv1alpha1.Repository) error {
	has := controllerutil.ContainsFinalizer(repo, Finalizer)
	if has == repo.Spec.WipeOut {
		return nil
	}
	if !repo.Spec.WipeOut {
		return r.removeFinalizer(ctx, repo)
	}
	patchBase := repo.DeepCopy()
	controllerutil.AddFinalizer(repo, Finalizer)
	if err := r.Patch(ctx, repo, client.MergeFromWithOptions(patchBase, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("failed to add finalizer to Repository %s/%s: %w", repo.Namespace, repo.Name, err)
	}
	return nil
}

func (r *Reconciler) removeFinalizer(ctx context.Context, repo *stashv1alpha1.Repository) error {
	patchBase := repo.DeepCopy()
	controllerutil.RemoveFinalizer(repo, Finalizer)
	if err := r.Patch(ctx, repo, client.MergeFromWithOptions(patchBase, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to remove finalizer from Repository %s/%s: %w", repo.Namespace, repo.Name, err)
	}
	return nil
}

// wipe runs the wipe Job and records its state; done means the finalizer may go.
func (r *Reconciler) wipe(ctx context.Context, repo *stashv1alpha1.Repository) (done bool, err error) {
	name := WipeJobName(repo.Name)
	job := &batchv1.Job{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: repo.Namespace, Name: name}, job); err != nil {
		if !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("failed to get Job %s/%s: %w", repo.Namespace, name, err)
		}
		return r.startWipe(ctx, repo)
	}
	if !metav1.IsControlledBy(job, repo) {
		// Left by an earlier Repository of this name: startWipe reports it.
		return r.startWipe(ctx, repo)
	}
	switch {
	case jobCondition(job, batchv1.JobComplete):
		r.setCondition(repo, metav1.ConditionTrue, ReasonWipeOutSucceeded,
			fmt.Sprintf("Job %s deleted the repository's data", name), event.RepositoryWipeSucceeded)
		return true, nil
	case jobCondition(job, batchv1.JobFailed):
		r.setCondition(repo, metav1.ConditionFalse, ReasonWipeOutFailed,
			fmt.Sprintf("Job %s failed (%s); the data may still be in the backend. Delete the Job to retry, or set spec.wipeOut to false to delete the Repository and keep the data",
				name, jobFailure(job)), event.RepositoryWipeFailed)
		return false, nil
	}
	return false, nil
}

func (r *Reconciler) startWipe(ctx context.Context, repo *stashv1alpha1.Repository) (bool, error) {
	loc, err := location.Of(repo.Namespace, &repo.Spec.Backend)
	var job *batchv1.Job
	if err == nil {
		job, err = RenderWipeJob(repo, r.Image, loc.Key())
	}
	if err != nil {
		// Nothing to run the wipe with: report, keep the finalizer (see the package doc).
		r.setCondition(repo, metav1.ConditionFalse, ReasonWipeOutFailed,
			fmt.Sprintf("cannot wipe the repository: %v; set spec.wipeOut to false to delete the Repository and keep the data", err), event.RepositoryWipeFailed)
		return false, nil
	}
	if why, err := r.sharedWith(ctx, repo, loc); err != nil {
		return false, err
	} else if why != "" {
		r.setCondition(repo, metav1.ConditionFalse, ReasonWipeOutRefused,
			fmt.Sprintf("the data at %s is not only this Repository's: %s. Nothing was deleted. Resolve that and the wipe runs, or set spec.wipeOut to false to delete the Repository and keep the data", loc, why),
			event.RepositoryWipeRefused)
		return false, nil
	}
	holder, err := r.Start(ctx, repoqueue.Entrant{Location: loc, Object: repo, Kind: "Repository", JumpLine: true}, job)
	var foreign *session.ForeignObjectError
	switch {
	case errors.As(err, &foreign):
		r.setCondition(repo, metav1.ConditionFalse, ReasonWipeOutWaiting, foreign.Error(), event.RepositoryWipeWaiting)
		return false, nil
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		r.setCondition(repo, metav1.ConditionFalse, ReasonWipeOutFailed,
			"the namespace is being deleted, so no wipe Job can run; the repository's data was kept", event.RepositoryWipeFailed)
		return true, nil
	case err != nil:
		return false, err
	case holder != nil:
		r.setCondition(repo, metav1.ConditionFalse, ReasonWipeOutWaiting, "the wipe is "+waitingFor(holder), event.RepositoryWipeWaiting)
		return false, nil
	}
	r.setCondition(repo, metav1.ConditionFalse, ReasonWipeOutRunning,
		fmt.Sprintf("Job %s is deleting the repository's data", job.Name), event.RepositoryWipeStarted, job.Name)
	return false, nil
}

// leavingWithoutWipe tells a Repository on its way out that keeps its data: it holds nothing
// alive for the data's other users.
func leavingWithoutWipe(r *stashv1alpha1.Repository) bool {
	return !r.DeletionTimestamp.IsZero() && !wipePending(r)
}

func waitingFor(h *repoqueue.Holder) string {
	return "waiting for " + h.String()
}

// sharedWith says why the data at loc is not only repo's to delete: other Repositories that
// point at the same location, inside it or around it, and BackupConfigurations that still
// back up into repo. "" means the wipe may run.
func (r *Reconciler) sharedWith(ctx context.Context, repo *stashv1alpha1.Repository, loc location.Location) (string, error) {
	var reasons []string
	repos := &stashv1alpha1.RepositoryList{}
	if err := r.List(ctx, repos); err != nil {
		return "", fmt.Errorf("failed to list Repositories: %w", err)
	}
	for i := range repos.Items {
		o := &repos.Items[i]
		if o.UID == repo.UID || leavingWithoutWipe(o) {
			continue
		}
		ol, err := location.Of(o.Namespace, &o.Spec.Backend)
		if err != nil || !ol.Overlaps(loc) {
			continue
		}
		if o.Namespace != repo.Namespace {
			// Not named, nor where it points: the condition is read in repo's namespace.
			reasons = append(reasons, "a Repository in another namespace points at this location, or inside or around it")
			continue
		}
		how := "points at the same location"
		if ol.Path != loc.Path {
			how = "points at " + ol.String()
		}
		reasons = append(reasons, fmt.Sprintf("Repository %s/%s %s", o.Namespace, o.Name, how))
	}
	// Configurations of other namespaces count only where the usagePolicy lets them use the
	// Repository: a reference alone must not hold another namespace's wipe back.
	configs := &stashv1beta1.BackupConfigurationList{}
	if err := r.List(ctx, configs, client.MatchingFields{dependency.RepositoryIndex: dependency.RepositoryIndexValue(repo.Namespace, repo.Name)}); err != nil {
		return "", fmt.Errorf("failed to list the BackupConfigurations of Repository %s/%s: %w", repo.Namespace, repo.Name, err)
	}
	for i := range configs.Items {
		bc := &configs.Items[i]
		if !bc.DeletionTimestamp.IsZero() {
			continue
		}
		if allowed, err := dependency.AllowedNow(ctx, r.Client, repo, bc.Namespace); err != nil {
			return "", err
		} else if allowed {
			reasons = append(reasons, fmt.Sprintf("BackupConfiguration %s/%s still backs up into it", bc.Namespace, bc.Name))
		}
	}
	sort.Strings(reasons)
	return strings.Join(slices.Compact(reasons), "; "), nil
}

// setCondition sets WipedOut and emits ev when the condition changes, so each outcome is
// reported once.
func (r *Reconciler) setCondition(repo *stashv1alpha1.Repository, status metav1.ConditionStatus, reason, msg string, ev event.Event, args ...any) {
	changed := meta.SetStatusCondition(&repo.Status.Conditions, metav1.Condition{
		Type: ConditionWipedOut, Status: status, Reason: reason, Message: msg, ObservedGeneration: repo.Generation,
	})
	if !changed {
		return
	}
	if len(args) == 0 && strings.Contains(ev.Message, "%s") {
		args = []any{msg}
	}
	ev.Emit(r.Recorder, repo, args...)
}

func jobCondition(job *batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobFailure(job *batchv1.Job) string {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			if c.Message != "" {
				return c.Reason + ": " + c.Message
			}
			return c.Reason
		}
	}
	return "unknown reason"
}
