package session

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStuckContainer(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	pod := func(age time.Duration, reason string) corev1.Pod {
		return corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "step",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "why"}}}}},
		}
	}
	for _, c := range []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"image not pulled, past the grace", pod(3*time.Minute, "ImagePullBackOff"), "container step of pod p cannot start: ImagePullBackOff: why"},
		{"a missing Secret, past the grace", pod(3*time.Minute, "CreateContainerConfigError"), "container step of pod p cannot start: CreateContainerConfigError: why"},
		{"within the grace", pod(time.Minute, "ErrImagePull"), ""},
		{"still creating", pod(time.Hour, "ContainerCreating"), ""},
		{"waiting for init containers", pod(time.Hour, "PodInitializing"), ""},
		{"the main step after a long restore step, within its grace", afterInit(pod(time.Hour, "ImagePullBackOff"), now.Add(-time.Minute)), ""},
		{"the main step after a long restore step, past its grace", afterInit(pod(time.Hour, "ImagePullBackOff"), now.Add(-3*time.Minute)),
			"container step of pod p cannot start: ImagePullBackOff: why"},
	} {
		if got := StuckContainer([]corev1.Pod{c.pod}, now, 2*time.Minute); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// afterInit gives the pod an init container that finished at end.
func afterInit(p corev1.Pod, end time.Time) corev1.Pod {
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "restore",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(end)}}}}
	return p
}
