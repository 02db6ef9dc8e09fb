package session

import (
	"context"
	"fmt"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/hoard-operator/hoard/internal/resolve"
	"github.com/hoard-operator/hoard/internal/result"
)

// TargetSecretName is the per-session Secret with the target's connection.
func TargetSecretName(jobName string) string { return jobName + "-target" }

// CreateJob creates the target Secret (when there is a connection) and the Job, both owned by
// the session so that deleting the session removes them. Objects that already exist are
// adopted: a restarted operator may be repeating a creation it did before it stopped.
func CreateJob(ctx context.Context, c client.Client, s *runtime.Scheme, owner client.Object, job *batchv1.Job, conn map[string][]byte) error {
	if conn != nil {
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name:      TargetSecretName(job.Name),
				Namespace: job.Namespace,
				Labels:    job.Labels,
			},
			Type: corev1.SecretTypeOpaque,
			Data: conn,
		}
		if err := controllerutil.SetControllerReference(owner, secret, s); err != nil {
			return fmt.Errorf("failed to own Secret %s: %w", secret.Name, err)
		}
		if err := c.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("failed to create Secret %s/%s: %w", secret.Namespace, secret.Name, err)
		}
	}
	if err := controllerutil.SetControllerReference(owner, job, s); err != nil {
		return fmt.Errorf("failed to own Job %s: %w", job.Name, err)
	}
	if err := c.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to create Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return nil
}

// Outcome is what a finished Job reports.
type Outcome struct {
	Finished  bool
	Succeeded bool
	// Result is the last result a step wrote, nil when none did.
	Result *result.Result
	// Error explains a failure in one paragraph.
	Error string
}

// JobFinished tells whether the Job reached Complete or Failed.
func JobFinished(job *batchv1.Job) (finished, complete bool, reason string) {
	for _, cond := range job.Status.Conditions {
		if cond.Status != corev1.ConditionTrue {
			continue
		}
		switch cond.Type {
		case batchv1.JobComplete:
			return true, true, ""
		case batchv1.JobFailed:
			msg := cond.Reason
			if cond.Message != "" {
				msg += ": " + cond.Message
			}
			return true, false, msg
		}
	}
	return false, false, ""
}

// ReadOutcome reads a finished Job's result from its pod's termination messages. A Job that
// completed without a parseable result is a failure: success needs evidence.
func ReadOutcome(ctx context.Context, c client.Reader, job *batchv1.Job) (Outcome, error) {
	finished, complete, jobReason := JobFinished(job)
	if !finished {
		return Outcome{}, nil
	}
	out := Outcome{Finished: true}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return Outcome{}, fmt.Errorf("failed to list pods of Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	var raw []string
	if len(pods.Items) > 0 {
		// The newest pod is the one that ran last (backoffLimit is 0, so there is one).
		sort.Slice(pods.Items, func(i, j int) bool {
			return pods.Items[j].CreationTimestamp.Before(&pods.Items[i].CreationTimestamp)
		})
		out.Result, raw = podResults(&pods.Items[0])
	}
	switch {
	case out.Result != nil && out.Result.Phase == result.PhaseFailed:
		out.Error = out.Result.Error
		if out.Error == "" {
			out.Error = "the " + string(out.Result.Kind) + " step reported failure without a reason"
		}
	case !complete:
		out.Error = "Job " + job.Name + " failed"
		if jobReason != "" {
			out.Error += " (" + jobReason + ")"
		}
		if len(raw) > 0 {
			out.Error += ": " + strings.Join(raw, "; ")
		}
	case out.Result == nil:
		out.Error = "Job " + job.Name + " completed but no step reported a result; treating the session as failed"
	default:
		out.Succeeded = true
	}
	return out, nil
}

// podResults returns the last parseable Result among the pod's containers in step order, and
// the raw termination messages of failed containers that did not hold one.
func podResults(pod *corev1.Pod) (*result.Result, []string) {
	var last *result.Result
	var raw []string
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		t := cs.State.Terminated
		if t == nil {
			t = cs.LastTerminationState.Terminated
		}
		if t == nil {
			continue
		}
		if r, err := result.Parse([]byte(t.Message)); err == nil {
			last = r
			continue
		}
		if t.ExitCode != 0 {
			msg := fmt.Sprintf("container %s exited with %d", cs.Name, t.ExitCode)
			if t.Reason != "" {
				msg += " (" + t.Reason + ")"
			}
			if m := strings.TrimSpace(t.Message); m != "" {
				msg += ": " + lastLines(m, 5)
			}
			raw = append(raw, msg)
		}
	}
	if len(raw) == 0 && pod.Status.Phase == corev1.PodFailed && pod.Status.Message != "" {
		raw = append(raw, pod.Status.Reason+": "+pod.Status.Message)
	}
	return last, raw
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Labels returns the labels that find a session's objects.
func Labels(kind resolve.Kind, session string) map[string]string {
	return map[string]string{resolve.LabelSession: session, resolve.LabelComponent: string(kind)}
}
