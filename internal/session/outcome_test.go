package session

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoard-operator/hoard/internal/result"
)

func finishedJob(complete bool, reason, msg string) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "stash-backup-s1", Namespace: "demo"}}
	typ := batchv1.JobFailed
	if complete {
		typ = batchv1.JobComplete
	}
	j.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuspended, Status: corev1.ConditionFalse},
		{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg},
	}
	return j
}

func resultMessage(t *testing.T, r *result.Result) string {
	t.Helper()
	b, err := result.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hookMessage(t *testing.T, h *result.Hook) string {
	t.Helper()
	b, err := result.MarshalHook(h)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func terminated(name string, code int32, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg}}}
}

func podAt(name string, at time.Time, init, main []corev1.ContainerStatus) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(at)},
		Status:     corev1.PodStatus{InitContainerStatuses: init, ContainerStatuses: main},
	}
}

func TestJobFinished(t *testing.T) {
	for _, tc := range []struct {
		name               string
		job                *batchv1.Job
		finished, complete bool
		reason             string
	}{
		{"running", &batchv1.Job{}, false, false, ""},
		{"complete", finishedJob(true, "", ""), true, true, ""},
		{"failed with a message", finishedJob(false, "DeadlineExceeded", "Job was active longer than specified deadline"), true, false, "DeadlineExceeded: Job was active longer than specified deadline"},
		{"failed without a message", finishedJob(false, "BackoffLimitExceeded", ""), true, false, "BackoffLimitExceeded"},
		{"a condition that is not true", &batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionFalse}}}}, false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			finished, complete, reason := JobFinished(tc.job)
			if finished != tc.finished || complete != tc.complete || reason != tc.reason {
				t.Errorf("JobFinished = %t, %t, %q; want %t, %t, %q", finished, complete, reason, tc.finished, tc.complete, tc.reason)
			}
		})
	}
}

// TestOutcomeOf is ReadOutcome's decision: success needs a result that says so, and a failure
// says why in one paragraph.
func TestOutcomeOf(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ok := resultMessage(t, &result.Result{Kind: result.KindBackup, Phase: result.PhaseSucceeded, Hostname: "host-0", Snapshots: []result.Snapshot{{Name: "4b2a9e1c"}}})
	failed := resultMessage(t, &result.Result{Kind: result.KindBackup, Phase: result.PhaseFailed, Hostname: "host-0", Error: "mysqldump: Access denied for user 'root'"})
	noReason := resultMessage(t, &result.Result{Kind: result.KindRestore, Phase: result.PhaseFailed})
	preOK := hookMessage(t, &result.Hook{Name: "preBackup", Action: "exec", Phase: result.PhaseSucceeded})
	preFailed := hookMessage(t, &result.Hook{Name: "preBackup", Action: "exec", Phase: result.PhaseFailed, Error: "command exited with code 3"})
	deleted := metav1.NewTime(t0)

	for _, tc := range []struct {
		name string
		job  *batchv1.Job
		pods []corev1.Pod
		// want: Finished, Succeeded, the error's words (all of them), the hooks reported
		finished, succeeded bool
		errHas              []string
		hooks               int
		hostname            string
	}{
		{name: "still running", job: &batchv1.Job{}, pods: []corev1.Pod{podAt("p", t0, nil, nil)}},
		{name: "complete with a result", job: finishedJob(true, "", ""),
			pods:     []corev1.Pod{podAt("p", t0, nil, []corev1.ContainerStatus{terminated("backup", 0, "Completed", ok)})},
			finished: true, succeeded: true, hostname: "host-0"},
		{name: "complete without a result is a failure", job: finishedJob(true, "", ""),
			pods:     []corev1.Pod{podAt("p", t0, nil, []corev1.ContainerStatus{terminated("backup", 0, "Completed", "done")})},
			finished: true, errHas: []string{"Job stash-backup-s1 completed but no step reported a result"}},
		{name: "the step reported failure", job: finishedJob(false, "BackoffLimitExceeded", ""),
			pods:     []corev1.Pod{podAt("p", t0, nil, []corev1.ContainerStatus{terminated("backup", 1, "Error", failed)})},
			finished: true, errHas: []string{"Access denied"}, hostname: "host-0"},
		{name: "failure without a reason", job: finishedJob(false, "BackoffLimitExceeded", ""),
			pods:     []corev1.Pod{podAt("p", t0, nil, []corev1.ContainerStatus{terminated("restore", 1, "Error", noReason)})},
			finished: true, errHas: []string{"the restore step reported failure without a reason"}},
		{name: "the last result counts", job: finishedJob(false, "BackoffLimitExceeded", ""),
			pods: []corev1.Pod{podAt("p", t0,
				[]corev1.ContainerStatus{terminated("dump", 0, "Completed", ok)},
				[]corev1.ContainerStatus{terminated("upload", 1, "Error", failed)})},
			finished: true, errHas: []string{"Access denied"}},
		{name: "a failed pre hook stops the session", job: finishedJob(false, "BackoffLimitExceeded", ""),
			pods:     []corev1.Pod{podAt("p", t0, []corev1.ContainerStatus{terminated("hook-prebackup", 1, "Error", preFailed)}, nil)},
			finished: true, errHas: []string{"preBackup hook (exec) failed: command exited with code 3"}, hooks: 1},
		{name: "a pre hook that succeeded is reported with the result", job: finishedJob(true, "", ""),
			pods:     []corev1.Pod{podAt("p", t0, []corev1.ContainerStatus{terminated("hook-prebackup", 0, "Completed", preOK)}, []corev1.ContainerStatus{terminated("backup", 0, "Completed", ok)})},
			finished: true, succeeded: true, hooks: 1, hostname: "host-0"},
		{name: "a crash quotes the container's last lines", job: finishedJob(false, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
			pods: []corev1.Pod{podAt("p", t0, nil, []corev1.ContainerStatus{terminated("backup", 137, "OOMKilled", "1\n2\n3\n4\n5\n6\n7")})}, finished: true,
			errHas: []string{"Job stash-backup-s1 failed (BackoffLimitExceeded: Job has reached the specified backoff limit)", "container backup exited with 137 (OOMKilled): 3 | 4 | 5 | 6 | 7"}},
		{name: "no pod left", job: finishedJob(false, "DeadlineExceeded", ""), finished: true,
			errHas: []string{"failed (DeadlineExceeded): its pod is gone"}},
		{name: "an evicted pod says so", job: finishedJob(false, "BackoffLimitExceeded", ""),
			pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: metav1.NewTime(t0)},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}}},
			finished: true, errHas: []string{"pod p was evicted: The node was low on resource: memory.", "Evicted: The node was low on resource"}},
		{name: "a step's failure in a deleted pod names both", job: finishedJob(false, "BackoffLimitExceeded", ""),
			pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: metav1.NewTime(t0), DeletionTimestamp: &deleted},
				Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{terminated("backup", 1, "Error", failed)}}}},
			finished: true, errHas: []string{"pod p was deleted before it finished: mysqldump: Access denied"}},
		{name: "the newest pod is read", job: finishedJob(true, "", ""),
			pods: []corev1.Pod{
				podAt("old", t0, nil, []corev1.ContainerStatus{terminated("backup", 1, "Error", failed)}),
				podAt("new", t0.Add(time.Minute), nil, []corev1.ContainerStatus{terminated("backup", 0, "Completed", ok)}),
			},
			finished: true, succeeded: true, hostname: "host-0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := OutcomeOf(tc.job, tc.pods)
			if out.Finished != tc.finished || out.Succeeded != tc.succeeded {
				t.Fatalf("finished %t, succeeded %t (error %q); want %t, %t", out.Finished, out.Succeeded, out.Error, tc.finished, tc.succeeded)
			}
			for _, w := range tc.errHas {
				if !strings.Contains(out.Error, w) {
					t.Errorf("error %q lacks %q", out.Error, w)
				}
			}
			if len(tc.errHas) == 0 && out.Error != "" {
				t.Errorf("error %q, want none", out.Error)
			}
			if len(out.Hooks) != tc.hooks {
				t.Errorf("%d hooks reported, want %d", len(out.Hooks), tc.hooks)
			}
			if tc.hostname != "" && (out.Result == nil || out.Result.Hostname != tc.hostname) {
				t.Errorf("result %+v, want host %s", out.Result, tc.hostname)
			}
		})
	}
}

func TestPodResults(t *testing.T) {
	ok := resultMessage(t, &result.Result{Kind: result.KindBackup, Phase: result.PhaseSucceeded, Hostname: "host-0"})
	pre := hookMessage(t, &result.Hook{Name: "preBackup", Phase: result.PhaseSucceeded})
	for _, tc := range []struct {
		name   string
		pod    corev1.Pod
		result bool
		hooks  int
		raw    []string
	}{
		{name: "nothing ended", pod: corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "backup"}}}}},
		{name: "a result", pod: podAt("p", time.Time{}, nil, []corev1.ContainerStatus{terminated("backup", 0, "", ok)}), result: true},
		{name: "a hook and a result", pod: podAt("p", time.Time{}, []corev1.ContainerStatus{terminated("hook", 0, "", pre)}, []corev1.ContainerStatus{terminated("backup", 0, "", ok)}), result: true, hooks: 1},
		{name: "a restarted container's last state", pod: podAt("p", time.Time{}, nil, []corev1.ContainerStatus{{Name: "backup",
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Message: ok}}}}), result: true},
		{name: "free text of a container that succeeded is ignored", pod: podAt("p", time.Time{}, nil, []corev1.ContainerStatus{terminated("backup", 0, "", "all done")})},
		{name: "free text of a failed container", pod: podAt("p", time.Time{}, nil, []corev1.ContainerStatus{terminated("backup", 2, "Error", "boom\n")}), raw: []string{"container backup exited with 2 (Error): boom"}},
		{name: "a failed pod without container messages", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded", Message: "Pod was active on the node longer than the specified deadline"}},
			raw: []string{"DeadlineExceeded: Pod was active on the node longer than the specified deadline"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, hooks, raw := podResults(&tc.pod)
			if (res != nil) != tc.result || len(hooks) != tc.hooks || strings.Join(raw, "; ") != strings.Join(tc.raw, "; ") {
				t.Errorf("result %v, %d hooks, raw %q; want result %t, %d hooks, raw %q", res, len(hooks), raw, tc.result, tc.hooks, tc.raw)
			}
		})
	}
}

// TestNextPoll is a running session's deadline: the Job is stopped once it passes, and the
// session is looked at again no later than at its deadline.
func TestNextPoll(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		elapsed  time.Duration
		timeout  time.Duration
		next     time.Duration
		timedOut bool
	}{
		{"no timeout", 30 * time.Hour, 0, 10 * time.Second, false},
		{"far from the deadline", time.Minute, time.Hour, 10 * time.Second, false},
		{"the deadline comes before the next poll", time.Hour - 4*time.Second, time.Hour, 4 * time.Second, false},
		{"at the deadline", time.Hour, time.Hour, 0, true},
		{"past the deadline", 2 * time.Hour, time.Hour, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, timedOut := NextPoll(created, created.Add(tc.elapsed), tc.timeout, 10*time.Second)
			if next != tc.next || timedOut != tc.timedOut {
				t.Errorf("NextPoll = %s, %t; want %s, %t", next, timedOut, tc.next, tc.timedOut)
			}
		})
	}
}
