// Package v1alpha1 holds the appcatalog.appscode.com/v1alpha1 API: the AppBinding kind, which
// tells a backup Task how to reach a database and with which credentials, as KubeDB and Stash
// wrote it.
// +kubebuilder:object:generate=true
// +groupName=appcatalog.appscode.com
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: "appcatalog.appscode.com", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
