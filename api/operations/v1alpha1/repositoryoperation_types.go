package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RepositoryOperation asks the operator to run one maintenance operation on the restic
// repository of a Repository in the same namespace. The operator runs it as a Job that mounts
// the Repository's storage Secret, when no other Hoard Job uses the repository and no session
// waits ahead of it (the one-writer rule); the user, and `kubectl hoard`, only create this
// object and read its status, never the repository password. The spec cannot change: each
// operation is one request, one Job, one outcome.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=repositoryoperations,singular=repositoryoperation,shortName=repoop,categories=hoard
// +kubebuilder:printcolumn:name="Repository",type=string,JSONPath=`.spec.repository`
// +kubebuilder:printcolumn:name="Operation",type=string,JSONPath=`.spec.operation`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RepositoryOperation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create another RepositoryOperation"
	Spec   RepositoryOperationSpec   `json:"spec"`
	Status RepositoryOperationStatus `json:"status,omitempty"`
}

// Operation is what to do to the repository.
// +kubebuilder:validation:Enum=Unlock;Check;KeyList;KeyAdd;KeyRemove;Migrate
type Operation string

const (
	// OperationUnlock removes the repository's locks. The Job runs only while no other Hoard
	// Job uses the repository, so every lock it finds is stale and all are removed (restic
	// unlock --remove-all), unless the Repository is annotated as shared with other tools:
	// then only restic's stale locks go.
	OperationUnlock Operation = "Unlock"
	// OperationCheck runs restic check, reading check.readDataSubset of the data.
	OperationCheck Operation = "Check"
	// OperationKeyList lists the repository's keys into status.keys.
	OperationKeyList Operation = "KeyList"
	// OperationKeyAdd adds a key for the password in key.newPasswordSecret and opens the
	// repository with it before it reports success (status.keyID is the new key).
	OperationKeyAdd Operation = "KeyAdd"
	// OperationKeyRemove removes key.id. The key the storage Secret's password opens cannot
	// be removed: the operation opens the repository with that password first.
	OperationKeyRemove Operation = "KeyRemove"
	// OperationMigrate upgrades a Stash-era repository (format 1) to format 2 with
	// compression, after a restic check. It is refused, not queued, while any session uses or
	// waits for the repository.
	OperationMigrate Operation = "Migrate"
)

// RepositoryOperationSpec names the Repository and the operation.
// +kubebuilder:validation:XValidation:rule="!has(self.check) || self.operation == 'Check'",message="check is only for operation Check"
// +kubebuilder:validation:XValidation:rule="self.operation != 'KeyAdd' || (has(self.key) && has(self.key.newPasswordSecret))",message="KeyAdd needs key.newPasswordSecret"
// +kubebuilder:validation:XValidation:rule="self.operation != 'KeyRemove' || (has(self.key) && has(self.key.id))",message="KeyRemove needs key.id"
type RepositoryOperationSpec struct {
	// Repository is the name of a Repository in this namespace.
	// +kubebuilder:validation:MinLength=1
	Repository string `json:"repository"`
	// Operation is Unlock or Check.
	Operation Operation `json:"operation"`
	// Check holds the parameters of a Check.
	// +optional
	Check *CheckParams `json:"check,omitempty"`
	// Key holds the parameters of KeyAdd and KeyRemove.
	// +optional
	Key *KeyParams `json:"key,omitempty"`
}

// KeyParams are the parameters of KeyAdd and KeyRemove.
type KeyParams struct {
	// NewPasswordSecret (KeyAdd) is a Secret of this namespace whose RESTIC_PASSWORD is the
	// new key's password. The Job mounts it; nobody else reads it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	NewPasswordSecret string `json:"newPasswordSecret,omitempty"`
	// ID (KeyRemove) is the key's id, or a unique prefix of at least 8 hex digits.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{8,64}$`
	ID string `json:"id,omitempty"`
}

// CheckParams are the parameters of a Check.
type CheckParams struct {
	// ReadDataSubset also reads this part of the data packs, as restic's --read-data-subset
	// takes it: "n/t" (the n-th of t groups), "x%" or a size such as "500M". Empty reads
	// only the structure.
	// +optional
	// +kubebuilder:validation:Pattern=`^([1-9][0-9]*/[1-9][0-9]*|[0-9]+(\.[0-9]+)?%|[1-9][0-9]*[KMGT]?)$`
	ReadDataSubset string `json:"readDataSubset,omitempty"`
}

// OperationPhase is where the operation is.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type OperationPhase string

const (
	// OperationPending waits for the repository: another Hoard Job uses it, or a session
	// waits ahead of the operation.
	OperationPending   OperationPhase = "Pending"
	OperationRunning   OperationPhase = "Running"
	OperationSucceeded OperationPhase = "Succeeded"
	OperationFailed    OperationPhase = "Failed"
)

// RepositoryOperationStatus is what the operation did.
type RepositoryOperationStatus struct {
	// +optional
	Phase OperationPhase `json:"phase,omitempty"`
	// Message says what the operation waits for, does or did, in one line; on failure, why
	// and what to do.
	// +optional
	Message string `json:"message,omitempty"`
	// Job is the name of the Job that runs the operation, in this namespace.
	// +optional
	Job string `json:"job,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Keys are the repository's keys after a KeyList, KeyAdd or KeyRemove.
	// +optional
	Keys []RepositoryKey `json:"keys,omitempty"`
	// KeyID is the key KeyAdd added.
	// +optional
	KeyID string `json:"keyID,omitempty"`
	// CurrentKeyID is the key the storage Secret's password opened when the Job ran.
	// +optional
	CurrentKeyID string `json:"currentKeyID,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// RepositoryKey is one restic key of the repository.
type RepositoryKey struct {
	ID string `json:"id"`
	// Current is true for the key the storage Secret's password opened.
	// +optional
	Current bool `json:"current,omitempty"`
	// +optional
	UserName string `json:"userName,omitempty"`
	// +optional
	HostName string `json:"hostName,omitempty"`
	// Created is when the key was added, as restic prints it.
	// +optional
	Created string `json:"created,omitempty"`
}

// RepositoryOperationList is a list of RepositoryOperations.
//
// +kubebuilder:object:root=true
type RepositoryOperationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RepositoryOperation `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RepositoryOperation{}, &RepositoryOperationList{})
}
