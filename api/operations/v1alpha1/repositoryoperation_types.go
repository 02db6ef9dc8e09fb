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
// +kubebuilder:validation:Enum=Unlock;Check
type Operation string

const (
	// OperationUnlock removes the repository's locks. The Job runs only while no other Hoard
	// Job uses the repository, so every lock it finds is stale and all are removed (restic
	// unlock --remove-all), unless the Repository is annotated as shared with other tools:
	// then only restic's stale locks go.
	OperationUnlock Operation = "Unlock"
	// OperationCheck runs restic check, reading check.readDataSubset of the data.
	OperationCheck Operation = "Check"
)

// RepositoryOperationSpec names the Repository and the operation.
// +kubebuilder:validation:XValidation:rule="!has(self.check) || self.operation == 'Check'",message="check is only for operation Check"
type RepositoryOperationSpec struct {
	// Repository is the name of a Repository in this namespace.
	// +kubebuilder:validation:MinLength=1
	Repository string `json:"repository"`
	// Operation is Unlock or Check.
	Operation Operation `json:"operation"`
	// Check holds the parameters of a Check.
	// +optional
	Check *CheckParams `json:"check,omitempty"`
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
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
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
