// Package repositoryoperation reconciles RepositoryOperations: it runs each one's Job once
// the repository is free (package repoqueue), follows it, and records the outcome, read from
// the Job's termination message, in the status. A finished operation is never run again.
package repositoryoperation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repojob"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/maintenance"
	"github.com/hoard-operator/hoard/internal/repoqueue"
	"github.com/hoard-operator/hoard/internal/session"
)

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// RepositoryOperations: read through the cache; the outcome goes to the status.
// +kubebuilder:rbac:groups=operations.hoard.io,resources=repositoryoperations,verbs=get;list;watch
// +kubebuilder:rbac:groups=operations.hoard.io,resources=repositoryoperations/status,verbs=patch
// The Job's owner reference blocks the operation's deletion (OpenShift's
// OwnerReferencesPermissionEnforcement wants update on the owner's finalizers for that).
// +kubebuilder:rbac:groups=operations.hoard.io,resources=repositoryoperations/finalizers,verbs=update
// The Repository names the storage and its Secret, which the Job mounts itself.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=repositories,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// The outcome is the pod's termination message.
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconciler reconciles one RepositoryOperation.
type Reconciler struct {
	// Env runs the Job (`hoard repository-operation`), once no other Hoard Job uses the
	// repository and no session waits ahead of it.
	repojob.Env
	// RetryInterval is how often a waiting operation looks at the queue again.
	RetryInterval time.Duration
	// Now is the clock of the status times.
	Now func() time.Time
}

// SetupWithManager registers the reconciler; it follows the Jobs it owns.
func SetupWithManager(mgr ctrl.Manager, image string, queue *repoqueue.Queue, startGrace time.Duration) error {
	r := &Reconciler{Env: repojob.NewEnv(mgr, "repositoryoperation", image, queue), RetryInterval: 5 * time.Second, Now: time.Now}
	r.StartGrace = startGrace
	return ctrl.NewControllerManagedBy(mgr).
		Named("repositoryoperation").
		For(&opsv1alpha1.RepositoryOperation{}).
		Owns(&batchv1.Job{}).
		Complete(r)
}

func finishedPhase(p opsv1alpha1.OperationPhase) bool {
	return p == opsv1alpha1.OperationSucceeded || p == opsv1alpha1.OperationFailed
}

// Reconcile starts, follows or records the operation. The status is written once, at the end.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	op := &opsv1alpha1.RepositoryOperation{}
	if err := r.Get(ctx, req.NamespacedName, op); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("failed to get RepositoryOperation %s: %w", req.NamespacedName, err)
	}
	if finishedPhase(op.Status.Phase) || !op.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	base := op.DeepCopy()
	defer func() {
		if err := r.writeStatus(ctx, base, op); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	job := &batchv1.Job{}
	name := JobName(op.Name)
	err := r.Get(ctx, client.ObjectKey{Namespace: op.Namespace, Name: name}, job)
	switch {
	case err == nil && metav1.IsControlledBy(job, op):
		return r.observe(ctx, op, job)
	case err != nil && !apierrors.IsNotFound(err):
		return ctrl.Result{}, fmt.Errorf("failed to get Job %s/%s: %w", op.Namespace, name, err)
	case err != nil && op.Status.Phase == opsv1alpha1.OperationRunning:
		return ctrl.Result{}, r.jobGone(ctx, op, name)
	}
	return r.start(ctx, op)
}

// start creates the Job when the repository is free, or records what the operation waits for.
func (r *Reconciler) start(ctx context.Context, op *opsv1alpha1.RepositoryOperation) (ctrl.Result, error) {
	repo := &stashv1alpha1.Repository{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: op.Namespace, Name: op.Spec.Repository}, repo); err != nil {
		if apierrors.IsNotFound(err) {
			r.fail(op, fmt.Sprintf("Repository %s/%s not found: create a RepositoryOperation naming an existing Repository of this namespace", op.Namespace, op.Spec.Repository))
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("failed to get Repository %s/%s: %w", op.Namespace, op.Spec.Repository, err)
	}
	loc, err := location.Of(repo.Namespace, &repo.Spec.Backend)
	var job *batchv1.Job
	if err == nil {
		job, err = RenderJob(op, repo, r.Image, loc.Key())
	}
	if err != nil {
		r.fail(op, fmt.Sprintf("cannot run %s on Repository %s/%s: %v", op.Spec.Operation, repo.Namespace, repo.Name, err))
		return ctrl.Result{}, nil
	}
	if err := session.Current(ctx, r.APIReader, r.Scheme, op); err != nil {
		return session.RequeueOnConflict(ctrl.Result{}, err)
	}
	holder, err := r.Start(ctx, repoqueue.Entrant{Location: loc, Object: op, Kind: "RepositoryOperation"}, job)
	var foreign *session.ForeignObjectError
	switch {
	case errors.As(err, &foreign):
		r.wait(op, foreign.Error())
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	case err != nil:
		return ctrl.Result{}, err
	case holder != nil && op.Spec.Operation == opsv1alpha1.OperationMigrate:
		// A format change under a session that waits would surprise it: the user pauses the
		// schedules and runs migrate again.
		r.fail(op, fmt.Sprintf("Migrate refused: %s; run it again when no session uses the repository (pause its BackupConfigurations first)", holder.String()))
		return ctrl.Result{}, nil
	case holder != nil:
		r.wait(op, fmt.Sprintf("%s waits for %s", op.Spec.Operation, holder.String()))
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	}
	op.Status.Phase = opsv1alpha1.OperationRunning
	op.Status.Job = job.Name
	op.Status.StartTime = &metav1.Time{Time: r.Now()}
	op.Status.Message = fmt.Sprintf("%s of Repository %s runs in Job %s", op.Spec.Operation, repo.Name, job.Name)
	event.OperationStarted.Emit(r.Recorder, op, op.Spec.Operation, job.Name)
	return ctrl.Result{}, nil
}

// jobGone fails a running operation whose Job is gone before its outcome was recorded
// (deleted by hand, or by its TTL while the operator was down): running it again could repeat
// what it did, so the user decides. The cache may just not show a Job created a moment ago;
// the API server says whether it exists.
func (r *Reconciler) jobGone(ctx context.Context, op *opsv1alpha1.RepositoryOperation, name string) error {
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: op.Namespace, Name: name}, &batchv1.Job{})
	if !apierrors.IsNotFound(err) {
		return err // nil: the cache will show it
	}
	r.fail(op, fmt.Sprintf("%s: Job %s was deleted before its outcome was recorded, so whether it ran is unknown; create another RepositoryOperation to run it again",
		op.Spec.Operation, name))
	return nil
}

// observe records a finished Job's outcome, and stops one whose container cannot start.
func (r *Reconciler) observe(ctx context.Context, op *opsv1alpha1.RepositoryOperation, job *batchv1.Job) (ctrl.Result, error) {
	op.Status.Job = job.Name
	if op.Status.Phase != opsv1alpha1.OperationRunning {
		op.Status.Phase = opsv1alpha1.OperationRunning
		if op.Status.StartTime == nil {
			op.Status.StartTime = &metav1.Time{Time: r.Now()}
		}
	}
	finished, complete, reason := session.JobFinished(job)
	if !finished {
		why, recheck, err := r.Stuck(ctx, job, r.Now())
		if err != nil || why == "" {
			return ctrl.Result{RequeueAfter: recheck}, err
		}
		r.fail(op, fmt.Sprintf("%s did not run: %s; fix the image or the Secret it names, then create another RepositoryOperation", op.Spec.Operation, why))
		return ctrl.Result{}, nil
	}
	raw, err := r.outcome(ctx, job)
	if err != nil {
		return ctrl.Result{}, err
	}
	// The Job scrubbed its own output; a crash's log tail (FallbackToLogsOnError) did not pass
	// through that, so the credentials it was given are hidden here too.
	sc, err := session.JobScrubber(ctx, r.APIReader, job)
	if err != nil {
		return ctrl.Result{}, err
	}
	msg := sc.String(recordOutcome(op, raw))
	if complete {
		op.Status.Phase = opsv1alpha1.OperationSucceeded
		op.Status.Message = firstNonEmpty(msg, string(op.Spec.Operation)+" succeeded")
		op.Status.CompletionTime = &metav1.Time{Time: r.Now()}
		event.OperationSucceeded.Emit(r.Recorder, op, op.Status.Message)
		return ctrl.Result{}, nil
	}
	r.fail(op, fmt.Sprintf("%s failed: %s; `kubectl hoard debug repositoryoperation/%s` shows the Job's log",
		op.Spec.Operation, firstNonEmpty(msg, "Job "+job.Name+" failed ("+reason+")"), op.Name))
	return ctrl.Result{}, nil
}

// outcome is the termination message of the Job's newest pod, one line. The pods are read from
// the API server, as in session.ReadOutcome.
func (r *Reconciler) outcome(ctx context.Context, job *batchv1.Job) (string, error) {
	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return "", fmt.Errorf("failed to list pods of Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		return pods.Items[j].CreationTimestamp.Before(&pods.Items[i].CreationTimestamp)
	})
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; cs.Name == ContainerName && t != nil {
				return t.Message, nil
			}
		}
	}
	return "", nil
}

// recordOutcome copies the Job's outcome (maintenance.Outcome as JSON; raw text when the Job
// crashed before writing it) into the status and returns its message, or its error.
func recordOutcome(op *opsv1alpha1.RepositoryOperation, raw string) string {
	var out maintenance.Outcome
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return strings.Join(strings.Fields(raw), " ")
	}
	op.Status.KeyID, op.Status.CurrentKeyID = out.KeyID, out.CurrentKeyID
	op.Status.Keys = nil
	for _, k := range out.Keys {
		op.Status.Keys = append(op.Status.Keys, opsv1alpha1.RepositoryKey{ID: k.ID, Current: k.Current, UserName: k.UserName, HostName: k.HostName, Created: k.Created})
	}
	return firstNonEmpty(out.Error, out.Message)
}

func (r *Reconciler) wait(op *opsv1alpha1.RepositoryOperation, msg string) {
	op.Status.Phase = opsv1alpha1.OperationPending
	if op.Status.Message != msg {
		event.OperationWaiting.Emit(r.Recorder, op, msg)
	}
	op.Status.Message = msg
}

func (r *Reconciler) fail(op *opsv1alpha1.RepositoryOperation, msg string) {
	op.Status.Phase = opsv1alpha1.OperationFailed
	op.Status.Message = msg
	op.Status.CompletionTime = &metav1.Time{Time: r.Now()}
	event.OperationFailed.Emit(r.Recorder, op, msg)
}

func (r *Reconciler) writeStatus(ctx context.Context, base, op *opsv1alpha1.RepositoryOperation) error {
	op.Status.ObservedGeneration = op.Generation
	return r.PatchStatus(ctx, "RepositoryOperation", base, op, !equality.Semantic.DeepEqual(base.Status, op.Status))
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
