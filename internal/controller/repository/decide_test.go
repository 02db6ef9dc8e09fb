package repository

import (
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
)

func TestWipePending(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	repo := func(deleted, wipeOut bool, finalizers ...string) *stashv1alpha1.Repository {
		r := &stashv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: "r", Finalizers: finalizers}, Spec: stashv1alpha1.RepositorySpec{WipeOut: wipeOut}}
		if deleted {
			r.DeletionTimestamp = &now
		}
		return r
	}
	for _, tc := range []struct {
		name             string
		repo             *stashv1alpha1.Repository
		pending, leaving bool
	}{
		{"alive", repo(false, true, Finalizer), false, false},
		{"deleted, to be wiped", repo(true, true, Finalizer), true, false},
		{"deleted, keeps its data", repo(true, false, Finalizer), false, true},
		{"deleted, wiped already", repo(true, true), false, true},
	} {
		if got := wipePending(tc.repo); got != tc.pending {
			t.Errorf("%s: wipePending = %t, want %t", tc.name, got, tc.pending)
		}
		if got := leavingWithoutWipe(tc.repo); got != tc.leaving {
			t.Errorf("%s: leavingWithoutWipe = %t, want %t", tc.name, got, tc.leaving)
		}
	}
}

func TestJobFailure(t *testing.T) {
	for _, tc := range []struct {
		conds []batchv1.JobCondition
		want  string
	}{
		{nil, "unknown reason"},
		{[]batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}, "BackoffLimitExceeded"},
		{[]batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "DeadlineExceeded", Message: "too long"}}, "DeadlineExceeded: too long"},
	} {
		job := &batchv1.Job{Status: batchv1.JobStatus{Conditions: tc.conds}}
		if got := jobFailure(job); got != tc.want {
			t.Errorf("jobFailure = %q, want %q", got, tc.want)
		}
	}
}

func TestRenderWipeJob(t *testing.T) {
	repo := &stashv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: "repo", Namespace: "demo"}, Spec: stashv1alpha1.RepositorySpec{
		Backend: stashv1alpha1.Backend{StorageSecretName: "s", Rest: &stashv1alpha1.RestServerSpec{URL: "http://rest:8000/demo"}},
	}}
	job, err := RenderWipeJob(repo, "hoard:test", "loc")
	if err != nil {
		t.Fatal(err)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if job.Name != "stash-wipe-repo" || c.Name != "wipe" || c.Args[0] != "wipe-repository" || !slices.Contains(c.Args, "--provider=rest") ||
		!slices.Contains(c.Args, "--sole-writer") || job.Labels["app.kubernetes.io/component"] != "wipe-repository" {
		t.Errorf("job %s, container %s %q, labels %v", job.Name, c.Name, c.Args, job.Labels)
	}
	repo.Spec.Backend.StorageSecretName = ""
	if _, err := RenderWipeJob(repo, "hoard:test", "loc"); err == nil || !strings.Contains(err.Error(), "the wipe needs the repository password") {
		t.Errorf("without a storage Secret: %v", err)
	}
	if n := WipeJobName(strings.Repeat("r", 80)); len(n) > 63 || !strings.HasPrefix(n, "stash-wipe-rrr") {
		t.Errorf("long name %q", n)
	}
}
