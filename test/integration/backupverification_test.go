package integration

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/result"
)

func backupVerification(t *testing.T, ns, name string, mutate func(*opsv1alpha1.BackupVerification)) *opsv1alpha1.BackupVerification {
	t.Helper()
	bv := &opsv1alpha1.BackupVerification{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: opsv1alpha1.BackupVerificationSpec{
			BackupConfiguration: "nightly",
			SQL:                 "SELECT COUNT(*) > 0 FROM shop.orders",
			HistoryLimit:        ptr.To(int32(1)),
			Scratch:             opsv1alpha1.ScratchTarget{Server: &opsv1alpha1.ScratchServer{Image: "hoard.local/mariadb:10.11", Args: []string{"--skip-log-bin"}}},
		},
	}
	if mutate != nil {
		mutate(bv)
	}
	if err := k8sClient.Create(context.Background(), bv); err != nil {
		t.Fatalf("create BackupVerification: %v", err)
	}
	return bv
}

// succeededBackup runs a BackupSession of bc to success with snapshot.
func (f *sessionFixture) succeededBackup(t *testing.T, bc, suffix, snapshot string) {
	t.Helper()
	bs := waitPhase(t, f.backupSession(t, bc, suffix), bsPhase, "Running")
	job := waitJob(t, f.ns, "stash-backup-"+bs.Name)
	msg := resultMessage(t, backupResult(snapshot))
	finishJob(t, job, true, stepStatus{0, msg}, stepStatus{0, msg})
	waitPhase(t, bs, bsPhase, "Succeeded")
}

func waitReady(t *testing.T, bv *opsv1alpha1.BackupVerification, status metav1.ConditionStatus, text string) {
	t.Helper()
	pollUntil(t, 20*time.Second, "BackupVerification "+bv.Name+" Ready="+string(status), func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(bv), bv); err != nil {
			return err
		}
		c := meta.FindStatusCondition(bv.Status.Conditions, opsv1alpha1.ConditionVerificationReady)
		if c == nil || c.Status != status || !strings.Contains(c.Message, text) {
			return fmt.Errorf("condition %+v, want %s saying %q", c, status, text)
		}
		return nil
	})
}

// TestBackupVerification: a BackupVerification with a managed scratch server gets its
// AppBinding (127.0.0.1, in the Job's pod) and a random root password; each succeeded backup
// of its configuration becomes one verifying RestoreSession of that backup's snapshot, whose
// Job runs the server as a native sidecar with the password from the session's target Secret;
// the outcome lands on the BackupVerification, and the history keeps historyLimit sessions.
func TestBackupVerification(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "nightly", nil)
	bv := backupVerification(t, f.ns, "nightly-verify", nil)
	waitReady(t, bv, metav1.ConditionTrue, "hoard.local/mariadb:10.11 server in each verification's pod")

	scratch := &appcatalogv1alpha1.AppBinding{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "nightly-verify-scratch"}, scratch); err != nil {
		t.Fatalf("scratch AppBinding: %v", err)
	}
	if u := scratch.Spec.ClientConfig.URL; u == nil || *u != "mysql://127.0.0.1:3306" || !metav1.IsControlledBy(scratch, bv) ||
		scratch.Spec.Secret == nil || scratch.Spec.Secret.Name != "nightly-verify-scratch" || scratch.Spec.Version != "8.0.21" {
		t.Errorf("scratch AppBinding %+v, controlled %t", scratch.Spec, metav1.IsControlledBy(scratch, bv))
	}
	pw := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "nightly-verify-scratch"}, pw); err != nil {
		t.Fatalf("scratch Secret: %v", err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{48}$`).Match(pw.Data["password"]) || string(pw.Data["username"]) != "root" {
		t.Errorf("scratch Secret holds username %q and a password of %d bytes, want root and 48 hex digits", pw.Data["username"], len(pw.Data["password"]))
	}

	verify := func(suffix, snapshot string, ok bool) {
		t.Helper()
		name := "nightly-verify-nightly-" + suffix
		rs := waitPhase(t, &v1beta1.RestoreSession{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}}, rsPhase, "Running")
		if !metav1.IsControlledBy(rs, bv) || rs.Labels[opsv1alpha1.LabelVerification] != bv.Name || rs.Annotations[opsv1alpha1.AnnotationBackupSession] != "nightly-"+suffix {
			t.Errorf("RestoreSession %s: labels %v, annotations %v, controlled %t", name, rs.Labels, rs.Annotations, metav1.IsControlledBy(rs, bv))
		}
		wantParams := []v1beta1.Param{{Name: "verify", Value: "true"}, {Name: "verifySQL", Value: "SELECT COUNT(*) > 0 FROM shop.orders"}}
		if rs.Spec.Task.Name != f.restoreTask || fmt.Sprint(rs.Spec.Task.Params) != fmt.Sprint(wantParams) || rs.Spec.Repository.Name != f.repository ||
			rs.Spec.Target == nil || rs.Spec.Target.Ref.Name != "nightly-verify-scratch" || fmt.Sprint(rs.Spec.Target.Rules) != fmt.Sprint([]v1beta1.Rule{{Snapshots: []string{snapshot}}}) {
			t.Errorf("RestoreSession %s spec %+v, target %+v", name, rs.Spec.Task, rs.Spec.Target)
		}
		job := waitJob(t, f.ns, "stash-restore-"+name)
		pod := job.Spec.Template.Spec
		if len(pod.InitContainers) < 2 {
			t.Fatalf("Job %s has init containers %d, want the scratch server and the restore step", job.Name, len(pod.InitContainers))
		}
		srv := pod.InitContainers[0]
		if srv.Name != "scratch-server" || srv.Image != "hoard.local/mariadb:10.11" || fmt.Sprint(srv.Args) != "[--bind-address=127.0.0.1 --skip-log-bin]" ||
			srv.RestartPolicy == nil || *srv.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("scratch server container %s %s %v restart %v", srv.Name, srv.Image, srv.Args, srv.RestartPolicy)
		}
		for _, e := range srv.Env {
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != job.Name+"-target" || e.ValueFrom.SecretKeyRef.Key != "password" {
				t.Errorf("scratch server env %s = %+v, want the target Secret's password", e.Name, e)
			}
		}
		for _, c := range append(pod.InitContainers[1:], pod.Containers...) {
			for _, m := range c.VolumeMounts {
				if strings.HasPrefix(m.Name, "scratch-") {
					t.Errorf("step %s mounts the scratch server's volume %s", c.Name, m.Name)
				}
			}
		}
		for _, m := range srv.VolumeMounts {
			if m.Name == "target" || strings.Contains(m.Name, "storage") || strings.Contains(m.Name, "secret") {
				t.Errorf("the scratch server mounts %s", m.Name)
			}
		}
		target := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: job.Name + "-target"}, target); err != nil {
			t.Fatalf("target Secret: %v", err)
		}
		if string(target.Data["host"]) != "127.0.0.1" || string(target.Data["password"]) != string(pw.Data["password"]) {
			t.Errorf("target Secret host %q, password matches the scratch Secret: %t", target.Data["host"], string(target.Data["password"]) == string(pw.Data["password"]))
		}
		res := &result.Result{Kind: result.KindRestore, Phase: result.PhaseSucceeded, Hostname: "host-0",
			Verification: &result.Verification{Snapshot: snapshot, Tables: 3, Compared: 3, Rows: 42, Assertions: 1}}
		code := int32(0)
		if !ok {
			res.Phase, code = result.PhaseFailed, 1
			res.Error = "verification failed: 1 of 3 tables differ from what the backup recorded: `shop`.`orders`: 1 rows restored, 2 in the backup"
		}
		msg := resultMessage(t, res)
		// The scratch server, stopped when the steps ended, exited with SIGTERM's code: not
		// the session's outcome.
		finishJob(t, job, ok, stepStatus{143, ""}, stepStatus{code, msg}, stepStatus{0, msg})
		want := map[bool]string{true: "Passed", false: "Failed"}[ok]
		pollUntil(t, 20*time.Second, "the BackupVerification's last verdict", func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(bv), bv); err != nil {
				return err
			}
			l := bv.Status.Last
			if l == nil || l.RestoreSession != name || l.Snapshot != snapshot || l.Phase != want || l.BackupSession != "nightly-"+suffix || bv.Status.Running != "" {
				return fmt.Errorf("last %+v, running %q", l, bv.Status.Running)
			}
			return nil
		})
		t.Logf("%s: %s", want, bv.Status.Last.Message)
		if ok && !strings.Contains(bv.Status.Last.Message, "3 tables, 42 rows compared; SQL assertions held: 1") {
			t.Errorf("passed verification says %q", bv.Status.Last.Message)
		}
		if !ok && !strings.Contains(bv.Status.Last.Message, "`shop`.`orders`: 1 rows restored, 2 in the backup") {
			t.Errorf("failed verification says %q", bv.Status.Last.Message)
		}
	}

	f.succeededBackup(t, "nightly", "1", "4b2a9e1c")
	verify("1", "4b2a9e1c", true)
	pollUntil(t, 10*time.Second, "VerificationPassed event", func() error { return findEvent(ctx, f.ns, bv.Name, "VerificationPassed") })
	f.succeededBackup(t, "nightly", "2", "5c3bafd2")
	verify("2", "5c3bafd2", false)
	pollUntil(t, 10*time.Second, "VerificationFailed event", func() error { return findEvent(ctx, f.ns, bv.Name, "VerificationFailed") })
	// Deleting the newest verification asks for another of the same backup.
	rs2 := &v1beta1.RestoreSession{ObjectMeta: metav1.ObjectMeta{Name: "nightly-verify-nightly-2", Namespace: f.ns}}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rs2), rs2); err != nil {
		t.Fatal(err)
	}
	oldUID := rs2.UID
	if err := k8sClient.Delete(ctx, rs2); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 20*time.Second, "a new verification of nightly-2", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rs2), rs2); err != nil {
			return err
		}
		if rs2.UID == oldUID {
			return fmt.Errorf("still the deleted one")
		}
		return nil
	})
	// historyLimit 1: the first verification goes; nothing new is started for the same backup.
	pollUntil(t, 20*time.Second, "the first verification deleted", func() error {
		list := &v1beta1.RestoreSessionList{}
		if err := k8sClient.List(ctx, list, client.InNamespace(f.ns), client.MatchingLabels{opsv1alpha1.LabelVerification: bv.Name}); err != nil {
			return err
		}
		var names []string
		for _, rs := range list.Items {
			if rs.DeletionTimestamp.IsZero() {
				names = append(names, rs.Name)
			}
		}
		if fmt.Sprint(names) != "[nightly-verify-nightly-2]" {
			return fmt.Errorf("verification RestoreSessions %v", names)
		}
		return nil
	})
}

// TestBackupVerificationRefusesSource: a scratch AppBinding that is the configuration's own
// target, or reaches the same address, is refused before anything runs, and so are a missing
// configuration and an invalid schedule.
func TestBackupVerificationRefusesSource(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "nightly", nil)
	scratchOn := func(ab string) func(*opsv1alpha1.BackupVerification) {
		return func(bv *opsv1alpha1.BackupVerification) { bv.Spec.Scratch = opsv1alpha1.ScratchTarget{AppBinding: ab} }
	}
	same := backupVerification(t, f.ns, "onto-source", scratchOn(f.appBinding))
	waitReady(t, same, metav1.ConditionFalse, "is the BackupConfiguration's own target: a verification would overwrite the source database")

	// Another AppBinding to the source's Service, by its full DNS name.
	if err := k8sClient.Create(ctx, &appcatalogv1alpha1.AppBinding{ObjectMeta: metav1.ObjectMeta{Name: "alias", Namespace: f.ns}, Spec: appcatalogv1alpha1.AppBindingSpec{
		ClientConfig: appcatalogv1alpha1.ClientConfig{URL: ptr.To("mysql://sample-mysql." + f.ns + ".svc.cluster.local:3306/")},
		Secret:       &corev1.LocalObjectReference{Name: "sample-mysql-auth"},
	}}); err != nil {
		t.Fatal(err)
	}
	alias := backupVerification(t, f.ns, "onto-alias", scratchOn("alias"))
	waitReady(t, alias, metav1.ConditionFalse, "reaches sample-mysql."+f.ns+".svc.cluster.local:3306, as the BackupConfiguration's AppBinding sample-mysql does")

	missing := backupVerification(t, f.ns, "no-config", func(bv *opsv1alpha1.BackupVerification) { bv.Spec.BackupConfiguration = "absent" })
	waitReady(t, missing, metav1.ConditionFalse, "BackupConfiguration absent not found")
	badCron := backupVerification(t, f.ns, "bad-cron", func(bv *opsv1alpha1.BackupVerification) { bv.Spec.Schedule = "every day" })
	waitReady(t, badCron, metav1.ConditionFalse, `spec.schedule "every day" is not a valid cron expression`)
	// A configuration that ships binary logs has no dumps to verify.
	f.backupConfiguration(t, "binlogs", func(bc *v1beta1.BackupConfiguration) {
		bc.Spec.Task.Params = []v1beta1.Param{{Name: "backupMode", Value: "binlogs"}}
	})
	binlogs := backupVerification(t, f.ns, "of-binlogs", func(bv *opsv1alpha1.BackupVerification) { bv.Spec.BackupConfiguration = "binlogs" })
	waitReady(t, binlogs, metav1.ConditionFalse, "BackupConfiguration binlogs ships binary logs (Task param backupMode: binlogs)")

	// None of them started anything, even after a backup.
	f.succeededBackup(t, "nightly", "1", "4b2a9e1c")
	time.Sleep(2 * time.Second)
	list := &v1beta1.RestoreSessionList{}
	if err := k8sClient.List(ctx, list, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d RestoreSessions were created for refused verifications", len(list.Items))
	}

	// Both exactly one of appBinding and server: the API server refuses neither and both.
	for _, s := range []opsv1alpha1.ScratchTarget{{}, {AppBinding: "x", Server: &opsv1alpha1.ScratchServer{Image: "i"}}} {
		bad := &opsv1alpha1.BackupVerification{ObjectMeta: metav1.ObjectMeta{Name: "bad-scratch", Namespace: f.ns},
			Spec: opsv1alpha1.BackupVerificationSpec{BackupConfiguration: "nightly", Scratch: s}}
		if err := k8sClient.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "scratch needs exactly one of appBinding and server") {
			t.Errorf("scratch %+v: create returned %v", s, err)
		}
	}
}

// TestVerificationImageCannotBePulled: a scratch server whose image cannot be pulled fails
// the verification with the kubelet's reason once the start grace has passed, and its Job
// goes, instead of holding the repository until the session's deadline.
func TestVerificationImageCannotBePulled(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "nightly", nil)
	bv := backupVerification(t, f.ns, "typo", func(bv *opsv1alpha1.BackupVerification) {
		bv.Spec.Scratch.Server.Image = "hoard.local/mariadb:10.1l"
	})
	waitReady(t, bv, metav1.ConditionTrue, "hoard.local/mariadb:10.1l")

	f.succeededBackup(t, "nightly", "1", "4b2a9e1c")

	rs := waitPhase(t, &v1beta1.RestoreSession{ObjectMeta: metav1.ObjectMeta{Name: "typo-nightly-1", Namespace: f.ns}}, rsPhase, "Running")
	job := waitJob(t, f.ns, "stash-restore-"+rs.Name)
	// The kubelet's view: the sidecar waits on its image, so the restore step never starts.
	spec := job.Spec.Template.Spec.DeepCopy()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x1", Namespace: f.ns, Labels: map[string]string{"batch.kubernetes.io/job-name": job.Name}}, Spec: *spec}
	if err := k8sClient.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodPending
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{
		{Name: "scratch-server", Image: "hoard.local/mariadb:10.1l", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason: "ImagePullBackOff", Message: `Back-off pulling image "hoard.local/mariadb:10.1l"`}}},
		{Name: spec.InitContainers[1].Name, Image: "x", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
	}
	if err := k8sClient.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, rs, rsPhase, "Failed")
	want := `container scratch-server of pod ` + pod.Name + ` cannot start: ImagePullBackOff: Back-off pulling image "hoard.local/mariadb:10.1l"; Job ` + job.Name + ` was stopped`
	if c := meta.FindStatusCondition(rs.Status.Conditions, v1beta1.ConditionRestoreCompleted); c == nil || c.Message != want || c.Reason != "ContainerCannotStart" {
		t.Errorf("RestoreCompleted %+v, want ContainerCannotStart saying %q", c, want)
	}
	pollUntil(t, 20*time.Second, "the verification's verdict", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(bv), bv); err != nil {
			return err
		}
		if l := bv.Status.Last; l == nil || l.Phase != "Failed" || l.Message != want {
			return fmt.Errorf("last %+v", l)
		}
		return nil
	})
	pollUntil(t, 20*time.Second, "Job "+job.Name+" deleted", func() error {
		j := job.DeepCopy()
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(j), j); err == nil && j.DeletionTimestamp.IsZero() {
			return fmt.Errorf("Job still there")
		}
		return nil
	})
}

// TestBackupVerificationSchedule: with a cron schedule, the configuration's newest successful
// backup is verified when the schedule fires (and not before), into the user's scratch
// AppBinding, by a RestoreSession named after the time.
func TestBackupVerificationSchedule(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "nightly", nil)
	f.succeededBackup(t, "nightly", "1", "4b2a9e1c")
	f.succeededBackup(t, "nightly", "2", "5c3bafd2")
	if err := k8sClient.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "scratch-mysql", Namespace: f.ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 3306}}}}); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, &appcatalogv1alpha1.AppBinding{ObjectMeta: metav1.ObjectMeta{Name: "scratch-mysql", Namespace: f.ns}, Spec: appcatalogv1alpha1.AppBindingSpec{
		ClientConfig: appcatalogv1alpha1.ClientConfig{Service: &appcatalogv1alpha1.ServiceReference{Name: "scratch-mysql", Port: 3306}},
		Secret:       &corev1.LocalObjectReference{Name: "sample-mysql-auth"},
	}}); err != nil {
		t.Fatal(err)
	}
	bv := backupVerification(t, f.ns, "weekly", func(bv *opsv1alpha1.BackupVerification) {
		bv.Spec.Schedule = "* * * * *"
		bv.Spec.Scratch = opsv1alpha1.ScratchTarget{AppBinding: "scratch-mysql"}
	})
	waitReady(t, bv, metav1.ConditionTrue, "AppBinding scratch-mysql")
	created := bv.CreationTimestamp.Time
	firstFire := created.Truncate(time.Minute).Add(time.Minute)

	var rs *v1beta1.RestoreSession
	pollUntil(t, 90*time.Second, "the schedule's verification", func() error {
		list := &v1beta1.RestoreSessionList{}
		if err := k8sClient.List(ctx, list, client.InNamespace(f.ns), client.MatchingLabels{opsv1alpha1.LabelVerification: bv.Name}); err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return fmt.Errorf("none yet")
		}
		rs = &list.Items[0]
		// The fire is recorded on the status after the RestoreSession is created.
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(bv), bv); err != nil {
			return err
		}
		if bv.Status.LastScheduleTime == nil {
			return fmt.Errorf("RestoreSession %s, no lastScheduleTime yet", rs.Name)
		}
		return nil
	})
	fired := bv.Status.LastScheduleTime
	if fired == nil || fired.Time.Before(firstFire) || rs.CreationTimestamp.Time.Before(firstFire) {
		t.Errorf("verification created %s, schedule fired %v; the first fire was due at %s", rs.CreationTimestamp, fired, firstFire)
	}
	if fired != nil && rs.Name != fmt.Sprintf("weekly-%d", fired.Unix()) {
		t.Errorf("RestoreSession %s, want weekly-%d", rs.Name, fired.Unix())
	}
	if rs.Spec.Target == nil || rs.Spec.Target.Ref.Name != "scratch-mysql" || fmt.Sprint(rs.Spec.Target.Rules) != fmt.Sprint([]v1beta1.Rule{{Snapshots: []string{"5c3bafd2"}}}) ||
		rs.Annotations[opsv1alpha1.AnnotationBackupSession] != "nightly-2" {
		t.Errorf("RestoreSession %s verifies %+v (annotations %v), want the newest backup's snapshot 5c3bafd2 into scratch-mysql", rs.Name, rs.Spec.Target, rs.Annotations)
	}
}
