package v1beta1

// Condition types Hoard adds to upstream Stash's (those are in common_types.go). The
// dependency checker (internal/dependency) sets them on BackupConfigurations and on sessions
// that fail to start, with the same reason and message in both places.
const (
	// ConditionTargetSecretFound is the target AppBinding's credentials: its spec.secret and
	// secretTransforms give a username and a password.
	ConditionTargetSecretFound = "TargetSecretFound"
	// ConditionTaskFound is the Task (named, or from the AppBinding's StashAddon parameters)
	// and its Functions.
	ConditionTaskFound = "TaskFound"
	// ConditionScheduleValid is a BackupConfiguration's cron schedule.
	ConditionScheduleValid = "ScheduleValid"
	// ConditionDriverSupported is the driver: Hoard implements Restic only.
	ConditionDriverSupported = "DriverSupported"
)

// Reasons of the dependency conditions. A reason in InvalidSpecReasons means the spec itself
// cannot work (phase Invalid); any other False reason waits for an object to appear or change.
const (
	ReasonFound = "Found"

	// RepositoryFound.
	ReasonRepositoryNotSpecified = "RepositoryNotSpecified"
	// ReasonRepositoryNotFound covers a Repository that does not exist and, for a Repository
	// in another namespace, one whose usagePolicy does not allow the referring namespace: the
	// two are told the same, so that a reference does not reveal what exists elsewhere.
	ReasonRepositoryNotFound = "RepositoryNotFound"
	// ReasonBackendNotShareable is a Repository in another namespace whose local backend is a
	// namespaced volume (a PersistentVolumeClaim...) that a Job in the referring namespace
	// cannot mount.
	ReasonBackendNotShareable = "BackendNotShareable"

	// BackendSecretFound.
	ReasonSecretNotSpecified = "SecretNotSpecified"
	ReasonSecretNotFound     = "SecretNotFound"
	ReasonSecretKeyMissing   = "SecretKeyMissing"

	// BackupTargetFound / RestoreTargetFound.
	ReasonTargetNotSpecified    = "TargetNotSpecified"
	ReasonTargetKindUnsupported = "TargetKindUnsupported"
	ReasonTargetNotFound        = "TargetNotFound"
	ReasonInvalidClientConfig   = "InvalidClientConfig"
	ReasonServiceNotFound       = "ServiceNotFound"

	// TargetSecretFound (also ReasonSecretNotFound).
	ReasonInvalidCredentials = "InvalidCredentials"

	// TaskFound.
	ReasonTaskNotSpecified       = "TaskNotSpecified"
	ReasonTaskNotFound           = "TaskNotFound"
	ReasonFunctionNotFound       = "FunctionNotFound"
	ReasonInvalidAddonParameters = "InvalidAddonParameters"

	// A condition that cannot be checked because one it depends on failed.
	ReasonDependencyNotFound = "DependencyNotFound"
)

// IsInvalidSpecReason tells the reasons that make a BackupConfiguration Invalid rather than
// NotReady: no object appearing later can fix them.
func IsInvalidSpecReason(reason string) bool {
	switch reason {
	case ReasonRepositoryNotSpecified, ReasonTargetNotSpecified, ReasonTargetKindUnsupported, ReasonTaskNotSpecified:
		return true
	}
	return false
}
