package location

import (
	"fmt"
	"net/url"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/podsecurity"
	"github.com/hoard-operator/hoard/internal/restic"
)

// BackendInfo is what the implicit REPOSITORY_* variables say about a backend.
type BackendInfo struct {
	Provider       string
	Bucket         string
	Prefix         string
	Endpoint       string
	Region         string
	MaxConnections int64
}

// Backend describes the Repository's one provider. It fails when no provider is set, which
// the CRD already forbids; the check guards objects written before validation existed.
//
// It is the one mapping from a Repository's backend to restic's provider, bucket and prefix:
// the Job's REPOSITORY_* variables, the wipe's flags and the metrics' labels all come from it.
// When the REST URL does not parse, Provider is still set (the metrics label a broken
// Repository by its provider).
func Backend(b *v1alpha1.Backend) (BackendInfo, error) {
	switch {
	case b.Local != nil:
		return BackendInfo{Provider: restic.ProviderLocal, Bucket: b.Local.MountPath}, nil
	case b.S3 != nil:
		return BackendInfo{Provider: restic.ProviderS3, Bucket: b.S3.Bucket, Prefix: b.S3.Prefix, Endpoint: b.S3.Endpoint, Region: b.S3.Region}, nil
	case b.GCS != nil:
		return BackendInfo{Provider: restic.ProviderGCS, Bucket: b.GCS.Bucket, Prefix: b.GCS.Prefix, MaxConnections: b.GCS.MaxConnections}, nil
	case b.Azure != nil:
		return BackendInfo{Provider: restic.ProviderAzure, Bucket: b.Azure.Container, Prefix: b.Azure.Prefix, MaxConnections: b.Azure.MaxConnections}, nil
	case b.Swift != nil:
		return BackendInfo{Provider: restic.ProviderSwift, Bucket: b.Swift.Container, Prefix: b.Swift.Prefix}, nil
	case b.B2 != nil:
		return BackendInfo{Provider: restic.ProviderB2, Bucket: b.B2.Bucket, Prefix: b.B2.Prefix, MaxConnections: b.B2.MaxConnections}, nil
	case b.Rest != nil:
		u, err := url.Parse(b.Rest.URL)
		if err != nil {
			return BackendInfo{Provider: restic.ProviderRest}, fmt.Errorf("spec.backend.rest.url %q is not a URL: %w", b.Rest.URL, err)
		}
		return BackendInfo{Provider: restic.ProviderRest, Bucket: u.Host, Prefix: u.Path, Endpoint: b.Rest.URL}, nil
	}
	return BackendInfo{}, fmt.Errorf("spec.backend sets no provider (local, s3, gcs, azure, swift, b2 or rest)")
}

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
