package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Repository names a restic repository on some storage backend, and reports what is in it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=repositories,singular=repository,shortName=repo,categories=stash
// +kubebuilder:printcolumn:name="Integrity",type=boolean,JSONPath=`.status.integrity`
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.status.totalSize`
// +kubebuilder:printcolumn:name="Snapshot-Count",type=integer,JSONPath=`.status.snapshotCount`
// +kubebuilder:printcolumn:name="Last-Successful-Backup",type=date,format=date-time,JSONPath=`.status.lastBackupTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Repository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RepositorySpec   `json:"spec,omitempty"`
	Status RepositoryStatus `json:"status,omitempty"`
}

// RepositorySpec is where the repository lives and what happens to its data on deletion.
type RepositorySpec struct {
	// Backend is the storage that holds the restic repository.
	Backend Backend `json:"backend,omitempty"`

	// WipeOut deletes the restic repository's data from the backend when the Repository is
	// deleted. The Repository keeps a finalizer until the data is gone or the deletion failed.
	// +optional
	WipeOut bool `json:"wipeOut,omitempty"`

	// UsagePolicy says which other namespaces' BackupConfigurations and RestoreSessions may
	// use this Repository (upstream v2021 field); unset means only its own namespace. A
	// namespace it allows gets, while one of its sessions runs, a copy of the storage Secret
	// that its Job mounts.
	// +optional
	UsagePolicy *UsagePolicy `json:"usagePolicy,omitempty"`
}

// Backend holds exactly one storage provider and the Secret with its credentials and the
// restic password.
//
// +kubebuilder:validation:XValidation:rule="[has(self.local), has(self.s3), has(self.gcs), has(self.azure), has(self.swift), has(self.b2), has(self.rest)].filter(x, x).size() == 1",message="exactly one backend provider (local, s3, gcs, azure, swift, b2 or rest) must be set"
type Backend struct {
	// StorageSecretName is a Secret in the Repository's namespace holding RESTIC_PASSWORD and
	// the provider's credentials, one key each.
	// +optional
	StorageSecretName string `json:"storageSecretName,omitempty"`

	// +optional
	Local *LocalSpec `json:"local,omitempty"`
	// +optional
	S3 *S3Spec `json:"s3,omitempty"`
	// +optional
	GCS *GCSSpec `json:"gcs,omitempty"`
	// +optional
	Azure *AzureSpec `json:"azure,omitempty"`
	// +optional
	Swift *SwiftSpec `json:"swift,omitempty"`
	// +optional
	B2 *B2Spec `json:"b2,omitempty"`
	// +optional
	Rest *RestServerSpec `json:"rest,omitempty"`
}

// LocalSpec is a volume mounted into the backup Job; the repository lives at MountPath.
type LocalSpec struct {
	corev1.VolumeSource `json:",inline"`
	// MountPath is where the volume is mounted in the Job, and the repository's path.
	MountPath string `json:"mountPath,omitempty"`
	// SubPath mounts a sub-directory of the volume instead of its root.
	// +optional
	SubPath string `json:"subPath,omitempty"`
}

// S3Spec is an S3 or S3-compatible bucket. RESTIC_REPOSITORY becomes s3:<endpoint>/<bucket>/<prefix>.
type S3Spec struct {
	// Endpoint is the server, with or without a scheme (s3.amazonaws.com, https://minio.svc).
	Endpoint string `json:"endpoint,omitempty"`
	Bucket   string `json:"bucket,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Region becomes AWS_DEFAULT_REGION.
	// +optional
	Region string `json:"region,omitempty"`
}

// GCSSpec is a Google Cloud Storage bucket.
type GCSSpec struct {
	Bucket string `json:"bucket,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// MaxConnections becomes restic's -o gs.connections.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxConnections int64 `json:"maxConnections,omitempty"`
}

// AzureSpec is an Azure Blob Storage container.
type AzureSpec struct {
	Container string `json:"container,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// MaxConnections becomes restic's -o azure.connections.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxConnections int64 `json:"maxConnections,omitempty"`
}

// SwiftSpec is an OpenStack Swift container.
type SwiftSpec struct {
	Container string `json:"container,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
}

// B2Spec is a Backblaze B2 bucket.
type B2Spec struct {
	Bucket string `json:"bucket,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// MaxConnections becomes restic's -o b2.connections.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxConnections int64 `json:"maxConnections,omitempty"`
}

// RestServerSpec is a restic REST server. REST_SERVER_USERNAME and REST_SERVER_PASSWORD from
// the storage Secret go into the URL's user info.
type RestServerSpec struct {
	URL string `json:"url,omitempty"`
}

// UsagePolicy limits which namespaces may refer to a Repository.
type UsagePolicy struct {
	// +optional
	AllowedNamespaces AllowedNamespaces `json:"allowedNamespaces,omitempty"`
}

// AllowedNamespaces selects namespaces.
type AllowedNamespaces struct {
	// From is Same (the default: only this namespace), All, or Selector (namespaces whose
	// labels match selector).
	// +kubebuilder:validation:Enum=All;Selector;Same
	// +optional
	From *FromNamespaces `json:"from,omitempty"`
	// Selector picks namespaces by label when from is Selector.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// FromNamespaces is All, Selector or Same.
type FromNamespaces string

// Values of AllowedNamespaces.From. A Repository's own namespace may always use it.
const (
	// NamespacesFromSame allows only the Repository's own namespace; it is the default.
	NamespacesFromSame FromNamespaces = "Same"
	// NamespacesFromAll allows every namespace.
	NamespacesFromAll FromNamespaces = "All"
	// NamespacesFromSelector allows the namespaces whose labels match Selector.
	NamespacesFromSelector FromNamespaces = "Selector"
)

// RepositoryStatus is what the last backup, retention run and integrity check found.
type RepositoryStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// FirstBackupTime is when the first successful backup into this repository finished.
	// +optional
	FirstBackupTime *metav1.Time `json:"firstBackupTime,omitempty"`
	// LastBackupTime is when the latest successful backup finished.
	// +optional
	LastBackupTime *metav1.Time `json:"lastBackupTime,omitempty"`
	// Integrity is the result of the last `restic check`.
	// +optional
	Integrity *bool `json:"integrity,omitempty"`
	// TotalSize is the repository's stored size, human readable ("6.815 MiB").
	// +optional
	TotalSize string `json:"totalSize,omitempty"`
	// +optional
	SnapshotCount int64 `json:"snapshotCount,omitempty"`
	// SnapshotsRemovedOnLastCleanup counts what the retention policy removed last time.
	// +optional
	SnapshotsRemovedOnLastCleanup int64 `json:"snapshotsRemovedOnLastCleanup,omitempty"`

	// Conditions tell what happened to the repository's data (for example when wipeOut ran).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Deprecated: use LastBackupTime.
	// +optional
	LastSuccessfulBackupTime *metav1.Time `json:"lastSuccessfulBackupTime,omitempty"`
	// Deprecated: the session's duration is on the BackupSession.
	// +optional
	LastBackupDuration string `json:"lastBackupDuration,omitempty"`
	// Deprecated: use SnapshotCount.
	// +optional
	BackupCount int64 `json:"backupCount,omitempty"`
}

// RepositoryList is a list of Repositories.
//
// +kubebuilder:object:root=true
type RepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Repository `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Repository{}, &RepositoryList{})
}
