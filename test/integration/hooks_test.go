package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/hookjob"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/result"
)

// hookStatus is the termination message of a hook container.
func hookStatus(t *testing.T, h result.Hook) stepStatus {
	t.Helper()
	b, err := result.MarshalHook(&h)
	if err != nil {
		t.Fatal(err)
	}
	code := int32(0)
	if h.Phase != result.PhaseSucceeded {
		code = 1
	}
	return stepStatus{code, string(b)}
}

// hookDB is a database pod behind a Service with a selector, bound by an AppBinding: where
// exec hooks run.
func hookDB(t *testing.T, f *sessionFixture) string {
	t.Helper()
	ctx := context.Background()
	lbl := map[string]string{"app": "hook-db"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hook-db-0", Namespace: f.ns, Labels: lbl},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "mariadb", Image: "mariadb"}}}}
	if err := k8sClient.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if err := k8sClient.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hook-db", Namespace: f.ns}, Spec: corev1.ServiceSpec{
			Selector: lbl, Ports: []corev1.ServicePort{{Port: 3306}}}},
		&appcatalogv1alpha1.AppBinding{ObjectMeta: metav1.ObjectMeta{Name: "hook-db", Namespace: f.ns}, Spec: appcatalogv1alpha1.AppBindingSpec{
			Type: "kubedb.com/mysql", Version: "8.0.21", Secret: &corev1.LocalObjectReference{Name: "sample-mysql-auth"},
			ClientConfig: appcatalogv1alpha1.ClientConfig{Service: &appcatalogv1alpha1.ServiceReference{Name: "hook-db", Port: 3306}}}},
	} {
		if err := k8sClient.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	return "hook-db"
}

func execHandler(cmd ...string) v1beta1.Handler {
	return v1beta1.Handler{Exec: &corev1.ExecAction{Command: cmd}, ContainerName: "mariadb"}
}

func arg(c corev1.Container, name string) string {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func condition(t *testing.T, conds []metav1.Condition, typ string, status metav1.ConditionStatus, contains string) {
	t.Helper()
	c := meta.FindStatusCondition(conds, typ)
	if c == nil || c.Status != status || !strings.Contains(c.Message, contains) {
		t.Errorf("condition %s: got %+v, want %s containing %q", typ, c, status, contains)
	}
}

// gone waits until the session's hook identity is deleted.
func identityGone(t *testing.T, ns, name string) {
	t.Helper()
	pollUntil(t, 20*time.Second, "hook identity "+name+" deleted", func() error {
		for _, o := range []client.Object{&corev1.ServiceAccount{}, &rbacv1.RoleBinding{}} {
			if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, o); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%T still there (%w)", o, err)
			}
		}
		return nil
	})
}

// TestBackupHooks: preBackup is the first step of the Job, with a per-session identity that
// may only exec; postBackup runs in its own Job after the backup failed, sees the failure in
// its summary, and both end on their own conditions; the identity is removed at the end.
func TestBackupHooks(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	ab := hookDB(t, f)
	target := func(bc *v1beta1.BackupConfiguration) { bc.Spec.Target.Ref.Name = ab }

	t.Run("lock, failed dump, unlock", func(t *testing.T) {
		f.backupConfiguration(t, "locked", func(bc *v1beta1.BackupConfiguration) {
			target(bc)
			bc.Spec.Hooks = &v1beta1.BackupHooks{
				PreBackup:  ptr.To(execHandler("mariadb", "-e", "SET GLOBAL read_only=ON")),
				PostBackup: &v1beta1.PostHook{Handler: execHandler("sh", "-c", "echo {{ .Status.Phase }}; mariadb -e 'SET GLOBAL read_only=OFF'")},
			}
		})
		bs := waitPhase(t, f.backupSession(t, "locked", "1"), bsPhase, "Running")
		job := waitJob(t, f.ns, "stash-backup-"+bs.Name)
		identity := hookjob.Name(jobspec.KindBackup, bs.Name)
		spec := job.Spec.Template.Spec
		pre := spec.InitContainers[0]
		if pre.Name != "pre-backup-hook" || arg(pre, "pod") != "hook-db-0" || arg(pre, "name") != hook.PreBackup ||
			!strings.Contains(arg(pre, "summary"), `"phase":"Running"`) || spec.ServiceAccountName != identity {
			t.Fatalf("pre hook container %+v, service account %q", pre, spec.ServiceAccountName)
		}
		for _, c := range append(spec.InitContainers[1:], spec.Containers...) {
			for _, m := range c.VolumeMounts {
				if m.Name == hookjob.TokenVolumeName {
					t.Errorf("container %s mounts the hook token", c.Name)
				}
			}
		}
		rb := &rbacv1.RoleBinding{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: identity}, rb); err != nil {
			t.Fatal(err)
		}
		if rb.RoleRef.Name != hookjob.ExecClusterRole || rb.Subjects[0].Name != identity || !metav1.IsControlledBy(rb, bs) {
			t.Errorf("RoleBinding %+v", rb)
		}

		dumpFailed := resultMessage(t, &result.Result{Kind: result.KindBackup, Phase: result.PhaseFailed, Hostname: "host-0",
			Error: "mysqldump: unknown option '--bogus'"})
		finishJob(t, job, false,
			hookStatus(t, result.Hook{Name: hook.PreBackup, Action: hook.ActionExec, Phase: result.PhaseSucceeded}),
			stepStatus{1, dumpFailed})

		post := waitJob(t, f.ns, identity)
		c := post.Spec.Template.Spec.Containers[0]
		var sum hook.Summary
		if err := json.Unmarshal([]byte(arg(c, "summary")), &sum); err != nil {
			t.Fatal(err)
		}
		if sum.Status.Phase != "Failed" || !strings.Contains(sum.Status.Error, "--bogus") || sum.Target.Name != ab || arg(c, "pod") != "hook-db-0" {
			t.Fatalf("post hook summary %+v, args %v", sum, c.Args)
		}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(bs), bs); err != nil {
			t.Fatal(err)
		}
		if bs.Status.Phase != v1beta1.BackupSessionRunning {
			t.Fatalf("session is %s while its postBackup hook runs", bs.Status.Phase)
		}
		// The hook printed the database's password: the operator hides it with the Job's Secrets.
		finishJob(t, post, true, hookStatus(t, result.Hook{Name: hook.PostBackup, Action: hook.ActionExec, Phase: result.PhaseSucceeded, Output: "Failed; login db-secret-pw"}))

		bs = waitPhase(t, bs, bsPhase, "Failed")
		condition(t, bs.Status.Conditions, v1beta1.ConditionGlobalPreBackupHookSucceeded, metav1.ConditionTrue, "preBackup hook (exec) succeeded")
		condition(t, bs.Status.Conditions, v1beta1.ConditionGlobalPostBackupHookSucceeded, metav1.ConditionTrue, "output: Failed; login ***")
		condition(t, bs.Status.Conditions, "SnapshotCreated", metav1.ConditionFalse, "no snapshot")
		if e := bs.Status.Targets[0].Stats[0].Error; !strings.Contains(e, "--bogus") {
			t.Errorf("host error %q", e)
		}
		identityGone(t, f.ns, identity)
		pollUntil(t, 10*time.Second, "HookSucceeded event", func() error { return findEvent(ctx, f.ns, bs.Name, "HookSucceeded") })
	})

	// The session's Job is gone when the post hook ends: its output is still scrubbed, with the
	// credentials copied for the Job.
	t.Run("the Job deleted", func(t *testing.T) {
		f.backupConfiguration(t, "deleted", func(bc *v1beta1.BackupConfiguration) {
			target(bc)
			bc.Spec.Hooks = &v1beta1.BackupHooks{PostBackup: &v1beta1.PostHook{Handler: execHandler("sh", "-c", "echo {{ .Status.Phase }}")}}
		})
		bs := waitPhase(t, f.backupSession(t, "deleted", "1"), bsPhase, "Running")
		job := waitJob(t, f.ns, "stash-backup-"+bs.Name)
		// Gone at once, as the cluster's garbage collector would have it (envtest has none).
		if err := k8sClient.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			t.Fatal(err)
		}
		post := waitJob(t, f.ns, hookjob.Name(jobspec.KindBackup, bs.Name))
		finishJob(t, post, true, hookStatus(t, result.Hook{Name: hook.PostBackup, Action: hook.ActionExec, Phase: result.PhaseSucceeded, Output: "Failed; login db-secret-pw"}))
		bs = waitPhase(t, bs, bsPhase, "Failed")
		condition(t, bs.Status.Conditions, v1beta1.ConditionGlobalPostBackupHookSucceeded, metav1.ConditionTrue, "output: Failed; login ***")
		if e := bs.Status.Targets[0].Stats[0].Error; !strings.Contains(e, "was deleted before it finished") {
			t.Errorf("host error %q", e)
		}
	})

	t.Run("failed preBackup", func(t *testing.T) {
		f.backupConfiguration(t, "prefail", func(bc *v1beta1.BackupConfiguration) {
			target(bc)
			bc.Spec.Hooks = &v1beta1.BackupHooks{
				PreBackup:  ptr.To(execHandler("mariadb", "-e", "FLUSH TABLES WITH READ LOCK")),
				PostBackup: &v1beta1.PostHook{Handler: execHandler("true"), ExecutionPolicy: v1beta1.ExecuteOnSuccess},
			}
		})
		bs := waitPhase(t, f.backupSession(t, "prefail", "1"), bsPhase, "Running")
		job := waitJob(t, f.ns, "stash-backup-"+bs.Name)
		finishJob(t, job, false, hookStatus(t, result.Hook{Name: hook.PreBackup, Action: hook.ActionExec, Phase: result.PhaseFailed,
			Error: "pod hook-db-0: command exited with code 1", Output: "ERROR 1227 (42000): Access denied; you need the RELOAD privilege"}))
		bs = waitPhase(t, bs, bsPhase, "Failed")
		if e := bs.Status.Targets[0].Stats[0].Error; !strings.Contains(e, "preBackup hook (exec) failed") || !strings.Contains(e, "RELOAD privilege") {
			t.Errorf("host error %q", e)
		}
		condition(t, bs.Status.Conditions, v1beta1.ConditionGlobalPreBackupHookSucceeded, metav1.ConditionFalse, "RELOAD privilege")
		condition(t, bs.Status.Conditions, "SnapshotCreated", metav1.ConditionFalse, "no snapshot")
		if c := meta.FindStatusCondition(bs.Status.Conditions, v1beta1.ConditionGlobalPostBackupHookSucceeded); c != nil {
			t.Errorf("OnSuccess postBackup ran after a failure: %+v", c)
		}
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: hookjob.Name(jobspec.KindBackup, bs.Name)}, &batchv1.Job{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("post hook Job: %v", err)
		}
		identityGone(t, f.ns, hookjob.Name(jobspec.KindBackup, bs.Name))
	})

	t.Run("OnFailure after success, failed postBackup keeps the snapshot", func(t *testing.T) {
		f.backupConfiguration(t, "notify", func(bc *v1beta1.BackupConfiguration) {
			target(bc)
			bc.Spec.Hooks = &v1beta1.BackupHooks{PostBackup: &v1beta1.PostHook{ExecutionPolicy: v1beta1.ExecuteOnFailure,
				Handler: v1beta1.Handler{HTTPPost: &v1beta1.HTTPPostAction{Host: "hooks.example", Port: intstr.FromInt32(80), Body: "{{ .Status.Phase }}"}}}}
		})
		bs := waitPhase(t, f.backupSession(t, "notify", "1"), bsPhase, "Running")
		job := waitJob(t, f.ns, "stash-backup-"+bs.Name)
		if job.Spec.Template.Spec.ServiceAccountName != "" || job.Spec.Template.Spec.InitContainers[0].Name == "pre-backup-hook" {
			t.Errorf("a Job without exec hooks got a hook identity or a pre hook")
		}
		finishJob(t, job, true, stepStatus{0, resultMessage(t, &result.Result{Kind: result.KindBackup, Phase: result.PhaseSucceeded, Hostname: "host-0",
			Snapshots: []result.Snapshot{{Name: "abc123", Path: "dumpfile.sql", TotalSize: "1 KiB"}}})}, stepStatus{0, ""})
		bs = waitPhase(t, bs, bsPhase, "Succeeded")
		if c := meta.FindStatusCondition(bs.Status.Conditions, v1beta1.ConditionGlobalPostBackupHookSucceeded); c != nil {
			t.Errorf("OnFailure postBackup ran after a success: %+v", c)
		}

		f.backupConfiguration(t, "always", func(bc *v1beta1.BackupConfiguration) {
			target(bc)
			bc.Spec.Hooks = &v1beta1.BackupHooks{PostBackup: &v1beta1.PostHook{
				Handler: v1beta1.Handler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080), Path: "/ping"}}}}
		})
		bs = waitPhase(t, f.backupSession(t, "always", "1"), bsPhase, "Running")
		job = waitJob(t, f.ns, "stash-backup-"+bs.Name)
		finishJob(t, job, true, stepStatus{0, resultMessage(t, &result.Result{Kind: result.KindBackup, Phase: result.PhaseSucceeded, Hostname: "host-0",
			Snapshots: []result.Snapshot{{Name: "def456", Path: "dumpfile.sql", TotalSize: "1 KiB"}}})}, stepStatus{0, ""})
		post := waitJob(t, f.ns, hookjob.Name(jobspec.KindBackup, bs.Name))
		c := post.Spec.Template.Spec.Containers[0]
		if h := arg(c, "handler"); !strings.Contains(h, `"host":"hook-db.`+f.ns+`.svc"`) {
			t.Errorf("httpGet without a host does not go to the target's Service: %s", h)
		}
		if post.Spec.Template.Spec.ServiceAccountName != "" || len(post.Spec.Template.Spec.Volumes) != 0 {
			t.Errorf("an httpGet hook got a hook identity")
		}
		finishJob(t, post, false, hookStatus(t, result.Hook{Name: hook.PostBackup, Action: hook.ActionHTTPGet, Phase: result.PhaseFailed,
			Error: "GET http://hook-db:8080/… answered 503 Service Unavailable (success is 200-399)"}))
		bs = waitPhase(t, bs, bsPhase, "Succeeded")
		condition(t, bs.Status.Conditions, v1beta1.ConditionGlobalPostBackupHookSucceeded, metav1.ConditionFalse, "503")
		condition(t, bs.Status.Conditions, "SnapshotCreated", metav1.ConditionTrue, "def456")
		pollUntil(t, 10*time.Second, "HookFailed event", func() error { return findEvent(ctx, f.ns, bs.Name, "HookFailed") })
	})

	t.Run("exec against a URL AppBinding", func(t *testing.T) {
		url := "tcp(db.example:3306)/"
		if err := k8sClient.Create(ctx, &appcatalogv1alpha1.AppBinding{ObjectMeta: metav1.ObjectMeta{Name: "url-db", Namespace: f.ns}, Spec: appcatalogv1alpha1.AppBindingSpec{
			Type: "mysql", Secret: &corev1.LocalObjectReference{Name: "sample-mysql-auth"}, ClientConfig: appcatalogv1alpha1.ClientConfig{URL: &url}}}); err != nil {
			t.Fatal(err)
		}
		f.backupConfiguration(t, "urlexec", func(bc *v1beta1.BackupConfiguration) {
			bc.Spec.Target.Ref.Name = "url-db"
			bc.Spec.Hooks = &v1beta1.BackupHooks{PreBackup: ptr.To(execHandler("true"))}
		})
		bs := waitPhase(t, f.backupSession(t, "urlexec", "1"), bsPhase, "Failed")
		if e := bs.Status.Targets[0].Stats[0].Error; !strings.Contains(e, "points at a URL, not a Service") {
			t.Errorf("host error %q", e)
		}
	})

	t.Run("hook without an action", func(t *testing.T) {
		bc := f.backupConfiguration(t, "noaction", func(bc *v1beta1.BackupConfiguration) {
			target(bc)
			bc.Spec.Hooks = &v1beta1.BackupHooks{PreBackup: &v1beta1.Handler{ContainerName: "mariadb"}}
		})
		pollUntil(t, 20*time.Second, "HooksValid condition", func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(bc), bc); err != nil {
				return err
			}
			c := meta.FindStatusCondition(bc.Status.Conditions, "HooksValid")
			if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "spec.hooks.preBackup: the hook has no action") || bc.Status.Phase != v1beta1.BackupInvokerInvalid {
				return fmt.Errorf("phase %s condition %+v", bc.Status.Phase, c)
			}
			return nil
		})
	})
}

// TestRestoreHooks: postRestore runs in its own Job after the restore with the session's
// phase, and the session records it.
func TestRestoreHooks(t *testing.T) {
	startManager(t)
	f := newSessionFixture(t)
	ab := hookDB(t, f)
	rs := waitPhase(t, f.restoreSession(t, "migrate", func(rs *v1beta1.RestoreSession) {
		rs.Spec.Target.Ref.Name = ab
		rs.Spec.Hooks = &v1beta1.RestoreHooks{PostRestore: &v1beta1.PostHook{Handler: execHandler("mariadb", "-e", "SELECT COUNT(*) FROM demo.t")}}
	}), rsPhase, "Running")
	job := waitJob(t, f.ns, "stash-restore-migrate")
	if job.Spec.Template.Spec.ServiceAccountName != "" {
		t.Errorf("the restore Job runs no exec hook but got the hook identity")
	}
	finishJob(t, job, true, stepStatus{0, resultMessage(t, &result.Result{Kind: result.KindRestore, Phase: result.PhaseSucceeded, Hostname: "host-0"})}, stepStatus{0, ""})
	post := waitJob(t, f.ns, hookjob.Name(jobspec.KindRestore, "migrate"))
	c := post.Spec.Template.Spec.Containers[0]
	if c.Name != "post-restore-hook" || !strings.Contains(arg(c, "summary"), `"phase":"Succeeded"`) || post.Spec.Template.Spec.ServiceAccountName != hookjob.Name(jobspec.KindRestore, "migrate") {
		t.Fatalf("post restore hook %v (service account %q)", c.Args, post.Spec.Template.Spec.ServiceAccountName)
	}
	finishJob(t, post, true, hookStatus(t, result.Hook{Name: hook.PostRestore, Action: hook.ActionExec, Phase: result.PhaseSucceeded, Output: "COUNT(*)\n4"}))
	rs = waitPhase(t, rs, rsPhase, "Succeeded")
	condition(t, rs.Status.Conditions, v1beta1.ConditionGlobalPostRestoreHookSucceeded, metav1.ConditionTrue, "COUNT(*)")
	identityGone(t, f.ns, hookjob.Name(jobspec.KindRestore, "migrate"))
}
