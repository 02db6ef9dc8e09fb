package session

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoard-operator/hoard/internal/result"
)

func TestTimeLeft(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if left, expired := TimeLeft(created, created.Add(5*time.Hour), 0); left != 0 || expired {
		t.Errorf("no timeout: left %s, expired %t", left, expired)
	}
	left, expired := TimeLeft(created, created.Add(90*time.Second), 2*time.Minute)
	if left != 30*time.Second || expired {
		t.Errorf("left %s, expired %t; want 30s, false", left, expired)
	}
	if Seconds(left) != 30 || Seconds(1500*time.Millisecond) != 2 || Seconds(0) != 0 {
		t.Errorf("Seconds rounds up and keeps 0 as no bound: %d %d %d", Seconds(left), Seconds(1500*time.Millisecond), Seconds(0))
	}
	// An operator that was down past the deadline must not start the session.
	if _, expired := TimeLeft(created, created.Add(2*time.Minute), 2*time.Minute); !expired {
		t.Error("a session at its deadline must count as expired")
	}
	if NextLook(10*time.Second, 0) != 10*time.Second || NextLook(10*time.Second, 4*time.Second) != 4*time.Second {
		t.Errorf("NextLook: %s %s", NextLook(10*time.Second, 0), NextLook(10*time.Second, 4*time.Second))
	}
	if msg := ExpiredMessage("backup", created, time.Minute, ""); !strings.Contains(msg, "was the operator down?") {
		t.Errorf("message %q", msg)
	}
}

func TestPodGone(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"ran to its end", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, ""},
		{"deleted", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", DeletionTimestamp: &now}}, "pod p was deleted before it finished"},
		{"evicted", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Reason: "Evicted", Message: "The node was low on resource: memory."}}, "pod p was evicted: The node was low on resource: memory."},
		{"preempted", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler", Message: "preempted by a higher priority pod"}}}},
			"pod p was stopped by the cluster (PreemptionByScheduler): preempted by a higher priority pod"},
	} {
		if got := podGone(tc.pod); got != tc.want {
			t.Errorf("%s: podGone = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDescribeSnapshot(t *testing.T) {
	for _, tc := range []struct {
		s    result.Snapshot
		want string
	}{
		{result.Snapshot{Name: "4b2a9e1c", Hostname: "host-0", Target: "demo/AppBinding/db-a", Time: "2026-12-01T10:00:00Z", TotalSize: "6.8 MiB"},
			"snapshot 4b2a9e1c of demo/AppBinding/db-a (host host-0, taken 2026-12-01T10:00:00Z, 6.8 MiB)"},
		{result.Snapshot{Name: "0a1b2c3d", Hostname: "host-0"}, "snapshot 0a1b2c3d without a Hoard target (written by another tool, such as Stash) (host host-0)"},
		{result.Snapshot{Name: "0a1b2c3d"}, "snapshot 0a1b2c3d"},
	} {
		if got := DescribeSnapshot(tc.s); got != tc.want {
			t.Errorf("DescribeSnapshot = %q, want %q", got, tc.want)
		}
	}
}
