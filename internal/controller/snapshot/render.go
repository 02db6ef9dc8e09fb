package snapshot

import (
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repojob"
	"github.com/hoard-operator/hoard/internal/names"
)

// AnnotationForget, on a snapshots Job, lists the short ids it was asked to forget, so that a
// failure can be reported on exactly those Snapshots.
const AnnotationForget = "hoard.io/forget"

// JobName is "hoard-snapshots-<repository>", shortened with a hash suffix to stay a valid
// label value.
func JobName(repo string) string {
	return names.Prefixed("hoard-snapshots-", repo, names.MaxLabelValue)
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
		flags = append(flags, "--known="+strings.Join(spec.Known, ","))
	}
	var shortForget []string
	for _, id := range spec.Forget {
		shortForget = append(shortForget, id[:min(8, len(id))])
	}
	return repojob.Render(repojob.Spec{
		Repository: repo, Name: JobName(repo.Name), Namespace: repo.Namespace,
		Component: "snapshots", Container: "snapshots", Image: image, LocationKey: locationKey,
		Command: []string{"snapshots"}, Flags: flags,
		Annotations:              map[string]string{AnnotationForget: strings.Join(shortForget, ",")},
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	})
}
