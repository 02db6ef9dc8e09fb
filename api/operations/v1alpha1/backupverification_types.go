package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupVerification proves that the snapshots of a BackupConfiguration in the same namespace
// restore: after every successful backup, or on a cron schedule, the operator restores the
// snapshot into a scratch server with a verifying RestoreSession (Task param verify) and the
// Snapshot object records the verdict. The source database and the Stash objects are never
// changed; the restore only reads the repository (docs/design/0038-backup-verification.md).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=backupverifications,singular=backupverification,shortName=bv,categories=hoard
// +kubebuilder:printcolumn:name="Configuration",type=string,JSONPath=`.spec.backupConfiguration`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Last-Snapshot",type=string,JSONPath=`.status.last.snapshot`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.last.phase`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.last.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BackupVerification struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackupVerificationSpec   `json:"spec"`
	Status BackupVerificationStatus `json:"status,omitempty"`
}

// BackupVerificationSpec says which backups to verify, when, and where to restore them.
// +kubebuilder:validation:XValidation:rule="has(self.scratch.appBinding) != has(self.scratch.server)",message="scratch needs exactly one of appBinding and server"
type BackupVerificationSpec struct {
	// BackupConfiguration is the name of a BackupConfiguration in this namespace.
	// +kubebuilder:validation:MinLength=1
	BackupConfiguration string `json:"backupConfiguration"`
	// Schedule is a cron schedule (5 fields or a macro) at which the configuration's newest
	// successful backup is verified. Empty verifies every backup once its session succeeded.
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// Task is the restore Task. Empty takes the configuration's Task with "backup" replaced
	// by "restore" (mysql-backup-10.5.8 restores with mysql-restore-10.5.8).
	// +optional
	Task string `json:"task,omitempty"`
	// SQL holds assertions run on the restored data after the row comparison (the Task param
	// verifySQL): statements whose first column must be true.
	// +optional
	SQL string `json:"sql,omitempty"`
	// Scratch is where the snapshot is restored. Its contents are overwritten.
	Scratch ScratchTarget `json:"scratch"`
	// HistoryLimit is how many finished verification RestoreSessions are kept (3 when unset).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	HistoryLimit *int32 `json:"historyLimit,omitempty"`
}

// ScratchTarget is an existing scratch database, or a server the operator runs for each
// verification.
type ScratchTarget struct {
	// AppBinding names an AppBinding in this namespace for a scratch server. It must not be
	// the configuration's own target, and must not reach the same address.
	// +optional
	// +kubebuilder:validation:MinLength=1
	AppBinding string `json:"appBinding,omitempty"`
	// Server runs a database server beside the restore, inside the verification Job's pod:
	// it starts with the restore and is gone when the Job ends, however it ends.
	// +optional
	Server *ScratchServer `json:"server,omitempty"`
}

// ScratchServer is the database server a verification runs in its own pod.
type ScratchServer struct {
	// Image is a MariaDB or MySQL server image that follows the official images' contract:
	// an empty /var/lib/mysql is initialised with MYSQL_ROOT_PASSWORD (and
	// MARIADB_ROOT_PASSWORD), and the server listens on port 3306. It runs as a non-root user.
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// Args are server options (e.g. --innodb-buffer-pool-size=512M), after
	// --bind-address=127.0.0.1, which keeps the server to its pod.
	// +optional
	Args []string `json:"args,omitempty"`
	// Resources of the server's container. Its data directory is an emptyDir, bounded by the
	// ephemeral-storage limit when one is set.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// BackupVerificationStatus is what was verified last.
type BackupVerificationStatus struct {
	// Last is the newest verification that finished.
	// +optional
	Last *VerificationRun `json:"last,omitempty"`
	// Running is the verification RestoreSession that runs now, if any.
	// +optional
	Running string `json:"running,omitempty"`
	// LastScheduleTime is the last time the schedule fired.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// Conditions: Ready says whether verifications can run (the configuration, its target and
	// the scratch target are usable), and why not.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// VerificationRun is one verification's outcome.
type VerificationRun struct {
	// Snapshot is the restic snapshot's short id.
	Snapshot string `json:"snapshot"`
	// BackupSession made the snapshot, when the verification followed a backup.
	// +optional
	BackupSession string `json:"backupSession,omitempty"`
	// RestoreSession is the verifying RestoreSession, in this namespace.
	RestoreSession string `json:"restoreSession"`
	// Phase is Passed or Failed.
	Phase string `json:"phase"`
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
	// Message says what was checked, or what failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// ConditionVerificationReady is the BackupVerification's one condition.
const ConditionVerificationReady = "Ready"

// LabelVerification, on a verification's RestoreSessions, names its BackupVerification.
const LabelVerification = "operations.hoard.io/backup-verification"

// AnnotationBackupSession, on a verification's RestoreSession, names the BackupSession whose
// snapshot it verifies.
const AnnotationBackupSession = "operations.hoard.io/backup-session"

// +kubebuilder:object:root=true

// BackupVerificationList is a list of BackupVerifications.
type BackupVerificationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupVerification `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BackupVerification{}, &BackupVerificationList{})
}
