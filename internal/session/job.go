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
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/result"
)

// TargetSecretName is the per-session Secret with the target's connection.
func TargetSecretName(jobName string) string { return jobName + "-target" }

// StorageSecretName is the per-session copy of a Repository's storage Secret, made when the
// Repository is in another namespace (a pod mounts only Secrets of its own namespace).
func StorageSecretName(jobName string) string { return jobName + "-storage" }

// AnnotationCopyOf, on a per-session storage Secret copy, names the Secret it copies.
const AnnotationCopyOf = "hoard.io/copy-of"

// DeleteSessionSecrets removes a finished session's copies of the target's credentials and
// of a Repository's storage Secret: they served the Job's pod only, and a copy kept for the
// session's lifetime would outlive a password rotation and stay readable in the session's
// namespace. A Secret the session does not control is left alone.
func DeleteSessionSecrets(ctx context.Context, c client.Client, owner client.Object, jobName string) error {
	for _, name := range []string{TargetSecretName(jobName), StorageSecretName(jobName)} {
		if err := deleteOwnedSecret(ctx, c, owner, name); err != nil {
			return err
		}
	}
	return nil
}

func deleteOwnedSecret(ctx context.Context, c client.Client, owner client.Object, name string) error {
	// Metadata only: the owner is all that is read, and Secret data stays out of the cache.
	s := &metav1.PartialObjectMetadata{}
	s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	key := client.ObjectKey{Namespace: owner.GetNamespace(), Name: name}
	if err := c.Get(ctx, key, s); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(s, owner) {
		return nil
	}
	if err := c.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("failed to delete the session Secret %s/%s: %w", key.Namespace, key.Name, err)
	}
	return nil
}

// StorageCopy is the data of a storage Secret to copy for a session, and the Secret it comes
// from ("namespace/name").
type StorageCopy struct {
	From string
	Data map[string][]byte
}

// ForeignObjectError is an object in the way of a session's Job or Secret: it has the name
// the session needs but the session does not own it. Using it would mean reporting another
// run's outcome, or mounting another run's credentials.
type ForeignObjectError struct {
	Kind, Namespace, Name string
	// Owner describes the object's controller, empty when it has none.
	Owner string
	// Leaving is true when the object goes away by itself: it is being deleted, or it belongs
	// to an earlier session of the same kind and name that was deleted. The session waits.
	Leaving bool
}

func (e *ForeignObjectError) Error() string {
	owner := "no owner"
	if e.Owner != "" {
		owner = "owner " + e.Owner
	}
	if e.Leaving {
		return fmt.Sprintf("%s %s/%s of an earlier session with this name (%s) is still being deleted; the session starts once it is gone", e.Kind, e.Namespace, e.Name, owner)
	}
	return fmt.Sprintf("%s %s/%s already exists and this session does not own it (%s): delete it, or create the session under another name", e.Kind, e.Namespace, e.Name, owner)
}

// CreateJob creates the target Secret (when there is a connection), the storage Secret copy
// (when there is one) and the Job, all controlled by the session so that deleting the session
// removes them. An object that
// already exists is used only when the session controls it (a restarted operator may repeat
// a creation it did before it stopped); any other is a *ForeignObjectError.
func CreateJob(ctx context.Context, c client.Client, direct client.Reader, s *runtime.Scheme, owner client.Object, job *batchv1.Job, conn map[string][]byte, storage *StorageCopy) error {
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
		if err := createOwned(ctx, c, direct, s, owner, secret, &corev1.Secret{}); err != nil {
			return err
		}
	}
	if storage != nil {
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name:        StorageSecretName(job.Name),
				Namespace:   job.Namespace,
				Labels:      job.Labels,
				Annotations: map[string]string{AnnotationCopyOf: storage.From},
			},
			Type: corev1.SecretTypeOpaque,
			Data: storage.Data,
		}
		if err := createOwned(ctx, c, direct, s, owner, secret, &corev1.Secret{}); err != nil {
			return err
		}
	}
	return createOwned(ctx, c, direct, s, owner, job, &batchv1.Job{})
}

// createOwned creates obj controlled by owner. When an object of that name exists, it is
// accepted if owner controls it and reported as a *ForeignObjectError otherwise; existing is
// an empty object of obj's type to read it into.
func createOwned(ctx context.Context, c client.Client, direct client.Reader, s *runtime.Scheme, owner, obj, existing client.Object) error {
	kind := "Job"
	if _, ok := obj.(*corev1.Secret); ok {
		kind = "Secret"
	}
	if err := controllerutil.SetControllerReference(owner, obj, s); err != nil {
		return fmt.Errorf("failed to own %s %s: %w", kind, obj.GetName(), err)
	}
	err := c.Create(ctx, obj)
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to create %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	if err := direct.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return fmt.Errorf("failed to read the existing %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	if metav1.IsControlledBy(existing, owner) {
		return nil
	}
	fe := &ForeignObjectError{Kind: kind, Namespace: existing.GetNamespace(), Name: existing.GetName()}
	ownerGVK, _ := apiutil.GVKForObject(owner, s)
	if ref := metav1.GetControllerOf(existing); ref != nil {
		fe.Owner = fmt.Sprintf("%s %s, uid %s", ref.Kind, ref.Name, ref.UID)
		fe.Leaving = ref.Kind == ownerGVK.Kind && ref.Name == owner.GetName()
	}
	if !existing.GetDeletionTimestamp().IsZero() {
		fe.Leaving = true
	}
	return fe
}

// PermanentAPIError tells whether the API server refused a request for good (invalid,
// forbidden, too large, namespace gone): retrying the same request cannot help, so the
// session fails with the server's message instead of retrying forever.
func PermanentAPIError(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err) ||
		apierrors.IsRequestEntityTooLargeError(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err)
}

// Outcome is what a finished Job reports.
type Outcome struct {
	Finished  bool
	Succeeded bool
	// Result is the last result a step wrote, nil when none did.
	Result *result.Result
	// Error explains a failure in one paragraph.
	Error string
	// StopReason, when set, is why the session stopped without a result from its Job
	// (JobDeleted, TimedOut); Error says more.
	StopReason string `json:",omitempty"`
	// Hooks are what the hook containers of the Job's pod reported (a pre hook), in order.
	Hooks []result.Hook `json:",omitempty"`
}

// FailedHook is the first hook of the outcome that failed, nil when none did.
func (o *Outcome) FailedHook() *result.Hook {
	for i := range o.Hooks {
		if !o.Hooks[i].Succeeded() {
			return &o.Hooks[i]
		}
	}
	return nil
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
// completed without a parseable result is a failure: success needs evidence. direct must read
// from the API server: the pod's last status and the Job's end come through separate watches,
// so a cache can show the Job finished and its pod still running, which would fail a session
// that succeeded.
func ReadOutcome(ctx context.Context, direct client.Reader, job *batchv1.Job) (Outcome, error) {
	if finished, _, _ := JobFinished(job); !finished {
		return Outcome{}, nil
	}
	pods := &corev1.PodList{}
	if err := direct.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return Outcome{}, fmt.Errorf("failed to list pods of Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return OutcomeOf(job, pods.Items), nil
}

// OutcomeOf is the outcome of job, given its pods: ReadOutcome's decision, without the API.
func OutcomeOf(job *batchv1.Job, pods []corev1.Pod) Outcome {
	finished, complete, jobReason := JobFinished(job)
	if !finished {
		return Outcome{}
	}
	out := Outcome{Finished: true}
	var raw []string
	var pod *corev1.Pod
	if len(pods) > 0 {
		// The newest pod is the one that ran last (backoffLimit is 0, so there is one).
		pods = append([]corev1.Pod(nil), pods...)
		sort.Slice(pods, func(i, j int) bool {
			return pods[j].CreationTimestamp.Before(&pods[i].CreationTimestamp)
		})
		pod = &pods[0]
		out.Result, out.Hooks, raw = podResults(pod)
	}
	switch {
	case out.Result == nil && out.FailedHook() != nil:
		// A pre hook failed: nothing ran after it.
		out.Error = out.FailedHook().Describe()
	case out.Result != nil && out.Result.Phase == result.PhaseFailed:
		out.Error = out.Result.Error
		if out.Error == "" {
			out.Error = "the " + string(out.Result.Kind) + " step reported failure without a reason"
		}
		if why := podGone(pod); why != "" {
			out.Error = why + ": " + out.Error
		}
	case !complete:
		out.Error = "Job " + job.Name + " failed"
		if jobReason != "" {
			out.Error += " (" + jobReason + ")"
		}
		if pod == nil {
			out.Error += ": its pod is gone, deleted or evicted before it finished, and no step reported a result"
		} else if why := podGone(pod); why != "" {
			out.Error += ": " + why
		}
		if len(raw) > 0 {
			out.Error += ": " + strings.Join(raw, "; ")
		}
	case out.Result == nil:
		out.Error = "Job " + job.Name + " completed but no step reported a result; treating the session as failed"
	default:
		out.Succeeded = true
	}
	return out
}

// podGone says why a pod was stopped from outside (evicted, preempted, deleted), or "" when
// it was not.
func podGone(pod *corev1.Pod) string {
	if pod == nil {
		return ""
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			msg := "pod " + pod.Name + " was stopped by the cluster (" + c.Reason + ")"
			if c.Message != "" {
				msg += ": " + c.Message
			}
			return msg
		}
	}
	if pod.Status.Reason == "Evicted" {
		return "pod " + pod.Name + " was evicted: " + pod.Status.Message
	}
	if !pod.DeletionTimestamp.IsZero() {
		return "pod " + pod.Name + " was deleted before it finished"
	}
	return ""
}

// podResults returns the last parseable Result among the pod's containers in step order, what
// hook containers reported, and the raw termination messages of failed containers that did
// not hold either.
func podResults(pod *corev1.Pod) (*result.Result, []result.Hook, []string) {
	var last *result.Result
	var hooks []result.Hook
	var raw []string
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		t := cs.State.Terminated
		if t == nil {
			t = cs.LastTerminationState.Terminated
		}
		// A verification's scratch server is stopped when the steps end; how it exited is
		// not the session's outcome.
		if t == nil || cs.Name == jobspec.ScratchContainerName {
			continue
		}
		if r, err := result.Parse([]byte(t.Message)); err == nil {
			last = r
			continue
		}
		if h, err := result.ParseHook([]byte(t.Message)); err == nil {
			hooks = append(hooks, *h)
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
	return last, hooks, raw
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Labels returns the labels that find a session's objects.
func Labels(kind jobspec.Kind, session string) map[string]string {
	return map[string]string{names.LabelSession: session, names.LabelComponent: string(kind)}
}

// DescribeSnapshot names a snapshot for users: its id, whose it is and when it was taken.
func DescribeSnapshot(s result.Snapshot) string {
	msg := "snapshot " + s.Name
	switch {
	case s.Target != "":
		msg += " of " + s.Target
	case s.Hostname != "":
		// Reported by an addon that reads tags: the snapshot has none of Hoard's.
		msg += " without a Hoard target (written by another tool, such as Stash)"
	}
	var details []string
	if s.Hostname != "" {
		details = append(details, "host "+s.Hostname)
	}
	if s.Time != "" {
		details = append(details, "taken "+s.Time)
	}
	if s.TotalSize != "" {
		details = append(details, s.TotalSize)
	}
	if len(details) > 0 {
		msg += " (" + strings.Join(details, ", ") + ")"
	}
	return msg
}
