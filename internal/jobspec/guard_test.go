package jobspec

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
)

func TestBuildRefusesHostPathBackend(t *testing.T) {
	in := backupInput()
	in.Repository.Spec.Backend = v1alpha1.Backend{StorageSecretName: "s", Local: &v1alpha1.LocalSpec{
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/kubelet"}}, MountPath: "/repo"}}
	job, err := Build(in)
	if err == nil {
		t.Fatalf("Build rendered a Job with volumes %+v", job.Spec.Template.Spec.Volumes)
	}
	if !strings.Contains(err.Error(), "spec.backend.local.hostPath") {
		t.Errorf("error %q does not name the field", err)
	}
}

// TestUpdateStatusGetsNoSecrets: whatever the Function, the Task and the runtimeSettings say,
// the update-status container mounts no Secret and reads no variable from one, while the
// database step keeps what it needs.
func TestUpdateStatusGetsNoSecrets(t *testing.T) {
	for _, in := range []*Input{backupInput(), restoreInput()} {
		t.Run(string(in.Kind), func(t *testing.T) {
			in.Repository = localInput().Repository
			in.Task.Spec.Volumes = append(in.Task.Spec.Volumes, corev1.Volume{Name: "projected", VolumeSource: corev1.VolumeSource{
				Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: "other"}}}}}}})
			fn := in.Functions[UpdateStatusFunction].DeepCopy()
			fn.Spec.VolumeMounts = append(fn.Spec.VolumeMounts, corev1.VolumeMount{Name: "projected", MountPath: "/p"})
			in.Functions[UpdateStatusFunction] = fn
			in.RuntimeSettings.Container = &v1beta1.ContainerRuntimeSettings{
				Env: []corev1.EnvVar{{Name: "TZ", Value: "UTC"}, {Name: "STOLEN", ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "other"}, Key: "k"}}}},
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "other"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
			}
			job, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			pod := job.Spec.Template.Spec
			if len(pod.Containers) != 1 || !strings.HasPrefix(pod.Containers[0].Name, "update-status") {
				t.Fatalf("containers %v", pod.Containers)
			}
			us := pod.Containers[0]
			if len(us.VolumeMounts) != 1 || us.VolumeMounts[0].Name != TmpVolumeName {
				t.Errorf("update-status mounts %+v, want only %s", us.VolumeMounts, TmpVolumeName)
			}
			for _, e := range us.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					t.Errorf("update-status reads %s from Secret %s", e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
			for _, e := range us.EnvFrom {
				if e.SecretRef != nil {
					t.Errorf("update-status reads every key of Secret %s", e.SecretRef.Name)
				}
			}
			if len(us.EnvFrom) != 1 || us.EnvFrom[0].ConfigMapRef == nil {
				t.Errorf("update-status envFrom %+v, want the ConfigMap kept", us.EnvFrom)
			}
			// The database step still mounts the storage Secret, the target and the repository.
			mounted := map[string]bool{}
			for _, m := range pod.InitContainers[0].VolumeMounts {
				mounted[m.Name] = true
			}
			for _, want := range []string{"secret-volume", TargetVolumeName, LocalBackendVolumeName, TmpVolumeName} {
				if !mounted[want] {
					t.Errorf("the database step lost its mount %s: %v", want, pod.InitContainers[0].VolumeMounts)
				}
			}
		})
	}
}
