package v1alpha1

// RetentionPolicy says which snapshots restic `forget` keeps after each backup.
type RetentionPolicy struct {
	// Name identifies the policy; upstream Stash required it.
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepLast int64 `json:"keepLast,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepHourly int64 `json:"keepHourly,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepDaily int64 `json:"keepDaily,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepWeekly int64 `json:"keepWeekly,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepMonthly int64 `json:"keepMonthly,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepYearly int64 `json:"keepYearly,omitempty"`
	// KeepTags keeps every snapshot that carries one of these tags.
	// +optional
	KeepTags []string `json:"keepTags,omitempty"`
	// Prune removes the data no snapshot refers to any more (restic forget --prune).
	// +optional
	Prune bool `json:"prune,omitempty"`
	// DryRun reports what would be forgotten without forgetting it.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}
