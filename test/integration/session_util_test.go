package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/test/envtestutil"
)

// sessionFixture is a namespace with everything a MySQL backup needs: storage Secret,
// Repository, the database's credentials and AppBinding, and the addon's Tasks and Functions
// as tasks/mysql-addon.yaml ships them (renamed per test so tests never share them).
type sessionFixture struct {
	ns           string
	backupTask   string
	restoreTask  string
	repository   string
	appBinding   string
	functionName string
}

func newSessionFixture(t *testing.T) *sessionFixture {
	t.Helper()
	ctx := context.Background()
	ns := newNamespace(t)
	f := &sessionFixture{ns: ns, repository: "gcs-repo", appBinding: "sample-mysql"}
	suffix := "-" + ns

	objs := readObjects(t, filepath.Join(envtestutil.RepoRoot(), "tasks", "mysql-addon.yaml"))
	renamed := map[string]string{}
	for _, o := range objs {
		if o.GetKind() == "Function" && (o.GetName() == "mysql-backup-8.0.21" || o.GetName() == "mysql-restore-8.0.21" || o.GetName() == "update-status") {
			renamed[o.GetName()] = o.GetName() + suffix
		}
	}
	for _, o := range objs {
		name := o.GetName()
		switch {
		case o.GetKind() == "Function" && renamed[name] != "":
			o.SetName(renamed[name])
		case o.GetKind() == "Task" && (name == "mysql-backup-8.0.21" || name == "mysql-restore-8.0.21"):
			o.SetName(name + suffix)
			steps, _, _ := unstructuredSlice(o.Object, "spec", "steps")
			for _, s := range steps {
				step := s.(map[string]any)
				step["name"] = renamed[step["name"].(string)]
			}
			_ = setNested(o.Object, steps, "spec", "steps")
		default:
			continue
		}
		o.SetLabels(nil)
		if err := k8sClient.Create(ctx, o); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		obj := o
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
	}
	f.backupTask = "mysql-backup-8.0.21" + suffix
	f.restoreTask = "mysql-restore-8.0.21" + suffix
	f.functionName = "mysql-backup-8.0.21" + suffix

	create := func(o client.Object) {
		t.Helper()
		if err := k8sClient.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gcs-secret", Namespace: ns}, Data: map[string][]byte{
		"RESTIC_PASSWORD": []byte("restic-secret-pw"), "GOOGLE_PROJECT_ID": []byte("p"),
	}})
	create(&v1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: f.repository, Namespace: ns}, Spec: v1alpha1.RepositorySpec{
		// A prefix per namespace: tests that share a location would wait for each other's Jobs.
		Backend: v1alpha1.Backend{StorageSecretName: "gcs-secret", GCS: &v1alpha1.GCSSpec{Bucket: "appscode-qa", Prefix: "/demo/mysql/" + ns, MaxConnections: 2}},
	}})
	create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sample-mysql-auth", Namespace: ns}, Data: map[string][]byte{
		"username": []byte("root"), "password": []byte("db-secret-pw"),
	}})
	// The Service the AppBinding names: the dependency checker refuses a binding without it.
	create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "sample-mysql", Namespace: ns}, Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{{Port: 3306}}}})
	create(&appcatalogv1alpha1.AppBinding{ObjectMeta: metav1.ObjectMeta{Name: f.appBinding, Namespace: ns}, Spec: appcatalogv1alpha1.AppBindingSpec{
		Type:         "kubedb.com/mysql",
		Version:      "8.0.21",
		ClientConfig: appcatalogv1alpha1.ClientConfig{Service: &appcatalogv1alpha1.ServiceReference{Name: "sample-mysql", Port: 3306, Scheme: "mysql"}},
		Secret:       &corev1.LocalObjectReference{Name: "sample-mysql-auth"},
	}})
	return f
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	cur := any(obj)
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("%s is not an object", f)
		}
		cur = m[f]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}

func setNested(obj map[string]any, v any, fields ...string) error {
	cur := obj
	for _, f := range fields[:len(fields)-1] {
		next, ok := cur[f].(map[string]any)
		if !ok {
			return fmt.Errorf("%s is not an object", f)
		}
		cur = next
	}
	cur[fields[len(fields)-1]] = v
	return nil
}

func (f *sessionFixture) backupConfiguration(t *testing.T, name string, mutate func(*v1beta1.BackupConfiguration)) *v1beta1.BackupConfiguration {
	t.Helper()
	bc := &v1beta1.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: v1beta1.BackupConfigurationSpec{
			Schedule:   "*/5 * * * *",
			Task:       v1beta1.TaskRef{Name: f.backupTask},
			Repository: v1beta1.RepositoryRef{Name: f.repository},
			Target: &v1beta1.BackupTarget{Ref: v1beta1.TargetRef{
				APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: f.appBinding}},
			RetentionPolicy: v1alpha1.RetentionPolicy{Name: "keep-last-5", KeepLast: 5, Prune: true},
		},
	}
	if mutate != nil {
		mutate(bc)
	}
	if err := k8sClient.Create(context.Background(), bc); err != nil {
		t.Fatalf("create BackupConfiguration: %v", err)
	}
	return bc
}

// backupSession creates a session the way `hoard trigger` does.
func (f *sessionFixture) backupSession(t *testing.T, bc string, suffix string) *v1beta1.BackupSession {
	t.Helper()
	bs := &v1beta1.BackupSession{
		ObjectMeta: metav1.ObjectMeta{Name: bc + "-" + suffix, Namespace: f.ns, Labels: map[string]string{
			v1beta1.LabelInvokerType: "BackupConfiguration", v1beta1.LabelInvokerName: bc,
		}},
		Spec: v1beta1.BackupSessionSpec{Invoker: v1beta1.BackupInvokerRef{APIGroup: "stash.appscode.com", Kind: "BackupConfiguration", Name: bc}},
	}
	if err := k8sClient.Create(context.Background(), bs); err != nil {
		t.Fatalf("create BackupSession: %v", err)
	}
	return bs
}

func waitJob(t *testing.T, ns, name string) *batchv1.Job {
	t.Helper()
	job := &batchv1.Job{}
	pollUntil(t, 20*time.Second, "Job "+name, func() error {
		return k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, job)
	})
	return job
}

func waitPhase[T client.Object](t *testing.T, obj T, phase func(T) string, want string) T {
	t.Helper()
	pollUntil(t, 20*time.Second, fmt.Sprintf("%s to reach %s", obj.GetName(), want), func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		if got := phase(obj); got != want {
			return fmt.Errorf("phase %q", got)
		}
		return nil
	})
	return obj
}

func bsPhase(bs *v1beta1.BackupSession) string  { return string(bs.Status.Phase) }
func rsPhase(rs *v1beta1.RestoreSession) string { return string(rs.Status.Phase) }

// stepStatus is what one container of the Job's pod ended with.
type stepStatus struct {
	exitCode int32
	message  string
}

func resultMessage(t *testing.T, r *result.Result) string {
	t.Helper()
	b, err := result.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// finishJob plays kubelet and Job controller: it creates the Job's pod with the given
// container outcomes (init containers first, then the main one) and marks the Job Complete
// or Failed.
func finishJob(t *testing.T, job *batchv1.Job, complete bool, steps ...stepStatus) {
	t.Helper()
	ctx := context.Background()
	spec := job.Spec.Template.Spec.DeepCopy()
	spec.AutomountServiceAccountToken = ptr.To(false)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x1", Namespace: job.Namespace, Labels: map[string]string{
			batchv1.JobNameLabel: job.Name, "job-name": job.Name,
		}},
		Spec: *spec,
	}
	if err := k8sClient.Create(ctx, pod); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	now := metav1.Now()
	status := func(name string, s stepStatus) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, Image: "x", ImageID: "x", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: s.exitCode, Message: s.message, StartedAt: now, FinishedAt: now, Reason: map[bool]string{true: "Completed", false: "Error"}[s.exitCode == 0],
		}}}
	}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for i, s := range steps {
		cs := status(all[i].Name, s)
		if i < len(spec.InitContainers) {
			pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, cs)
		} else {
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, cs)
		}
	}
	pod.Status.Phase = map[bool]corev1.PodPhase{true: corev1.PodSucceeded, false: corev1.PodFailed}[complete]
	if err := k8sClient.Status().Update(ctx, pod); err != nil {
		t.Fatalf("update pod status: %v", err)
	}

	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
		t.Fatal(err)
	}
	job.Status.StartTime = &now
	if complete {
		job.Status.CompletionTime = &now
		job.Status.Succeeded = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
		}
	}
	if err := k8sClient.Status().Update(ctx, job); err != nil {
		t.Fatalf("update Job status: %v", err)
	}
}

// patchRepository changes the fixture's Repository with a merge patch (the operator writes its
// status at the same time), and returns it.
func (f *sessionFixture) patchRepository(t *testing.T, change func(*v1alpha1.Repository)) *v1alpha1.Repository {
	t.Helper()
	ctx := context.Background()
	repo := &v1alpha1.Repository{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: f.repository}, repo); err != nil {
		t.Fatal(err)
	}
	base := repo.DeepCopy()
	change(repo)
	if err := k8sClient.Patch(ctx, repo, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	return repo
}
