package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	repov1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repositoryoperation"
	"github.com/hoard-operator/hoard/internal/controller/snapshot"
)

// stuckPod gives job the pod the kubelet would show for an image it cannot pull.
func stuckPod(t *testing.T, job *batchv1.Job) *corev1.Pod {
	t.Helper()
	c := job.Spec.Template.Spec.Containers[0]
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x1", Namespace: job.Namespace, Labels: map[string]string{batchv1.JobNameLabel: job.Name}},
		Spec: *job.Spec.Template.Spec.DeepCopy()}
	mustCreate(t, pod)
	pod.Status.Phase = corev1.PodPending
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ImagePullBackOff", Message: `Back-off pulling image "` + c.Image + `"`}}}}
	if err := k8sClient.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// waitJobGone waits until the Job named name is deleted, or replaced by another.
func waitJobGone(t *testing.T, job *batchv1.Job) {
	t.Helper()
	pollUntil(t, bcTimeout, "Job "+job.Name+" stopped", func() error {
		j := &batchv1.Job{}
		err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(job), j)
		if apierrors.IsNotFound(err) || (err == nil && (j.UID != job.UID || !j.DeletionTimestamp.IsZero())) {
			return nil
		}
		return fmt.Errorf("still there (err %w)", err)
	})
}

// TestRepositoryJobsThatCannotStart: a RepositoryOperation's or a snapshots Job whose
// container cannot start is stopped after the start grace (1s in these tests) with the
// kubelet's words, and frees the repository for the backups waiting behind it. These Jobs
// have no deadline of their own, so without this they held the repository for good.
func TestRepositoryJobsThatCannotStart(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "nightly", nil)

	t.Run("RepositoryOperation", func(t *testing.T) {
		op := repositoryOperation(t, f.ns, "check-1", f.repository, opsv1alpha1.OperationCheck, nil)
		job := waitJob(t, f.ns, repositoryoperation.JobName(op.Name))
		bs := waitPhase(t, f.backupSession(t, "nightly", "1"), bsPhase, "Pending")
		pod := stuckPod(t, job)

		op = waitPhase(t, op, opPhase, string(opsv1alpha1.OperationFailed))
		want := "Check did not run: container " + job.Spec.Template.Spec.Containers[0].Name + " of pod " + pod.Name + " cannot start: ImagePullBackOff"
		if !strings.HasPrefix(op.Status.Message, want) || !strings.Contains(op.Status.Message, "Job "+job.Name+" was stopped") {
			t.Errorf("message %q, want it to start with %q", op.Status.Message, want)
		}
		waitJobGone(t, job)
		deleteJobPods(t, f.ns, job.Name)
		// The backup that waited starts now.
		waitPhase(t, bs, bsPhase, "Running")
		finishJob(t, waitJob(t, f.ns, "stash-backup-"+bs.Name), true, stepStatus{0, resultMessage(t, backupResult("4e4e4e4e"))}, stepStatus{0, ""})
		waitPhase(t, bs, bsPhase, "Succeeded")
	})

	t.Run("snapshots Job", func(t *testing.T) {
		del := resticSnapshot("5f", "host-0")
		seedSnapshots(t, f.ns, f.repository, del)
		delName := f.repository + "-" + del.Name
		if err := k8sClient.Delete(ctx, &repov1alpha1.Snapshot{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: delName}}); err != nil {
			t.Fatal(err)
		}
		job := waitJob(t, f.ns, snapshot.JobName(f.repository))
		bs := waitPhase(t, f.backupSession(t, "nightly", "2"), bsPhase, "Pending")
		stuckPod(t, job)

		waitForgotten(t, f.ns, delName, repov1alpha1.ReasonForgetFailed, "cannot start: ImagePullBackOff")
		pollUntil(t, bcTimeout, "SnapshotsJobFailed", func() error { return findEvent(ctx, f.ns, f.repository, "SnapshotsJobFailed") })
		waitJobGone(t, job)
		deleteJobPods(t, f.ns, job.Name)
		waitPhase(t, bs, bsPhase, "Running")
	})
}
