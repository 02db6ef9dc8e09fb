package backupconfiguration

import (
	"fmt"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// Condition types on a BackupConfiguration: upstream Stash's, and Hoard's from the API
// package. The dependency conditions (Repository to Task) come from internal/dependency.
const (
	ConditionRepositoryFound    = stashv1beta1.ConditionRepositoryFound
	ConditionBackendSecretFound = stashv1beta1.ConditionBackendSecretFound
	ConditionBackupTargetFound  = stashv1beta1.ConditionBackupTargetFound
	ConditionTargetSecretFound  = stashv1beta1.ConditionTargetSecretFound
	ConditionTaskFound          = stashv1beta1.ConditionTaskFound
	ConditionCronJobCreated     = stashv1beta1.ConditionCronJobCreated
	ConditionScheduleValid      = stashv1beta1.ConditionScheduleValid
	ConditionDriverSupported    = stashv1beta1.ConditionDriverSupported
	// ConditionHooksValid is False when a hook has no action or more than one (absent
	// otherwise): the configuration is Invalid.
	ConditionHooksValid = "HooksValid"
	// legacyConditionHooksSupported was set by versions that did not run hooks; it is removed.
	legacyConditionHooksSupported = "HooksSupported"
)

// dependencyConditions are the conditions internal/dependency decides, in its order.
func dependencyConditions() []string {
	return []string{ConditionRepositoryFound, ConditionBackendSecretFound, ConditionBackupTargetFound, ConditionTargetSecretFound, ConditionTaskFound}
}

// Reasons of the conditions this package decides itself.
const (
	ReasonScheduleValid          = "Valid"
	ReasonScheduleInvalid        = "InvalidSchedule"
	ReasonDriverSupported        = "Supported"
	ReasonDriverUnsupported      = "DriverUnsupported"
	ReasonCronJobCreated         = "Created"
	ReasonWaitingForDependencies = "WaitingForDependencies"
	ReasonInvalidSpec            = "InvalidSpec"
	ReasonInvalidHook            = "InvalidHook"
)

// isInvalidReason tells the reasons that mean the spec itself cannot work, as opposed to
// something it refers to not existing yet: they make the phase Invalid rather than NotReady.
func isInvalidReason(reason string) bool {
	return stashv1beta1.IsInvalidSpecReason(reason) || reason == ReasonScheduleInvalid || reason == ReasonDriverUnsupported ||
		reason == ReasonInvalidHook
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
		if c.Status == metav1.ConditionTrue {
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
	for _, t := range dependencyConditions() {
		if !meta.IsStatusConditionTrue(conds, t) {
			return false
		}
	}
	return true
}
