package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Task is an ordered list of Functions that together back up or restore one target. Every
// step but the last becomes an init container of the Job; the last is its main container.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=tasks,singular=task,scope=Cluster,categories=stash
type Task struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TaskSpec `json:"spec,omitempty"`
}

// TaskSpec lists the steps and the volumes they share.
type TaskSpec struct {
	// +optional
	Steps []FunctionRef `json:"steps,omitempty"`
	// Volumes are added to the Job's pod; they may use placeholders such as
	// ${REPOSITORY_SECRET_NAME}.
	// +optional
	Volumes []corev1.Volume `json:"volumes,omitempty"`
}

// FunctionRef is one step: a Function and the parameters for its placeholders.
type FunctionRef struct {
	// Name of the Function.
	Name string `json:"name"`
	// +optional
	Params []Param `json:"params,omitempty"`
}

// TaskList is a list of Tasks.
//
// +kubebuilder:object:root=true
type TaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Task `json:"items"`
}

// Function is a container template with `${VAR}` / `${VAR:=default}` placeholders.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=functions,singular=function,shortName=fn,scope=Cluster,categories=stash
type Function struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec FunctionSpec `json:"spec,omitempty"`
}

// FunctionSpec is the container a step runs.
type FunctionSpec struct {
	Image string `json:"image"`
	// +optional
	Command []string `json:"command,omitempty"`
	// +optional
	Args []string `json:"args,omitempty"`
	// +optional
	WorkingDir string `json:"workingDir,omitempty"`
	// +optional
	Ports []corev1.ContainerPort `json:"ports,omitempty"`
	// VolumeMounts may name a volume through a placeholder such as ${secretVolume}.
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	// +optional
	VolumeDevices []corev1.VolumeDevice `json:"volumeDevices,omitempty"`
	// +optional
	RuntimeSettings *ContainerRuntimeSettings `json:"runtimeSettings,omitempty"`
	// PodSecurityPolicyName is accepted for compatibility and ignored: PodSecurityPolicy is
	// gone from Kubernetes.
	// +optional
	PodSecurityPolicyName string `json:"podSecurityPolicyName,omitempty"`
}

// FunctionList is a list of Functions.
//
// +kubebuilder:object:root=true
type FunctionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Function `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Task{}, &TaskList{}, &Function{}, &FunctionList{})
}
