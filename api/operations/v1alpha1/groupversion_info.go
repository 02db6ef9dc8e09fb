// Package v1alpha1 holds Hoard's repository maintenance API, group operations.hoard.io:
// requests that the operator run one operation on a restic repository (unlock, check) as a
// Job, under the one-writer rule (docs/design/0022-kubectl-plugin.md).
// +kubebuilder:object:generate=true
// +groupName=operations.hoard.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: "operations.hoard.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
