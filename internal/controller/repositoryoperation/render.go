package repositoryoperation

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repository"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/podsecurity"
	"github.com/hoard-operator/hoard/internal/resolve"
)

// ContainerName is the Job's one container, whose termination message is the outcome.
const ContainerName = "operation"

// JobTTL is how long a finished operation's Job and pod stay (ttlSecondsAfterFinished): long
// enough for `kubectl hoard debug` to show the log of an operation that failed overnight. The
// outcome stays in the RepositoryOperation's status; a session's Job goes with its session
// (backupHistoryLimit), and an operation has no history limit, so its Job needs a TTL.
const JobTTL = 24 * time.Hour

// NewPasswordDir is where KeyAdd's Job mounts the Secret with the new password.
const NewPasswordDir = "/etc/repository/new-password"

// JobName is "hoard-op-<operation>", shortened with a hash suffix to stay a valid label
// value (the Job controller labels pods with it).
func JobName(op string) string {
	name := "hoard-op-" + op
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(op))
	return strings.TrimRight(name[:54], "-.") + "-" + hex.EncodeToString(sum[:])[:8]
}

// RenderJob is the Job that runs op on repo's repository (`hoard repository-operation`); a
// pure function of the two, the operator image and the location key. Like the wipe Job it
// mounts only the Repository's own storage Secret and has no API access.
func RenderJob(op *opsv1alpha1.RepositoryOperation, repo *stashv1alpha1.Repository, image, locationKey string) (*batchv1.Job, error) {
	b := repo.Spec.Backend
	if b.StorageSecretName == "" {
		return nil, fmt.Errorf("spec.backend.storageSecretName of Repository %s/%s is empty: the operation needs the repository password", repo.Namespace, repo.Name)
	}
	if err := resolve.CheckLocalBackend(&b); err != nil {
		return nil, err
	}
	flags, err := repository.BackendFlags(b)
	if err != nil {
		return nil, err
	}
	flags = append([]string{"repository-operation", "--operation=" + string(op.Spec.Operation)}, flags...)
	if op.Spec.Operation == opsv1alpha1.OperationCheck && op.Spec.Check != nil && op.Spec.Check.ReadDataSubset != "" {
		flags = append(flags, "--read-data-subset="+op.Spec.Check.ReadDataSubset)
	}
	if op.Spec.Operation == opsv1alpha1.OperationKeyAdd && (op.Spec.Key == nil || op.Spec.Key.NewPasswordSecret == "") {
		return nil, fmt.Errorf("KeyAdd needs spec.key.newPasswordSecret")
	}
	if op.Spec.Operation == opsv1alpha1.OperationKeyRemove && (op.Spec.Key == nil || op.Spec.Key.ID == "") {
		return nil, fmt.Errorf("KeyRemove needs spec.key.id")
	}
	switch op.Spec.Operation {
	case opsv1alpha1.OperationKeyAdd:
		flags = append(flags, "--new-password-file="+NewPasswordDir+"/RESTIC_PASSWORD")
	case opsv1alpha1.OperationKeyRemove:
		flags = append(flags, "--key-id="+op.Spec.Key.ID)
	}
	// The Job starts only when no other Hoard Job uses the repository (package repoqueue).
	if location.SoleWriter(repo) {
		flags = append(flags, "--sole-writer")
	}
	labels := map[string]string{
		"app.kubernetes.io/name":       "hoard",
		"app.kubernetes.io/component":  "repository-operation",
		"app.kubernetes.io/managed-by": "hoard",
		location.LabelKey:              locationKey,
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
	if op.Spec.Operation == opsv1alpha1.OperationKeyAdd {
		volumes = append(volumes, corev1.Volume{Name: "new-password", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: op.Spec.Key.NewPasswordSecret, DefaultMode: ptr.To[int32](0o400),
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "new-password", MountPath: NewPasswordDir, ReadOnly: true})
	}
	if b.Local != nil {
		volumes = append(volumes, corev1.Volume{Name: "repository", VolumeSource: b.Local.VolumeSource})
		mounts = append(mounts, corev1.VolumeMount{Name: "repository", MountPath: b.Local.MountPath, SubPath: b.Local.SubPath})
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: JobName(op.Name), Namespace: op.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			// One attempt: the outcome is the operation's; the user creates another to retry.
			BackoffLimit:            ptr.To[int32](0),
			TTLSecondsAfterFinished: ptr.To(int32(JobTTL / time.Second)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              podsecurity.Pod(),
					Volumes:                      volumes,
					Containers: []corev1.Container{{
						Name:            ContainerName,
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            flags,
						Env:             []corev1.EnvVar{{Name: "TMPDIR", Value: "/tmp"}},
						VolumeMounts:    mounts,
						SecurityContext: podsecurity.Container(true),
						// The command writes its outcome line; a crash before that leaves the
						// (scrubbed) log's end instead.
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
				},
			},
		},
	}, nil
}
