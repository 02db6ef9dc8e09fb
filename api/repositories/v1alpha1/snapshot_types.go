package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels every Snapshot carries, with upstream Stash's keys, so that its guides'
// `kubectl get snapshots -l repository=<name>` works unchanged. The Repository's own labels
// are copied too.
const (
	LabelRepository = "repository"
	LabelHostname   = "hostname"
)

// Snapshot is one restic snapshot of a Repository, named `<repository>-<short id>` in the
// Repository's namespace. restic is the truth: the operator creates Snapshots from backup
// results and repository syncs and removes them when restic forgot the snapshot. Deleting a
// Snapshot forgets the snapshot in restic (through a Job); the object goes only once that
// succeeded.
//
// The whole object is written at once (no status subresource): it is a record the operator
// keeps, never a request from a user.
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=snapshots,singular=snapshot,categories=stash
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.id`
// +kubebuilder:printcolumn:name="Repository",type=string,JSONPath=`.status.repository`
// +kubebuilder:printcolumn:name="Hostname",type=string,JSONPath=`.status.hostname`
// +kubebuilder:printcolumn:name="Created At",type=date,format=date-time,JSONPath=`.status.time`
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.status.totalSize`,priority=1
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.status.target`,priority=1
// +kubebuilder:printcolumn:name="Session",type=string,JSONPath=`.status.session`,priority=1
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.verification.phase`,priority=1
type Snapshot struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status SnapshotStatus `json:"status,omitempty"`
}

// SnapshotStatus describes the snapshot. The first fields are upstream Stash's; the rest are
// Hoard's.
type SnapshotStatus struct {
	// Tree is the id of the snapshot's root tree.
	Tree string `json:"tree,omitempty"`
	// Paths are the backed up paths ("/dumpfile.sql" for a database dump).
	Paths []string `json:"paths,omitempty"`
	// Hostname is the snapshot's host ("host-0" unless the target has an alias).
	Hostname string   `json:"hostname,omitempty"`
	Username string   `json:"username,omitempty"`
	UID      int32    `json:"uid,omitempty"`
	Gid      int32    `json:"gid,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	// Repository is the name of the Repository (in this namespace) the snapshot is in.
	Repository string `json:"repository,omitempty"`

	// ID is restic's short id (the first 8 hex digits), as restic prints it.
	ID string `json:"id,omitempty"`
	// FullID is restic's whole snapshot id.
	FullID string `json:"fullID,omitempty"`
	// Time is when the snapshot was taken (restic's time, not the object's creation).
	Time *metav1.Time `json:"time,omitempty"`
	// TotalBytes is the size of the backed up data, when restic recorded it (restic ≥ 0.17
	// stores a summary in the snapshot), and TotalSize the same, human readable.
	TotalBytes int64  `json:"totalBytes,omitempty"`
	TotalSize  string `json:"totalSize,omitempty"`
	// Target is the identity the snapshot belongs to, "<namespace>/<Kind>/<name>" from its
	// tags; empty for snapshots without Hoard's tags (written by upstream Stash, say).
	Target string `json:"target,omitempty"`
	// Session is the BackupSession that created the snapshot ("<namespace>/<name>"), empty
	// for snapshots found by a repository sync.
	Session string `json:"session,omitempty"`
	// Binlog is the source's binary log position that the snapshot's dump is consistent
	// with: where a point-in-time recovery from this snapshot starts replaying. Set by the
	// backup when the server logs binary logs; empty otherwise.
	Binlog *SnapshotBinlog `json:"binlog,omitempty"`
	// Verification is the outcome of the last verification restore of this snapshot.
	Verification *SnapshotVerification `json:"verification,omitempty"`
	// Conditions: Forgotten reports a forget that was asked for by deleting the object.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// SnapshotBinlog is a position in the source's binary logs.
type SnapshotBinlog struct {
	// File is the binary log file, e.g. mysql-bin.000012.
	File string `json:"file"`
	// Position is the offset in File.
	Position int64 `json:"position"`
	// GTID is the server's GTID position at the same point (MariaDB's
	// "domain-server-sequence" list), when the dump recorded it.
	GTID string `json:"gtid,omitempty"`
}

// SnapshotVerification is the outcome of a restore that checked the snapshot.
type SnapshotVerification struct {
	// Phase is Passed or Failed.
	// +kubebuilder:validation:Enum=Passed;Failed
	Phase string `json:"phase"`
	// Time is when the verification ended.
	Time *metav1.Time `json:"time,omitempty"`
	// Session names the RestoreSession that verified it.
	Session string `json:"session,omitempty"`
	// Message says what was checked or what failed.
	Message string `json:"message,omitempty"`
}

// Phases of a SnapshotVerification.
const (
	VerificationPassed = "Passed"
	VerificationFailed = "Failed"
)

// Condition type and reasons on a Snapshot.
const (
	// ConditionForgotten is False while a forget asked for by deleting the object waits or
	// runs, and when it failed (with the reason).
	ConditionForgotten = "Forgotten"

	ReasonForgetWaiting = "WaitingForRepository"
	ReasonForgetRunning = "ForgetRunning"
	ReasonForgetFailed  = "ForgetFailed"
)

// +kubebuilder:object:root=true

// SnapshotList is a list of Snapshots.
type SnapshotList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Snapshot `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Snapshot{}, &SnapshotList{})
}
