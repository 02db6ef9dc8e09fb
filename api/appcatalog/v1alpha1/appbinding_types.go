package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// AppBinding describes how to connect to an application, usually a database.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=appbindings,singular=appbinding,categories=catalog
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AppBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AppBindingSpec `json:"spec,omitempty"`
}

// AppBindingSpec is the application's address, credentials and addon parameters.
//
// +kubebuilder:validation:XValidation:rule="has(self.clientConfig) && (has(self.clientConfig.url) || has(self.clientConfig.service))",message="spec.clientConfig must set url or service"
type AppBindingSpec struct {
	// Type is the application type, e.g. kubedb.com/mysql or mysql.
	// +optional
	Type string `json:"type,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// AppRef points at the object that runs the application (upstream field).
	// +optional
	AppRef *TypedObjectReference `json:"appRef,omitempty"`
	// +optional
	ClientConfig ClientConfig `json:"clientConfig,omitempty"`
	// Secret holds the keys `username` and `password`.
	// +optional
	Secret *corev1.LocalObjectReference `json:"secret,omitempty"`
	// SecretTransforms are applied, in order, to the Secret's data before use.
	// +optional
	SecretTransforms []SecretTransform `json:"secretTransforms,omitempty"`
	// TLSSecret holds client TLS keys (upstream field; accepted).
	// +optional
	TLSSecret *corev1.LocalObjectReference `json:"tlsSecret,omitempty"`
	// Parameters are free-form; a StashAddon object here names the backup and restore Tasks.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Parameters *runtime.RawExtension `json:"parameters,omitempty"`
}

// TypedObjectReference names an object of some kind.
type TypedObjectReference struct {
	// +optional
	APIGroup string `json:"apiGroup,omitempty"`
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// ClientConfig is how to reach the application.
type ClientConfig struct {
	// URL is the location, e.g. tcp(mysql.demo.svc:3306)/ or mysql://host:3306.
	// +optional
	URL *string `json:"url,omitempty"`
	// Service is a Service in the AppBinding's namespace.
	// +optional
	Service *ServiceReference `json:"service,omitempty"`
	// InsecureSkipTLSVerify disables TLS verification. Strongly discouraged.
	// +optional
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`
	// CABundle is the PEM CA that signs the server's certificate; when set, the connection
	// uses TLS and verifies it.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
}

// ServiceReference is a Service and port.
type ServiceReference struct {
	// +optional
	Scheme string `json:"scheme,omitempty"`
	Name   string `json:"name"`
	// +optional
	Port int32 `json:"port,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
}

// SecretTransform is one edit of the Secret's data; exactly one field is set.
type SecretTransform struct {
	// +optional
	RenameKey *RenameKeyTransform `json:"renameKey,omitempty"`
	// +optional
	AddKey *AddKeyTransform `json:"addKey,omitempty"`
	// +optional
	AddKeysFrom *AddKeysFromTransform `json:"addKeysFrom,omitempty"`
	// +optional
	RemoveKey *RemoveKeyTransform `json:"removeKey,omitempty"`
}

// RenameKeyTransform renames a key.
type RenameKeyTransform struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// AddKeyTransform adds a key with a byte or string value.
type AddKeyTransform struct {
	Key string `json:"key"`
	// +optional
	Value []byte `json:"value,omitempty"`
	// +optional
	StringValue *string `json:"stringValue,omitempty"`
}

// AddKeysFromTransform copies every key of another Secret.
type AddKeysFromTransform struct {
	SecretRef *ObjectReference `json:"secretRef,omitempty"`
}

// ObjectReference names an object, optionally in another namespace.
type ObjectReference struct {
	// +optional
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// RemoveKeyTransform removes a key.
type RemoveKeyTransform struct {
	Key string `json:"key"`
}

// AppBindingList is a list of AppBindings.
//
// +kubebuilder:object:root=true
type AppBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AppBinding `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AppBinding{}, &AppBindingList{})
}
