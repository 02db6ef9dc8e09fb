package session

import (
	"context"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/repoqueue"
)

// WakeWaiters maps a Hoard Job that released its repository to the first sessions of one
// kind waiting for that repository, so that the first in line starts at once rather than at
// its next poll. list is an empty list of the session kind; waiting tells a waiting session.
func WakeWaiters(c client.Reader, list client.ObjectList, waiting func(client.Object) bool) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, job client.Object) []reconcile.Request {
		key := job.GetLabels()[location.LabelKey]
		if key == "" {
			return nil
		}
		l, ok := list.DeepCopyObject().(client.ObjectList)
		if !ok {
			return nil
		}
		if err := c.List(ctx, l, client.MatchingLabels{location.LabelKey: key}); err != nil {
			return nil
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return nil
		}
		// Only the first in line can start. Waking every waiting session on each hand-off
		// would cost a long line its length squared in reconciles; the first few are woken,
		// in case the cache still shows one that has started or failed as waiting.
		var line []client.Object
		for _, it := range items {
			if o, ok := it.(client.Object); ok && waiting(o) {
				line = append(line, o)
			}
		}
		sort.Slice(line, func(i, j int) bool { return repoqueue.Before(line[i], line[j]) })
		var reqs []reconcile.Request
		for _, o := range line[:min(len(line), wakeAtOnce)] {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
		}
		return reqs
	})
}

// wakeAtOnce is how many sessions at the head of a line a released repository wakes.
const wakeAtOnce = 3

// RepositoryReleased passes the Job events after which a repository may be free: a Job that
// finished or went away.
func RepositoryReleased() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc:  func(e event.DeleteEvent) bool { return e.Object.GetLabels()[location.LabelKey] != "" },
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldJob, ok1 := e.ObjectOld.(*batchv1.Job)
			newJob, ok2 := e.ObjectNew.(*batchv1.Job)
			return ok1 && ok2 && newJob.Labels[location.LabelKey] != "" && !jobDone(oldJob) && jobDone(newJob)
		},
	}
}

func jobDone(j *batchv1.Job) bool {
	finished, _, _ := JobFinished(j)
	return finished
}
