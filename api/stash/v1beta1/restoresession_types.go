package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RestoreSession restores a target from a Repository once.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=restoresessions,singular=restoresession,shortName=restore,categories=stash
// +kubebuilder:printcolumn:name="Repository",type=string,JSONPath=`.spec.repository.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Progress",type=integer,JSONPath=`.status.progress.percent`,priority=1
// +kubebuilder:printcolumn:name="Tables",type=integer,JSONPath=`.status.progress.tablesDone`,priority=1
// +kubebuilder:printcolumn:name="Rows",type=integer,JSONPath=`.status.progress.rowsDone`,priority=1
// +kubebuilder:printcolumn:name="Loading",type=string,JSONPath=`.status.progress.loading`,priority=1
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.status.sessionDuration`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RestoreSession struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RestoreSessionSpec   `json:"spec,omitempty"`
	Status RestoreSessionStatus `json:"status,omitempty"`
}

// RestoreSessionSpec says what to restore from where.
type RestoreSessionSpec struct {
	// Task restores the data; empty name means the AppBinding's addon restore task.
	// +optional
	Task TaskRef `json:"task,omitempty"`
	// Repository holds the snapshot: in this namespace unless repository.namespace names
	// another, whose Repository must allow this namespace in its spec.usagePolicy.
	// +optional
	Repository RepositoryRef `json:"repository,omitempty"`
	// +optional
	// +kubebuilder:default=Restic
	Driver Snapshotter `json:"driver,omitempty"`
	// +optional
	Target *RestoreTarget `json:"target,omitempty"`
	// Rules is the deprecated location of target.rules, still used by many manifests: it
	// applies when target.rules is empty.
	// +optional
	Rules []Rule `json:"rules,omitempty"`
	// +optional
	RuntimeSettings RuntimeSettings `json:"runtimeSettings,omitempty"`
	// +optional
	TempDir EmptyDirSettings `json:"tempDir,omitempty"`
	// +optional
	InterimVolumeTemplate *PersistentVolumeClaim `json:"interimVolumeTemplate,omitempty"`
	// +optional
	Hooks *RestoreHooks `json:"hooks,omitempty"`
	// TimeOut bounds the restore (a Go duration such as "2h"). Empty means Hoard's default.
	// +optional
	TimeOut string `json:"timeOut,omitempty"`
}

// RestoreTarget is what a RestoreSession restores into.
type RestoreTarget struct {
	// +optional
	Alias string `json:"alias,omitempty"`
	// +optional
	Ref TargetRef `json:"ref,omitempty"`
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// +optional
	VolumeClaimTemplates []PersistentVolumeClaim `json:"volumeClaimTemplates,omitempty"`
	// +optional
	Rules []Rule `json:"rules,omitempty"`
	// Args are passed to the restore command (for MySQL, mysql client arguments).
	// +optional
	Args []string `json:"args,omitempty"`
}

// Rule selects which snapshot restores into which host.
type Rule struct {
	// +optional
	TargetHosts []string `json:"targetHosts,omitempty"`
	// SourceHost is the host whose snapshots to restore; default the target's own host.
	// +optional
	SourceHost string `json:"sourceHost,omitempty"`
	// Snapshots are snapshot ids, or "latest".
	// +optional
	Snapshots []string `json:"snapshots,omitempty"`
	// +optional
	Paths []string `json:"paths,omitempty"`
	// +optional
	Exclude []string `json:"exclude,omitempty"`
	// +optional
	Include []string `json:"include,omitempty"`
}

// RestoreHooks run before and after the restore (see docs/design/0019-hooks.md).
type RestoreHooks struct {
	// PreRestore runs before the restore; when it fails, the session fails and nothing is
	// restored.
	// +optional
	PreRestore *Handler `json:"preRestore,omitempty"`
	// PostRestore runs after the restore, also when it failed, as its executionPolicy says.
	// +optional
	PostRestore *PostHook `json:"postRestore,omitempty"`
}

// RestorePhase is the state of a RestoreSession.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Unknown
type RestorePhase string

const (
	RestorePending   RestorePhase = "Pending"
	RestoreRunning   RestorePhase = "Running"
	RestoreSucceeded RestorePhase = "Succeeded"
	RestoreFailed    RestorePhase = "Failed"
	RestoreUnknown   RestorePhase = "Unknown"
)

// RestoreSessionStatus is what the restore did.
type RestoreSessionStatus struct {
	// +optional
	Phase RestorePhase `json:"phase,omitempty"`
	// +optional
	TotalHosts *int32 `json:"totalHosts,omitempty"`
	// +optional
	SessionDuration string `json:"sessionDuration,omitempty"`
	// +optional
	Stats []HostRestoreStats `json:"stats,omitempty"`
	// Progress is live while the session runs (Hoard's, not Stash's): how far the load has
	// come. A failed restore keeps its last report; a successful one clears it.
	// +optional
	Progress *RestoreProgress `json:"progress,omitempty"`
	// Failure says where a failed load of the restore engine stopped (Hoard's, not
	// Stash's): what the database holds now. The error itself is in stats and the
	// RestoreCompleted condition.
	// +optional
	Failure *RestoreFailure `json:"failure,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RestoreProgress is the latest progress report of a running restore.
type RestoreProgress struct {
	// Percent is 0–100 of the dump read, when the snapshot recorded its size.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent *int32 `json:"percent,omitempty"`
	// +optional
	BytesDone int64 `json:"bytesDone,omitempty"`
	// +optional
	TotalBytes int64 `json:"totalBytes,omitempty"`
	// TablesDone is the number of tables the restore engine has loaded completely.
	// +optional
	TablesDone int64 `json:"tablesDone,omitempty"`
	// Loading names the tables the restore engine is loading (`db`.`table`, comma-separated).
	// +optional
	Loading string `json:"loading,omitempty"`
	// RowsDone is the number of rows the restore engine has loaded, of all tables.
	// +optional
	RowsDone int64 `json:"rowsDone,omitempty"`
	// Tables are the tables the restore engine is loading, with what each has loaded so far.
	// +optional
	// +listType=atomic
	Tables []TableProgress `json:"tables,omitempty"`
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`
}

// TableProgress is a table being loaded.
type TableProgress struct {
	// Table is `db`.`table`.
	Table string `json:"table"`
	// Rows loaded so far.
	// +optional
	Rows int64 `json:"rows,omitempty"`
	// Bytes of the table's statements in the dump executed so far.
	// +optional
	Bytes int64 `json:"bytes,omitempty"`
}

// RestoreFailure is where a load of the restore engine stopped.
type RestoreFailure struct {
	// StatementLine is the line of the dump the failed statement starts on.
	// +optional
	StatementLine int64 `json:"statementLine,omitempty"`
	// Table is the table of the failed statement (`db`.`table`), empty when the statement
	// was not a table's (a view, a routine, a grant).
	// +optional
	Table string `json:"table,omitempty"`
	// TablesCompleted is the number of tables loaded completely; LastCompleted names the
	// last of them to finish (at most 10), oldest first.
	// +optional
	TablesCompleted int64 `json:"tablesCompleted,omitempty"`
	// +optional
	// +listType=atomic
	LastCompleted []string `json:"lastCompleted,omitempty"`
	// PartlyLoaded are the tables that were being loaded: they hold part of their rows.
	// +optional
	// +listType=atomic
	PartlyLoaded []string `json:"partlyLoaded,omitempty"`
}

// HostRestoreStats is the outcome of restoring one host.
type HostRestoreStats struct {
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// +optional
	Phase HostPhase `json:"phase,omitempty"`
	// +optional
	Duration string `json:"duration,omitempty"`
	// +optional
	Error string `json:"error,omitempty"`
}

// RestoreSessionList is a list of RestoreSessions.
//
// +kubebuilder:object:root=true
type RestoreSessionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RestoreSession `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RestoreSession{}, &RestoreSessionList{})
}
