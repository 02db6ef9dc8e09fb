package backupconfiguration

import (
	"encoding/json"
	"fmt"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// Condition types on a BackupConfiguration. The first four are upstream Stash's.
const (
	ConditionRepositoryFound    = "RepositoryFound"
	ConditionBackendSecretFound = "BackendSecretFound"
	ConditionBackupTargetFound  = "BackupTargetFound"
	ConditionCronJobCreated     = "CronJobCreated"
	ConditionTaskFound          = "TaskFound"
	ConditionScheduleValid      = "ScheduleValid"
	ConditionDriverSupported    = "DriverSupported"
	// ConditionHooksSupported is informational: it says that spec.hooks are not run, and does
	// not hold backups back.
	ConditionHooksSupported = "HooksSupported"
)

// Condition reasons.
const (
	ReasonFound                  = "Found"
	ReasonNotFound               = "NotFound"
	ReasonNotSpecified           = "NotSpecified"
	ReasonRepositoryNotFound     = "RepositoryNotFound"
	ReasonTargetNotFound         = "TargetNotFound"
	ReasonTargetKindUnsupported  = "TargetKindUnsupported"
	ReasonScheduleValid          = "Valid"
	ReasonScheduleInvalid        = "InvalidSchedule"
	ReasonDriverSupported        = "Supported"
	ReasonDriverUnsupported      = "DriverUnsupported"
	ReasonCronJobCreated         = "Created"
	ReasonWaitingForDependencies = "WaitingForDependencies"
	ReasonInvalidSpec            = "InvalidSpec"
	ReasonHooksNotImplemented    = "HooksNotImplemented"
)

// isInvalidReason tells the reasons that mean the spec itself cannot work, as opposed to
// something it refers to not existing yet: they make the phase Invalid rather than NotReady.
func isInvalidReason(reason string) bool {
	switch reason {
	case ReasonNotSpecified, ReasonTargetKindUnsupported, ReasonScheduleInvalid, ReasonDriverUnsupported:
		return true
	}
	return false
}

// validateSchedule reports why a schedule cannot drive a CronJob, or nil.
func validateSchedule(schedule string) error {
	if schedule == "" {
		return fmt.Errorf("spec.schedule is empty: a BackupConfiguration needs a cron schedule")
	}
	// ParseStandard is what the CronJob controller uses: 5 fields or a descriptor (@daily).
	if _, err := cron.ParseStandard(schedule); err != nil {
		return fmt.Errorf("spec.schedule %q is not a valid cron expression: %w", schedule, err)
	}
	return nil
}

// phaseOf derives the phase from the conditions: any spec error makes it Invalid, any other
// unmet condition NotReady.
func phaseOf(conds []metav1.Condition) stashv1beta1.BackupInvokerPhase {
	phase := stashv1beta1.BackupInvokerReady
	for _, c := range conds {
		if c.Status == metav1.ConditionTrue || c.Type == ConditionHooksSupported {
			continue
		}
		if isInvalidReason(c.Reason) {
			return stashv1beta1.BackupInvokerInvalid
		}
		phase = stashv1beta1.BackupInvokerNotReady
	}
	if len(conds) == 0 {
		return stashv1beta1.BackupInvokerNotReady
	}
	return phase
}

// dependenciesReady tells whether everything the configuration refers to exists; only then
// is the CronJob first created.
func dependenciesReady(conds []metav1.Condition) bool {
	for _, t := range []string{ConditionRepositoryFound, ConditionBackendSecretFound, ConditionBackupTargetFound, ConditionTaskFound} {
		if !meta.IsStatusConditionTrue(conds, t) {
			return false
		}
	}
	return true
}

// stashAddon is the part of an AppBinding's spec.parameters that names the addon's Tasks.
type stashAddon struct {
	Stash struct {
		Addon struct {
			BackupTask struct {
				Name string `json:"name"`
			} `json:"backupTask"`
		} `json:"addon"`
	} `json:"stash"`
}

// addonBackupTask returns the backup Task named in AppBinding parameters, or "".
func addonBackupTask(raw []byte) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var p stashAddon
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("failed to parse spec.parameters: %w", err)
	}
	return p.Stash.Addon.BackupTask.Name, nil
}
