package hookjob

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/podsecurity"
	"github.com/hoard-operator/hoard/internal/result"
)

// AnnotationOutcome, on a post-hook Job, keeps the session's outcome (scrubbed) as it was
// when the hook started, so that the session is recorded the same however long the hook
// takes and whatever happens to the session's own Job meanwhile.
const AnnotationOutcome = "hoard.io/session-outcome"

// startupAllowance is added to a hook's deadline for its pod to be scheduled and started.
const startupAllowance = 2 * time.Minute

// AddPreHook makes the pre hook the first init container of the session's Job: when it
// fails, the pod stops and no step after it runs. identity is the hook ServiceAccount, used
// for an exec hook only.
func AddPreHook(job *batchv1.Job, image, name string, w Where, sum hook.Summary, identity string, timeout time.Duration) error {
	c, err := Container(image, name, w, sum, job.Namespace, timeout)
	if err != nil {
		return err
	}
	spec := &job.Spec.Template.Spec
	spec.InitContainers = append([]corev1.Container{c}, spec.InitContainers...)
	if w.Handler.Exec != nil {
		spec.ServiceAccountName = identity
		spec.Volumes = append(spec.Volumes, TokenVolume())
	}
	return nil
}

// Post is a post hook to run.
type Post struct {
	Kind    jobspec.Kind
	Owner   client.Object
	Image   string
	Name    string
	Where   Where
	Summary hook.Summary
	// Identity is the hook ServiceAccount, for an exec hook.
	Identity string
	Timeout  time.Duration
	// Outcome is the session's outcome, kept on the Job (AnnotationOutcome).
	Outcome any
}

// CreatePostJob creates the post hook's Job, controlled by the session. A Job of that name
// the session already controls is kept (a restarted operator repeats the creation).
func CreatePostJob(ctx context.Context, c client.Client, s *runtime.Scheme, p Post) error {
	outcome, err := json.Marshal(p.Outcome)
	if err != nil {
		return fmt.Errorf("failed to encode the session's outcome: %w", err)
	}
	ns := p.Owner.GetNamespace()
	container, err := Container(p.Image, p.Name, p.Where, p.Summary, ns, p.Timeout)
	if err != nil {
		return err
	}
	lbls := map[string]string{names.LabelManagedBy: names.ManagedByHoard, names.LabelComponent: "hook",
		names.LabelSession: names.LabelValue(p.Owner.GetName())}
	pod := corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext:              podsecurity.Pod(),
		Containers:                   []corev1.Container{container},
	}
	if p.Where.Handler.Exec != nil {
		pod.ServiceAccountName = p.Identity
		pod.Volumes = []corev1.Volume{TokenVolume()}
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: Name(p.Kind, p.Owner.GetName()), Namespace: ns, Labels: lbls,
			Annotations: map[string]string{AnnotationOutcome: string(outcome)}},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To(int32(0)),
			ActiveDeadlineSeconds: ptr.To(int64((p.Timeout + startupAllowance) / time.Second)),
			Template:              corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbls}, Spec: pod},
		},
	}
	if err := controllerutil.SetControllerReference(p.Owner, job, s); err != nil {
		return fmt.Errorf("failed to own Job %s: %w", job.Name, err)
	}
	err = c.Create(ctx, job)
	if err == nil || !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("failed to create the %s hook Job %s/%s: %w", p.Name, ns, job.Name, err)
		}
		return nil
	}
	existing := &batchv1.Job{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(job), existing); err != nil {
		return fmt.Errorf("failed to read Job %s/%s: %w", ns, job.Name, err)
	}
	if !metav1.IsControlledBy(existing, p.Owner) {
		return &TargetError{Msg: fmt.Sprintf("Job %s/%s already exists and this session does not own it: the %s hook cannot run", ns, job.Name, p.Name)}
	}
	return nil
}

// PostState is where a session's post-hook Job stands.
type PostState struct {
	// Exists is false when the session has no post-hook Job (yet).
	Exists bool
	// Outcome is the session's outcome kept on the Job, raw JSON.
	Outcome []byte
	// Hook is the hook's report once its Job ended; nil while it runs.
	Hook *result.Hook
}

// ReadPost reads the session's post-hook Job: its kept outcome and, once it ended, what the
// hook reported. A Job that ended without a report, or that was deleted after it had been
// created, counts as a failed hook.
func ReadPost(ctx context.Context, c client.Reader, owner client.Object, kind jobspec.Kind, name string) (PostState, error) {
	job := &batchv1.Job{}
	key := client.ObjectKey{Namespace: owner.GetNamespace(), Name: Name(kind, owner.GetName())}
	if err := c.Get(ctx, key, job); err != nil {
		return PostState{}, client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(job, owner) {
		return PostState{}, nil
	}
	st := PostState{Exists: true, Outcome: []byte(job.Annotations[AnnotationOutcome])}
	finished, complete, reason := false, false, ""
	for _, cond := range job.Status.Conditions {
		if cond.Status != corev1.ConditionTrue {
			continue
		}
		switch cond.Type {
		case batchv1.JobComplete:
			finished, complete = true, true
		case batchv1.JobFailed:
			finished, reason = true, cond.Reason+": "+cond.Message
		}
	}
	if !finished {
		return st, nil
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return PostState{}, fmt.Errorf("failed to list pods of Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	for i := range pods.Items {
		if h := HookReport(&pods.Items[i], ContainerName(name)); h != nil {
			h.Name = name
			st.Hook = h
			return st, nil
		}
	}
	h := &result.Hook{Name: name, Phase: result.PhaseFailed, Error: "hook Job " + job.Name + " ended without a report"}
	if complete {
		h.Error += " although it completed"
	} else if reason != "" {
		h.Error += " (" + reason + ")"
	}
	st.Hook = h
	return st, nil
}

// HookReport is what the named hook container of pod reported, nil when it has not ended. A
// container that ended without a report (it crashed, or its image could not start) is a failed
// hook with its exit code and last words.
func HookReport(pod *corev1.Pod, container string) *result.Hook {
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.Name != container || cs.State.Terminated == nil {
			continue
		}
		t := cs.State.Terminated
		if h, err := result.ParseHook([]byte(t.Message)); err == nil {
			return h
		}
		return &result.Hook{Phase: result.PhaseFailed,
			Error: fmt.Sprintf("hook container %s exited with %d (%s) without a report: %s", container, t.ExitCode, t.Reason, t.Message)}
	}
	return nil
}
