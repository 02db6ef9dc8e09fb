package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/result"
)

func backupResult(snapshot string) *result.Result {
	return &result.Result{
		Kind: result.KindBackup, Phase: result.PhaseSucceeded, Hostname: "host-0", Duration: "3.2s",
		Snapshots: []result.Snapshot{{Name: snapshot, Path: "dumpfile.sql", TotalSize: "6.815 MiB", Uploaded: "1.2 MiB",
			TotalBytes: 7146291, UploadedBytes: 1258291, ProcessingTime: "2.1s",
			FileStats: &result.FileStats{TotalFiles: ptr.To(int64(1)), NewFiles: ptr.To(int64(0)), ModifiedFiles: ptr.To(int64(1)), UnmodifiedFiles: ptr.To(int64(0))}}},
		PreActions:  []string{"InitializeBackendRepository"},
		PostActions: []string{"ApplyRetentionPolicy", "VerifyRepositoryIntegrity", "SendRepositoryMetrics"},
		Repository:  &result.Repository{Integrity: ptr.To(true), SizeBytes: 7146291, TotalSize: "6.815 MiB", SnapshotCount: 3, SnapshotsRemoved: 1},
	}
}

func TestBackupSessionSucceeds(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "sample-mysql-backup", nil)
	bs := f.backupSession(t, "sample-mysql-backup", "1700000001")

	bs = waitPhase(t, bs, bsPhase, "Running")
	job := waitJob(t, f.ns, "stash-backup-sample-mysql-backup-1700000001")

	// The Job is what the Task and Functions imply.
	pod := job.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || len(pod.Containers) != 1 {
		t.Fatalf("want 1 init + 1 main container, got %d + %d", len(pod.InitContainers), len(pod.Containers))
	}
	initC, mainC := pod.InitContainers[0], pod.Containers[0]
	if want := strings.ReplaceAll(f.functionName, ".", "-") + "-0"; initC.Name != want {
		t.Errorf("init container %q, want %q", initC.Name, want)
	}
	for _, arg := range []string{"backup-mysql", "--provider=gcs", "--bucket=appscode-qa", "--path=/demo/mysql/" + f.ns, "--max-connections=2",
		"--hostname=host-0", "--mysql-args=--all-databases", "--namespace=" + f.ns, "--appbinding=sample-mysql",
		"--backupsession=" + bs.Name, "--retention-keep-last=5", "--retention-prune=true", "--output-dir=/tmp/output"} {
		if !slices.Contains(initC.Args, arg) {
			t.Errorf("init container args %v lack %q", initC.Args, arg)
		}
	}
	if mainC.Args[0] != "update-status" || !slices.Contains(mainC.Args, "--backupsession="+bs.Name) {
		t.Errorf("main container args %v", mainC.Args)
	}
	if *job.Spec.BackoffLimit != 0 || pod.RestartPolicy != corev1.RestartPolicyNever || !*pod.SecurityContext.RunAsNonRoot || *pod.AutomountServiceAccountToken {
		t.Errorf("Job settings: backoffLimit %d, restartPolicy %s, pod security %+v", *job.Spec.BackoffLimit, pod.RestartPolicy, pod.SecurityContext)
	}
	if len(job.OwnerReferences) != 1 || job.OwnerReferences[0].Name != bs.Name {
		t.Errorf("Job owners %+v", job.OwnerReferences)
	}
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		if strings.Contains(strings.Join(c.Args, " "), "secret-pw") {
			t.Errorf("a secret reached container args: %v", c.Args)
		}
	}
	// The target's connection is in a Secret the Job mounts, not in the Job.
	var target corev1.Secret
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: job.Name + "-target"}, &target); err != nil {
		t.Fatalf("target Secret: %v", err)
	}
	if string(target.Data["host"]) != "sample-mysql."+f.ns+".svc" || string(target.Data["port"]) != "3306" ||
		string(target.Data["username"]) != "root" || string(target.Data["password"]) != "db-secret-pw" {
		t.Errorf("target Secret data %q", target.Data)
	}

	msg := resultMessage(t, backupResult("4b2a9e1c"))
	finishJob(t, job, true, stepStatus{0, msg}, stepStatus{0, msg})
	bs = waitPhase(t, bs, bsPhase, "Succeeded")

	st := bs.Status
	if st.SessionDuration == "" || len(st.Targets) != 1 {
		t.Fatalf("status %+v", st)
	}
	tg := st.Targets[0]
	if tg.Phase != v1beta1.TargetBackupSucceeded || *tg.TotalHosts != 1 || tg.Ref.Name != "sample-mysql" {
		t.Errorf("target status %+v", tg)
	}
	if len(tg.Stats) != 1 || tg.Stats[0].Hostname != "host-0" || tg.Stats[0].Phase != v1beta1.HostSucceeded ||
		len(tg.Stats[0].Snapshots) != 1 || tg.Stats[0].Snapshots[0].Name != "4b2a9e1c" || tg.Stats[0].Snapshots[0].Path != "dumpfile.sql" ||
		tg.Stats[0].Snapshots[0].TotalSize != "6.815 MiB" || *tg.Stats[0].Snapshots[0].FileStats.TotalFiles != 1 {
		t.Errorf("host stats %+v", tg.Stats)
	}
	if !slices.Equal(tg.PostBackupActions, []string{"ApplyRetentionPolicy", "VerifyRepositoryIntegrity", "SendRepositoryMetrics"}) ||
		!slices.Equal(tg.PreBackupActions, []string{"InitializeBackendRepository"}) {
		t.Errorf("actions %v %v", tg.PreBackupActions, tg.PostBackupActions)
	}
	for _, c := range []string{"BackendRepositoryInitialized", "RetentionPolicyApplied", "RepositoryIntegrityVerified", "RepositoryMetricsPushed", "BackupSucceeded"} {
		if !meta.IsStatusConditionTrue(st.Conditions, c) {
			t.Errorf("condition %s not True: %+v", c, st.Conditions)
		}
	}

	var repo v1alpha1.Repository
	pollUntil(t, 10*time.Second, "Repository status", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: f.repository}, &repo); err != nil {
			return err
		}
		if repo.Status.SnapshotCount != 3 || repo.Status.TotalSize != "6.815 MiB" || repo.Status.Integrity == nil || !*repo.Status.Integrity ||
			repo.Status.LastBackupTime == nil || repo.Status.FirstBackupTime == nil || repo.Status.SnapshotsRemovedOnLastCleanup != 1 {
			return fmt.Errorf("repository status %+v", repo.Status)
		}
		return nil
	})
	for _, reason := range []string{"BackupSessionStarted", "BackupSessionSucceeded", "RepositoryInitialized", "RetentionPolicyApplied"} {
		pollUntil(t, 10*time.Second, "event "+reason, func() error { return findEvent(ctx, f.ns, bs.Name, reason) })
	}
}

func TestBackupSessionFailures(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)

	t.Run("the dump failed", func(t *testing.T) {
		f.backupConfiguration(t, "dump-fails", nil)
		bs := f.backupSession(t, "dump-fails", "1")
		waitPhase(t, bs, bsPhase, "Running")
		job := waitJob(t, f.ns, "stash-backup-dump-fails-1")
		msg := resultMessage(t, &result.Result{Kind: result.KindBackup, Phase: result.PhaseFailed, Hostname: "host-0",
			Error: "mysqldump exited with status 2: mysqldump: Got error: 1045: Access denied for user 'root'"})
		finishJob(t, job, false, stepStatus{1, msg})
		bs = waitPhase(t, bs, bsPhase, "Failed")
		stats := bs.Status.Targets[0].Stats
		if len(stats) != 1 || stats[0].Phase != v1beta1.HostFailed || !strings.Contains(stats[0].Error, "Access denied") {
			t.Errorf("stats %+v", stats)
		}
		if c := meta.FindStatusCondition(bs.Status.Conditions, "BackupSucceeded"); c == nil || c.Status != "False" || !strings.Contains(c.Message, "Access denied") {
			t.Errorf("condition %+v", c)
		}
		pollUntil(t, 10*time.Second, "failure event", func() error { return findEvent(ctx, f.ns, bs.Name, "BackupSessionFailed") })
	})

	t.Run("the Job completed without a result", func(t *testing.T) {
		f.backupConfiguration(t, "no-result", nil)
		bs := f.backupSession(t, "no-result", "1")
		waitPhase(t, bs, bsPhase, "Running")
		finishJob(t, waitJob(t, f.ns, "stash-backup-no-result-1"), true, stepStatus{0, ""}, stepStatus{0, "all good, trust me"})
		bs = waitPhase(t, bs, bsPhase, "Failed")
		if e := bs.Status.Targets[0].Stats[0].Error; !strings.Contains(e, "no step reported a result") {
			t.Errorf("error %q", e)
		}
	})

	t.Run("a container crashed without a result", func(t *testing.T) {
		f.backupConfiguration(t, "crashed", nil)
		bs := f.backupSession(t, "crashed", "1")
		waitPhase(t, bs, bsPhase, "Running")
		finishJob(t, waitJob(t, f.ns, "stash-backup-crashed-1"), false, stepStatus{137, "exec format error"})
		bs = waitPhase(t, bs, bsPhase, "Failed")
		e := bs.Status.Targets[0].Stats[0].Error
		if !strings.Contains(e, "BackoffLimitExceeded") || !strings.Contains(e, "exited with 137") || !strings.Contains(e, "exec format error") {
			t.Errorf("error %q", e)
		}
	})

	// What the operator copies from termination messages into status and events goes through
	// the scrubber, with the credentials the Job's pod was given (storage Secret and the
	// per-session copy of the database Secret): a step that printed them, in any form, or
	// quoted row data, does not put them into the session.
	t.Run("secrets and row data in termination messages are scrubbed", func(t *testing.T) {
		secrets := []string{"restic-secret-pw", "db-secret-pw"}
		forms := func(s string) []string {
			return []string{s, base64.StdEncoding.EncodeToString([]byte(s)), url.QueryEscape(s)}
		}
		var leak []string
		for _, s := range secrets {
			leak = append(leak, forms(s)...)
		}
		f.backupConfiguration(t, "leaky", nil)
		for _, c := range []struct {
			suffix string
			step   stepStatus
			kept   []string
		}{
			// A step that wrote a result without scrubbing it.
			{"1", stepStatus{1, resultMessage(t, &result.Result{Kind: result.KindBackup, Phase: result.PhaseFailed, Hostname: "host-0",
				Error: "a careless step printed " + strings.Join(leak, " and ")})}, []string{"a careless step printed ***"}},
			// A step that crashed: its log's last lines are its termination message.
			{"2", stepStatus{2, "ERROR 1062 (23000) at line 5: Duplicate entry 'alice@example.com' for key 'email'\n" +
				`Head "http://:***@rest-server:8000/repo/config": dial tcp: connection refused` + "\npanic: login db-secret-pw"},
				[]string{"Duplicate entry '***' for key 'email'", `Head "http://rest-server:8000/repo/config"`, "panic: login ***"}},
		} {
			bs := f.backupSession(t, "leaky", c.suffix)
			waitPhase(t, bs, bsPhase, "Running")
			finishJob(t, waitJob(t, f.ns, "stash-backup-leaky-"+c.suffix), false, c.step)
			bs = waitPhase(t, bs, bsPhase, "Failed")
			texts := []string{bs.Status.Targets[0].Stats[0].Error}
			for _, cond := range bs.Status.Conditions {
				texts = append(texts, cond.Message)
			}
			pollUntil(t, 10*time.Second, "failure event", func() error { return findEvent(ctx, f.ns, bs.Name, "BackupSessionFailed") })
			var events corev1.EventList
			if err := k8sClient.List(ctx, &events, client.InNamespace(f.ns)); err != nil {
				t.Fatal(err)
			}
			for _, e := range events.Items {
				if e.InvolvedObject.Name == bs.Name {
					texts = append(texts, e.Message)
				}
			}
			all := strings.Join(texts, "\n")
			for _, s := range secrets {
				for _, form := range forms(s) {
					if strings.Contains(all, form) {
						t.Errorf("session %s shows %q (a form of %q):\n%s", bs.Name, form, s, all)
					}
				}
			}
			for _, gone := range []string{"alice@example.com", "http://:***@"} {
				if strings.Contains(all, gone) {
					t.Errorf("session %s shows %q:\n%s", bs.Name, gone, all)
				}
			}
			for _, kept := range c.kept {
				if !strings.Contains(all, kept) {
					t.Errorf("session %s lacks %q:\n%s", bs.Name, kept, all)
				}
			}
		}
	})

	t.Run("the Job was deleted", func(t *testing.T) {
		f.backupConfiguration(t, "job-deleted", nil)
		bs := f.backupSession(t, "job-deleted", "1")
		waitPhase(t, bs, bsPhase, "Running")
		job := waitJob(t, f.ns, "stash-backup-job-deleted-1")
		if err := k8sClient.Delete(ctx, job); err != nil {
			t.Fatal(err)
		}
		bs = waitPhase(t, bs, bsPhase, "Failed")
		if e := bs.Status.Targets[0].Stats[0].Error; !strings.Contains(e, "was deleted before it finished") {
			t.Errorf("error %q", e)
		}
	})

	t.Run("the session timed out", func(t *testing.T) {
		f.backupConfiguration(t, "too-slow", func(bc *v1beta1.BackupConfiguration) { bc.Spec.TimeOut = "8s" })
		bs := f.backupSession(t, "too-slow", "1")
		waitPhase(t, bs, bsPhase, "Running")
		job := waitJob(t, f.ns, "stash-backup-too-slow-1")
		// The Job gets what is left of the session's 8s, counted from its creation timestamp
		// (whole seconds), so less when starting it took a while.
		if d := ptr.Deref(job.Spec.ActiveDeadlineSeconds, 0); d < 1 || d > 8 {
			t.Errorf("activeDeadlineSeconds %d, want 1 to 8", d)
		}
		bs = waitPhase(t, bs, bsPhase, "Failed")
		if e := bs.Status.Targets[0].Stats[0].Error; !strings.Contains(e, "did not finish within 8s") {
			t.Errorf("error %q", e)
		}
		// The Job may have stored its snapshot before it was stopped.
		if c := meta.FindStatusCondition(bs.Status.Conditions, "SnapshotCreated"); c == nil || c.Status != metav1.ConditionUnknown || !strings.Contains(c.Message, "may have created") {
			t.Errorf("SnapshotCreated = %+v", c)
		}
		pollUntil(t, 10*time.Second, "Job deletion", func() error {
			j := &batchv1.Job{}
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), j)
			if apierrors.IsNotFound(err) || (err == nil && !j.DeletionTimestamp.IsZero()) {
				return nil
			}
			return fmt.Errorf("Job still there: %w", err)
		})
	})

	cases := []struct {
		name   string
		mutate func(*v1beta1.BackupConfiguration)
		before func(t *testing.T)
		want   string
	}{
		{"missing Task", func(bc *v1beta1.BackupConfiguration) { bc.Spec.Task.Name = "mysql-backup-0.0.1" }, nil, "Task mysql-backup-0.0.1 (from spec.task.name) not found"},
		{"missing Repository", func(bc *v1beta1.BackupConfiguration) { bc.Spec.Repository.Name = "nope" }, nil, "Repository " + f.ns + "/nope not found"},
		{"missing AppBinding", func(bc *v1beta1.BackupConfiguration) { bc.Spec.Target.Ref.Name = "nope" }, nil, "AppBinding " + f.ns + "/nope not found"},
		{"unresolvable placeholder", func(bc *v1beta1.BackupConfiguration) { bc.Spec.Task.Name = "broken-task-" + f.ns }, func(t *testing.T) {
			task := &v1beta1.Task{}
			task.Name = "broken-task-" + f.ns
			task.Spec.Steps = []v1beta1.FunctionRef{{Name: f.functionName}} // no secretVolume param
			if err := k8sClient.Create(ctx, task); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), task) })
		}, "no value for placeholder(s) ${secretVolume}"},
		{"missing Function", func(bc *v1beta1.BackupConfiguration) { bc.Spec.Task.Name = "fnless-task-" + f.ns }, func(t *testing.T) {
			task := &v1beta1.Task{}
			task.Name = "fnless-task-" + f.ns
			task.Spec.Steps = []v1beta1.FunctionRef{{Name: "no-such-function"}}
			if err := k8sClient.Create(ctx, task); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), task) })
		}, "Function no-such-function not found"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			name := fmt.Sprintf("bad-%d", i)
			f.backupConfiguration(t, name, tc.mutate)
			bs := waitPhase(t, f.backupSession(t, name, "1"), bsPhase, "Failed")
			if e := bs.Status.Targets[0].Stats[0].Error; !strings.Contains(e, tc.want) {
				t.Errorf("error %q does not contain %q", e, tc.want)
			}
			jobs := &batchv1.JobList{}
			if err := k8sClient.List(ctx, jobs, client.InNamespace(f.ns), client.MatchingLabels{"hoard.io/session": bs.Name}); err != nil || len(jobs.Items) != 0 {
				t.Errorf("a failed resolution must create no Job: %d jobs, %v", len(jobs.Items), err)
			}
		})
	}
}

func TestBackupSessionSkippedWhileAnotherRuns(t *testing.T) {
	startManager(t)
	f := newSessionFixture(t)
	f.backupConfiguration(t, "busy", nil)
	first := waitPhase(t, f.backupSession(t, "busy", "1"), bsPhase, "Running")
	second := waitPhase(t, f.backupSession(t, "busy", "2"), bsPhase, "Skipped")
	c := meta.FindStatusCondition(second.Status.Conditions, "BackupSkipped")
	if c == nil || !strings.Contains(c.Message, first.Name+" of BackupConfiguration busy is still running") {
		t.Errorf("skip condition %+v", c)
	}
	pollUntil(t, 10*time.Second, "skip event", func() error { return findEvent(context.Background(), f.ns, second.Name, "BackupSessionSkipped") })
}

func TestBackupSessionSurvivesOperatorRestart(t *testing.T) {
	stop := startManager(t)
	f := newSessionFixture(t)
	f.backupConfiguration(t, "restart", nil)
	bs := waitPhase(t, f.backupSession(t, "restart", "1"), bsPhase, "Running")
	job := waitJob(t, f.ns, "stash-backup-restart-1")
	stop()

	// The backup finishes while no operator runs.
	msg := resultMessage(t, backupResult("feedbeef"))
	finishJob(t, job, true, stepStatus{0, msg}, stepStatus{0, msg})

	startManager(t)
	bs = waitPhase(t, bs, bsPhase, "Succeeded")
	if n := bs.Status.Targets[0].Stats[0].Snapshots[0].Name; n != "feedbeef" {
		t.Errorf("snapshot %q", n)
	}
}

func TestBackupSessionHistoryLimit(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "history", func(bc *v1beta1.BackupConfiguration) { bc.Spec.BackupHistoryLimit = ptr.To(int32(2)) })
	var names []string
	for i := 1; i <= 4; i++ {
		bs := waitPhase(t, f.backupSession(t, "history", fmt.Sprint(i)), bsPhase, "Running")
		msg := resultMessage(t, backupResult(fmt.Sprintf("snap%d", i)))
		finishJob(t, waitJob(t, f.ns, "stash-backup-"+bs.Name), true, stepStatus{0, msg}, stepStatus{0, msg})
		waitPhase(t, bs, bsPhase, "Succeeded")
		names = append(names, bs.Name)
	}
	pollUntil(t, 20*time.Second, "history pruned to 2", func() error {
		list := &v1beta1.BackupSessionList{}
		if err := k8sClient.List(ctx, list, client.InNamespace(f.ns)); err != nil {
			return err
		}
		var alive []string
		for _, s := range list.Items {
			if s.DeletionTimestamp.IsZero() {
				alive = append(alive, s.Name)
			}
		}
		slices.Sort(alive)
		if !slices.Equal(alive, names[2:]) {
			return fmt.Errorf("sessions %v, want %v", alive, names[2:])
		}
		return nil
	})
}
