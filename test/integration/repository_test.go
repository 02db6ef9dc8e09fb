package integration

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repository"
	"github.com/hoard-operator/hoard/internal/scheme"
)

func wipeRepository(ns string) *stashv1alpha1.Repository {
	return &stashv1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: "wiped", Namespace: ns},
		Spec: stashv1alpha1.RepositorySpec{
			WipeOut: true,
			Backend: stashv1alpha1.Backend{
				StorageSecretName: "repo-secret",
				Local: &stashv1alpha1.LocalSpec{
					VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "backups"}},
					MountPath:    "/safe/data",
					SubPath:      "demo",
				},
			},
		},
	}
}

func getRepo(ctx context.Context, ns, name string) (*stashv1alpha1.Repository, error) {
	repo := &stashv1alpha1.Repository{}
	err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, repo)
	return repo, err
}

// deleteAndGetWipeJob deletes the Repository once its finalizer is on and returns the Job.
func deleteAndGetWipeJob(t *testing.T, ns string) *batchv1.Job {
	t.Helper()
	ctx := context.Background()
	pollUntil(t, bcTimeout, "finalizer and observedGeneration", func() error {
		repo, err := getRepo(ctx, ns, "wiped")
		if err != nil {
			return err
		}
		if !controllerutil.ContainsFinalizer(repo, repository.Finalizer) || repo.Status.ObservedGeneration != repo.Generation {
			return fmt.Errorf("finalizers %v, observedGeneration %d", repo.Finalizers, repo.Status.ObservedGeneration)
		}
		return nil
	})
	if err := k8sClient.Delete(ctx, &stashv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wiped"}}); err != nil {
		t.Fatal(err)
	}
	job := &batchv1.Job{}
	pollUntil(t, bcTimeout, "wipe Job", func() error {
		return k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "stash-wipe-wiped"}, job)
	})
	pollUntil(t, bcTimeout, "WipeOutRunning", func() error {
		repo, err := getRepo(ctx, ns, "wiped")
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(repo.Status.Conditions, repository.ConditionWipedOut); c == nil || c.Reason != repository.ReasonWipeOutRunning {
			return fmt.Errorf("WipedOut = %+v", c)
		}
		return findEvent(ctx, ns, "wiped", "WipeOutStarted")
	})
	return job
}

// finishWipeJob sets the Job's status the way the Job controller would (envtest has none); the
// API server insists on the intermediate condition and times.
func finishWipeJob(t *testing.T, job *batchv1.Job, succeeded bool) {
	t.Helper()
	now := metav1.NewTime(time.Now())
	job.Status.StartTime = &now
	if succeeded {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
		}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
		}
	}
	if err := k8sClient.Status().Update(context.Background(), job); err != nil {
		t.Fatalf("set Job status: %v", err)
	}
}

func TestRepositoryWipeOutSucceeded(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	ns := newNamespace(t)
	// Another Repository on the same volume but in another directory: a location of its own.
	keep := wipeRepository(ns)
	keep.Name, keep.Spec.WipeOut, keep.Spec.Backend.Local.SubPath = "kept", false, "other"
	mustCreate(t, bcSecret(ns), wipeRepository(ns), keep)

	job := deleteAndGetWipeJob(t, ns)
	repo, err := getRepo(ctx, ns, "wiped")
	if err != nil {
		t.Fatal(err)
	}
	if refs := job.OwnerReferences; len(refs) != 1 || refs[0].UID != repo.UID {
		t.Errorf("Job ownerReferences = %+v", refs)
	}
	pod := job.Spec.Template.Spec
	c := pod.Containers[0]
	wantArgs := []string{"wipe-repository", "--provider=local", "--bucket=/safe/data", "--secret-dir=/etc/repository/secret", "--sole-writer"}
	if c.Image != testOperatorImage || !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("image/args = %q %q", c.Image, c.Args)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	if m := mounts["secret"]; m.MountPath != "/etc/repository/secret" || !m.ReadOnly {
		t.Errorf("secret mount %+v", m)
	}
	if m := mounts["repository"]; m.MountPath != "/safe/data" || m.SubPath != "demo" {
		t.Errorf("repository mount %+v", m)
	}
	if sc := c.SecurityContext; sc == nil || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot {
		t.Errorf("securityContext %+v", sc)
	}

	// Record every state the Repository goes through: the outcome must be in its status
	// before it disappears.
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	// resourceVersion "0" starts at the watch cache's state and replays the current objects
	// as ADDED, which proves the watch works before the Job finishes (a fresh watch cache
	// may time out a watch once, on a busy machine).
	var w watch.Interface
	pollUntil(t, bcTimeout, "a working watch", func() error {
		ww, err := wc.Watch(ctx, &stashv1alpha1.RepositoryList{}, client.InNamespace(ns),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}})
		if err != nil {
			return err
		}
		select {
		case ev := <-ww.ResultChan():
			if ev.Type == watch.Added {
				w = ww
				return nil
			}
			ww.Stop()
			return fmt.Errorf("watch: %s %+v", ev.Type, ev.Object)
		case <-time.After(5 * time.Second):
			ww.Stop()
			return fmt.Errorf("no event from the watch")
		}
	})
	defer w.Stop()

	finishWipeJob(t, job, true)
	sawSucceeded := false
	timeout := time.After(bcTimeout)
	for deleted := false; !deleted; {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Error || ev.Object == nil {
				t.Fatalf("watch failed: %+v", ev.Object)
			}
			r, ok := ev.Object.(*stashv1alpha1.Repository)
			if !ok || r.Name != "wiped" {
				continue
			}
			if c := meta.FindStatusCondition(r.Status.Conditions, repository.ConditionWipedOut); c != nil && c.Status == metav1.ConditionTrue && c.Reason == repository.ReasonWipeOutSucceeded {
				sawSucceeded = true
			}
			deleted = ev.Type == watch.Deleted
		case <-timeout:
			t.Fatalf("Repository not deleted within %s", bcTimeout)
		}
	}
	if !sawSucceeded {
		t.Errorf("the Repository was deleted without recording WipedOut=True first")
	}
	pollUntil(t, bcTimeout, "WipeOutSucceeded event", func() error { return findEvent(ctx, ns, "wiped", "WipeOutSucceeded") })

	// wipeOut: false gets no finalizer and deletes at once.
	kept, err := getRepo(ctx, ns, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if controllerutil.ContainsFinalizer(kept, repository.Finalizer) {
		t.Errorf("finalizer on a Repository without wipeOut")
	}
}

func TestRepositoryWipeOutFailed(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	ns := newNamespace(t)
	mustCreate(t, bcSecret(ns), wipeRepository(ns))
	job := deleteAndGetWipeJob(t, ns)
	finishWipeJob(t, job, false)

	pollUntil(t, bcTimeout, "WipeOutFailed reported", func() error {
		repo, err := getRepo(ctx, ns, "wiped")
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(repo.Status.Conditions, repository.ConditionWipedOut)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != repository.ReasonWipeOutFailed {
			return fmt.Errorf("WipedOut = %+v", c)
		}
		return findEvent(ctx, ns, "wiped", "WipeOutFailed")
	})
	// The failure keeps the Repository (and says so) until the user decides.
	repo, err := getRepo(ctx, ns, "wiped")
	if err != nil || !controllerutil.ContainsFinalizer(repo, repository.Finalizer) {
		t.Fatalf("Repository after a failed wipe: %v, finalizers %v", err, repo.Finalizers)
	}

	// Giving up on the wipe releases it.
	base := repo.DeepCopy()
	repo.Spec.WipeOut = false
	if err := k8sClient.Patch(ctx, repo, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, bcTimeout, "Repository deleted", func() error {
		if _, err := getRepo(ctx, ns, "wiped"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %w", err)
		}
		return nil
	})
}
