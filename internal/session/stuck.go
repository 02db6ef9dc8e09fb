package session

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultStartGrace is how long a Job's container may wait on an image or its configuration
// before the session fails: long enough for a registry hiccup and the kubelet's first
// retries, short enough that a mistyped image does not hold the repository, and skip every
// scheduled backup, until the session's deadline.
const DefaultStartGrace = 2 * time.Minute

// cannotStart reports the waiting reasons of a container the kubelet cannot start without a
// change: the image (its name, its registry, its pull Secret) or the container's
// configuration (a missing Secret or key).
func cannotStart(reason string) bool {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
		"CreateContainerConfigError", "CreateContainerError":
		return true
	}
	return false
}

// StuckContainer says which container of the pods cannot start, and why, once it has been
// due to start for longer than grace; "" when none. A container is due from the pod's
// creation, or from the end of the last init container before it: a step that waits on its
// image after a long restore gets its own grace.
func StuckContainer(pods []corev1.Pod, now time.Time, grace time.Duration) string {
	for i := range pods {
		p := &pods[i]
		if !p.DeletionTimestamp.IsZero() || now.Sub(dueSince(p)) < grace {
			continue
		}
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, cs := range list {
				w := cs.State.Waiting
				if w == nil || !cannotStart(w.Reason) {
					continue
				}
				msg := fmt.Sprintf("container %s of pod %s cannot start: %s", cs.Name, p.Name, w.Reason)
				if w.Message != "" {
					msg += ": " + w.Message
				}
				return msg
			}
		}
	}
	return ""
}

// dueSince is when the pod's waiting containers became due to start: its creation, or the
// end of its last finished init container.
func dueSince(p *corev1.Pod) time.Time {
	since := p.CreationTimestamp.Time
	for _, cs := range p.Status.InitContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.FinishedAt.After(since) {
			since = t.FinishedAt.Time
		}
	}
	return since
}

// StuckJob is StuckContainer for the pods of a running Job.
func StuckJob(ctx context.Context, c client.Reader, job *batchv1.Job, now time.Time, grace time.Duration) (string, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return "", fmt.Errorf("failed to list pods of Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return StuckContainer(pods.Items, now, grace), nil
}
