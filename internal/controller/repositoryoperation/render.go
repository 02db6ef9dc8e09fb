package repositoryoperation

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repojob"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/result"
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
	return names.Prefixed("hoard-op-", op, names.MaxLabelValue)
}

// RenderJob is the Job that runs op on repo's repository (`hoard repository-operation`); a
// pure function of the two, the operator image and the location key. Like the wipe Job it
// mounts only the Repository's own storage Secret and has no API access. One attempt: the
// outcome is the operation's; the user creates another to retry.
func RenderJob(op *opsv1alpha1.RepositoryOperation, repo *stashv1alpha1.Repository, image, locationKey string) (*batchv1.Job, error) {
	if repo.Spec.Backend.StorageSecretName == "" {
		return nil, fmt.Errorf("spec.backend.storageSecretName of Repository %s/%s is empty: the operation needs the repository password", repo.Namespace, repo.Name)
	}
	var flags []string
	if op.Spec.Operation == opsv1alpha1.OperationCheck && op.Spec.Check != nil && op.Spec.Check.ReadDataSubset != "" {
		flags = append(flags, "--read-data-subset="+op.Spec.Check.ReadDataSubset)
	}
	if op.Spec.Operation == opsv1alpha1.OperationKeyAdd && (op.Spec.Key == nil || op.Spec.Key.NewPasswordSecret == "") {
		return nil, fmt.Errorf("KeyAdd needs spec.key.newPasswordSecret")
	}
	if op.Spec.Operation == opsv1alpha1.OperationKeyRemove && (op.Spec.Key == nil || op.Spec.Key.ID == "") {
		return nil, fmt.Errorf("KeyRemove needs spec.key.id")
	}
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	switch op.Spec.Operation {
	case opsv1alpha1.OperationKeyAdd:
		flags = append(flags, "--new-password-file="+NewPasswordDir+"/"+result.PasswordKey)
		volumes = append(volumes, corev1.Volume{Name: "new-password", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: op.Spec.Key.NewPasswordSecret, DefaultMode: ptr.To[int32](0o400),
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "new-password", MountPath: NewPasswordDir, ReadOnly: true})
	case opsv1alpha1.OperationKeyRemove:
		flags = append(flags, "--key-id="+op.Spec.Key.ID)
	}
	return repojob.Render(repojob.Spec{
		Repository: repo, Name: JobName(op.Name), Namespace: op.Namespace,
		Component: "repository-operation", Container: ContainerName, Image: image, LocationKey: locationKey,
		Command: []string{"repository-operation", "--operation=" + string(op.Spec.Operation)}, Flags: flags,
		Volumes: volumes, Mounts: mounts,
		TTL: JobTTL,
		// The command writes its outcome line; a crash before that leaves the (scrubbed)
		// log's end instead.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	})
}
