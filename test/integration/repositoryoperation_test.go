package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/repositoryoperation"
	"github.com/hoard-operator/hoard/internal/location"
)

func repositoryOperation(t *testing.T, ns, name, repo string, op opsv1alpha1.Operation, check *opsv1alpha1.CheckParams) *opsv1alpha1.RepositoryOperation {
	t.Helper()
	o := &opsv1alpha1.RepositoryOperation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       opsv1alpha1.RepositoryOperationSpec{Repository: repo, Operation: op, Check: check},
	}
	if err := k8sClient.Create(context.Background(), o); err != nil {
		t.Fatalf("create RepositoryOperation %s: %v", name, err)
	}
	return o
}

func opPhase(o *opsv1alpha1.RepositoryOperation) string { return string(o.Status.Phase) }

// An operation waits behind a running backup of its repository, runs its Job once the
// backup's Job has finished, and records the Job's outcome line; a session created while the
// operation runs waits for it.
func TestRepositoryOperationQueuesBehindSession(t *testing.T) {
	f := newSessionFixture(t)
	startManager(t)
	ctx := context.Background()

	f.backupConfiguration(t, "nightly", nil)
	f.backupSession(t, "nightly", "1")
	backupJob := waitJob(t, f.ns, "stash-backup-nightly-1")

	op := repositoryOperation(t, f.ns, "check-1", f.repository, opsv1alpha1.OperationCheck, &opsv1alpha1.CheckParams{ReadDataSubset: "5%"})
	op = waitPhase(t, op, opPhase, string(opsv1alpha1.OperationPending))
	want := "Check waits for BackupSession " + f.ns + "/nightly-1, which is using the repository"
	pollUntil(t, 10*time.Second, "the waiting message", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(op), op); err != nil {
			return err
		}
		if op.Status.Message != want {
			return fmt.Errorf("message %q, want %q", op.Status.Message, want)
		}
		return nil
	})
	pollUntil(t, 10*time.Second, "event WaitingForRepository", func() error { return findEvent(ctx, f.ns, op.Name, "WaitingForRepository") })
	// Still waiting a moment later: no Job behind a running session.
	time.Sleep(time.Second)
	jobName := repositoryoperation.JobName(op.Name)
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: jobName}, &batchv1.Job{}); err == nil {
		t.Fatalf("Job %s exists while BackupSession nightly-1 runs", jobName)
	}

	// Migrate does not wait: a format change is refused while a session uses the repository.
	mig := repositoryOperation(t, f.ns, "migrate-1", f.repository, opsv1alpha1.OperationMigrate, nil)
	mig = waitPhase(t, mig, opPhase, string(opsv1alpha1.OperationFailed))
	if want := "Migrate refused: BackupSession " + f.ns + "/nightly-1, which is using the repository;"; !strings.HasPrefix(mig.Status.Message, want) {
		t.Errorf("migrate message %q, want it to start with %q", mig.Status.Message, want)
	}

	finishJob(t, backupJob, true, stepStatus{0, ""}, stepStatus{0, ""})
	op = waitPhase(t, op, opPhase, string(opsv1alpha1.OperationRunning))
	job := waitJob(t, f.ns, jobName)
	if op.Status.Job != jobName || op.Status.StartTime == nil {
		t.Errorf("status %+v", op.Status)
	}
	c := job.Spec.Template.Spec.Containers[0]
	for _, a := range []string{"repository-operation", "--operation=Check", "--read-data-subset=5%", "--provider=gcs", "--bucket=appscode-qa", "--sole-writer"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("Job args %q lack %q", c.Args, a)
		}
	}
	if strings.Contains(strings.Join(c.Args, " "), "restic-secret-pw") || len(c.EnvFrom) > 0 {
		t.Errorf("the repository password reaches the Job's args or envFrom: %q", c.Args)
	}
	if v := job.Spec.Template.Spec.Volumes[0]; v.Secret == nil || v.Secret.SecretName != "gcs-secret" {
		t.Errorf("first volume %+v, want the storage Secret gcs-secret", v)
	}
	if job.Labels[location.LabelKey] == "" || job.Spec.Template.Labels[location.LabelKey] != job.Labels[location.LabelKey] {
		t.Errorf("Job and pod must carry the location label: %v / %v", job.Labels, job.Spec.Template.Labels)
	}
	if !metav1.IsControlledBy(job, op) {
		t.Errorf("Job %s is not controlled by the operation", job.Name)
	}

	// A backup that comes while the operation runs waits for it.
	f.backupSession(t, "nightly", "2")
	pollUntil(t, 10*time.Second, "BackupSession nightly-2 waiting for the operation", func() error {
		bs := &v1beta1.BackupSession{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "nightly-2"}, bs); err != nil {
			return err
		}
		for _, c := range bs.Status.Conditions {
			if strings.Contains(c.Message, "RepositoryOperation "+f.ns+"/check-1") {
				return nil
			}
		}
		return fmt.Errorf("phase %q, conditions %+v", bs.Status.Phase, bs.Status.Conditions)
	})
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "stash-backup-nightly-2"}, &batchv1.Job{}); err == nil {
		t.Fatal("the backup's Job started while the operation's Job runs")
	}

	finishJob(t, job, true, stepStatus{0, "restic check of the structure and data subset 5% found no errors"})
	op = waitPhase(t, op, opPhase, string(opsv1alpha1.OperationSucceeded))
	if op.Status.Message != "restic check of the structure and data subset 5% found no errors" || op.Status.CompletionTime == nil {
		t.Errorf("status %+v", op.Status)
	}
	pollUntil(t, 10*time.Second, "event OperationSucceeded", func() error { return findEvent(ctx, f.ns, op.Name, "OperationSucceeded") })
	// The backup that waited starts now.
	waitJob(t, f.ns, "stash-backup-nightly-2")
}

// A failed Job's outcome line becomes the operation's message; a missing Repository fails at
// once; the API server refuses bad parameters and spec changes.
func TestRepositoryOperationFailuresAndValidation(t *testing.T) {
	f := newSessionFixture(t)
	startManager(t)
	ctx := context.Background()

	op := repositoryOperation(t, f.ns, "unlock-1", f.repository, opsv1alpha1.OperationUnlock, nil)
	job := waitJob(t, f.ns, repositoryoperation.JobName(op.Name))
	if c := job.Spec.Template.Spec.Containers[0]; !slices.Contains(c.Args, "--operation=Unlock") || slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--read-data-subset") }) {
		t.Errorf("unlock Job args %q", c.Args)
	}
	// A crash's log tail that quotes the storage Secret's restic password: hidden all the same.
	finishJob(t, job, false, stepStatus{1, "failed to list the locks: restic list locks: Fatal: wrong password or no key found (restic-secret-pw)"})
	op = waitPhase(t, op, opPhase, string(opsv1alpha1.OperationFailed))
	if want := "Unlock failed: failed to list the locks: restic list locks: Fatal: wrong password or no key found (***); `kubectl hoard debug repositoryoperation/unlock-1` shows the Job's log"; op.Status.Message != want {
		t.Errorf("message %q, want %q", op.Status.Message, want)
	}
	pollUntil(t, 10*time.Second, "event OperationFailed", func() error { return findEvent(ctx, f.ns, op.Name, "OperationFailed") })

	missing := repositoryOperation(t, f.ns, "check-missing", "no-such-repo", opsv1alpha1.OperationCheck, nil)
	missing = waitPhase(t, missing, opPhase, string(opsv1alpha1.OperationFailed))
	if want := "Repository " + f.ns + "/no-such-repo not found"; !strings.HasPrefix(missing.Status.Message, want) {
		t.Errorf("message %q, want it to start with %q", missing.Status.Message, want)
	}

	for _, tc := range []struct {
		name, want string
		spec       opsv1alpha1.RepositoryOperationSpec
	}{
		{"bad-subset", "spec.check.readDataSubset", opsv1alpha1.RepositoryOperationSpec{Repository: "r", Operation: opsv1alpha1.OperationCheck, Check: &opsv1alpha1.CheckParams{ReadDataSubset: "lots"}}},
		{"check-on-unlock", "check is only for operation Check", opsv1alpha1.RepositoryOperationSpec{Repository: "r", Operation: opsv1alpha1.OperationUnlock, Check: &opsv1alpha1.CheckParams{ReadDataSubset: "1/2"}}},
		{"bad-operation", "spec.operation", opsv1alpha1.RepositoryOperationSpec{Repository: "r", Operation: "Prune"}},
		{"no-repository", "spec.repository", opsv1alpha1.RepositoryOperationSpec{Operation: opsv1alpha1.OperationUnlock}},
		{"keyadd-no-secret", "KeyAdd needs key.newPasswordSecret", opsv1alpha1.RepositoryOperationSpec{Repository: "r", Operation: opsv1alpha1.OperationKeyAdd}},
		{"keyremove-no-id", "KeyRemove needs key.id", opsv1alpha1.RepositoryOperationSpec{Repository: "r", Operation: opsv1alpha1.OperationKeyRemove}},
		{"keyremove-bad-id", "spec.key.id", opsv1alpha1.RepositoryOperationSpec{Repository: "r", Operation: opsv1alpha1.OperationKeyRemove, Key: &opsv1alpha1.KeyParams{ID: "not-hex"}}},
	} {
		o := &opsv1alpha1.RepositoryOperation{ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: f.ns}, Spec: tc.spec}
		if err := k8sClient.Create(ctx, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: create returned %v, want a refusal naming %q", tc.name, err, tc.want)
		}
	}
	for _, ok := range []string{"1/10", "5%", "2.5%", "500M", "1G"} {
		o := &opsv1alpha1.RepositoryOperation{ObjectMeta: metav1.ObjectMeta{GenerateName: "ok-", Namespace: f.ns},
			Spec: opsv1alpha1.RepositoryOperationSpec{Repository: "no-such-repo", Operation: opsv1alpha1.OperationCheck, Check: &opsv1alpha1.CheckParams{ReadDataSubset: ok}}}
		if err := k8sClient.Create(ctx, o); err != nil {
			t.Errorf("readDataSubset %q refused: %v", ok, err)
		}
	}

	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(op), op); err != nil {
		t.Fatal(err)
	}
	op.Spec.Operation = opsv1alpha1.OperationCheck
	if err := k8sClient.Update(ctx, op); err == nil || !strings.Contains(err.Error(), "spec is immutable") {
		t.Errorf("spec update returned %v, want a refusal", err)
	}
}

// KeyAdd's Job mounts the new password's Secret beside the storage Secret and names only the
// file; its JSON outcome fills status.keys, keyID and currentKeyID.
func TestRepositoryOperationKeyAdd(t *testing.T) {
	f := newSessionFixture(t)
	startManager(t)
	ctx := context.Background()
	op := &opsv1alpha1.RepositoryOperation{
		ObjectMeta: metav1.ObjectMeta{Name: "add-1", Namespace: f.ns},
		Spec: opsv1alpha1.RepositoryOperationSpec{Repository: f.repository, Operation: opsv1alpha1.OperationKeyAdd,
			Key: &opsv1alpha1.KeyParams{NewPasswordSecret: "gcs-repo-new-key-x"}},
	}
	if err := k8sClient.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	job := waitJob(t, f.ns, repositoryoperation.JobName(op.Name))
	spec := job.Spec.Template.Spec
	if !slices.Contains(spec.Containers[0].Args, "--new-password-file="+repositoryoperation.NewPasswordDir+"/RESTIC_PASSWORD") {
		t.Errorf("args %q", spec.Containers[0].Args)
	}
	found := false
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "gcs-repo-new-key-x" {
			found = true
		}
	}
	if !found {
		t.Errorf("no volume of Secret gcs-repo-new-key-x: %+v", spec.Volumes)
	}
	out := `{"message":"added key 22222222 and opened the repository with its password; the storage Secret's password opens key 11111111",` +
		`"keys":[{"current":true,"id":"1111111100","userName":"root","hostName":"a","created":"2026-12-02 06:07:30"},{"current":false,"id":"2222222200","userName":"root","hostName":"b","created":"2026-12-02 07:00:00"}],` +
		`"keyID":"2222222200","currentKeyID":"1111111100"}`
	finishJob(t, job, true, stepStatus{0, out})
	op = waitPhase(t, op, opPhase, string(opsv1alpha1.OperationSucceeded))
	st := op.Status
	if st.KeyID != "2222222200" || st.CurrentKeyID != "1111111100" || len(st.Keys) != 2 || !st.Keys[0].Current || st.Keys[1].Created != "2026-12-02 07:00:00" ||
		!strings.HasPrefix(st.Message, "added key 22222222") {
		t.Errorf("status %+v", st)
	}
}

// An operation's Job is deleted a day after it finished (ttlSecondsAfterFinished). A finished
// operation whose Job is gone stays as it was and is never run again; a running one whose
// Job is deleted before its outcome was recorded fails, without a new Job.
func TestRepositoryOperationJobTTL(t *testing.T) {
	f := newSessionFixture(t)
	startManager(t)
	ctx := context.Background()

	op := repositoryOperation(t, f.ns, "check-ttl", f.repository, opsv1alpha1.OperationCheck, nil)
	job := waitJob(t, f.ns, repositoryoperation.JobName(op.Name))
	if ttl := job.Spec.TTLSecondsAfterFinished; ttl == nil || *ttl != 86400 {
		t.Errorf("ttlSecondsAfterFinished %v, want 86400", ttl)
	}
	finishJob(t, job, true, stepStatus{0, "restic check of the structure found no errors"})
	op = waitPhase(t, op, opPhase, string(opsv1alpha1.OperationSucceeded))
	// What the TTL controller does a day later.
	if err := k8sClient.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}

	running := repositoryOperation(t, f.ns, "unlock-ttl", f.repository, opsv1alpha1.OperationUnlock, nil)
	runningJob := waitJob(t, f.ns, repositoryoperation.JobName(running.Name))
	waitPhase(t, running, opPhase, string(opsv1alpha1.OperationRunning))
	if err := k8sClient.Delete(ctx, runningJob, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	running = waitPhase(t, running, opPhase, string(opsv1alpha1.OperationFailed))
	if want := "Unlock: Job " + runningJob.Name + " was deleted before its outcome was recorded"; !strings.HasPrefix(running.Status.Message, want) {
		t.Errorf("message %q, want it to start with %q", running.Status.Message, want)
	}

	// Neither runs again: no new Job, the finished status stays.
	time.Sleep(2 * time.Second)
	for _, name := range []string{job.Name, runningJob.Name} {
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &batchv1.Job{}); err == nil {
			t.Errorf("Job %s was created again", name)
		}
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(op), op); err != nil || op.Status.Phase != opsv1alpha1.OperationSucceeded ||
		op.Status.Message != "restic check of the structure found no errors" {
		t.Errorf("the finished operation changed after its Job went: %+v, %v", op.Status, err)
	}
}

// A waiting operation holds its place in line: a backup created after it waits for it even
// when no Job uses the repository, and starts only after the operation's Job. (The
// operation waits here for a Job of its Job's name that it does not own, which keeps it
// Pending without making the repository busy.)
func TestRepositoryOperationHoldsItsPlaceInLine(t *testing.T) {
	f := newSessionFixture(t)
	startManager(t)
	ctx := context.Background()

	foreign := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: repositoryoperation.JobName("check-1"), Namespace: f.ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		}}},
	}
	if err := k8sClient.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	op := repositoryOperation(t, f.ns, "check-1", f.repository, opsv1alpha1.OperationCheck, nil)
	op = waitPhase(t, op, opPhase, string(opsv1alpha1.OperationPending))
	if !strings.Contains(op.Status.Message, "already exists") {
		t.Fatalf("message %q, want the foreign Job", op.Status.Message)
	}

	// Creation times have whole seconds: the backup is created in a later one.
	f.backupConfiguration(t, "weekly", nil)
	time.Sleep(1100 * time.Millisecond)
	f.backupSession(t, "weekly", "2")
	want := "waiting for RepositoryOperation " + f.ns + "/check-1, which is ahead in line"
	pollUntil(t, 10*time.Second, "BackupSession weekly-2 waiting behind the operation", func() error {
		bs := &v1beta1.BackupSession{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "weekly-2"}, bs); err != nil {
			return err
		}
		for _, c := range bs.Status.Conditions {
			if strings.Contains(c.Message, want) {
				return nil
			}
		}
		return fmt.Errorf("phase %q, conditions %+v, want a message naming %q", bs.Status.Phase, bs.Status.Conditions, want)
	})
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "stash-backup-weekly-2"}, &batchv1.Job{}); err == nil {
		t.Fatal("the backup created after the waiting operation started before it")
	}

	if err := k8sClient.Delete(ctx, foreign, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	var job *batchv1.Job
	pollUntil(t, 30*time.Second, "the operation's own Job", func() error {
		j := &batchv1.Job{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), j); err != nil {
			return err
		}
		if !metav1.IsControlledBy(j, op) {
			return fmt.Errorf("Job %s is not the operation's yet", j.Name)
		}
		job = j
		return nil
	})
	waitPhase(t, op, opPhase, string(opsv1alpha1.OperationRunning))
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "stash-backup-weekly-2"}, &batchv1.Job{}); err == nil {
		t.Fatal("the backup created after the operation started while the operation runs")
	}
	finishJob(t, job, true, stepStatus{0, "restic check of the structure found no errors"})
	waitPhase(t, op, opPhase, string(opsv1alpha1.OperationSucceeded))
	waitJob(t, f.ns, "stash-backup-weekly-2")
}
