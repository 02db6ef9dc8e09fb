package snapshot

import (
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repojob"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/snapshotjob"
)

// AnnotationForget, on a snapshots Job, lists the short ids it was asked to forget, so that a
// failure can be reported on exactly those Snapshots.
const AnnotationForget = "hoard.io/forget"

// JobName is "hoard-snapshots-<repository>", shortened with a hash suffix to stay a valid
// label value.
func JobName(repo string) string {
	return names.Prefixed("hoard-snapshots-", repo, names.MaxLabelValue)
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
// mounts only the storage Secret of the Repository's namespace and has no API access. One
// attempt: the outcome is recorded, and the next sync tries again.
func RenderJob(repo *stashv1alpha1.Repository, image, locationKey string, spec JobSpec) (*batchv1.Job, error) {
	if repo.Spec.Backend.StorageSecretName == "" {
		return nil, fmt.Errorf("spec.backend.storageSecretName is empty: reading the snapshots needs the repository password")
	}
	var flags []string
	if len(spec.Forget) > 0 {
		flags = append(flags, "--forget="+strings.Join(spec.Forget, ","))
		if spec.Prune {
			flags = append(flags, "--prune")
		}
	}
	if len(spec.Known) > 0 {
		flags = append(flags, "--known-file="+KnownDir+"/"+snapshotjob.KnownKey)
	}
	var shortForget []string
	for _, id := range spec.Forget {
		shortForget = append(shortForget, id[:min(8, len(id))])
	}
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	if len(spec.Known) > 0 {
		volumes = append(volumes, corev1.Volume{Name: "known", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: KnownSecretName(repo.Name), DefaultMode: ptr.To[int32](0o400),
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "known", MountPath: KnownDir, ReadOnly: true})
	}
	return repojob.Render(repojob.Spec{
		Repository: repo, Name: JobName(repo.Name), Namespace: repo.Namespace,
		Component: "snapshots", Container: "snapshots", Image: image, LocationKey: locationKey,
		Command: []string{"snapshots"}, Flags: flags,
		Volumes: volumes, Mounts: mounts,
		Annotations:              map[string]string{AnnotationForget: strings.Join(shortForget, ",")},
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	})
}
