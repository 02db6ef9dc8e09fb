// Package v1beta1 holds the stash.appscode.com/v1beta1 API: BackupConfiguration, BackupSession,
// RestoreSession, Task, Function and BackupBlueprint, as served by Stash from
// v0.9.0 to v2021.11.24.
// +kubebuilder:object:generate=true
// +groupName=stash.appscode.com
package v1beta1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: "stash.appscode.com", Version: "v1beta1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
