package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/repoqueue"
)

// Starter starts a session's Job: it takes the session's place in line for the repository
// (package repoqueue) and creates the Job and its target Secret, never adopting objects the
// session does not own.
type Starter struct {
	Client client.Client
	Direct client.Reader
	Scheme *runtime.Scheme
	Queue  *repoqueue.Queue
}

// Launch is a session ready to start.
type Launch struct {
	Session    client.Object
	Job        *batchv1.Job
	Connection map[string][]byte
	// Storage is the storage Secret to copy for the Job, nil when it mounts the original.
	Storage  *StorageCopy
	Location location.Location
}

// Start is what became of a Launch: exactly one of Started, Wait and FailReason is set.
type Start struct {
	Started bool
	// Wait says what the session waits for; its Job was not created, and it tries again.
	Wait string
	// FailReason and FailMessage say why the Job cannot be created; the session fails.
	FailReason, FailMessage string
}

// Start creates the session's Job when the repository is free and the session is first in
// line; otherwise it labels the session with the repository's location, its ticket in line.
func (s *Starter) Start(ctx context.Context, l Launch) (Start, error) {
	gvk, err := apiutil.GVKForObject(l.Session, s.Scheme)
	if err != nil {
		return Start{}, fmt.Errorf("failed to tell the kind of %T: %w", l.Session, err)
	}
	holder, err := s.Queue.Enter(ctx, repoqueue.Entrant{Location: l.Location, Object: l.Session, Kind: gvk.Kind, JobName: l.Job.Name}, func(ctx context.Context) error {
		return CreateJob(ctx, s.Client, s.Direct, s.Scheme, l.Session, l.Job, l.Connection, l.Storage)
	})
	var foreign *ForeignObjectError
	switch {
	case errors.As(err, &foreign) && foreign.Leaving:
		return Start{Wait: foreign.Error()}, nil
	case errors.As(err, &foreign):
		return Start{FailReason: "ObjectNotOwned", FailMessage: foreign.Error()}, nil
	case err != nil && PermanentAPIError(err):
		return Start{FailReason: "JobCreationFailed", FailMessage: err.Error()}, nil
	case err != nil:
		return Start{}, err
	case holder != nil:
		if err := s.label(ctx, l); err != nil {
			return Start{}, err
		}
		return Start{Wait: fmt.Sprintf("waiting for %s (repository %s)", holder, l.Location)}, nil
	}
	return Start{Started: true}, nil
}

// Current checks with the API server that obj, as a reconcile read it from the cache, is
// the newest copy. A reconcile that read a copy from before the last reconcile's status write
// would start the Job again, and a Job deleted by then (a restore or an operation cancelled
// that way) would run a second time. A stale copy (or one of an object deleted since) is a
// conflict (RequeueOnConflict): the reconcile runs again once the cache caught up.
func Current(ctx context.Context, direct client.Reader, scheme *runtime.Scheme, obj client.Object) error {
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return fmt.Errorf("failed to tell the kind of %T: %w", obj, err)
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	err = direct.Get(ctx, client.ObjectKeyFromObject(obj), m)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to read %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	if err != nil || m.ResourceVersion != obj.GetResourceVersion() {
		return apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, obj.GetName(),
			errors.New("the cached copy is older than the API server's"))
	}
	return nil
}

// label puts the location's key on a waiting session, so that sessions after it see it in
// line. A session that starts at once needs none: its Job carries the label.
func (s *Starter) label(ctx context.Context, l Launch) error {
	key := l.Location.Key()
	if l.Session.GetLabels()[location.LabelKey] == key {
		return nil
	}
	base, ok := l.Session.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("cannot copy %T", l.Session)
	}
	labels := l.Session.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[location.LabelKey] = key
	l.Session.SetLabels(labels)
	if err := s.Client.Patch(ctx, l.Session, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("failed to label %s/%s with its repository: %w", l.Session.GetNamespace(), l.Session.GetName(), err)
	}
	return nil
}

// TimeLeft is how long a session created at created may still run, given its timeout
// (zero: no bound). expired is true once the deadline has passed: a session that has not
// started by then fails instead of starting, whatever held it up.
func TimeLeft(created, now time.Time, timeout time.Duration) (left time.Duration, expired bool) {
	if timeout <= 0 {
		return 0, false
	}
	left = created.Add(timeout).Sub(now)
	return left, left <= 0
}

// ExpiredMessage explains a session that never started before its deadline.
func ExpiredMessage(kind string, created time.Time, timeout time.Duration, waited string) string {
	msg := fmt.Sprintf("the %s was not started: its deadline (%s after its creation at %s) passed first", kind, timeout, created.UTC().Format(time.RFC3339))
	if waited != "" {
		return msg + "; it was " + waited
	}
	return msg + " (was the operator down?)"
}

// RequeueOnConflict turns a write conflict (the reconciler read a stale copy of the object)
// into a prompt retry instead of an error in the log: the next reconcile reads it afresh and
// repeats an idempotent step.
func RequeueOnConflict(res ctrl.Result, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return res, err
}

// conflictRetry is how soon a reconcile that met a write conflict runs again: long enough for
// the cache to see the newer object.
const conflictRetry = 200 * time.Millisecond

// ConditionRepositoryAvailable is False while a session waits for its repository (another
// Hoard Job uses it, or an earlier session is ahead in line), True once its Job started.
const ConditionRepositoryAvailable = "RepositoryAvailable"

// Reasons of ConditionRepositoryAvailable.
const (
	ReasonWaitingForRepository = "WaitingForRepository"
	ReasonRepositoryFree       = "RepositoryFree"
)

// SetWaiting records what a session waits for; it reports whether that changed.
func SetWaiting(conds *[]metav1.Condition, why string) bool {
	return meta.SetStatusCondition(conds, metav1.Condition{Type: ConditionRepositoryAvailable, Status: metav1.ConditionFalse, Reason: ReasonWaitingForRepository, Message: why})
}

// SetRepositoryAcquired records that the session's Job got the repository.
func SetRepositoryAcquired(conds *[]metav1.Condition, loc location.Location) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: ConditionRepositoryAvailable, Status: metav1.ConditionTrue, Reason: ReasonRepositoryFree,
		Message: "no other Hoard Job used repository " + loc.String() + " when the Job started"})
}

// WaitingFor is what a session was last waiting for, "" when it was not.
func WaitingFor(conds []metav1.Condition) string {
	c := meta.FindStatusCondition(conds, ConditionRepositoryAvailable)
	if c == nil || c.Status != metav1.ConditionFalse {
		return ""
	}
	return c.Message
}

// Seconds is a Job's activeDeadlineSeconds for the time left, rounded up; 0 means no bound.
func Seconds(left time.Duration) int64 {
	if left <= 0 {
		return 0
	}
	return int64((left + time.Second - 1) / time.Second)
}

// NextLook is when to look again at a waiting session: after poll, or at its deadline if
// that comes first (left is zero when there is none). Waiting sessions are also woken when a
// Job on their repository ends; the poll covers the rest (a session ahead in line that ended
// without a Job, the pod of a deleted Job that terminated).
func NextLook(poll, left time.Duration) time.Duration {
	if left > 0 && left < poll {
		return left
	}
	return poll
}
