package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
)

// BackupConfiguration schedules backups of one target into one Repository.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=backupconfigurations,singular=backupconfiguration,shortName=bc,categories=stash
// +kubebuilder:printcolumn:name="Task",type=string,JSONPath=`.spec.task.name`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Paused",type=boolean,JSONPath=`.spec.paused`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BackupConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackupConfigurationSpec   `json:"spec,omitempty"`
	Status BackupConfigurationStatus `json:"status,omitempty"`
}

// BackupConfigurationSpec says what to back up, where, how often and how many to keep.
type BackupConfigurationSpec struct {
	// Schedule is a 5-field cron expression or a macro such as @daily; it becomes the
	// schedule of the CronJob that triggers BackupSessions.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^\\\\s*(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every\\\\s+[0-9][0-9smh.]*|[0-9A-Za-z*/,?#-]+(\\\\s+[0-9A-Za-z*/,?#-]+){4})\\\\s*$')",message="schedule must be a 5-field cron expression (e.g. \"*/5 * * * *\") or a macro such as @daily"
	Schedule string `json:"schedule,omitempty"`

	// Driver is Restic (default) or VolumeSnapshotter.
	// +optional
	// +kubebuilder:default=Restic
	Driver Snapshotter `json:"driver,omitempty"`

	// Repository is the Repository that receives the backups: in this namespace unless
	// repository.namespace names another, whose Repository must allow this namespace in its
	// spec.usagePolicy.
	// +optional
	Repository RepositoryRef `json:"repository,omitempty"`

	// RetentionPolicy runs restic forget after each backup.
	// +optional
	RetentionPolicy v1alpha1.RetentionPolicy `json:"retentionPolicy,omitempty"`

	// Paused suspends the CronJob: no new BackupSessions until unpaused.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// BackupHistoryLimit is how many finished BackupSessions to keep (default 1).
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	BackupHistoryLimit *int32 `json:"backupHistoryLimit,omitempty"`

	// Task is the Task that takes the backup; empty name means the AppBinding's addon task.
	// +optional
	Task TaskRef `json:"task,omitempty"`

	// Target is what to back up; for a database, an AppBinding.
	// +optional
	Target *BackupTarget `json:"target,omitempty"`

	// +optional
	RuntimeSettings RuntimeSettings `json:"runtimeSettings,omitempty"`

	// TempDir shapes the /tmp emptyDir of the backup Job.
	// +optional
	TempDir EmptyDirSettings `json:"tempDir,omitempty"`

	// +optional
	InterimVolumeTemplate *PersistentVolumeClaim `json:"interimVolumeTemplate,omitempty"`

	// +optional
	Hooks *BackupHooks `json:"hooks,omitempty"`

	// TimeOut bounds a BackupSession (a Go duration such as "2h"); a session still running
	// then is failed. Empty means Hoard's default.
	// +optional
	TimeOut string `json:"timeOut,omitempty"`
}

// RepositoryRef names a Repository.
type RepositoryRef struct {
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace of the Repository; empty means the referring object's own namespace. A
	// Repository in another namespace is used only when its spec.usagePolicy allows the
	// referring namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// Key is the Repository's name and namespace, for an object in namespace ns that refers to it.
func (r RepositoryRef) Key(ns string) types.NamespacedName {
	if r.Namespace != "" {
		ns = r.Namespace
	}
	return types.NamespacedName{Namespace: ns, Name: r.Name}
}

// BackupHooks run before and after the backup (see docs/design/0019-hooks.md).
type BackupHooks struct {
	// PreBackup runs before the dump; when it fails, the session fails and no snapshot is
	// taken.
	// +optional
	PreBackup *Handler `json:"preBackup,omitempty"`
	// PostBackup runs after the backup, also when it failed, as its executionPolicy says.
	// +optional
	PostBackup *PostHook `json:"postBackup,omitempty"`
}

// BackupInvokerPhase says whether a BackupConfiguration can run backups.
// +kubebuilder:validation:Enum=Ready;NotReady;Invalid
type BackupInvokerPhase string

const (
	BackupInvokerReady    BackupInvokerPhase = "Ready"
	BackupInvokerNotReady BackupInvokerPhase = "NotReady"
	BackupInvokerInvalid  BackupInvokerPhase = "Invalid"
)

// BackupConfigurationStatus tells whether everything a backup needs is in place.
type BackupConfigurationStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase is Ready when every condition holds, NotReady when something it refers to is
	// missing, Invalid when the spec itself cannot work.
	// +optional
	Phase BackupInvokerPhase `json:"phase,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// BackupConfigurationList is a list of BackupConfigurations.
//
// +kubebuilder:object:root=true
type BackupConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupConfiguration `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BackupConfiguration{}, &BackupConfigurationList{})
}
