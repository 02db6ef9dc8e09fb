package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels upstream Stash puts on every BackupSession.
const (
	LabelInvokerType = "stash.appscode.com/invoker-type"
	LabelInvokerName = "stash.appscode.com/invoker-name"
)

// BackupSession is one run of a BackupConfiguration.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=backupsessions,singular=backupsession,categories=stash
// +kubebuilder:printcolumn:name="Invoker-Type",type=string,JSONPath=`.spec.invoker.kind`
// +kubebuilder:printcolumn:name="Invoker-Name",type=string,JSONPath=`.spec.invoker.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.status.sessionDuration`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BackupSession struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackupSessionSpec   `json:"spec,omitempty"`
	Status BackupSessionStatus `json:"status,omitempty"`
}

// BackupSessionSpec names what invoked the session.
type BackupSessionSpec struct {
	// +optional
	Invoker BackupInvokerRef `json:"invoker,omitempty"`
}

// BackupInvokerRef points at a BackupConfiguration.
type BackupInvokerRef struct {
	// +optional
	APIGroup string `json:"apiGroup,omitempty"`
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// BackupSessionPhase is the state of a BackupSession.
// +kubebuilder:validation:Enum=Pending;Skipped;Running;Succeeded;Failed;Unknown
type BackupSessionPhase string

const (
	BackupSessionPending   BackupSessionPhase = "Pending"
	BackupSessionSkipped   BackupSessionPhase = "Skipped"
	BackupSessionRunning   BackupSessionPhase = "Running"
	BackupSessionSucceeded BackupSessionPhase = "Succeeded"
	BackupSessionFailed    BackupSessionPhase = "Failed"
	BackupSessionUnknown   BackupSessionPhase = "Unknown"
)

// TargetPhase is the state of one target within a session.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type TargetPhase string

const (
	TargetBackupPending   TargetPhase = "Pending"
	TargetBackupRunning   TargetPhase = "Running"
	TargetBackupSucceeded TargetPhase = "Succeeded"
	TargetBackupFailed    TargetPhase = "Failed"
)

// HostPhase is the outcome for one host.
// +kubebuilder:validation:Enum=Succeeded;Failed;Unknown
type HostPhase string

const (
	HostSucceeded HostPhase = "Succeeded"
	HostFailed    HostPhase = "Failed"
	HostUnknown   HostPhase = "Unknown"
)

// BackupSessionStatus is what the session did.
type BackupSessionStatus struct {
	// +optional
	Phase BackupSessionPhase `json:"phase,omitempty"`
	// SessionDuration is how long the session took, as a Go duration string.
	// +optional
	SessionDuration string `json:"sessionDuration,omitempty"`
	// +optional
	Targets []BackupTargetStatus `json:"targets,omitempty"`
	// Progress is live while the session runs: how far the upload has come.
	// +optional
	Progress *BackupProgress `json:"progress,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// BackupProgress is the latest progress report of a running backup.
type BackupProgress struct {
	// Percent is 0–100 when the total is known.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent *int32 `json:"percent,omitempty"`
	// +optional
	BytesDone int64 `json:"bytesDone,omitempty"`
	// +optional
	TotalBytes int64 `json:"totalBytes,omitempty"`
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`
}

// BackupTargetStatus is the state of one target of the session.
type BackupTargetStatus struct {
	// +optional
	Ref TargetRef `json:"ref,omitempty"`
	// +optional
	TotalHosts *int32 `json:"totalHosts,omitempty"`
	// +optional
	Phase TargetPhase `json:"phase,omitempty"`
	// +optional
	Stats []HostBackupStats `json:"stats,omitempty"`
	// PreBackupActions ran before the backup, e.g. InitializeBackendRepository.
	// +optional
	PreBackupActions []string `json:"preBackupActions,omitempty"`
	// PostBackupActions ran after it, e.g. ApplyRetentionPolicy, VerifyRepositoryIntegrity.
	// +optional
	PostBackupActions []string `json:"postBackupActions,omitempty"`
}

// HostBackupStats is what the backup of one host produced.
type HostBackupStats struct {
	// Hostname is the snapshot's host: the target alias or "host-0".
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// +optional
	Phase HostPhase `json:"phase,omitempty"`
	// +optional
	Snapshots []SnapshotStats `json:"snapshots,omitempty"`
	// +optional
	Duration string `json:"duration,omitempty"`
	// Error says why the backup of this host failed.
	// +optional
	Error string `json:"error,omitempty"`
}

// SnapshotStats describes one restic snapshot.
type SnapshotStats struct {
	// Name is the restic snapshot id.
	// +optional
	Name string `json:"name,omitempty"`
	// Path is the backed-up path; "dumpfile.sql" for MySQL.
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	TotalSize string `json:"totalSize,omitempty"`
	// +optional
	Uploaded string `json:"uploaded,omitempty"`
	// +optional
	ProcessingTime string `json:"processingTime,omitempty"`
	// +optional
	FileStats FileStats `json:"fileStats,omitempty"`
}

// FileStats counts the files of a snapshot.
type FileStats struct {
	// +optional
	TotalFiles *int64 `json:"totalFiles,omitempty"`
	// +optional
	NewFiles *int64 `json:"newFiles,omitempty"`
	// +optional
	ModifiedFiles *int64 `json:"modifiedFiles,omitempty"`
	// +optional
	UnmodifiedFiles *int64 `json:"unmodifiedFiles,omitempty"`
}

// BackupSessionList is a list of BackupSessions.
//
// +kubebuilder:object:root=true
type BackupSessionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupSession `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BackupSession{}, &BackupSessionList{})
}
