package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
)

// BackupBlueprint is a template for a Repository and a BackupConfiguration; its strings may
// use ${TARGET_NAMESPACE}, ${TARGET_NAME}, ${TARGET_APP_RESOURCE} and similar.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=backupblueprints,singular=backupblueprint,shortName=bb,scope=Cluster,categories=stash
type BackupBlueprint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec BackupBlueprintSpec `json:"spec,omitempty"`
}

// BackupBlueprintSpec holds the Repository and BackupConfiguration templates.
type BackupBlueprintSpec struct {
	// Backend and WipeOut of the Repository to create.
	v1alpha1.RepositorySpec `json:",inline"`

	// +optional
	Schedule string `json:"schedule,omitempty"`
	// +optional
	Task TaskRef `json:"task,omitempty"`
	// +optional
	RetentionPolicy v1alpha1.RetentionPolicy `json:"retentionPolicy,omitempty"`
	// +optional
	RuntimeSettings RuntimeSettings `json:"runtimeSettings,omitempty"`
	// +optional
	TempDir EmptyDirSettings `json:"tempDir,omitempty"`
	// +optional
	InterimVolumeTemplate *PersistentVolumeClaim `json:"interimVolumeTemplate,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	BackupHistoryLimit *int32 `json:"backupHistoryLimit,omitempty"`
}

// BackupBlueprintList is a list of BackupBlueprints.
//
// +kubebuilder:object:root=true
type BackupBlueprintList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupBlueprint `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BackupBlueprint{}, &BackupBlueprintList{})
}
