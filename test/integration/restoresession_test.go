package integration

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller"
	"github.com/hoard-operator/hoard/internal/manager"
	"github.com/hoard-operator/hoard/internal/result"
)

func (f *sessionFixture) restoreSession(t *testing.T, name string, mutate func(*v1beta1.RestoreSession)) *v1beta1.RestoreSession {
	t.Helper()
	rs := &v1beta1.RestoreSession{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: v1beta1.RestoreSessionSpec{
			Task:       v1beta1.TaskRef{Name: f.restoreTask},
			Repository: v1beta1.RepositoryRef{Name: f.repository},
			Target: &v1beta1.RestoreTarget{Ref: v1beta1.TargetRef{
				APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: f.appBinding}},
			Rules: []v1beta1.Rule{{Snapshots: []string{"latest"}}},
		},
	}
	if mutate != nil {
		mutate(rs)
	}
	if err := k8sClient.Create(context.Background(), rs); err != nil {
		t.Fatalf("create RestoreSession: %v", err)
	}
	return rs
}

// fixedProgress is the progress line every running Job prints (envtest runs no pods, and has
// no kubelet to serve their logs).
type fixedProgress struct{ p result.Progress }

func (f fixedProgress) Latest(context.Context, *corev1.Pod) (*result.Progress, error) {
	p := f.p
	return &p, nil
}

// TestRestoreSessionProgress: a running restore shows the engine's progress on its status
// (and so in kubectl get's Progress, Tables and Loading columns); success clears it.
func TestRestoreSessionProgress(t *testing.T) {
	report := result.Progress{BytesDone: 300, TotalBytes: 1200, PercentDone: 0.25, TablesDone: 7, Loading: "`shop`.`items`,`shop`.`orders`",
		RowsDone: 5000, Tables: []result.TableProgress{{Table: "`shop`.`items`", Rows: 10, Bytes: 900}, {Table: "`shop`.`orders`", Rows: 20, Bytes: 1800}}}
	startManagerWith(t, manager.Options{Controllers: controller.Options{Progress: fixedProgress{report}, PollInterval: 200 * time.Millisecond}})
	ctx := context.Background()
	f := newSessionFixture(t)
	rs := waitPhase(t, f.restoreSession(t, "restore-progress", nil), rsPhase, "Running")
	job := waitJob(t, f.ns, "stash-restore-restore-progress")
	running := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-running", Namespace: f.ns, Labels: map[string]string{batchv1.JobNameLabel: job.Name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}
	mustCreate(t, running)
	pollUntil(t, 20*time.Second, "the restore's progress on its status", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), rs); err != nil {
			return err
		}
		p := rs.Status.Progress
		if p == nil || p.Percent == nil || *p.Percent != 25 || p.BytesDone != 300 || p.TotalBytes != 1200 || p.TablesDone != 7 || p.Loading != report.Loading || p.LastUpdateTime == nil ||
			p.RowsDone != 5000 || !reflect.DeepEqual(p.Tables, []v1beta1.TableProgress{{Table: "`shop`.`items`", Rows: 10, Bytes: 900}, {Table: "`shop`.`orders`", Rows: 20, Bytes: 1800}}) {
			return fmt.Errorf("progress %+v", p)
		}
		return nil
	})
	if err := k8sClient.Delete(ctx, running); err != nil {
		t.Fatal(err)
	}
	msg := resultMessage(t, &result.Result{Kind: result.KindRestore, Phase: result.PhaseSucceeded, Hostname: "host-0", Duration: "4s"})
	finishJob(t, job, true, stepStatus{0, msg}, stepStatus{0, msg})
	rs = waitPhase(t, rs, rsPhase, "Succeeded")
	if rs.Status.Progress != nil || rs.Status.Failure != nil {
		t.Errorf("a succeeded restore keeps its progress %+v or has a failure %+v", rs.Status.Progress, rs.Status.Failure)
	}

	// A failed load keeps its last progress and says where it stopped.
	rs = waitPhase(t, f.restoreSession(t, "restore-progress-failed", nil), rsPhase, "Running")
	job = waitJob(t, f.ns, "stash-restore-restore-progress-failed")
	running.Name, running.ResourceVersion, running.Labels[batchv1.JobNameLabel] = job.Name+"-running", "", job.Name
	mustCreate(t, running)
	pollUntil(t, 20*time.Second, "the failing restore's progress", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), rs); err != nil {
			return err
		}
		if rs.Status.Progress == nil || rs.Status.Progress.RowsDone != 5000 {
			return fmt.Errorf("progress %+v", rs.Status.Progress)
		}
		return nil
	})
	if err := k8sClient.Delete(ctx, running); err != nil {
		t.Fatal(err)
	}
	load := &result.LoadFailure{Line: 2574, Table: "`shop`.`orders`", TablesCompleted: 7, Completed: []string{"`shop`.`a`", "`shop`.`b`"}, PartlyLoaded: []string{"`shop`.`items`", "`shop`.`orders`"}}
	msg = resultMessage(t, &result.Result{Kind: result.KindRestore, Phase: result.PhaseFailed, Hostname: "host-0",
		Error: "ERROR 1062 (23000) at line 2574: Duplicate entry", Load: load})
	finishJob(t, job, false, stepStatus{1, msg})
	rs = waitPhase(t, rs, rsPhase, "Failed")
	want := &v1beta1.RestoreFailure{StatementLine: 2574, Table: "`shop`.`orders`", TablesCompleted: 7, LastCompleted: load.Completed, PartlyLoaded: load.PartlyLoaded}
	if !reflect.DeepEqual(rs.Status.Failure, want) || rs.Status.Progress == nil || rs.Status.Progress.RowsDone != 5000 {
		t.Errorf("failure %+v, progress %+v; want failure %+v and the last progress", rs.Status.Failure, rs.Status.Progress, want)
	}
}

func TestRestoreSession(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)

	t.Run("succeeds", func(t *testing.T) {
		rs := waitPhase(t, f.restoreSession(t, "restore-ok", nil), rsPhase, "Running")
		job := waitJob(t, f.ns, "stash-restore-restore-ok")
		init := job.Spec.Template.Spec.InitContainers[0]
		for _, arg := range []string{"restore-mysql", "--snapshot=latest", "--source-hostname=host-0", "--restoresession=restore-ok", "--provider=gcs"} {
			if !slices.Contains(init.Args, arg) {
				t.Errorf("args %v lack %q", init.Args, arg)
			}
		}
		msg := resultMessage(t, &result.Result{Kind: result.KindRestore, Phase: result.PhaseSucceeded, Hostname: "host-0", Duration: "4s"})
		finishJob(t, job, true, stepStatus{0, msg}, stepStatus{0, msg})
		rs = waitPhase(t, rs, rsPhase, "Succeeded")
		if *rs.Status.TotalHosts != 1 || rs.Status.SessionDuration == "" || len(rs.Status.Stats) != 1 ||
			rs.Status.Stats[0].Phase != v1beta1.HostSucceeded || rs.Status.Stats[0].Duration != "4s" {
			t.Errorf("status %+v", rs.Status)
		}
		for _, c := range []string{"RestoreTargetFound", "RestoreJobCreated", "RestoreCompleted"} {
			if !meta.IsStatusConditionTrue(rs.Status.Conditions, c) {
				t.Errorf("condition %s not True: %+v", c, rs.Status.Conditions)
			}
		}
		pollUntil(t, 10*time.Second, "event", func() error { return findEvent(ctx, f.ns, rs.Name, "RestoreSessionSucceeded") })
	})

	t.Run("target.rules win over the deprecated spec.rules", func(t *testing.T) {
		rs := f.restoreSession(t, "restore-rules", func(rs *v1beta1.RestoreSession) {
			rs.Spec.Target.Alias = "replica"
			rs.Spec.Target.Rules = []v1beta1.Rule{
				{TargetHosts: []string{"other"}, Snapshots: []string{"nope"}},
				{TargetHosts: []string{"replica"}, SourceHost: "primary", Snapshots: []string{"4b2a9e1c"}},
			}
		})
		waitPhase(t, rs, rsPhase, "Running")
		job := waitJob(t, f.ns, "stash-restore-restore-rules")
		init := job.Spec.Template.Spec.InitContainers[0]
		for _, arg := range []string{"--snapshot=4b2a9e1c", "--source-hostname=primary", "--hostname=replica"} {
			if !slices.Contains(init.Args, arg) {
				t.Errorf("args %v lack %q", init.Args, arg)
			}
		}
		// The next restores of this repository wait for this one to end.
		msg := resultMessage(t, &result.Result{Kind: result.KindRestore, Phase: result.PhaseSucceeded, Hostname: "replica"})
		finishJob(t, job, true, stepStatus{0, msg}, stepStatus{0, msg})
		waitPhase(t, rs, rsPhase, "Succeeded")
	})

	t.Run("mysql failed", func(t *testing.T) {
		rs := waitPhase(t, f.restoreSession(t, "restore-bad", nil), rsPhase, "Running")
		msg := resultMessage(t, &result.Result{Kind: result.KindRestore, Phase: result.PhaseFailed, Hostname: "host-0",
			Error: "mysql exited with status 1: ERROR 1044 (42000): Access denied for user 'app'@'%' to database 'demo'"})
		finishJob(t, waitJob(t, f.ns, "stash-restore-restore-bad"), false, stepStatus{1, msg})
		rs = waitPhase(t, rs, rsPhase, "Failed")
		if e := rs.Status.Stats[0].Error; !strings.Contains(e, "mysql exited with status 1: ERROR 1044") {
			t.Errorf("error %q", e)
		}
		if c := meta.FindStatusCondition(rs.Status.Conditions, "RestoreCompleted"); c == nil || c.Status != "False" || c.Reason != "RestoreFailed" {
			t.Errorf("condition %+v", c)
		}
	})

	t.Run("missing repository", func(t *testing.T) {
		rs := waitPhase(t, f.restoreSession(t, "restore-norepo", func(rs *v1beta1.RestoreSession) { rs.Spec.Repository.Name = "gone" }), rsPhase, "Failed")
		if e := rs.Status.Stats[0].Error; e != "Repository "+f.ns+"/gone not found" {
			t.Errorf("error %q", e)
		}
	})
}

// A restore stopped without a result says whether the database may have changed: so when its
// pod began, not when it never started.
func TestRestoreStoppedSaysWhatItChanged(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f, g := newSessionFixture(t), newSessionFixture(t)
	began, unstarted := f.restoreSession(t, "began", nil), g.restoreSession(t, "unstarted", nil)
	job := waitJob(t, f.ns, "stash-restore-began")
	waitJob(t, g.ns, "stash-restore-unstarted")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x1", Namespace: f.ns, Labels: map[string]string{batchv1.JobNameLabel: job.Name}},
		Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "restore", Image: "x"}}, Containers: []corev1.Container{{Name: "status", Image: "x"}}}}
	mustCreate(t, pod)
	pod.Status.Phase = corev1.PodPending
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "restore", Image: "x", ImageID: "x",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
	if err := k8sClient.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	// Both Jobs exist and one pod runs: a deadline that has passed stops both.
	for _, rs := range []*v1beta1.RestoreSession{began, unstarted} {
		base := rs.DeepCopy()
		rs.Spec.TimeOut = "1s"
		if err := k8sClient.Patch(ctx, rs, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
	}

	began = waitPhase(t, began, rsPhase, "Failed")
	if e := began.Status.Stats[0].Error; !strings.Contains(e, "did not finish within 1s") || !strings.Contains(e, "the target database may be partly restored") {
		t.Errorf("a restore stopped while it ran: error %q", e)
	}
	unstarted = waitPhase(t, unstarted, rsPhase, "Failed")
	if e := unstarted.Status.Stats[0].Error; !strings.Contains(e, "did not finish within 1s") || strings.Contains(e, "partly restored") {
		t.Errorf("a restore stopped before its pod began: error %q", e)
	}
}
