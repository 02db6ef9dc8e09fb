package repojob

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/result"
)

func TestRender(t *testing.T) {
	repo := func(b stashv1alpha1.Backend, annotations map[string]string) *stashv1alpha1.Repository {
		return &stashv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: "repo", Namespace: "demo", Annotations: annotations}, Spec: stashv1alpha1.RepositorySpec{Backend: b}}
	}
	s3 := stashv1alpha1.Backend{StorageSecretName: "s3-secret", S3: &stashv1alpha1.S3Spec{Endpoint: "https://s3.example", Bucket: "b", Prefix: "p", Region: "eu"}}
	pvc := stashv1alpha1.Backend{StorageSecretName: "s", Local: &stashv1alpha1.LocalSpec{MountPath: "/repo", SubPath: "a",
		VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	extra := corev1.Volume{Name: "extra", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	for _, tc := range []struct {
		name    string
		spec    Spec
		args    []string
		volumes []string
		err     string
	}{
		{name: "s3, command, flags and sole writer in order", spec: Spec{Repository: repo(s3, nil), Command: []string{"cmd", "--op=x"}, Flags: []string{"--after"}},
			args:    []string{"cmd", "--op=x", "--provider=s3", "--bucket=b", "--endpoint=https://s3.example", "--region=eu", "--path=p", "--secret-dir=" + result.SecretDir, "--after", "--sole-writer"},
			volumes: []string{"secret", "tmp"}},
		{name: "a volume, and the command's own", spec: Spec{Repository: repo(pvc, nil), Command: []string{"cmd"}, Volumes: []corev1.Volume{extra}, Mounts: []corev1.VolumeMount{{Name: "extra", MountPath: "/x"}}},
			args:    []string{"cmd", "--provider=local", "--bucket=/repo", "--secret-dir=" + result.SecretDir, "--sole-writer"},
			volumes: []string{"secret", "tmp", "extra", "repository"}},
		{name: "shared with other tools: no --sole-writer", spec: Spec{Repository: repo(s3, map[string]string{location.AnnotationSharedWithOtherTools: "true"}), Command: []string{"cmd"}},
			args:    []string{"cmd", "--provider=s3", "--bucket=b", "--endpoint=https://s3.example", "--region=eu", "--path=p", "--secret-dir=" + result.SecretDir},
			volumes: []string{"secret", "tmp"}},
		{name: "a hostPath backend is refused", spec: Spec{Repository: repo(stashv1alpha1.Backend{StorageSecretName: "s", Local: &stashv1alpha1.LocalSpec{MountPath: "/repo",
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}, nil)}, err: "hostPath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name, tc.spec.Namespace, tc.spec.Component, tc.spec.Container, tc.spec.Image, tc.spec.LocationKey = "j", "demo", "comp", "c", "img", "loc"
			job, err := Render(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pod := job.Spec.Template.Spec
			c := pod.Containers[0]
			if !slices.Equal(c.Args, tc.args) {
				t.Errorf("args %q\nwant %q", c.Args, tc.args)
			}
			var vols []string
			for _, v := range pod.Volumes {
				vols = append(vols, v.Name)
			}
			if !slices.Equal(vols, tc.volumes) || len(c.VolumeMounts) != len(tc.volumes) {
				t.Errorf("volumes %q (%d mounts), want %q", vols, len(c.VolumeMounts), tc.volumes)
			}
			if *job.Spec.BackoffLimit != 0 || *pod.AutomountServiceAccountToken || pod.RestartPolicy != corev1.RestartPolicyNever ||
				job.Labels[location.LabelKey] != "loc" || pod.Volumes[0].Secret.SecretName != tc.spec.Repository.Spec.Backend.StorageSecretName ||
				*pod.Volumes[0].Secret.DefaultMode != 0o400 || !c.VolumeMounts[0].ReadOnly {
				t.Errorf("job %+v", job)
			}
		})
	}
}
