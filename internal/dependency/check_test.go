package dependency

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/result"
)

// ready is a backup from namespace a into Repository a/repo that passes every check.
func ready() *Inputs {
	return &Inputs{
		Request: Request{
			Kind:          jobspec.KindBackup,
			Namespace:     "a",
			RepositoryRef: v1beta1.RepositoryRef{Name: "repo"},
			TargetRef:     v1beta1.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: "db"},
		},
		Repository: &v1alpha1.Repository{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "repo"},
			Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
				StorageSecretName: "storage",
				S3:                &v1alpha1.S3Spec{Endpoint: "minio:9000", Bucket: "b"},
			}},
		},
		StorageSecret: map[string][]byte{result.PasswordKey: []byte("pw-9f3kq")},
		AppBinding: &appcatalogv1alpha1.AppBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "db"},
			Spec: appcatalogv1alpha1.AppBindingSpec{
				ClientConfig: appcatalogv1alpha1.ClientConfig{Service: &appcatalogv1alpha1.ServiceReference{Name: "mysql", Port: 3306}},
				Secret:       &corev1.LocalObjectReference{Name: "db-auth"},
				Parameters: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"appcatalog.appscode.com/v1alpha1","kind":"StashAddon",` +
					`"stash":{"addon":{"backupTask":{"name":"mysql-backup","params":[{"name":"args","value":"--all-databases"}]},"restoreTask":{"name":"mysql-restore"}}}}`)},
			},
		},
		ServiceFound: true,
		TargetSecret: map[string][]byte{"username": []byte("root"), "password": []byte("dbpw-7q2xz")},
		Task: &v1beta1.Task{ObjectMeta: metav1.ObjectMeta{Name: "mysql-backup"},
			Spec: v1beta1.TaskSpec{Steps: []v1beta1.FunctionRef{{Name: "mysql-backup"}, {Name: "update-status"}}}},
		Functions: map[string]*v1beta1.Function{"mysql-backup": {}, "update-status": {}},
	}
}

// crossNamespace is ready() with the Repository in namespace b.
func crossNamespace(from *v1alpha1.FromNamespaces, sel *metav1.LabelSelector, nsLabels map[string]string) func(*Inputs) {
	return func(in *Inputs) {
		in.RepositoryRef.Namespace = "b"
		in.Repository.Namespace = "b"
		in.NamespaceLabels = nsLabels
		if from != nil {
			in.Repository.Spec.UsagePolicy = &v1alpha1.UsagePolicy{AllowedNamespaces: v1alpha1.AllowedNamespaces{From: from, Selector: sel}}
		}
	}
}

func TestCheck(t *testing.T) {
	team := &metav1.LabelSelector{MatchLabels: map[string]string{"team": "x"}}
	notAllowed := "spec.repository.namespace: Repository b/repo does not exist or its spec.usagePolicy does not allow namespace a"
	for _, tc := range []struct {
		name   string
		change func(*Inputs)
		// want is the first failing condition; empty Type means every check passes.
		want metav1.Condition
	}{
		{name: "ready", change: func(*Inputs) {}},
		{name: "no repository name", change: func(in *Inputs) { in.RepositoryRef.Name = ""; in.Repository = nil },
			want: metav1.Condition{Type: v1beta1.ConditionRepositoryFound, Reason: v1beta1.ReasonRepositoryNotSpecified, Message: "spec.repository.name is empty"}},
		{name: "repository missing", change: func(in *Inputs) { in.Repository = nil },
			want: metav1.Condition{Type: v1beta1.ConditionRepositoryFound, Reason: v1beta1.ReasonRepositoryNotFound, Message: "Repository a/repo not found"}},
		{name: "same namespace named explicitly", change: func(in *Inputs) { in.RepositoryRef.Namespace = "a" }},
		{name: "other namespace, no usagePolicy", change: crossNamespace(nil, nil, nil),
			want: metav1.Condition{Type: v1beta1.ConditionRepositoryFound, Reason: v1beta1.ReasonRepositoryNotFound, Message: notAllowed}},
		{name: "other namespace, missing: same words as not allowed", change: func(in *Inputs) { crossNamespace(nil, nil, nil)(in); in.Repository = nil },
			want: metav1.Condition{Type: v1beta1.ConditionRepositoryFound, Reason: v1beta1.ReasonRepositoryNotFound, Message: notAllowed}},
		{name: "other namespace, from Same", change: crossNamespace(ptr.To(v1alpha1.NamespacesFromSame), nil, nil),
			want: metav1.Condition{Type: v1beta1.ConditionRepositoryFound, Reason: v1beta1.ReasonRepositoryNotFound, Message: notAllowed}},
		{name: "other namespace, from All", change: crossNamespace(ptr.To(v1alpha1.NamespacesFromAll), nil, nil)},
		{name: "other namespace, selector matches", change: crossNamespace(ptr.To(v1alpha1.NamespacesFromSelector), team, map[string]string{"team": "x"})},
		{name: "other namespace, selector does not match", change: crossNamespace(ptr.To(v1alpha1.NamespacesFromSelector), team, map[string]string{"team": "y"}),
			want: metav1.Condition{Type: v1beta1.ConditionRepositoryFound, Reason: v1beta1.ReasonRepositoryNotFound, Message: notAllowed}},
		{name: "other namespace, empty selector grants nothing", change: crossNamespace(ptr.To(v1alpha1.NamespacesFromSelector), &metav1.LabelSelector{}, map[string]string{"team": "x"}),
			want: metav1.Condition{Type: v1beta1.ConditionRepositoryFound, Reason: v1beta1.ReasonRepositoryNotFound, Message: notAllowed}},
		{name: "other namespace, selector without selector", change: crossNamespace(ptr.To(v1alpha1.NamespacesFromSelector), nil, map[string]string{"team": "x"}),
			want: metav1.Condition{Type: v1beta1.ConditionRepositoryFound, Reason: v1beta1.ReasonRepositoryNotFound, Message: notAllowed}},
		{name: "other namespace, PVC backend cannot be mounted", change: func(in *Inputs) {
			crossNamespace(ptr.To(v1alpha1.NamespacesFromAll), nil, nil)(in)
			in.Repository.Spec.Backend = v1alpha1.Backend{StorageSecretName: "storage", Local: &v1alpha1.LocalSpec{MountPath: "/repo",
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
		}, want: metav1.Condition{Type: v1beta1.ConditionRepositoryFound, Reason: v1beta1.ReasonBackendNotShareable}},
		{name: "other namespace, NFS backend is shared", change: func(in *Inputs) {
			crossNamespace(ptr.To(v1alpha1.NamespacesFromAll), nil, nil)(in)
			in.Repository.Spec.Backend = v1alpha1.Backend{StorageSecretName: "storage", Local: &v1alpha1.LocalSpec{MountPath: "/repo",
				VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/x"}}}}
		}},
		{name: "no storage secret name", change: func(in *Inputs) { in.Repository.Spec.Backend.StorageSecretName = "" },
			want: metav1.Condition{Type: v1beta1.ConditionBackendSecretFound, Reason: v1beta1.ReasonSecretNotSpecified}},
		{name: "storage secret missing", change: func(in *Inputs) { in.StorageSecret = nil },
			want: metav1.Condition{Type: v1beta1.ConditionBackendSecretFound, Reason: v1beta1.ReasonSecretNotFound, Message: "storage Secret a/storage of Repository repo not found"}},
		{name: "storage secret without RESTIC_PASSWORD", change: func(in *Inputs) { in.StorageSecret = map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("k")} },
			want: metav1.Condition{Type: v1beta1.ConditionBackendSecretFound, Reason: v1beta1.ReasonSecretKeyMissing, Message: "storage Secret a/storage of Repository repo has no key RESTIC_PASSWORD"}},
		{name: "no target", change: func(in *Inputs) { in.TargetRef = v1beta1.TargetRef{}; in.AppBinding = nil },
			want: metav1.Condition{Type: v1beta1.ConditionBackupTargetFound, Reason: v1beta1.ReasonTargetNotSpecified}},
		{name: "restore names its own condition", change: func(in *Inputs) {
			in.Kind = jobspec.KindRestore
			in.AppBinding = nil
		}, want: metav1.Condition{Type: v1beta1.ConditionRestoreTargetFound, Reason: v1beta1.ReasonTargetNotFound, Message: "AppBinding a/db not found"}},
		{name: "target kind", change: func(in *Inputs) { in.TargetRef.Kind = "StatefulSet"; in.TargetRef.APIVersion = "apps/v1" },
			want: metav1.Condition{Type: v1beta1.ConditionBackupTargetFound, Reason: v1beta1.ReasonTargetKindUnsupported}},
		{name: "service missing", change: func(in *Inputs) { in.ServiceFound = false },
			want: metav1.Condition{Type: v1beta1.ConditionBackupTargetFound, Reason: v1beta1.ReasonServiceNotFound,
				Message: "AppBinding a/db names Service a/mysql in spec.clientConfig.service, which does not exist"}},
		{name: "url instead of service needs no Service", change: func(in *Inputs) {
			in.ServiceFound = false
			in.AppBinding.Spec.ClientConfig = appcatalogv1alpha1.ClientConfig{URL: ptr.To("tcp(mysql.a.svc:3306)/")}
		}},
		{name: "neither service nor url", change: func(in *Inputs) { in.AppBinding.Spec.ClientConfig = appcatalogv1alpha1.ClientConfig{} },
			want: metav1.Condition{Type: v1beta1.ConditionBackupTargetFound, Reason: v1beta1.ReasonInvalidClientConfig}},
		{name: "target secret missing", change: func(in *Inputs) { in.TargetSecret = nil },
			want: metav1.Condition{Type: v1beta1.ConditionTargetSecretFound, Reason: v1beta1.ReasonSecretNotFound, Message: "AppBinding a/db: Secret a/db-auth (spec.secret) not found"}},
		{name: "target secret without password", change: func(in *Inputs) { delete(in.TargetSecret, "password") },
			want: metav1.Condition{Type: v1beta1.ConditionTargetSecretFound, Reason: v1beta1.ReasonInvalidCredentials}},
		{name: "addKeysFrom another namespace", change: func(in *Inputs) {
			delete(in.TargetSecret, "password")
			in.AppBinding.Spec.SecretTransforms = []appcatalogv1alpha1.SecretTransform{{AddKeysFrom: &appcatalogv1alpha1.AddKeysFromTransform{
				SecretRef: &appcatalogv1alpha1.ObjectReference{Namespace: "kube-system", Name: "token"}}}}
		}, want: metav1.Condition{Type: v1beta1.ConditionTargetSecretFound, Reason: v1beta1.ReasonInvalidCredentials,
			Message: `AppBinding a/db: secretTransforms[0].addKeysFrom.secretRef.namespace "kube-system": a Secret of another namespace is not read (the AppBinding is in "a")`}},
		{name: "addKeysFrom own namespace", change: func(in *Inputs) {
			delete(in.TargetSecret, "password")
			in.AppBinding.Spec.SecretTransforms = []appcatalogv1alpha1.SecretTransform{{AddKeysFrom: &appcatalogv1alpha1.AddKeysFromTransform{
				SecretRef: &appcatalogv1alpha1.ObjectReference{Name: "extra"}}}}
			in.KeySecrets = map[string]map[string][]byte{"extra": {"password": []byte("p")}}
		}},
		{name: "no task anywhere", change: func(in *Inputs) { in.AppBinding.Spec.Parameters = nil },
			want: metav1.Condition{Type: v1beta1.ConditionTaskFound, Reason: v1beta1.ReasonTaskNotSpecified}},
		{name: "parameters of another kind name no task", change: func(in *Inputs) {
			in.AppBinding.Spec.Parameters = &runtime.RawExtension{Raw: []byte(`{"kind":"MySQLParameters","stash":{"addon":{"backupTask":{"name":"mysql-backup"}}}}`)}
		}, want: metav1.Condition{Type: v1beta1.ConditionTaskFound, Reason: v1beta1.ReasonTaskNotSpecified}},
		{name: "unparseable parameters", change: func(in *Inputs) { in.AppBinding.Spec.Parameters = &runtime.RawExtension{Raw: []byte(`[`)} },
			want: metav1.Condition{Type: v1beta1.ConditionTaskFound, Reason: v1beta1.ReasonInvalidAddonParameters}},
		{name: "task missing", change: func(in *Inputs) { in.Task = nil },
			want: metav1.Condition{Type: v1beta1.ConditionTaskFound, Reason: v1beta1.ReasonTaskNotFound,
				Message: "Task mysql-backup (from AppBinding db) not found (is the MySQL addon installed?)"}},
		{name: "function missing", change: func(in *Inputs) { delete(in.Functions, "update-status") },
			want: metav1.Condition{Type: v1beta1.ConditionTaskFound, Reason: v1beta1.ReasonFunctionNotFound, Message: "Task mysql-backup step 1: Function update-status not found"}},
		{name: "task named by the invoker", change: func(in *Inputs) {
			in.TaskRef = v1beta1.TaskRef{Name: "other"}
			in.Task.Name = "other"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ready()
			tc.change(in)
			out := Check(in)
			if len(out.Conditions) != 5 {
				t.Fatalf("%d conditions, want 5: %+v", len(out.Conditions), out.Conditions)
			}
			got := out.Failed()
			if tc.want.Type == "" {
				if got != nil {
					t.Fatalf("failed: %+v", *got)
				}
				if out.Connection == nil || out.TaskName == "" {
					t.Errorf("ready but connection %v, task %q", out.Connection != nil, out.TaskName)
				}
				return
			}
			if got == nil {
				t.Fatalf("passed, want %s=%s", tc.want.Type, tc.want.Reason)
			}
			if got.Type != tc.want.Type || got.Reason != tc.want.Reason || (tc.want.Message != "" && got.Message != tc.want.Message) {
				t.Errorf("got %s/%s %q\nwant %s/%s %q", got.Type, got.Reason, got.Message, tc.want.Type, tc.want.Reason, tc.want.Message)
			}
			for _, secret := range []string{"pw-9f3kq", "dbpw-7q2xz"} {
				for _, c := range out.Conditions {
					if strings.Contains(c.Message, secret) {
						t.Errorf("condition %s quotes a secret value: %q", c.Type, c.Message)
					}
				}
			}
		})
	}
}

// The Task's params: the AppBinding's addon params first, the invoker's after (they win).
func TestCheckParams(t *testing.T) {
	in := ready()
	in.TaskRef.Params = []v1beta1.Param{{Name: "args", Value: "--databases x"}}
	out := Check(in)
	want := []v1beta1.Param{{Name: "args", Value: "--all-databases"}, {Name: "args", Value: "--databases x"}}
	if len(out.Params) != 2 || out.Params[0] != want[0] || out.Params[1] != want[1] {
		t.Errorf("params %v, want %v", out.Params, want)
	}
	in.Kind = jobspec.KindRestore
	in.Task.Name = "mysql-restore"
	if out := Check(in); out.TaskName != "mysql-restore" || len(out.Params) != 1 {
		t.Errorf("restore: task %q params %v", out.TaskName, out.Params)
	}
}

func TestAllowed(t *testing.T) {
	repo := func(from *v1alpha1.FromNamespaces, sel *metav1.LabelSelector) *v1alpha1.Repository {
		r := &v1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "repo"}}
		if from != nil {
			r.Spec.UsagePolicy = &v1alpha1.UsagePolicy{AllowedNamespaces: v1alpha1.AllowedNamespaces{From: from, Selector: sel}}
		}
		return r
	}
	expr := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{"a"}}}}
	for _, tc := range []struct {
		name   string
		repo   *v1alpha1.Repository
		ns     string
		labels map[string]string
		want   bool
	}{
		{"own namespace without policy", repo(nil, nil), "b", nil, true},
		{"own namespace, selector not matching itself", repo(ptr.To(v1alpha1.NamespacesFromSelector), expr), "b", map[string]string{"kubernetes.io/metadata.name": "b"}, true},
		{"other, no policy", repo(nil, nil), "a", nil, false},
		{"other, Same", repo(ptr.To(v1alpha1.NamespacesFromSame), nil), "a", nil, false},
		{"other, All", repo(ptr.To(v1alpha1.NamespacesFromAll), nil), "a", nil, true},
		{"other, selector by name", repo(ptr.To(v1alpha1.NamespacesFromSelector), expr), "a", map[string]string{"kubernetes.io/metadata.name": "a"}, true},
		{"other, selector by name, another", repo(ptr.To(v1alpha1.NamespacesFromSelector), expr), "c", map[string]string{"kubernetes.io/metadata.name": "c"}, false},
		{"other, invalid selector", repo(ptr.To(v1alpha1.NamespacesFromSelector), &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}}), "a", nil, false},
	} {
		if got := Allowed(tc.repo, tc.ns, tc.labels); got != tc.want {
			t.Errorf("%s: Allowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
