package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Snapshotter is the driver that takes a backup.
// +kubebuilder:validation:Enum=Restic;VolumeSnapshotter
type Snapshotter string

const (
	// ResticSnapshotter backs up through a restic Job. Hoard implements this driver.
	ResticSnapshotter Snapshotter = "Restic"
	// VolumeSnapshotter takes CSI VolumeSnapshots. Accepted, reported as unsupported.
	VolumeSnapshotter Snapshotter = "VolumeSnapshotter"
)

// TaskRef names a Task and the parameters its placeholders take.
type TaskRef struct {
	// Name of the Task. Empty means: take it from the target AppBinding's StashAddon parameters.
	// +optional
	Name string `json:"name,omitempty"`
	// Params fill `${name}` placeholders in the Task's Functions.
	// +optional
	Params []Param `json:"params,omitempty"`
}

// Param is one named value for a placeholder.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TargetRef points at what is backed up or restored; for databases, an AppBinding.
type TargetRef struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
}

// BackupTarget is what a BackupConfiguration backs up.
type BackupTarget struct {
	// Alias becomes the snapshot's host name; "host-0" when empty.
	// +optional
	Alias string `json:"alias,omitempty"`
	// +optional
	Ref TargetRef `json:"ref,omitempty"`
	// +optional
	Paths []string `json:"paths,omitempty"`
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// +optional
	VolumeSnapshotClassName string `json:"snapshotClassName,omitempty"`
	// +optional
	Exclude []string `json:"exclude,omitempty"`
	// Args are passed to the backup command (for MySQL, mysqldump arguments).
	// +optional
	Args []string `json:"args,omitempty"`
}

// RuntimeSettings shape the Job's pod and containers.
type RuntimeSettings struct {
	// +optional
	Pod *PodRuntimeSettings `json:"pod,omitempty"`
	// +optional
	Container *ContainerRuntimeSettings `json:"container,omitempty"`
}

// PodRuntimeSettings are copied into the Job's pod spec.
type PodRuntimeSettings struct {
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// +optional
	AutomountServiceAccountToken *bool `json:"automountServiceAccountToken,omitempty"`
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// SecurityContext replaces Hoard's restricted default pod security context.
	// +optional
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// +optional
	SchedulerName string `json:"schedulerName,omitempty"`
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// +optional
	Priority *int32 `json:"priority,omitempty"`
	// +optional
	ReadinessGates []corev1.PodReadinessGate `json:"readinessGates,omitempty"`
	// +optional
	RuntimeClassName *string `json:"runtimeClassName,omitempty"`
	// +optional
	EnableServiceLinks *bool `json:"enableServiceLinks,omitempty"`
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
}

// ContainerRuntimeSettings are copied into every container of the Job.
type ContainerRuntimeSettings struct {
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// +optional
	LivenessProbe *corev1.Probe `json:"livenessProbe,omitempty"`
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`
	// +optional
	Lifecycle *corev1.Lifecycle `json:"lifecycle,omitempty"`
	// SecurityContext replaces Hoard's restricted default container security context.
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
	// Nice runs the step under `nice -n <adjustment>`.
	// +optional
	Nice *NiceSettings `json:"nice,omitempty"`
	// IONice runs the step under `ionice -c <class> -n <classData>`.
	// +optional
	IONice *IONiceSettings `json:"ionice,omitempty"`
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// NiceSettings is a CPU scheduling priority adjustment.
type NiceSettings struct {
	// +optional
	// +kubebuilder:validation:Minimum=-20
	// +kubebuilder:validation:Maximum=19
	Adjustment *int32 `json:"adjustment,omitempty"`
}

// IONiceSettings is an I/O scheduling class and priority.
type IONiceSettings struct {
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3
	Class *int32 `json:"class,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=7
	ClassData *int32 `json:"classData,omitempty"`
}

// EmptyDirSettings shape the /tmp emptyDir every Job mounts.
type EmptyDirSettings struct {
	// +optional
	Medium corev1.StorageMedium `json:"medium,omitempty"`
	// +optional
	SizeLimit *resource.Quantity `json:"sizeLimit,omitempty"`
	// DisableCaching turns restic's local cache off (ENABLE_CACHE=false).
	// +optional
	DisableCaching bool `json:"disableCaching,omitempty"`
}

// PersistentVolumeClaim is a PVC template: partial metadata and a spec.
type PersistentVolumeClaim struct {
	// +optional
	PartialObjectMeta `json:"metadata,omitempty"`
	// +optional
	Spec corev1.PersistentVolumeClaimSpec `json:"spec,omitempty"`
}

// PartialObjectMeta is the part of ObjectMeta a template may set.
type PartialObjectMeta struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	GenerateName string `json:"generateName,omitempty"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Handler is one hook action: a command run in a ready pod of the target (exec), an HTTP
// request (httpGet, httpPost) or a TCP connection (tcpSocket), made from the session's Job.
// Exactly one action is set. Commands, bodies and form values are Go templates over the
// session's summary ({{ .Namespace }}, {{ .Target.Name }}, {{ .Status.Phase }}, ...).
type Handler struct {
	// +optional
	Exec *corev1.ExecAction `json:"exec,omitempty"`
	// +optional
	HTTPGet *corev1.HTTPGetAction `json:"httpGet,omitempty"`
	// +optional
	HTTPPost *HTTPPostAction `json:"httpPost,omitempty"`
	// +optional
	TCPSocket *corev1.TCPSocketAction `json:"tcpSocket,omitempty"`
	// ContainerName is the container an exec hook runs in.
	// +optional
	ContainerName string `json:"containerName,omitempty"`
}

// PostHook is a hook that runs after the backup or restore, with upstream's execution policy.
type PostHook struct {
	Handler `json:",inline"`
	// ExecutionPolicy says when the hook runs: Always (default), OnSuccess, OnFailure, or
	// OnFinalRetryFailure (a session is tried once, so this is OnFailure).
	// +optional
	ExecutionPolicy HookExecutionPolicy `json:"executionPolicy,omitempty"`
}

// HookExecutionPolicy says when a post hook runs.
// +kubebuilder:validation:Enum=Always;OnSuccess;OnFailure;OnFinalRetryFailure
type HookExecutionPolicy string

const (
	ExecuteAlways              HookExecutionPolicy = "Always"
	ExecuteOnSuccess           HookExecutionPolicy = "OnSuccess"
	ExecuteOnFailure           HookExecutionPolicy = "OnFailure"
	ExecuteOnFinalRetryFailure HookExecutionPolicy = "OnFinalRetryFailure"
)

// Runs tells whether a post hook with policy p runs after a session that succeeded or not.
// Hoard tries a session once, so its failure is always the final one.
func (p HookExecutionPolicy) Runs(succeeded bool) bool {
	switch p {
	case ExecuteOnSuccess:
		return succeeded
	case ExecuteOnFailure, ExecuteOnFinalRetryFailure:
		return !succeeded
	}
	return true
}

// HTTPPostAction sends a POST request.
type HTTPPostAction struct {
	// +optional
	Path string             `json:"path,omitempty"`
	Port intstr.IntOrString `json:"port"`
	// +optional
	Host string `json:"host,omitempty"`
	// +optional
	Scheme corev1.URIScheme `json:"scheme,omitempty"`
	// +optional
	HTTPHeaders []corev1.HTTPHeader `json:"httpHeaders,omitempty"`
	// +optional
	Body string `json:"body,omitempty"`
	// +optional
	Form []FormEntry `json:"form,omitempty"`
}

// FormEntry is one form field of an HTTP POST hook.
type FormEntry struct {
	// +optional
	Key string `json:"key,omitempty"`
	// +optional
	Values []string `json:"values,omitempty"`
}

// Condition types used on BackupConfiguration, BackupSession and RestoreSession status, with
// upstream Stash's names.
const (
	ConditionRepositoryFound                = "RepositoryFound"
	ConditionBackendSecretFound             = "BackendSecretFound"
	ConditionBackupTargetFound              = "BackupTargetFound"
	ConditionCronJobCreated                 = "CronJobCreated"
	ConditionBackendRepositoryInitialized   = "BackendRepositoryInitialized"
	ConditionRetentionPolicyApplied         = "RetentionPolicyApplied"
	ConditionRepositoryIntegrityVerified    = "RepositoryIntegrityVerified"
	ConditionRepositoryMetricsPushed        = "RepositoryMetricsPushed"
	ConditionGlobalPreBackupHookSucceeded   = "GlobalPreBackupHookSucceeded"
	ConditionGlobalPostBackupHookSucceeded  = "GlobalPostBackupHookSucceeded"
	ConditionRestoreTargetFound             = "RestoreTargetFound"
	ConditionRestoreJobCreated              = "RestoreJobCreated"
	ConditionRestoreCompleted               = "RestoreCompleted"
	ConditionGlobalPreRestoreHookSucceeded  = "GlobalPreRestoreHookSucceeded"
	ConditionGlobalPostRestoreHookSucceeded = "GlobalPostRestoreHookSucceeded"
)
