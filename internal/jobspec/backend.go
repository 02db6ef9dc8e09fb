package jobspec

import (
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/location"
)

// checkedBackend is location.Backend after location.CheckLocalBackend.
func checkedBackend(b *v1alpha1.Backend) (location.BackendInfo, error) {
	if err := location.CheckLocalBackend(b); err != nil {
		return location.BackendInfo{}, err
	}
	return location.Backend(b)
}
