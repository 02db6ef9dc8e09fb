// Package v1alpha1 holds the repositories.stash.appscode.com/v1alpha1 API: the Snapshot kind,
// one object per restic snapshot of a Repository, with the group, kind, names, labels and
// columns upstream Stash served from its aggregated API server. Here it is a CRD kept in step
// with restic by the operator (docs/design/0021-snapshots-as-objects.md).
// +kubebuilder:object:generate=true
// +groupName=repositories.stash.appscode.com
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: "repositories.stash.appscode.com", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
