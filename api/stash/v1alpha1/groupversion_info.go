// Package v1alpha1 holds the stash.appscode.com/v1alpha1 API: the Repository kind and the
// types it shares with v1beta1 (backends and retention policies), as served by Stash from
// v0.9.0 to v2021.11.24.
// +kubebuilder:object:generate=true
// +groupName=stash.appscode.com
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: "stash.appscode.com", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
