package session

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/internal/jobspec"
)

// Running describes a session whose Job was started.
type Running struct {
	Kind    jobspec.Kind
	Session client.Object
	// Timeout bounds the session from its creation; zero means no bound.
	Timeout time.Duration
	// Poll is how often a running Job is looked at.
	Poll time.Duration
	// StartGrace is how long a container may fail to start (its image cannot be pulled, its
	// configuration is missing) before the session fails; zero means DefaultStartGrace.
	StartGrace time.Duration
	Now        time.Time
}

// The reasons a running session stops without a result from its Job.
const (
	StopTimedOut             = "TimedOut"
	StopJobDeleted           = "JobDeleted"
	StopContainerCannotStart = "ContainerCannotStart"
)

// Stopped tells whether reason is one a running session stopped for: its Job may have done
// some of its work, and could not say what.
func Stopped(reason string) bool {
	return reason == StopTimedOut || reason == StopJobDeleted || reason == StopContainerCannotStart
}

// Observation is where a running session's Job stands.
type Observation struct {
	// Job is nil when it is gone.
	Job *batchv1.Job
	// Outcome is Finished when the Job ended.
	Outcome Outcome
	// StopReason and StopMessage say why the session fails without a result from the Job: it
	// was deleted, or it ran past the deadline (and was deleted for it).
	StopReason  string
	StopMessage string
	// RequeueAfter is when to look again while the Job runs.
	RequeueAfter time.Duration
}

// Observe looks at the Job of a running session: finished, gone, past its deadline, or still
// running. A Job missing from the cache is confirmed with the API server before the session is
// failed, since the cache may not have seen a Job created a moment ago.
func Observe(ctx context.Context, c client.Client, direct client.Reader, s Running) (Observation, error) {
	o, err := observe(ctx, c, direct, s)
	if err != nil || o.StopReason == "" || s.Kind != jobspec.KindRestore {
		return o, err
	}
	// A restore that stops without a result says whether it may have changed the database.
	// A deleted Job's pods may be gone already: whether they ran cannot be told then.
	began := o.StopReason == StopJobDeleted
	if !began {
		name := jobspec.JobName(s.Kind, s.Session.GetName())
		if began, err = podsBegan(ctx, direct, s.Session.GetNamespace(), name); err != nil {
			return Observation{}, err
		}
	}
	if began {
		o.StopMessage += partlyRestored
	}
	return o, nil
}

// partlyRestored ends the message of a restore that stopped after its pod began: the steps
// that ran may have changed the database.
const partlyRestored = "; the target database may be partly restored: restore it again before using it"

// podsBegan tells whether a pod of the Job has started a container (a step, a hook, or the
// status step).
func podsBegan(ctx context.Context, c client.Reader, namespace, job string) (bool, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels{batchv1.JobNameLabel: job}); err != nil {
		return false, fmt.Errorf("failed to list pods of Job %s/%s: %w", namespace, job, err)
	}
	for _, p := range pods.Items {
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
				return true, nil
			}
		}
	}
	return false, nil
}

func observe(ctx context.Context, c client.Client, direct client.Reader, s Running) (Observation, error) {
	name := jobspec.JobName(s.Kind, s.Session.GetName())
	key := client.ObjectKey{Namespace: s.Session.GetNamespace(), Name: name}
	job := &batchv1.Job{}
	if err := c.Get(ctx, key, job); err != nil {
		if !apierrors.IsNotFound(err) {
			return Observation{}, fmt.Errorf("failed to get Job %s/%s: %w", key.Namespace, name, err)
		}
		if err := direct.Get(ctx, key, job); err != nil {
			if apierrors.IsNotFound(err) {
				return deleted(s.Kind, name), nil
			}
			return Observation{}, fmt.Errorf("failed to get Job %s/%s: %w", key.Namespace, name, err)
		}
	}
	if !metav1.IsControlledBy(job, s.Session) {
		// A Job of this name that the session does not own is not its Job: the session's own
		// was deleted, and another took its name.
		return deleted(s.Kind, name), nil
	}
	out, err := ReadOutcome(ctx, direct, job)
	if err != nil {
		return Observation{}, err
	}
	if out.Finished {
		// The outcome quotes the Job's output, on its way into status, events and the log.
		sc, err := JobScrubber(ctx, direct, job)
		if err != nil {
			return Observation{}, err
		}
		out.Scrub(sc)
		return Observation{Job: job, Outcome: out}, nil
	}
	if !job.DeletionTimestamp.IsZero() {
		return deleted(s.Kind, name), nil
	}
	next, timedOut := NextPoll(s.Session.GetCreationTimestamp().Time, s.Now, s.Timeout, s.Poll)
	if timedOut {
		if err := c.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return Observation{}, fmt.Errorf("failed to delete timed-out Job %s/%s: %w", job.Namespace, job.Name, err)
		}
		return Observation{StopReason: StopTimedOut,
			StopMessage: fmt.Sprintf("the %s did not finish within %s; Job %s was stopped", s.Kind, s.Timeout, name)}, nil
	}
	grace := s.StartGrace
	if grace == 0 {
		grace = DefaultStartGrace
	}
	stuck, err := StuckJob(ctx, c, job, s.Now, grace)
	if err != nil {
		return Observation{}, err
	}
	if stuck != "" {
		// Nothing changes by waiting: the Job goes, and the repository with it.
		if err := c.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return Observation{}, fmt.Errorf("failed to delete Job %s/%s, which cannot start: %w", job.Namespace, job.Name, err)
		}
		return Observation{StopReason: StopContainerCannotStart, StopMessage: fmt.Sprintf("%s; Job %s was stopped", stuck, name)}, nil
	}
	return Observation{Job: job, RequeueAfter: next}, nil
}

// NextPoll is when to look again at a running session created at created: after poll, or
// at its deadline if that comes first. timedOut is true once the deadline has passed (a
// zero timeout has none).
func NextPoll(created, now time.Time, timeout, poll time.Duration) (next time.Duration, timedOut bool) {
	elapsed := now.Sub(created)
	if timeout > 0 && elapsed >= timeout {
		return 0, true
	}
	if timeout > 0 && timeout-elapsed < poll {
		return timeout - elapsed, false
	}
	return poll, false
}

func deleted(kind jobspec.Kind, job string) Observation {
	return Observation{StopReason: StopJobDeleted, StopMessage: fmt.Sprintf("%s Job %s was deleted before it finished", kind, job)}
}
