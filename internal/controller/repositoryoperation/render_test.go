package repositoryoperation

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/location"
)

func op(o opsv1alpha1.Operation, key *opsv1alpha1.KeyParams) *opsv1alpha1.RepositoryOperation {
	return &opsv1alpha1.RepositoryOperation{ObjectMeta: metav1.ObjectMeta{Name: "op-1", Namespace: "demo"},
		Spec: opsv1alpha1.RepositoryOperationSpec{Repository: "repo", Operation: o, Key: key}}
}

func repo(b stashv1alpha1.Backend) *stashv1alpha1.Repository {
	return &stashv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: "repo", Namespace: "demo"}, Spec: stashv1alpha1.RepositorySpec{Backend: b}}
}

func TestRenderJob(t *testing.T) {
	rest := stashv1alpha1.Backend{StorageSecretName: "rest-secret", Rest: &stashv1alpha1.RestServerSpec{URL: "http://rest:8000/demo"}}
	pvc := stashv1alpha1.Backend{StorageSecretName: "s", Local: &stashv1alpha1.LocalSpec{MountPath: "/repo", SubPath: "a",
		VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	for _, tc := range []struct {
		name     string
		op       *opsv1alpha1.RepositoryOperation
		backend  stashv1alpha1.Backend
		args     []string
		volumes  []string
		mounts   []string
		wantErr  string
		noSecret bool
	}{
		{name: "remove", op: op(opsv1alpha1.OperationKeyRemove, &opsv1alpha1.KeyParams{ID: "1a2b3c4d"}), backend: rest,
			args: []string{"repository-operation", "--operation=KeyRemove", "--provider=rest", "--key-id=1a2b3c4d", "--sole-writer"}, volumes: []string{"secret", "tmp"}},
		{name: "add", op: op(opsv1alpha1.OperationKeyAdd, &opsv1alpha1.KeyParams{NewPasswordSecret: "new"}), backend: rest,
			args: []string{"--operation=KeyAdd", "--new-password-file=" + NewPasswordDir + "/RESTIC_PASSWORD"}, volumes: []string{"secret", "tmp", "new-password"}, mounts: []string{NewPasswordDir}},
		{name: "migrate on a volume", op: op(opsv1alpha1.OperationMigrate, nil), backend: pvc,
			args: []string{"--operation=Migrate", "--provider=local", "--bucket=/repo"}, volumes: []string{"secret", "tmp", "repository"}, mounts: []string{"/repo"}},
		{name: "no secret", op: op(opsv1alpha1.OperationUnlock, nil), backend: stashv1alpha1.Backend{Rest: rest.Rest}, wantErr: "storageSecretName of Repository demo/repo is empty"},
		{name: "hostPath", op: op(opsv1alpha1.OperationCheck, nil), backend: stashv1alpha1.Backend{StorageSecretName: "s", Local: &stashv1alpha1.LocalSpec{MountPath: "/repo",
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}, wantErr: "hostPath"},
		{name: "add without secret", op: op(opsv1alpha1.OperationKeyAdd, nil), backend: rest, wantErr: "KeyAdd needs spec.key.newPasswordSecret"},
	} {
		job, err := RenderJob(tc.op, repo(tc.backend), "img", "key")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c := job.Spec.Template.Spec.Containers[0]
		for _, a := range tc.args {
			if !slices.Contains(c.Args, a) {
				t.Errorf("%s: args %q lack %q", tc.name, c.Args, a)
			}
		}
		var vols, mounts []string
		for _, v := range job.Spec.Template.Spec.Volumes {
			vols = append(vols, v.Name)
		}
		for _, m := range c.VolumeMounts {
			mounts = append(mounts, m.MountPath)
		}
		if !slices.Equal(vols, tc.volumes) {
			t.Errorf("%s: volumes %q, want %q", tc.name, vols, tc.volumes)
		}
		for _, m := range tc.mounts {
			if !slices.Contains(mounts, m) {
				t.Errorf("%s: mounts %q lack %q", tc.name, mounts, m)
			}
		}
		if job.Labels[location.LabelKey] != "key" || *job.Spec.BackoffLimit != 0 || *job.Spec.Template.Spec.AutomountServiceAccountToken {
			t.Errorf("%s: labels %v, backoff %d, token %v", tc.name, job.Labels, *job.Spec.BackoffLimit, *job.Spec.Template.Spec.AutomountServiceAccountToken)
		}
	}
	if n := JobName(strings.Repeat("x", 80)); len(n) > 63 || !strings.HasPrefix(n, "hoard-op-xxx") {
		t.Errorf("JobName of a long name: %q", n)
	}
}
