package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repository"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/podsecurity"
	"github.com/hoard-operator/hoard/internal/resolve"
	"github.com/hoard-operator/hoard/internal/snapshotjob"
)

// AnnotationForget, on a snapshots Job, lists the short ids it was asked to forget, so that a
// failure can be reported on exactly those Snapshots.
const AnnotationForget = "hoard.io/forget"

// JobName is "hoard-snapshots-<repository>", shortened with a hash suffix to stay a valid
// label value.
func JobName(repo string) string {
	name := "hoard-snapshots-" + repo
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(repo))
	return strings.TrimRight(name[:54], "-.") + "-" + hex.EncodeToString(sum[:])[:8]
}

// KnownDir is where the snapshots Job mounts the Secret KnownSecretName, which holds the
// short ids the operator keeps objects for (snapshotjob.EncodeKnown).
const KnownDir = "/etc/hoard/known"

// KnownSecretName is the Secret of the known ids of a Repository's snapshots Job, in the
// Repository's namespace.
func KnownSecretName(repo string) string { return JobName(repo) + "-known" }

// RenderKnownSecret is the Secret the snapshots Job reads the known ids from. The ids do not
// fit a command line once a repository has about 14,000 snapshots; a Secret, which the
// operator may create already, holds about 200,000. Its labels are the Job's.
func RenderKnownSecret(job *batchv1.Job, repo string, known []string) (*corev1.Secret, error) {
	data, err := snapshotjob.EncodeKnown(known)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: KnownSecretName(repo), Namespace: job.Namespace, Labels: job.Labels},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{snapshotjob.KnownKey: data},
	}, nil
}

// JobSpec is what one snapshots Job does.
type JobSpec struct {
	// Known are the short ids of the Snapshot objects the operator keeps.
	Known []string
	// Forget are the ids of the snapshots to forget, Prune whether to prune after.
	Forget []string
	Prune  bool
}

// RenderJob is the Job that forgets and lists a repository's snapshots (`hoard snapshots`);
// a pure function of the Repository, the operator image and what to do. Like the wipe Job it
// mounts only the storage Secret of the Repository's namespace and has no API access.
func RenderJob(repo *stashv1alpha1.Repository, image, locationKey string, spec JobSpec) (*batchv1.Job, error) {
	b := repo.Spec.Backend
	if b.StorageSecretName == "" {
		return nil, fmt.Errorf("spec.backend.storageSecretName is empty: reading the snapshots needs the repository password")
	}
	if err := resolve.CheckLocalBackend(&b); err != nil {
		return nil, err
	}
	flags, err := repository.BackendFlags(b)
	if err != nil {
		return nil, err
	}
	if location.SoleWriter(repo) {
		flags = append(flags, "--sole-writer")
	}
	if len(spec.Forget) > 0 {
		flags = append(flags, "--forget="+strings.Join(spec.Forget, ","))
		if spec.Prune {
			flags = append(flags, "--prune")
		}
	}
	if len(spec.Known) > 0 {
		flags = append(flags, "--known-file="+KnownDir+"/"+snapshotjob.KnownKey)
	}
	labels := map[string]string{
		"app.kubernetes.io/name":       "hoard",
		"app.kubernetes.io/component":  "snapshots",
		"app.kubernetes.io/managed-by": "hoard",
		location.LabelKey:              locationKey,
	}
	var shortForget []string
	for _, id := range spec.Forget {
		shortForget = append(shortForget, id[:min(8, len(id))])
	}
	volumes := []corev1.Volume{
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: b.StorageSecretName, DefaultMode: ptr.To[int32](0o400),
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "secret", MountPath: repository.SecretDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	if len(spec.Known) > 0 {
		volumes = append(volumes, corev1.Volume{Name: "known", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: KnownSecretName(repo.Name), DefaultMode: ptr.To[int32](0o400),
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "known", MountPath: KnownDir, ReadOnly: true})
	}
	if b.Local != nil {
		volumes = append(volumes, corev1.Volume{Name: "repository", VolumeSource: b.Local.VolumeSource})
		mounts = append(mounts, corev1.VolumeMount{Name: "repository", MountPath: b.Local.MountPath, SubPath: b.Local.SubPath})
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: JobName(repo.Name), Namespace: repo.Namespace, Labels: labels,
			Annotations: map[string]string{AnnotationForget: strings.Join(shortForget, ",")},
		},
		Spec: batchv1.JobSpec{
			// One attempt: the outcome is recorded, and the next sync tries again.
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              podsecurity.Pod(),
					Volumes:                      volumes,
					Containers: []corev1.Container{{
						Name:                     "snapshots",
						Image:                    image,
						ImagePullPolicy:          corev1.PullIfNotPresent,
						Args:                     append([]string{"snapshots"}, flags...),
						Env:                      []corev1.EnvVar{{Name: "TMPDIR", Value: "/tmp"}},
						VolumeMounts:             mounts,
						SecurityContext:          podsecurity.Container(true),
						TerminationMessagePolicy: corev1.TerminationMessageReadFile,
					}},
				},
			},
		},
	}, nil
}
