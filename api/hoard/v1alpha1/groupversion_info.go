// Package v1alpha1 holds Hoard's own API, group addons.hoard.io: resources that install the
// Stash addons (Tasks and Functions) from Helm charts, reconciled by helm-operator-plugins.
// +kubebuilder:object:generate=true
// +groupName=addons.hoard.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: "addons.hoard.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
