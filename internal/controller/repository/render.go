package repository

import (
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/podsecurity"
	"github.com/hoard-operator/hoard/internal/result"
)

// WipeJobName is "stash-wipe-<repository>", shortened with a hash suffix to stay a valid
// label value (the Job controller labels pods with it).
func WipeJobName(repo string) string {
	return names.Prefixed("stash-wipe-", repo, names.MaxLabelValue)
}

// BackendFlags are the `wipe-repository` flags for a backend: the same names the upstream
// backup Functions used (--provider, --bucket, --endpoint, --region, --path,
// --max-connections). Only locations, never credentials: those come from the mounted Secret.
func BackendFlags(b stashv1alpha1.Backend) ([]string, error) {
	info, err := location.Backend(&b)
	if err != nil {
		return nil, err
	}
	flags := []string{"--provider=" + info.Provider, "--bucket=" + info.Bucket}
	for _, f := range []struct{ name, value string }{{"endpoint", info.Endpoint}, {"region", info.Region}, {"path", info.Prefix}} {
		if f.value != "" {
			flags = append(flags, "--"+f.name+"="+f.value)
		}
	}
	if info.MaxConnections > 0 {
		flags = append(flags, "--max-connections="+strconv.FormatInt(info.MaxConnections, 10))
	}
	return append(flags, "--secret-dir="+result.SecretDir), nil
}

// RenderWipeJob is the Job that deletes the repository's data; a pure function of the
// Repository and the operator image.
// locationKey labels the Job and its pod as users of the repository (location.LabelKey).
func RenderWipeJob(repo *stashv1alpha1.Repository, image, locationKey string) (*batchv1.Job, error) {
	b := repo.Spec.Backend
	if b.StorageSecretName == "" {
		return nil, fmt.Errorf("spec.backend.storageSecretName is empty: the wipe needs the repository password")
	}
	// The wipe Job mounts a local backend's volume like a session's Job does.
	if err := location.CheckLocalBackend(&b); err != nil {
		return nil, err
	}
	flags, err := BackendFlags(b)
	if err != nil {
		return nil, err
	}
	// The wipe starts only when no other Hoard Job uses the repository (package repoqueue).
	if location.SoleWriter(repo) {
		flags = append(flags, "--sole-writer")
	}
	labels := names.Labels("wipe-repository")
	labels[location.LabelKey] = locationKey
	volumes := []corev1.Volume{
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: b.StorageSecretName, DefaultMode: ptr.To[int32](0o400),
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "secret", MountPath: result.SecretDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	if b.Local != nil {
		volumes = append(volumes, corev1.Volume{Name: "repository", VolumeSource: b.Local.VolumeSource})
		mounts = append(mounts, corev1.VolumeMount{Name: "repository", MountPath: b.Local.MountPath, SubPath: b.Local.SubPath})
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: WipeJobName(repo.Name), Namespace: repo.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			// One attempt: a failure is reported on the Repository, and deleting the Job
			// retries (a second blind attempt would usually fail the same way).
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              podsecurity.Pod(),
					Volumes:                      volumes,
					Containers: []corev1.Container{{
						Name:            "wipe",
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            append([]string{"wipe-repository"}, flags...),
						Env:             []corev1.EnvVar{{Name: "TMPDIR", Value: "/tmp"}},
						VolumeMounts:    mounts,
						SecurityContext: podsecurity.Container(true),
					}},
				},
			},
		},
	}, nil
}
