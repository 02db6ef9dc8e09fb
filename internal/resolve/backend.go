package resolve

import (
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/podsecurity"
)

// ReasonUnsafeBackendVolume is the reason of a session (or wipe) refused by CheckLocalBackend.
const ReasonUnsafeBackendVolume = "UnsafeBackendVolume"

// UnsafeBackendError is a local backend whose volume source Hoard does not mount.
type UnsafeBackendError struct {
	// Field is the refused field, e.g. "spec.backend.local.hostPath".
	Field string
}

func (e *UnsafeBackendError) Error() string {
	return e.Field + " is not allowed: a local backend must be a volume such as a persistentVolumeClaim or nfs, " +
		"not the node's filesystem or a volume that runs commands on the node"
}

// CheckLocalBackend refuses a local backend whose volume source is unsafe
// (podsecurity.UnsafeVolumeSource: hostPath, gitRepo, flexVolume), naming the field; nil for
// every other backend. It is pure, so that every component deciding whether a Repository can be
// used (session start, the wipe, the dependency checker) asks the same question. The admission
// guard refuses the same fields earlier; this holds where it does not run or is relaxed.
func CheckLocalBackend(b *v1alpha1.Backend) error {
	if b == nil || b.Local == nil {
		return nil
	}
	if f := podsecurity.UnsafeVolumeSource(&b.Local.VolumeSource); f != "" {
		return &UnsafeBackendError{Field: "spec.backend.local." + f}
	}
	return nil
}

// checkedBackend is Backend after CheckLocalBackend.
func checkedBackend(b *v1alpha1.Backend) (BackendInfo, error) {
	if err := CheckLocalBackend(b); err != nil {
		return BackendInfo{}, err
	}
	return Backend(b)
}
