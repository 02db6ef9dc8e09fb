package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MySQLAddonSpec is the set of values of the mysql-addon Helm chart. Every field is optional:
// what is left out keeps the chart's default (helm-charts/mysql-addon/values.yaml). Keys the
// chart may gain later are kept rather than pruned, so the spec can always carry any value.
//
// +kubebuilder:pruning:PreserveUnknownFields
type MySQLAddonSpec struct {
	// Versions to provide Tasks and Functions for: each version V gets mysql-backup-V and
	// mysql-restore-V. Default: 5.7.25, 8.0.3, 8.0.14, 8.0.21 (the upstream names), 8.4,
	// and MariaDB 10.11 and 11.4.
	// +optional
	// +listType=set
	Versions []string `json:"versions,omitempty"`

	// MariaDB chooses the Tasks and Functions named as Stash's MariaDB addon names them.
	// +optional
	MariaDB *MariaDBTasks `json:"mariadb,omitempty"`

	// Image of the addon and operator commands the Functions run.
	// +optional
	Image *AddonImages `json:"image,omitempty"`

	// Backup holds the backup Functions' defaults.
	// +optional
	Backup *DumpDefaults `json:"backup,omitempty"`

	// Restore holds the restore Functions' defaults.
	// +optional
	Restore *DumpDefaults `json:"restore,omitempty"`

	// WaitTimeout is the default number of seconds a backup or restore waits for the database
	// to accept connections (the param waitTimeout overrides it). Default 300.
	// +optional
	// +kubebuilder:validation:Minimum=0
	WaitTimeout *int64 `json:"waitTimeout,omitempty"`

	// CommonLabels are added to every Task and Function.
	// +optional
	CommonLabels map[string]string `json:"commonLabels,omitempty"`
}

// MariaDBTasks are the MariaDB versions to provide Tasks and Functions for under the names of
// Stash's MariaDB addon. They run the same commands as the mysql-* ones.
type MariaDBTasks struct {
	// Versions: each version V gets mariadb-backup-V and mariadb-restore-V. Default: 10.5.8,
	// 10.5.23 and 10.6.23 (the names Stash and KubeDB manifests reference), 10.11 and 11.4. An
	// empty list installs none.
	// +optional
	// +listType=set
	Versions []string `json:"versions,omitempty"`
}

// AddonImages are the images the Functions run.
type AddonImages struct {
	// Addon runs backup-mysql and restore-mysql.
	// +optional
	Addon *ImageRef `json:"addon,omitempty"`
	// Operator runs update-status.
	// +optional
	Operator *ImageRef `json:"operator,omitempty"`
}

// ImageRef names an image as repository and tag.
type ImageRef struct {
	// +optional
	Repository string `json:"repository,omitempty"`
	// +optional
	Tag string `json:"tag,omitempty"`
}

// DumpDefaults are defaults of a database Function.
type DumpDefaults struct {
	// Args is the default of the param `args`: extra mysqldump (backup) or mysql (restore)
	// arguments. Backup default: --all-databases.
	// +optional
	Args *string `json:"args,omitempty"`
}

// MySQLAddonStatus is written by helm-operator-plugins' reconciler.
type MySQLAddonStatus struct {
	// Conditions: Initialized, Deployed, ReleaseFailed, Irreconcilable (and Paused).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []HelmCondition `json:"conditions,omitempty"`

	// DeployedRelease is the Helm release that holds the Tasks and Functions.
	// +optional
	DeployedRelease *HelmRelease `json:"deployedRelease,omitempty"`
}

// HelmCondition is a condition as helm-operator-plugins writes it: unlike metav1.Condition,
// reason may be empty and there is no observedGeneration, so metav1.Condition's validation would
// reject the reconciler's status updates.
type HelmCondition struct {
	// Type of the condition, e.g. Deployed.
	Type string `json:"type"`
	// Status is True, False or Unknown.
	Status metav1.ConditionStatus `json:"status"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
}

// HelmRelease identifies the deployed release and its rendered manifest.
type HelmRelease struct {
	// +optional
	Name string `json:"name,omitempty"`
	// Manifest is the YAML of every object in the release.
	// +optional
	Manifest string `json:"manifest,omitempty"`
}

// MySQLAddon installs the MySQL and MariaDB backup and restore Tasks and Functions
// (mysql-backup-<version>, mysql-restore-<version>, mariadb-backup-<version>,
// mariadb-restore-<version>, update-status) by rendering Hoard's
// mysql-addon Helm chart with the spec as values. Changing the spec upgrades them; deleting it
// uninstalls them. Cluster-scoped, like the Tasks and Functions it owns; create one of them (two
// would render the same Task names and the second is refused).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=hoard
// +kubebuilder:printcolumn:name="Deployed",type=string,JSONPath=`.status.conditions[?(@.type=="Deployed")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Deployed")].reason`
// +kubebuilder:printcolumn:name="Release",type=string,JSONPath=`.status.deployedRelease.name`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MySQLAddon struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec MySQLAddonSpec `json:"spec,omitempty"`
	// +optional
	Status MySQLAddonStatus `json:"status,omitempty"`
}

// MySQLAddonList is a list of MySQLAddons.
//
// +kubebuilder:object:root=true
type MySQLAddonList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MySQLAddon `json:"items"`
}

func init() {
	SchemeBuilder.Register(&MySQLAddon{}, &MySQLAddonList{})
}
