package integration

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/repository"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/repoqueue"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/session"
)

// waitCondition polls obj until its condition typ has status and its message contains want.
func waitCondition[T client.Object](t *testing.T, obj T, conds func(T) []metav1.Condition, typ string, status metav1.ConditionStatus, want string) *metav1.Condition {
	t.Helper()
	var found *metav1.Condition
	pollUntil(t, 20*time.Second, fmt.Sprintf("%s %s=%s %q", obj.GetName(), typ, status, want), func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(conds(obj), typ)
		if c == nil || c.Status != status || !strings.Contains(c.Message, want) {
			return fmt.Errorf("condition %+v", c)
		}
		found = c
		return nil
	})
	return found
}

func bsConds(bs *v1beta1.BackupSession) []metav1.Condition  { return bs.Status.Conditions }
func rsConds(rs *v1beta1.RestoreSession) []metav1.Condition { return rs.Status.Conditions }

// noJob fails the test if the named Job exists.
func noJob(t *testing.T, ns, name string) {
	t.Helper()
	err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &batchv1.Job{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Job %s/%s: want none, got err=%v", ns, name, err)
	}
}

func okBackup(t *testing.T, job *batchv1.Job, snapshot string) {
	t.Helper()
	msg := resultMessage(t, backupResult(snapshot))
	finishJob(t, job, true, stepStatus{0, msg}, stepStatus{0, msg})
}

// A Job that an operator from before hosts had one spelling started carries the location's
// old key: a session waits for it all the same.
func TestOldLocationKeyHoldsTheRepository(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.patchRepository(t, func(repo *v1alpha1.Repository) {
		repo.Spec.Backend.GCS = nil
		repo.Spec.Backend.S3 = &v1alpha1.S3Spec{Endpoint: "http://minio." + f.ns + ".svc:9000", Bucket: "backups", Prefix: "mysql"}
	})
	oldKey := location.Location{Store: "s3:minio." + f.ns + ".svc:9000/backups", Path: "mysql"}.Key()
	old := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "stash-backup-before-upgrade", Namespace: f.ns, Labels: map[string]string{location.LabelKey: oldKey}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "backup", Image: "hoard/mysql-addon"}}}}},
	}
	if err := k8sClient.Create(ctx, old); err != nil {
		t.Fatal(err)
	}
	f.backupConfiguration(t, "db", nil)
	bs := f.backupSession(t, "db", "1")
	waitCondition(t, bs, bsConds, session.ConditionRepositoryAvailable, metav1.ConditionFalse, "Job "+f.ns+"/stash-backup-before-upgrade, which is using the repository")
	noJob(t, f.ns, "stash-backup-db-1")

	if err := k8sClient.Delete(ctx, old, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, bs, bsPhase, "Running")
	if job := waitJob(t, f.ns, "stash-backup-db-1"); job.Labels[location.LabelKey] == oldKey {
		t.Errorf("the new Job carries the old key")
	}
}

// Sessions of three configurations, in two namespaces whose two Repository objects point at
// one location, use the repository one at a time and in the order they were created; a
// restore queues behind them like any other session.
func TestSessionsShareARepositoryOneAtATime(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	g := newSessionFixture(t)
	// g's Repository reaches f's location through another object (and another spelling).
	g.patchRepository(t, func(repo *v1alpha1.Repository) { repo.Spec.Backend.GCS.Prefix = "demo/mysql/" + f.ns + "/" })
	f.backupConfiguration(t, "db-a", nil)
	f.backupConfiguration(t, "db-b", nil)
	g.backupConfiguration(t, "db-c", nil)

	a := waitPhase(t, f.backupSession(t, "db-a", "1"), bsPhase, "Running")
	jobA := waitJob(t, f.ns, "stash-backup-db-a-1")
	// Creation timestamps have a resolution of one second: keep the order unambiguous.
	time.Sleep(1100 * time.Millisecond)
	b := f.backupSession(t, "db-b", "2")
	time.Sleep(1100 * time.Millisecond)
	c := g.backupSession(t, "db-c", "3")

	want := "BackupSession " + f.ns + "/" + a.Name + ", which is using the repository"
	waitCondition(t, b, bsConds, session.ConditionRepositoryAvailable, metav1.ConditionFalse, want)
	// A session of another namespace is not named: what c is told reaches g's namespace.
	elsewhere := "a BackupSession in another namespace, which is using the repository"
	if got := waitCondition(t, c, bsConds, session.ConditionRepositoryAvailable, metav1.ConditionFalse, elsewhere); strings.Contains(got.Message, a.Name) {
		t.Errorf("session %s/%s is told of %s/%s: %s", g.ns, c.Name, f.ns, a.Name, got.Message)
	}
	if b.Status.Phase != v1beta1.BackupSessionPending || c.Status.Phase != v1beta1.BackupSessionPending {
		t.Errorf("waiting sessions must be Pending, got %s and %s", b.Status.Phase, c.Status.Phase)
	}
	pollUntil(t, 10*time.Second, "WaitingForRepository event", func() error { return findEvent(ctx, f.ns, b.Name, "WaitingForRepository") })
	noJob(t, f.ns, "stash-backup-db-b-2")
	noJob(t, g.ns, "stash-backup-db-c-3")

	// Every Job and its pod say which repository they use; so do the waiting sessions.
	key := jobA.Labels[location.LabelKey]
	if key == "" || jobA.Spec.Template.Labels[location.LabelKey] != key || b.Labels[location.LabelKey] != key || c.Labels[location.LabelKey] != key {
		t.Errorf("location labels: Job %v, pod %v, waiting sessions %v %v", jobA.Labels, jobA.Spec.Template.Labels, b.Labels, c.Labels)
	}
	if args := strings.Join(jobA.Spec.Template.Spec.InitContainers[0].Args, " "); strings.Contains(args, "--sole-writer=") && !strings.Contains(args, "--sole-writer=true") {
		t.Errorf("the Job holding the repository must be told it is the sole writer: %s", args)
	}

	// When A ends, B (first in line) starts at once; C waits for B now.
	okBackup(t, jobA, "aaaa0001")
	waitPhase(t, b, bsPhase, "Running")
	jobB := waitJob(t, f.ns, "stash-backup-db-b-2")
	waitCondition(t, c, bsConds, session.ConditionRepositoryAvailable, metav1.ConditionFalse, elsewhere)
	noJob(t, g.ns, "stash-backup-db-c-3")

	// A restore queues like any other Job on the repository.
	time.Sleep(1100 * time.Millisecond)
	rs := f.restoreSession(t, "restore-a", nil)
	waitCondition(t, rs, rsConds, session.ConditionRepositoryAvailable, metav1.ConditionFalse, "BackupSession "+f.ns+"/"+b.Name)

	okBackup(t, jobB, "bbbb0002")
	waitPhase(t, c, bsPhase, "Running")
	jobC := waitJob(t, g.ns, "stash-backup-db-c-3")
	waitCondition(t, rs, rsConds, session.ConditionRepositoryAvailable, metav1.ConditionFalse, elsewhere)
	okBackup(t, jobC, "cccc0003")
	waitPhase(t, rs, rsPhase, "Running")
	waitCondition(t, rs, rsConds, session.ConditionRepositoryAvailable, metav1.ConditionTrue, "")
	for _, s := range []*v1beta1.BackupSession{a, b, c} {
		waitPhase(t, s, bsPhase, "Succeeded")
	}
}

// A session that cannot start before its deadline fails with that reason and never starts:
// neither while it waits for the repository nor after an operator outage.
func TestSessionDeadlineBeforeStart(t *testing.T) {
	stop := startManager(t)
	f := newSessionFixture(t)
	f.backupConfiguration(t, "holder", nil)
	// Long enough for the session to be seen waiting first, however loaded the machine.
	f.backupConfiguration(t, "waiter", func(bc *v1beta1.BackupConfiguration) { bc.Spec.TimeOut = "8s" })
	f.backupConfiguration(t, "impatient", func(bc *v1beta1.BackupConfiguration) { bc.Spec.TimeOut = "3s" })

	waitPhase(t, f.backupSession(t, "holder", "1"), bsPhase, "Running")
	waiting := f.backupSession(t, "waiter", "1")
	waitCondition(t, waiting, bsConds, session.ConditionRepositoryAvailable, metav1.ConditionFalse, "holder-1")
	waiting = waitPhase(t, waiting, bsPhase, "Failed")
	c := meta.FindStatusCondition(waiting.Status.Conditions, "BackupSucceeded")
	if c == nil || c.Reason != "DeadlineExceeded" || !strings.Contains(c.Message, "was not started") || !strings.Contains(c.Message, "holder-1") {
		t.Errorf("BackupSucceeded = %+v", c)
	}
	noJob(t, f.ns, "stash-backup-waiter-1")

	// The operator is down for longer than the session's timeout.
	stop()
	late := f.backupSession(t, "impatient", "2")
	time.Sleep(3500 * time.Millisecond)
	startManager(t)
	late = waitPhase(t, late, bsPhase, "Failed")
	if c := meta.FindStatusCondition(late.Status.Conditions, "BackupSucceeded"); c == nil || c.Reason != "DeadlineExceeded" || !strings.Contains(c.Message, "operator down") {
		t.Errorf("BackupSucceeded = %+v", c)
	}
	noJob(t, f.ns, "stash-backup-impatient-2")
}

// A session never takes over a Job it does not own: not one that someone else created, and
// not the Job of a deleted session of the same name, whose result would otherwise become
// the new session's.
func TestSessionNeverAdoptsForeignJobs(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)

	t.Run("a Job without owner", func(t *testing.T) {
		stranger := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "stash-restore-squatted", Namespace: f.ns},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "x", Image: "x"}},
			}}},
		}
		if err := k8sClient.Create(ctx, stranger); err != nil {
			t.Fatal(err)
		}
		rs := waitPhase(t, f.restoreSession(t, "squatted", nil), rsPhase, "Failed")
		c := meta.FindStatusCondition(rs.Status.Conditions, v1beta1.ConditionRestoreCompleted)
		if c == nil || c.Reason != "ObjectNotOwned" || !strings.Contains(c.Message, "Job "+f.ns+"/stash-restore-squatted already exists") {
			t.Errorf("RestoreCompleted = %+v", c)
		}
	})

	t.Run("a deleted and re-created RestoreSession", func(t *testing.T) {
		old := waitPhase(t, f.restoreSession(t, "again", nil), rsPhase, "Running")
		oldJob := waitJob(t, f.ns, "stash-restore-again")
		if err := k8sClient.Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, 10*time.Second, "old RestoreSession gone", func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(old), &v1beta1.RestoreSession{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there: %w", err)
			}
			return nil
		})
		// envtest has no garbage collector: the old Job stays, as it would for a while on a
		// real cluster. It finishes successfully, which must not count for the new session.
		fresh := f.restoreSession(t, "again", nil)
		msg := resultMessage(t, &result.Result{Kind: result.KindRestore, Phase: result.PhaseSucceeded, Hostname: "host-0"})
		finishJob(t, oldJob, true, stepStatus{0, msg}, stepStatus{0, msg})
		waitCondition(t, fresh, rsConds, session.ConditionRepositoryAvailable, metav1.ConditionFalse, "of an earlier session with this name")
		time.Sleep(2 * time.Second)
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(fresh), fresh); err != nil {
			t.Fatal(err)
		}
		if fresh.Status.Phase != v1beta1.RestorePending {
			t.Fatalf("the new session took the old Job's outcome: phase %s", fresh.Status.Phase)
		}
		// The garbage collector removes the old Job, its pod and its target Secret; the new
		// session starts with its own.
		if err := k8sClient.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(f.ns), client.MatchingLabels{batchv1.JobNameLabel: oldJob.Name}); err != nil {
			t.Fatal(err)
		}
		if err := k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: session.TargetSecretName(oldJob.Name)}}); err != nil {
			t.Fatal(err)
		}
		if err := k8sClient.Delete(ctx, oldJob, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			t.Fatal(err)
		}
		waitCondition(t, fresh, rsConds, session.ConditionRepositoryAvailable, metav1.ConditionTrue, "")
		fresh = waitPhase(t, fresh, rsPhase, "Running")
		newJob := waitJob(t, f.ns, "stash-restore-again")
		if !metav1.IsControlledBy(newJob, fresh) {
			t.Fatalf("Job owners %+v, want the new session %s", newJob.OwnerReferences, fresh.UID)
		}
		res := &result.Result{Kind: result.KindRestore, Phase: result.PhaseFailed, Hostname: "host-0", Error: "the new run failed"}
		finishJob(t, newJob, false, stepStatus{1, resultMessage(t, res)})
		fresh = waitPhase(t, fresh, rsPhase, "Failed")
		if c := meta.FindStatusCondition(fresh.Status.Conditions, v1beta1.ConditionRestoreCompleted); c == nil || !strings.Contains(c.Message, "the new run failed") {
			t.Errorf("RestoreCompleted = %+v", c)
		}
	})
}

// A 63-character configuration name (the longest a user may pick that is also a label
// value) makes a 74-character session name: every object the session needs is created.
func TestLongConfigurationName(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	name := strings.Repeat("long-name-", 6) + "123"
	f.backupConfiguration(t, name, nil)
	bs := waitPhase(t, f.backupSession(t, name, "1700000000"), bsPhase, "Running")
	jobs := &batchv1.JobList{}
	if err := k8sClient.List(ctx, jobs, client.InNamespace(f.ns)); err != nil || len(jobs.Items) != 1 {
		t.Fatalf("Jobs: %v, %d", err, len(jobs.Items))
	}
	job := &jobs.Items[0]
	for k, v := range job.Spec.Template.Labels {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("pod label %s=%q: %v", k, v, errs)
		}
	}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: session.TargetSecretName(job.Name)}, &corev1.Secret{}); err != nil {
		t.Errorf("target Secret: %v", err)
	}
	okBackup(t, job, "1234abcd")
	waitPhase(t, bs, bsPhase, "Succeeded")
}

// A backup whose snapshot was created but whose retention failed reports the snapshot in its
// stats and on the Repository, and the failed step in its conditions.
func TestBackupReportsSnapshotWhenALaterStepFails(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "half", nil)
	bs := waitPhase(t, f.backupSession(t, "half", "1"), bsPhase, "Running")
	job := waitJob(t, f.ns, "stash-backup-half-1")

	res := backupResult("5a5a5a5a")
	res.Phase = result.PhaseFailed
	res.PostActions = []string{result.ActionVerifyIntegrity, result.ActionSendMetrics}
	res.FailedActions = []result.ActionFailure{{Action: result.ActionApplyRetention, Error: "restic forget failed: repository is locked"}}
	res.Error = "snapshot 5a5a5a5a was created and is kept, but applying the retention policy failed: restic forget failed: repository is locked"
	msg := resultMessage(t, res)
	finishJob(t, job, false, stepStatus{1, msg}, stepStatus{1, msg})

	bs = waitPhase(t, bs, bsPhase, "Failed")
	st := bs.Status.Targets[0].Stats[0]
	if len(st.Snapshots) != 1 || st.Snapshots[0].Name != "5a5a5a5a" || st.Phase != v1beta1.HostFailed || !strings.Contains(st.Error, "retention policy failed") {
		t.Errorf("host stats %+v", st)
	}
	for typ, status := range map[string]metav1.ConditionStatus{
		"SnapshotCreated":                            metav1.ConditionTrue,
		v1beta1.ConditionRetentionPolicyApplied:      metav1.ConditionFalse,
		v1beta1.ConditionRepositoryIntegrityVerified: metav1.ConditionTrue,
		"BackupSucceeded":                            metav1.ConditionFalse,
	} {
		if c := meta.FindStatusCondition(bs.Status.Conditions, typ); c == nil || c.Status != status {
			t.Errorf("condition %s = %+v, want %s", typ, c, status)
		}
	}
	if c := meta.FindStatusCondition(bs.Status.Conditions, v1beta1.ConditionRetentionPolicyApplied); c == nil || !strings.Contains(c.Message, "repository is locked") {
		t.Errorf("RetentionPolicyApplied = %+v", c)
	}
	pollUntil(t, 10*time.Second, "Repository records the backup", func() error {
		repo := &v1alpha1.Repository{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: f.repository}, repo); err != nil {
			return err
		}
		if repo.Status.LastBackupTime == nil || repo.Status.SnapshotCount != 3 {
			return fmt.Errorf("status %+v", repo.Status)
		}
		if repo.Status.LastSuccessfulBackupTime != nil { //nolint:staticcheck // the deprecated field still means "fully succeeded"
			return fmt.Errorf("lastSuccessfulBackupTime set for a failed session")
		}
		return nil
	})
}

// Errors around the Job are said on the session: a Job the API server refuses, and a Job
// whose pod disappeared.
func TestJobProblemsAreReported(t *testing.T) {
	startManager(t)
	f := newSessionFixture(t)

	t.Run("the API server refuses the Job", func(t *testing.T) {
		f.backupConfiguration(t, "refused", func(bc *v1beta1.BackupConfiguration) {
			bc.Spec.RuntimeSettings.Container = &v1beta1.ContainerRuntimeSettings{Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			}}
		})
		bs := waitPhase(t, f.backupSession(t, "refused", "1"), bsPhase, "Failed")
		c := meta.FindStatusCondition(bs.Status.Conditions, "BackupSucceeded")
		if c == nil || c.Reason != "JobCreationFailed" || !strings.Contains(c.Message, "must be less than or equal to cpu limit") {
			t.Errorf("BackupSucceeded = %+v", c)
		}
		// No Job, no snapshot.
		if c := meta.FindStatusCondition(bs.Status.Conditions, "SnapshotCreated"); c == nil || c.Status != metav1.ConditionFalse {
			t.Errorf("SnapshotCreated = %+v", c)
		}
	})

	t.Run("the pod is gone", func(t *testing.T) {
		f.backupConfiguration(t, "evicted", nil)
		bs := waitPhase(t, f.backupSession(t, "evicted", "1"), bsPhase, "Running")
		job := waitJob(t, f.ns, "stash-backup-evicted-1")
		now := metav1.Now()
		job.Status.StartTime = &now
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
		}
		if err := k8sClient.Status().Update(context.Background(), job); err != nil {
			t.Fatal(err)
		}
		bs = waitPhase(t, bs, bsPhase, "Failed")
		if c := meta.FindStatusCondition(bs.Status.Conditions, "BackupSucceeded"); c == nil || !strings.Contains(c.Message, "its pod is gone, deleted or evicted") {
			t.Errorf("BackupSucceeded = %+v", c)
		}
		// Gone without a word, perhaps after it stored the snapshot.
		if c := meta.FindStatusCondition(bs.Status.Conditions, "SnapshotCreated"); c == nil || c.Status != metav1.ConditionUnknown || c.Reason != "NoResult" {
			t.Errorf("SnapshotCreated = %+v", c)
		}
	})
}

// wipeOut deletes only what its Repository alone points at: another Repository on the same
// location, or a BackupConfiguration still using it, holds the wipe back, visibly.
func TestWipeOutRefusedWhileShared(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	ns, other := newNamespace(t), newNamespace(t)
	mk := func(namespace, name, prefix string, wipe bool) *v1alpha1.Repository {
		r := &v1alpha1.Repository{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec: v1alpha1.RepositorySpec{WipeOut: wipe, Backend: v1alpha1.Backend{StorageSecretName: "s",
				S3: &v1alpha1.S3Spec{Endpoint: "http://minio.example:9000", Bucket: "backups", Prefix: prefix}}},
		}
		if err := k8sClient.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := mk(ns, "r1", "/team/"+ns, true)
	mk(other, "r2", "team/"+ns+"/mysql", false) // inside r1's location
	bc := &v1beta1.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "uses-r1", Namespace: ns},
		Spec: v1beta1.BackupConfigurationSpec{Schedule: "@daily", Repository: v1beta1.RepositoryRef{Name: "r1"},
			Task: v1beta1.TaskRef{Name: "x"}, Target: &v1beta1.BackupTarget{Ref: v1beta1.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: "db"}}},
	}
	if err := k8sClient.Create(ctx, bc); err != nil {
		t.Fatal(err)
	}
	// A configuration of another namespace that r1's usagePolicy (none: Same) does not allow
	// cannot hold r1's wipe back: a reference alone gives no say over another namespace.
	borrower := bc.DeepCopy()
	borrower.ObjectMeta = metav1.ObjectMeta{Name: "borrower", Namespace: other}
	borrower.Spec.Repository = v1beta1.RepositoryRef{Name: "r1", Namespace: ns}
	if err := k8sClient.Create(ctx, borrower); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "finalizer", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(r1), r1); err != nil {
			return err
		}
		if !controllerutil.ContainsFinalizer(r1, repository.Finalizer) {
			return fmt.Errorf("no finalizer yet")
		}
		return nil
	})
	if err := k8sClient.Delete(ctx, r1); err != nil {
		t.Fatal(err)
	}
	repoConds := func(r *v1alpha1.Repository) []metav1.Condition { return r.Status.Conditions }
	// r2 is not named: it is another namespace's.
	c := waitCondition(t, r1, repoConds, repository.ConditionWipedOut, metav1.ConditionFalse, "a Repository in another namespace points at this location, or inside or around it")
	if c.Reason != repository.ReasonWipeOutRefused || !strings.Contains(c.Message, "BackupConfiguration "+ns+"/uses-r1 still backs up into it") || !strings.Contains(c.Message, "Nothing was deleted") ||
		strings.Contains(c.Message, "borrower") || strings.Contains(c.Message, "r2") || strings.Contains(c.Message, other) {
		t.Errorf("WipedOut = %+v", c)
	}
	pollUntil(t, 10*time.Second, "WipeOutRefused event", func() error { return findEvent(ctx, ns, "r1", "WipeOutRefused") })
	noJob(t, ns, "stash-wipe-r1")

	// Once the configuration and the other Repository are gone, the wipe runs.
	if err := k8sClient.Delete(ctx, bc); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, r1, repoConds, repository.ConditionWipedOut, metav1.ConditionFalse, "a Repository in another namespace")
	noJob(t, ns, "stash-wipe-r1")
	if err := k8sClient.Delete(ctx, &v1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "r2"}}); err != nil {
		t.Fatal(err)
	}
	job := waitJob(t, ns, "stash-wipe-r1")
	if job.Labels[location.LabelKey] == "" || !slices.Contains(job.Spec.Template.Spec.Containers[0].Args, "--provider=s3") {
		t.Errorf("wipe Job labels %v args %v", job.Labels, job.Spec.Template.Spec.Containers[0].Args)
	}
	waitCondition(t, r1, repoConds, repository.ConditionWipedOut, metav1.ConditionFalse, "is deleting the repository's data")
}

// An AppBinding cannot make the operator copy a Secret of another namespace into a session of
// its own (issue 11, first case): the session fails naming the field, and nothing is copied.
func TestAppBindingCannotBorrowAnotherNamespacesSecret(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	victim := newNamespace(t)
	if err := k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: victim},
		Data: map[string][]byte{"token": []byte("cluster-admin-token")}}); err != nil {
		t.Fatal(err)
	}
	ab := &appcatalogv1alpha1.AppBinding{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: f.appBinding}, ab); err != nil {
		t.Fatal(err)
	}
	base := ab.DeepCopy()
	ab.Spec.SecretTransforms = []appcatalogv1alpha1.SecretTransform{
		{AddKeysFrom: &appcatalogv1alpha1.AddKeysFromTransform{SecretRef: &appcatalogv1alpha1.ObjectReference{Namespace: victim, Name: "token"}}},
		{RenameKey: &appcatalogv1alpha1.RenameKeyTransform{From: "token", To: "password"}},
	}
	if err := k8sClient.Patch(ctx, ab, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	rs := waitPhase(t, f.restoreSession(t, "borrow", nil), rsPhase, "Failed")
	c := meta.FindStatusCondition(rs.Status.Conditions, v1beta1.ConditionRestoreCompleted)
	if c == nil || !strings.Contains(c.Message, "secretTransforms[0].addKeysFrom.secretRef.namespace \""+victim+"\": a Secret of another namespace is not read") {
		t.Errorf("RestoreCompleted = %+v", c)
	}
	secrets := &corev1.SecretList{}
	if err := k8sClient.List(ctx, secrets, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		for k, v := range s.Data {
			if string(v) == "cluster-admin-token" {
				t.Errorf("Secret %s/%s key %s holds the other namespace's token", s.Namespace, s.Name, k)
			}
		}
	}
	noJob(t, f.ns, "stash-restore-borrow")
}

// The per-session copy of the database credentials is deleted once the Job has finished.
func TestTargetSecretDeletedWhenTheJobEnds(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "short-lived", nil)
	bs := waitPhase(t, f.backupSession(t, "short-lived", "1"), bsPhase, "Running")
	job := waitJob(t, f.ns, "stash-backup-short-lived-1")
	key := client.ObjectKey{Namespace: f.ns, Name: session.TargetSecretName(job.Name)}
	if err := k8sClient.Get(ctx, key, &corev1.Secret{}); err != nil {
		t.Fatalf("target Secret while the Job runs: %v", err)
	}
	okBackup(t, job, "5e5e5e5e")
	waitPhase(t, bs, bsPhase, "Succeeded")
	pollUntil(t, 10*time.Second, "target Secret deleted", func() error {
		if err := k8sClient.Get(ctx, key, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %w", err)
		}
		return nil
	})
}

// Sessions created together keep their order, creation time then name, even though nothing
// has labelled them yet when the first of them is reconciled.
func TestSessionsCreatedTogetherStartInOrder(t *testing.T) {
	stop := startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	for _, bc := range []string{"c-third", "a-first", "b-second"} {
		f.backupConfiguration(t, bc, nil)
	}
	// The operator is down while the sessions arrive, so it meets them all at once.
	stop()
	var sessions []*v1beta1.BackupSession
	for _, bc := range []string{"c-third", "a-first", "b-second"} {
		sessions = append(sessions, f.backupSession(t, bc, "1"))
	}
	want := append([]*v1beta1.BackupSession{}, sessions...)
	sort.Slice(want, func(i, j int) bool { return repoqueue.Before(want[i], want[j]) })
	startManager(t)
	for _, s := range want {
		waitPhase(t, s, bsPhase, "Running")
		for _, other := range sessions {
			if other.Name == s.Name {
				continue
			}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(other), other); err != nil {
				t.Fatal(err)
			}
			if other.Status.Phase == v1beta1.BackupSessionRunning {
				t.Fatalf("%s and %s run at the same time on one repository", s.Name, other.Name)
			}
		}
		okBackup(t, waitJob(t, f.ns, "stash-backup-"+s.Name), "0000"+s.Name[:4])
		waitPhase(t, s, bsPhase, "Succeeded")
	}
}
