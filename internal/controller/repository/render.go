package repository

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/repojob"
	"github.com/hoard-operator/hoard/internal/names"
)

// WipeJobName is "stash-wipe-<repository>", shortened with a hash suffix to stay a valid
// label value (the Job controller labels pods with it).
func WipeJobName(repo string) string {
	return names.Prefixed("stash-wipe-", repo, names.MaxLabelValue)
}

// RenderWipeJob is the Job that deletes the repository's data; a pure function of the
// Repository and the operator image.
// locationKey labels the Job and its pod as users of the repository (location.LabelKey).
// A failure is reported on the Repository, and deleting the Job retries.
func RenderWipeJob(repo *stashv1alpha1.Repository, image, locationKey string) (*batchv1.Job, error) {
	if repo.Spec.Backend.StorageSecretName == "" {
		return nil, fmt.Errorf("spec.backend.storageSecretName is empty: the wipe needs the repository password")
	}
	return repojob.Render(repojob.Spec{
		Repository: repo, Name: WipeJobName(repo.Name), Namespace: repo.Namespace,
		Component: "wipe-repository", Container: "wipe", Image: image, LocationKey: locationKey,
		Command: []string{"wipe-repository"},
	})
}
