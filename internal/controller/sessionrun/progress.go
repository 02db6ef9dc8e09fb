package sessionrun

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/internal/result"
)

// LatestProgress returns the newest progress line of the Job's pod, or nil when there is none
// yet (or no reader).
func (e *Env) LatestProgress(ctx context.Context, job *batchv1.Job) (*result.Progress, error) {
	if e.Progress == nil {
		return nil, nil
	}
	pods := &corev1.PodList{}
	if err := e.Client.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return nil, err
	}
	// backoffLimit is 0: the Job has at most one pod.
	if len(pods.Items) == 0 {
		return nil, nil
	}
	return e.Progress.Latest(ctx, &pods.Items[0])
}

// Percent is a progress's share done, 0–100, or nil when its total is unknown.
func Percent(p *result.Progress) *int32 {
	if p.PercentDone <= 0 {
		return nil
	}
	v := int32(p.PercentDone * 100)
	return &v
}
