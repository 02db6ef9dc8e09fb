package integration

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/backupconfiguration"
	"github.com/hoard-operator/hoard/test/envtestutil"
)

// TestKubeDBMariaDBAppBindingSelectsMariaDBTasks: a KubeDB MariaDB AppBinding (type
// kubedb.com/mariadb, StashAddon parameters naming mariadb-backup-10.5.8 and
// mariadb-restore-10.5.8, the Tasks of Stash's MariaDB addon) selects those Tasks, as shipped in
// tasks/mysql-addon.yaml under their own names, for a BackupConfiguration and a RestoreSession
// that name no Task; the binding's args param reaches the dump.
func TestKubeDBMariaDBAppBindingSelectsMariaDBTasks(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	const backupTask, restoreTask = "mariadb-backup-10.5.8", "mariadb-restore-10.5.8"

	// The shipped objects under their shipped names, as KubeDB's binding names them (the
	// fixture's own copies carry a per-test suffix). Their Tasks end with the shipped
	// update-status, created here unless it exists already.
	for _, o := range readObjects(t, filepath.Join(envtestutil.RepoRoot(), "tasks", "mysql-addon.yaml")) {
		name := o.GetName()
		if name != backupTask && name != restoreTask && name != "update-status" {
			continue
		}
		o.SetLabels(nil)
		if err := k8sClient.Create(ctx, o); err != nil {
			if name == "update-status" && strings.Contains(err.Error(), "already exists") {
				continue
			}
			t.Fatalf("create %s %s: %v", o.GetKind(), name, err)
		}
		obj := o
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
	}

	const binding = "sample-mariadb"
	mustCreate(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: binding, Namespace: f.ns}, Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{{Port: 3306}}}})
	mustCreate(t, &appcatalogv1alpha1.AppBinding{ObjectMeta: metav1.ObjectMeta{Name: binding, Namespace: f.ns}, Spec: appcatalogv1alpha1.AppBindingSpec{
		Type:         "kubedb.com/mariadb",
		Version:      "10.5.8",
		ClientConfig: appcatalogv1alpha1.ClientConfig{Service: &appcatalogv1alpha1.ServiceReference{Name: binding, Port: 3306, Scheme: "mysql"}},
		Secret:       &corev1.LocalObjectReference{Name: "sample-mysql-auth"},
		Parameters: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"appcatalog.appscode.com/v1alpha1","kind":"StashAddon",
			"stash":{"addon":{"backupTask":{"name":"mariadb-backup-10.5.8","params":[{"name":"args","value":"--databases testdb"}]},
			"restoreTask":{"name":"mariadb-restore-10.5.8"}}}}`)},
	}})
	target := func(ref *v1beta1.TargetRef) { ref.Name = binding }

	// Backup: the configuration names no Task; the binding's backupTask is found and runs.
	f.backupConfiguration(t, "mariadb-backup", func(bc *v1beta1.BackupConfiguration) {
		bc.Spec.Task = v1beta1.TaskRef{}
		target(&bc.Spec.Target.Ref)
	})
	bc := waitBC(t, f.ns, "mariadb-backup", "Ready", wantPhase(v1beta1.BackupInvokerReady))
	if c := meta.FindStatusCondition(bc.Status.Conditions, backupconfiguration.ConditionTaskFound); c == nil ||
		c.Message != "Task mariadb-backup-10.5.8 (from AppBinding sample-mariadb) found" {
		t.Errorf("TaskFound = %+v", c)
	}
	bs := f.backupSession(t, "mariadb-backup", "1")
	job := waitJob(t, f.ns, "stash-backup-mariadb-backup-1")
	pod := job.Spec.Template.Spec
	if init := pod.InitContainers[0]; init.Name != "mariadb-backup-10-5-8-0" ||
		!slices.Contains(init.Args, "backup-mysql") || !slices.Contains(init.Args, "--mysql-args=--databases testdb") {
		t.Errorf("backup step %s args %q, want Function mariadb-backup-10.5.8 with the binding's args", init.Name, init.Args)
	}
	var conn corev1.Secret
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: job.Name + "-target"}, &conn); err != nil {
		t.Fatalf("target Secret: %v", err)
	}
	if string(conn.Data["host"]) != binding+"."+f.ns+".svc" || string(conn.Data["port"]) != "3306" {
		t.Errorf("target Secret host/port %q/%q, want the MariaDB binding's service", conn.Data["host"], conn.Data["port"])
	}
	// The Job ends; the restore below waits for it (one Job per repository at a time).
	msg := resultMessage(t, backupResult("4b2a9e1c"))
	finishJob(t, job, true, stepStatus{0, msg}, stepStatus{0, msg})
	waitPhase(t, bs, bsPhase, "Succeeded")

	// Restore: likewise the binding's restoreTask.
	rs := f.restoreSession(t, "mariadb-restore", func(rs *v1beta1.RestoreSession) {
		rs.Spec.Task = v1beta1.TaskRef{}
		target(&rs.Spec.Target.Ref)
	})
	waitPhase(t, rs, rsPhase, "Running")
	pod = waitJob(t, f.ns, "stash-restore-mariadb-restore").Spec.Template.Spec
	if init := pod.InitContainers[0]; init.Name != "mariadb-restore-10-5-8-0" ||
		!slices.Contains(init.Args, "restore-mysql") || !slices.Contains(init.Args, "--snapshot=latest") {
		t.Errorf("restore step %s args %q, want Function mariadb-restore-10.5.8", init.Name, init.Args)
	}
}
