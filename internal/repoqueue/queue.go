// Package repoqueue lets one Hoard Job at a time use a restic repository, in the order the
// sessions and RepositoryOperations asked for it.
//
// restic's own locks cannot do this job: concurrent first backups race `restic init`, an
// exclusive command (prune, check) waits or fails on any other lock, and a lock left by a
// killed pod blocks everyone until restic calls it stale 30 minutes later. With one Hoard Job
// per repository, a Job knows that any lock it finds is stale and can remove it at once.
//
// "One repository" is one location (package location), however many Repository objects
// point at it. Every Hoard Job and its pod carry location.LabelKey, so the queue sees in the
// informer cache which Jobs use a location; sessions that wait carry the same label, so the
// queue knows who came first. The state is in the API: a restarted operator rebuilds the
// queue from it once its cache has synced. The one thing the cache may not show yet is a Job
// this process created a moment ago: the queue remembers the last one per location until the
// cache shows it or the API server says it is gone.
package repoqueue

import (
	"context"
	"fmt"
	"slices"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/location"
)

// Queue decides whether a session may start using its repository. One Queue serves every
// reconciler of the process: its mutex makes "is the location free? then create the Job" one
// step, so two sessions reconciled at the same moment cannot both start.
type Queue struct {
	// Cached lists the Jobs and pods that use a location and the sessions waiting for it.
	Cached client.Reader
	// Direct confirms, by name, a Job this process created that the cache does not show.
	Direct client.Reader

	mu sync.Mutex
	// started remembers, per location key, the last Job this process created, until the
	// cache shows it or the API server says it is gone.
	started map[string]startedJob
}

// startedJob is a Job the queue let an entrant create.
type startedJob struct {
	namespace, name string
	// owner is the entrant that created it.
	owner  types.UID
	holder Holder
}

// Entrant is what wants to use a repository: a session about to create its Job, or a wipe.
type Entrant struct {
	Location location.Location
	// Object is the session (or Repository, for a wipe), of kind Kind; its creation time is
	// its place in line.
	Object client.Object
	Kind   string
	// JobName is the Job the entrant creates in Object's namespace. A Job of that name that
	// the entrant owns does not block it: it is its own Job, created before an operator
	// restart.
	JobName string
	// JumpLine lets the entrant start as soon as no Job uses the location, ahead of waiting
	// sessions. Only a wipe does: it runs when its Repository is deleted and nothing may use
	// the Repository any more.
	JumpLine bool
}

// Holder is what an entrant waits for.
type Holder struct {
	// Kind, Namespace and Name name the session (or, when no owner is known, the Job).
	Kind, Namespace, Name string
	// Running is true when the holder uses the repository now, false when it waits ahead in
	// line.
	Running bool
	// Elsewhere is true when the holder is in another namespace than the entrant it was
	// returned to: Namespace and Name are then left out, since what the entrant is told
	// reaches its status.
	Elsewhere bool
}

func (h *Holder) String() string {
	what := fmt.Sprintf("%s %s/%s", h.Kind, h.Namespace, h.Name)
	if h.Elsewhere {
		what = fmt.Sprintf("a %s in another namespace", h.Kind)
	}
	if h.Running {
		return what + ", which is using the repository"
	}
	return what + ", which is ahead in line"
}

// seenFrom is h as an entrant of namespace sees it.
func (h *Holder) seenFrom(namespace string) *Holder {
	if h == nil || h.Namespace == namespace {
		return h
	}
	return &Holder{Kind: h.Kind, Running: h.Running, Elsewhere: true}
}

// Enter calls start when no other Hoard Job uses e's location and no older session waits
// for it, and returns nil. Otherwise it returns what e waits for and does not call start.
// start runs while the queue is held, so it must only create the Job (and what the Job
// needs), which labels the location busy for the next entrant.
func (q *Queue) Enter(ctx context.Context, e Entrant, start func(context.Context) error) (*Holder, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h, started, err := q.busy(ctx, e)
	if err != nil || h != nil {
		return h.seenFrom(e.Object.GetNamespace()), err
	}
	// An entrant whose Job exists already had its turn (before an operator restart, or a
	// status write that failed): it only finishes what it started.
	if !e.JumpLine && !started {
		if h, err = q.ahead(ctx, e); err != nil || h != nil {
			return h.seenFrom(e.Object.GetNamespace()), err
		}
	}
	if err := start(ctx); err != nil {
		return nil, err
	}
	if q.started == nil {
		q.started = map[string]startedJob{}
	}
	q.started[e.Location.Key()] = startedJob{namespace: e.Object.GetNamespace(), name: e.JobName, owner: e.Object.GetUID(),
		holder: Holder{Kind: e.Kind, Namespace: e.Object.GetNamespace(), Name: e.Object.GetName(), Running: true}}
	return nil, nil
}

// busy returns a Job that uses the location: one that has not finished, or whose pod still
// runs (a deleted Job's pod may still be writing while it terminates). The entrant's own Job,
// created before an operator restart, does not count; a Job of the same name that another
// object owns (say, a deleted session of the same name) does.
func (q *Queue) busy(ctx context.Context, e Entrant) (holder *Holder, started bool, err error) {
	key := e.Location.Key()
	// Jobs of an operator from before a location had one key carry the old one.
	req, err := labels.NewRequirement(location.LabelKey, selection.In, e.Location.Keys())
	if err != nil {
		return nil, false, fmt.Errorf("repository %s: %w", e.Location, err)
	}
	sel := client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*req)}
	jobs := &batchv1.JobList{}
	if err := q.Cached.List(ctx, jobs, sel); err != nil {
		return nil, false, fmt.Errorf("failed to list the Jobs using repository %s: %w", e.Location, err)
	}
	if rec, ok := q.started[key]; ok {
		if slices.ContainsFunc(jobs.Items, func(j batchv1.Job) bool { return j.Namespace == rec.namespace && j.Name == rec.name }) {
			delete(q.started, key)
		} else {
			// Not in the cache: too new for it, or gone already. The API server knows.
			err := q.Direct.Get(ctx, client.ObjectKey{Namespace: rec.namespace, Name: rec.name}, &batchv1.Job{})
			switch {
			case apierrors.IsNotFound(err):
				delete(q.started, key)
			case err != nil:
				return nil, false, fmt.Errorf("failed to get Job %s/%s: %w", rec.namespace, rec.name, err)
			case rec.owner == e.Object.GetUID():
				// The entrant's own Job, created a moment ago.
				return nil, true, nil
			default:
				h := rec.holder
				return &h, false, nil
			}
		}
	}
	var own types.UID
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Namespace == e.Object.GetNamespace() && j.Name == e.JobName && metav1.IsControlledBy(j, e.Object) {
			own = j.UID
			continue
		}
		// A Job being deleted no longer starts pods; those it left are looked at below.
		if !finished(j) && j.DeletionTimestamp.IsZero() {
			return jobHolder(j), false, nil
		}
	}
	pods := &corev1.PodList{}
	if err := q.Cached.List(ctx, pods, sel); err != nil {
		return nil, false, fmt.Errorf("failed to list the pods using repository %s: %w", e.Location, err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		ref := metav1.GetControllerOf(p)
		if (own != "" && ref != nil && ref.UID == own) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for j := range jobs.Items {
			if ref != nil && jobs.Items[j].UID == ref.UID {
				return jobHolder(&jobs.Items[j]), false, nil
			}
		}
		return &Holder{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, Running: true}, false, nil
	}
	return nil, own != "", nil
}

func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// jobHolder names the session that owns a Job, or the Job itself.
func jobHolder(j *batchv1.Job) *Holder {
	if ref := metav1.GetControllerOf(j); ref != nil {
		return &Holder{Kind: ref.Kind, Namespace: j.Namespace, Name: ref.Name, Running: true}
	}
	return &Holder{Kind: "Job", Namespace: j.Namespace, Name: j.Name, Running: true}
}

// ahead returns the oldest session or RepositoryOperation that waits for the location and
// came before e. A session
// counts from its creation, even before its first reconcile has put the location's label on
// it: its repository is then looked up, so that sessions created together start in order.
func (q *Queue) ahead(ctx context.Context, e Entrant) (*Holder, error) {
	keys := e.Location.Keys()
	var first client.Object
	var firstKind string
	consider := func(kind string, s client.Object) {
		if s.GetUID() == e.Object.GetUID() || !s.GetDeletionTimestamp().IsZero() || !Before(s, e.Object) ||
			(first != nil && !Before(s, first)) || !slices.Contains(keys, q.keyOf(ctx, s)) {
			return
		}
		first, firstKind = s, kind
	}
	// Read-only: the cache's objects are not copied.
	backups := &v1beta1.BackupSessionList{}
	if err := q.Cached.List(ctx, backups, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("failed to list the BackupSessions waiting for repository %s: %w", e.Location, err)
	}
	for i := range backups.Items {
		if s := &backups.Items[i]; s.Status.Phase == "" || s.Status.Phase == v1beta1.BackupSessionPending {
			consider("BackupSession", s)
		}
	}
	restores := &v1beta1.RestoreSessionList{}
	if err := q.Cached.List(ctx, restores, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("failed to list the RestoreSessions waiting for repository %s: %w", e.Location, err)
	}
	for i := range restores.Items {
		if s := &restores.Items[i]; s.Status.Phase == "" || s.Status.Phase == v1beta1.RestorePending {
			consider("RestoreSession", s)
		}
	}
	// A RepositoryOperation that waits holds its place in line like a session.
	ops := &opsv1alpha1.RepositoryOperationList{}
	if err := q.Cached.List(ctx, ops, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("failed to list the RepositoryOperations waiting for repository %s: %w", e.Location, err)
	}
	for i := range ops.Items {
		if o := &ops.Items[i]; o.Status.Phase == "" || o.Status.Phase == opsv1alpha1.OperationPending {
			consider("RepositoryOperation", o)
		}
	}
	if first == nil {
		return nil, nil
	}
	return &Holder{Kind: firstKind, Namespace: first.GetNamespace(), Name: first.GetName()}, nil
}

// keyOf is the location key of a session's repository: its label once it has waited, else
// looked up through its BackupConfiguration or its own spec; "" when it cannot be told.
func (q *Queue) keyOf(ctx context.Context, s client.Object) string {
	if k := s.GetLabels()[location.LabelKey]; k != "" {
		return k
	}
	var ref v1beta1.RepositoryRef
	switch s := s.(type) {
	case *v1beta1.BackupSession:
		bc := &v1beta1.BackupConfiguration{}
		if s.Spec.Invoker.Kind != "BackupConfiguration" || q.Cached.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Spec.Invoker.Name}, bc) != nil {
			return ""
		}
		ref = bc.Spec.Repository
	case *v1beta1.RestoreSession:
		ref = s.Spec.Repository
	case *opsv1alpha1.RepositoryOperation:
		// Always a Repository of the operation's own namespace.
		ref = v1beta1.RepositoryRef{Name: s.Spec.Repository}
	}
	repo := &v1alpha1.Repository{}
	// The Repository may be in another namespace; its location is what places the session
	// in line, whichever namespace the session is in.
	if ref.Name == "" || q.Cached.Get(ctx, ref.Key(s.GetNamespace()), repo) != nil {
		return ""
	}
	loc, err := location.Of(repo.Namespace, &repo.Spec.Backend)
	if err != nil {
		return ""
	}
	return loc.Key()
}

// Before orders the line: by creation time, then by namespace and name, so that every
// reconciler sees the same order.
func Before(a, b client.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	if a.GetNamespace() != b.GetNamespace() {
		return a.GetNamespace() < b.GetNamespace()
	}
	return a.GetName() < b.GetName()
}
