package integration

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/backupconfiguration"
)

const bcTimeout = 20 * time.Second

func bcRepository(ns string) *stashv1alpha1.Repository {
	return &stashv1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: "repo", Namespace: ns},
		Spec: stashv1alpha1.RepositorySpec{Backend: stashv1alpha1.Backend{
			StorageSecretName: "repo-secret",
			S3:                &stashv1alpha1.S3Spec{Endpoint: "minio.example.svc", Bucket: "b", Prefix: "p"},
		}},
	}
}

func bcSecret(ns string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "repo-secret", Namespace: ns},
		StringData: map[string]string{"RESTIC_PASSWORD": "not-a-real-password"},
	}
}

// bcDBSecret is the database credentials bcAppBinding names.
func bcDBSecret(ns string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db-auth", Namespace: ns},
		StringData: map[string]string{"username": "root", "password": "not-a-real-db-password"},
	}
}

func bcAppBinding(ns, task string) *appcatalogv1alpha1.AppBinding {
	url := "tcp(mysql:3306)/"
	return &appcatalogv1alpha1.AppBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: appcatalogv1alpha1.AppBindingSpec{
			Type:         "mysql",
			ClientConfig: appcatalogv1alpha1.ClientConfig{URL: &url},
			Secret:       &corev1.LocalObjectReference{Name: "db-auth"},
			Parameters: &runtime.RawExtension{Raw: []byte(fmt.Sprintf(
				`{"apiVersion":"appcatalog.appscode.com/v1alpha1","kind":"StashAddon","stash":{"addon":{"backupTask":{"name":%q}}}}`, task))},
		},
	}
}

// bcTask is a Task whose one step is the Function of the same name (see bcFunction).
func bcTask(name string) *stashv1beta1.Task {
	return &stashv1beta1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       stashv1beta1.TaskSpec{Steps: []stashv1beta1.FunctionRef{{Name: name}}},
	}
}

// bcFunction is the Function bcTask runs; it is deleted when the test ends.
func bcFunction(t *testing.T, name string) *stashv1beta1.Function {
	t.Helper()
	fn := &stashv1beta1.Function{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: stashv1beta1.FunctionSpec{Image: "example.org/addon:test"}}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), fn.DeepCopy()) })
	return fn
}

func newBackupConfiguration(ns string) *stashv1beta1.BackupConfiguration {
	return &stashv1beta1.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: ns},
		Spec: stashv1beta1.BackupConfigurationSpec{
			Schedule:   "*/5 * * * *",
			Repository: stashv1beta1.RepositoryRef{Name: "repo"},
			Target: &stashv1beta1.BackupTarget{Ref: stashv1beta1.TargetRef{
				APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: "db",
			}},
		},
	}
}

func mustCreate(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8sClient.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// waitBC waits until the configuration's status satisfies check.
func waitBC(t *testing.T, ns, name, what string, check func(*stashv1beta1.BackupConfiguration) error) *stashv1beta1.BackupConfiguration {
	t.Helper()
	bc := &stashv1beta1.BackupConfiguration{}
	pollUntil(t, bcTimeout, what, func() error {
		if err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, bc); err != nil {
			return err
		}
		if bc.Status.ObservedGeneration != bc.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", bc.Status.ObservedGeneration, bc.Generation)
		}
		return check(bc)
	})
	return bc
}

func wantCondition(typ string, status metav1.ConditionStatus, reason string) func(*stashv1beta1.BackupConfiguration) error {
	return func(bc *stashv1beta1.BackupConfiguration) error {
		c := meta.FindStatusCondition(bc.Status.Conditions, typ)
		if c == nil || c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("condition %s = %+v, want %s/%s (phase %s)", typ, c, status, reason, bc.Status.Phase)
		}
		return nil
	}
}

func wantPhase(p stashv1beta1.BackupInvokerPhase) func(*stashv1beta1.BackupConfiguration) error {
	return func(bc *stashv1beta1.BackupConfiguration) error {
		if bc.Status.Phase != p {
			return fmt.Errorf("phase %q, want %q; conditions %+v", bc.Status.Phase, p, bc.Status.Conditions)
		}
		return nil
	}
}

func getCronJob(t *testing.T, ns string) *batchv1.CronJob {
	t.Helper()
	cj := &batchv1.CronJob{}
	pollUntil(t, bcTimeout, "CronJob", func() error {
		return k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "stash-trigger-nightly"}, cj)
	})
	return cj
}

// readyBackupConfiguration creates a configuration with every dependency and waits for Ready.
func readyBackupConfiguration(t *testing.T) (string, *stashv1beta1.BackupConfiguration) {
	t.Helper()
	ns := newNamespace(t)
	task := "mysql-backup-" + ns
	mustCreate(t, bcRepository(ns), bcSecret(ns), bcDBSecret(ns), bcAppBinding(ns, task), bcFunction(t, task), bcTask(task), newBackupConfiguration(ns))
	bc := waitBC(t, ns, "nightly", "Ready", wantPhase(stashv1beta1.BackupInvokerReady))
	return ns, bc
}

func TestBackupConfigurationDependenciesAndTrigger(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	ns := newNamespace(t)
	task := "mysql-backup-" + ns
	mustCreate(t, newBackupConfiguration(ns))

	waitBC(t, ns, "nightly", "RepositoryFound=False", wantCondition(backupconfiguration.ConditionRepositoryFound, metav1.ConditionFalse, stashv1beta1.ReasonRepositoryNotFound))
	bc := waitBC(t, ns, "nightly", "NotReady", wantPhase(stashv1beta1.BackupInvokerNotReady))
	for _, typ := range []string{backupconfiguration.ConditionBackendSecretFound, backupconfiguration.ConditionBackupTargetFound, backupconfiguration.ConditionTaskFound, backupconfiguration.ConditionCronJobCreated} {
		if err := wantCondition(typ, metav1.ConditionFalse, "")(bc); err != nil {
			t.Error(err)
		}
	}
	cj := &batchv1.CronJob{}
	if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "stash-trigger-nightly"}, cj); !apierrors.IsNotFound(err) {
		t.Fatalf("CronJob exists before the dependencies do: %v", err)
	}

	// Each dependency that appears flips its own condition, without a resync: the watched ones
	// at once, the storage Secret (not watched: no list or watch on Secrets) at the next recheck.
	mustCreate(t, bcRepository(ns))
	waitBC(t, ns, "nightly", "RepositoryFound", wantCondition(backupconfiguration.ConditionRepositoryFound, metav1.ConditionTrue, "Found"))
	waitBC(t, ns, "nightly", "BackendSecretFound=False", wantCondition(backupconfiguration.ConditionBackendSecretFound, metav1.ConditionFalse, stashv1beta1.ReasonSecretNotFound))
	mustCreate(t, bcSecret(ns))
	waitBC(t, ns, "nightly", "BackendSecretFound", wantCondition(backupconfiguration.ConditionBackendSecretFound, metav1.ConditionTrue, "Found"))
	mustCreate(t, bcAppBinding(ns, task))
	waitBC(t, ns, "nightly", "BackupTargetFound", wantCondition(backupconfiguration.ConditionBackupTargetFound, metav1.ConditionTrue, "Found"))
	waitBC(t, ns, "nightly", "TargetSecretFound=False", wantCondition(backupconfiguration.ConditionTargetSecretFound, metav1.ConditionFalse, stashv1beta1.ReasonSecretNotFound))
	mustCreate(t, bcDBSecret(ns))
	waitBC(t, ns, "nightly", "TargetSecretFound", wantCondition(backupconfiguration.ConditionTargetSecretFound, metav1.ConditionTrue, "Found"))
	bc = waitBC(t, ns, "nightly", "TaskFound=False", wantCondition(backupconfiguration.ConditionTaskFound, metav1.ConditionFalse, stashv1beta1.ReasonTaskNotFound))
	if c := meta.FindStatusCondition(bc.Status.Conditions, backupconfiguration.ConditionTaskFound); c.Message != fmt.Sprintf("Task %s (from AppBinding db) not found (is the MySQL addon installed?)", task) {
		t.Errorf("TaskFound message = %q", c.Message)
	}
	mustCreate(t, bcTask(task))
	waitBC(t, ns, "nightly", "TaskFound=False (Function)", wantCondition(backupconfiguration.ConditionTaskFound, metav1.ConditionFalse, stashv1beta1.ReasonFunctionNotFound))
	mustCreate(t, bcFunction(t, task))
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), bcTask(task)) })
	bc = waitBC(t, ns, "nightly", "Ready", wantPhase(stashv1beta1.BackupInvokerReady))
	if err := wantCondition(backupconfiguration.ConditionCronJobCreated, metav1.ConditionTrue, "Created")(bc); err != nil {
		t.Error(err)
	}

	cj = getCronJob(t, ns)
	checkCronJob(t, cj, bc, "*/5 * * * *", false)
	checkTriggerRBAC(t, ns, bc)
	pollUntil(t, bcTimeout, "CronJobCreated event", func() error { return findEvent(ctx, ns, "nightly", "CronJobCreated") })
}

func checkOwnedBy(t *testing.T, o metav1.Object, bc *stashv1beta1.BackupConfiguration) {
	t.Helper()
	refs := o.GetOwnerReferences()
	if len(refs) != 1 || refs[0].UID != bc.UID || refs[0].Kind != "BackupConfiguration" || !ptr.Deref(refs[0].Controller, false) {
		t.Errorf("%s: ownerReferences = %+v, want the BackupConfiguration as controller", o.GetName(), refs)
	}
}

func checkCronJob(t *testing.T, cj *batchv1.CronJob, bc *stashv1beta1.BackupConfiguration, schedule string, suspended bool) {
	t.Helper()
	s := cj.Spec
	if s.Schedule != schedule || ptr.Deref(s.Suspend, false) != suspended || s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob schedule/suspend/concurrency = %q/%v/%s", s.Schedule, ptr.Deref(s.Suspend, false), s.ConcurrencyPolicy)
	}
	if ptr.Deref(s.SuccessfulJobsHistoryLimit, 99) > 3 || ptr.Deref(s.FailedJobsHistoryLimit, 99) > 3 {
		t.Errorf("history limits %v/%v", s.SuccessfulJobsHistoryLimit, s.FailedJobsHistoryLimit)
	}
	checkOwnedBy(t, cj, bc)
	pod := s.JobTemplate.Spec.Template.Spec
	if pod.ServiceAccountName != "stash-trigger-nightly" {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("containers: %+v", pod.Containers)
	}
	c := pod.Containers[0]
	wantArgs := []string{"trigger", "--namespace=" + bc.Namespace, "--backupconfiguration=nightly"}
	if c.Image != testOperatorImage || !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("container image/args = %q %q", c.Image, c.Args)
	}
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) || ptr.Deref(psc.RunAsUser, 0) != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v", psc)
	}
	if sc == nil || ptr.Deref(sc.AllowPrivilegeEscalation, true) || sc.Capabilities == nil ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || !ptr.Deref(sc.RunAsNonRoot, false) {
		t.Errorf("container securityContext %+v", sc)
	}
}

// checkTriggerRBAC checks the trigger's identity: owned objects, the Role's exact rules, and
// what the ServiceAccount may actually do when the API server authorises it.
func checkTriggerRBAC(t *testing.T, ns string, bc *stashv1beta1.BackupConfiguration) {
	t.Helper()
	ctx := context.Background()
	key := types.NamespacedName{Namespace: ns, Name: "stash-trigger-nightly"}
	sa, role, rb := &corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}
	for _, o := range []client.Object{sa, role, rb} {
		if err := k8sClient.Get(ctx, key, o); err != nil {
			t.Fatalf("get %T: %v", o, err)
		}
		checkOwnedBy(t, o.(metav1.Object), bc)
	}
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"stash.appscode.com"}, Resources: []string{"backupconfigurations"}, ResourceNames: []string{"nightly"}, Verbs: []string{"get"}},
		{APIGroups: []string{"stash.appscode.com"}, Resources: []string{"backupsessions"}, Verbs: []string{"create"}},
	}
	if !reflect.DeepEqual(role.Rules, wantRules) {
		t.Errorf("Role rules = %+v, want %+v", role.Rules, wantRules)
	}
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != sa.Name || rb.Subjects[0].Namespace != ns {
		t.Errorf("RoleBinding = %+v %+v", rb.RoleRef, rb.Subjects)
	}

	// Act as the ServiceAccount: the API server's RBAC decides.
	as := saClient(t, ns, sa.Name)
	pollUntil(t, bcTimeout, "the trigger ServiceAccount may get its configuration", func() error {
		return as.Get(ctx, types.NamespacedName{Namespace: ns, Name: "nightly"}, &stashv1beta1.BackupConfiguration{})
	})
	if err := as.List(ctx, &stashv1beta1.BackupConfigurationList{}, client.InNamespace(ns)); !apierrors.IsForbidden(err) {
		t.Errorf("trigger SA may list BackupConfigurations: %v", err)
	}
	if err := as.Get(ctx, types.NamespacedName{Namespace: ns, Name: "repo-secret"}, &corev1.Secret{}); !apierrors.IsForbidden(err) {
		t.Errorf("trigger SA may read the storage Secret: %v", err)
	}
	if err := as.Delete(ctx, &stashv1beta1.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x"}}); !apierrors.IsForbidden(err) {
		t.Errorf("trigger SA may delete BackupSessions: %v", err)
	}
}

func TestBackupConfigurationScheduleAndPause(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	ns, bc := readyBackupConfiguration(t)
	getCronJob(t, ns)

	update := func(mutate func(*stashv1beta1.BackupConfiguration)) {
		t.Helper()
		cur := &stashv1beta1.BackupConfiguration{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(bc), cur); err != nil {
			t.Fatal(err)
		}
		base := cur.DeepCopy()
		mutate(cur)
		if err := k8sClient.Patch(ctx, cur, client.MergeFrom(base)); err != nil {
			t.Fatalf("patch BackupConfiguration: %v", err)
		}
	}
	waitCronJob := func(what, schedule string, suspended bool) {
		t.Helper()
		pollUntil(t, bcTimeout, what, func() error {
			cj := &batchv1.CronJob{}
			if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "stash-trigger-nightly"}, cj); err != nil {
				return err
			}
			if cj.Spec.Schedule != schedule || ptr.Deref(cj.Spec.Suspend, false) != suspended {
				return fmt.Errorf("schedule %q suspend %v", cj.Spec.Schedule, ptr.Deref(cj.Spec.Suspend, false))
			}
			return nil
		})
	}

	update(func(b *stashv1beta1.BackupConfiguration) { b.Spec.Schedule = "@daily" })
	waitCronJob("schedule change", "@daily", false)
	pollUntil(t, bcTimeout, "CronJobUpdated event", func() error { return findEvent(ctx, ns, "nightly", "CronJobUpdated") })

	update(func(b *stashv1beta1.BackupConfiguration) { b.Spec.Paused = true })
	waitCronJob("pause", "@daily", true)
	pollUntil(t, bcTimeout, "BackupPaused event", func() error { return findEvent(ctx, ns, "nightly", "BackupPaused") })

	update(func(b *stashv1beta1.BackupConfiguration) { b.Spec.Paused = false })
	waitCronJob("unpause", "@daily", false)
	pollUntil(t, bcTimeout, "BackupResumed event", func() error { return findEvent(ctx, ns, "nightly", "BackupResumed") })

	// An invalid schedule cannot reach the CronJob (the CRD's pattern rejects most; this one
	// passes it but not the parser): the configuration turns Invalid and the CronJob stops.
	update(func(b *stashv1beta1.BackupConfiguration) { b.Spec.Schedule = "99 * * * *" })
	waitBC(t, ns, "nightly", "Invalid schedule", wantCondition(backupconfiguration.ConditionScheduleValid, metav1.ConditionFalse, backupconfiguration.ReasonScheduleInvalid))
	waitBC(t, ns, "nightly", "Invalid", wantPhase(stashv1beta1.BackupInvokerInvalid))
	waitCronJob("suspended while invalid", "@daily", true)

	update(func(b *stashv1beta1.BackupConfiguration) { b.Spec.Schedule = "0 1 * * *" })
	waitBC(t, ns, "nightly", "Ready again", wantPhase(stashv1beta1.BackupInvokerReady))
	waitCronJob("fixed schedule", "0 1 * * *", false)
}

func TestBackupConfigurationInvalid(t *testing.T) {
	startManager(t)
	ns := newNamespace(t)
	task := "mysql-backup-" + ns
	mustCreate(t, bcRepository(ns), bcSecret(ns), bcDBSecret(ns), bcAppBinding(ns, task), bcFunction(t, task), bcTask(task))
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), bcTask(task)) })

	vs := newBackupConfiguration(ns)
	vs.Name = "snap"
	vs.Spec.Driver = stashv1beta1.VolumeSnapshotter
	deploy := newBackupConfiguration(ns)
	deploy.Name = "deploy"
	deploy.Spec.Target.Ref = stashv1beta1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
	mustCreate(t, vs, deploy)

	bc := waitBC(t, ns, "snap", "Invalid (driver)", wantPhase(stashv1beta1.BackupInvokerInvalid))
	c := meta.FindStatusCondition(bc.Status.Conditions, backupconfiguration.ConditionDriverSupported)
	if c == nil || c.Status != metav1.ConditionFalse || c.Message != "driver VolumeSnapshotter is not supported by Hoard: use driver Restic (the default)" {
		t.Errorf("DriverSupported = %+v", c)
	}
	waitBC(t, ns, "deploy", "Invalid (target kind)", wantCondition(backupconfiguration.ConditionBackupTargetFound, metav1.ConditionFalse, stashv1beta1.ReasonTargetKindUnsupported))
	waitBC(t, ns, "deploy", "Invalid", wantPhase(stashv1beta1.BackupInvokerInvalid))
	pollUntil(t, bcTimeout, "InvalidSpec event", func() error { return findEvent(context.Background(), ns, "snap", "InvalidSpec") })
	var cjs batchv1.CronJobList
	if err := k8sClient.List(context.Background(), &cjs, client.InNamespace(ns)); err != nil || len(cjs.Items) != 0 {
		t.Errorf("CronJobs for invalid configurations: %d (%v)", len(cjs.Items), err)
	}
}
