// Package location tells where a Repository's restic repository lives, independent of the
// Repository object that names it. Two Repository objects, in one namespace or in two, that
// point at the same storage and path are one restic repository: the operator lets one Hoard
// Job at a time use it, and refuses to wipe data another Repository also points at.
package location

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
)

// Location is a restic repository's place: Store names the storage (a bucket, a REST
// server, a volume) and Path the directory inside it, cleaned, without leading or trailing
// slashes ("" is the storage's root).
type Location struct {
	Store string
	Path  string
	// legacy is Store as spelled before hosts had one spelling (2026-12-04), when it differs:
	// Jobs of an operator from before then carry its key.
	legacy string
}

// Of returns the location of a Repository's backend. namespace is the Repository's: a
// PersistentVolumeClaim is namespaced, so two namespaces' claims of the same name differ.
//
// Credentials are not part of a location: two Repositories naming the same bucket with two
// accounts are taken as one. That errs on the safe side, queueing sessions that could have run
// side by side and refusing a wipe that might have been harmless.
func Of(namespace string, b *v1alpha1.Backend) (Location, error) {
	switch {
	case b.Local != nil:
		return local(namespace, b.Local)
	case b.S3 != nil:
		endpoint := b.S3.Endpoint
		if endpoint == "" {
			endpoint = "s3.amazonaws.com"
		}
		h, legacy := host(namespace, endpoint)
		return withLegacy(Location{Store: "s3:" + h + "/" + b.S3.Bucket, Path: clean(b.S3.Prefix)}, "s3:"+legacy+"/"+b.S3.Bucket), nil
	case b.GCS != nil:
		return Location{Store: "gs:" + b.GCS.Bucket, Path: clean(b.GCS.Prefix)}, nil
	case b.Azure != nil:
		return Location{Store: "azure:" + b.Azure.Container, Path: clean(b.Azure.Prefix)}, nil
	case b.Swift != nil:
		return Location{Store: "swift:" + b.Swift.Container, Path: clean(b.Swift.Prefix)}, nil
	case b.B2 != nil:
		return Location{Store: "b2:" + b.B2.Bucket, Path: clean(b.B2.Prefix)}, nil
	case b.Rest != nil:
		u, err := url.Parse(b.Rest.URL)
		if err != nil || u.Host == "" {
			return Location{}, fmt.Errorf("spec.backend.rest.url %q is not a URL with a host", b.Rest.URL)
		}
		return withLegacy(Location{Store: "rest:" + serverHost(namespace, u.Scheme, u.Host), Path: clean(u.Path)}, "rest:"+strings.ToLower(u.Host)), nil
	}
	return Location{}, fmt.Errorf("spec.backend sets no provider (local, s3, gcs, azure, swift, b2 or rest)")
}

// local places a volume backend: the repository is the volume's subPath (restic's repository
// path is the mount path, where that subPath is mounted).
func local(namespace string, l *v1alpha1.LocalSpec) (Location, error) {
	v := l.VolumeSource
	switch {
	case v.PersistentVolumeClaim != nil:
		return Location{Store: "pvc:" + namespace + "/" + v.PersistentVolumeClaim.ClaimName, Path: clean(l.SubPath)}, nil
	case v.HostPath != nil:
		return Location{Store: "hostpath:", Path: clean(v.HostPath.Path + "/" + l.SubPath)}, nil
	case v.NFS != nil:
		return Location{Store: "nfs:" + strings.ToLower(v.NFS.Server), Path: clean(v.NFS.Path + "/" + l.SubPath)}, nil
	}
	// Any other volume (CSI, iSCSI, an emptyDir...) is told apart by its whole definition.
	raw, err := json.Marshal(v)
	if err != nil {
		return Location{}, fmt.Errorf("failed to encode the local backend's volume: %w", err)
	}
	sum := sha256.Sum256(raw)
	return Location{Store: "volume:" + namespace + "/" + hex.EncodeToString(sum[:8]), Path: clean(l.SubPath)}, nil
}

// host is an S3 endpoint's server (serverHost), and as spelled before 2026-12-04: in lower
// case, without scheme or path. Remove legacy, with Location.legacy, once no operator from
// before then can have a Job running.
func host(namespace, endpoint string) (h, legacy string) {
	e := endpoint
	if !strings.Contains(e, "://") {
		e = "https://" + e
	}
	if u, err := url.Parse(e); err == nil && u.Host != "" {
		return serverHost(namespace, u.Scheme, u.Host), strings.ToLower(u.Host)
	}
	h = strings.ToLower(strings.TrimRight(endpoint, "/"))
	return h, h
}

func withLegacy(l Location, store string) Location {
	if store != l.Store {
		l.legacy = store
	}
	return l
}

// serverHost is one spelling for the ways of writing a server's host and port, so that two
// Repositories that reach one server the two ways queue as one: lower case, without the
// scheme's default port, and a Service of the cluster as name.namespace, which is what
// "name" (from a pod of the Repository's namespace), "name.namespace.svc" and
// "name.namespace.svc.cluster.local" reach.
func serverHost(namespace, scheme, hostport string) string {
	h, port, err := net.SplitHostPort(strings.ToLower(hostport))
	if err != nil {
		h, port = strings.ToLower(hostport), ""
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	for _, suffix := range []string{".svc", ".svc.cluster.local"} {
		if name, ok := strings.CutSuffix(h, suffix); ok && strings.Count(name, ".") == 1 {
			h = name
		}
	}
	if h != "" && !strings.ContainsAny(h, ".:") {
		h += "." + namespace
	}
	if port == "" {
		return h
	}
	return net.JoinHostPort(h, port)
}

func clean(p string) string {
	return strings.Trim(path.Clean("/"+p), "/")
}

// String shows the location to users, e.g. "s3:minio.example:9000/backups/demo".
func (l Location) String() string {
	if l.Path == "" {
		return l.Store
	}
	return l.Store + "/" + l.Path
}

// Key is a short, label-safe digest of the location: the value of LabelKey on every Job that
// uses the repository.
func (l Location) Key() string {
	sum := sha256.Sum256([]byte(l.Store + "\x00" + l.Path))
	return hex.EncodeToString(sum[:])[:20]
}

// Keys are the values of LabelKey that Jobs using the repository may carry: Key, and the key
// of the location as spelled before 2026-12-04, which Jobs started by an operator from before
// then carry.
func (l Location) Keys() []string {
	if l.legacy == "" {
		return []string{l.Key()}
	}
	return []string{l.Key(), Location{Store: l.legacy, Path: l.Path}.Key()}
}

// Overlaps tells whether two locations are the same repository or one lies inside the other:
// wiping either would delete data the other holds.
func (l Location) Overlaps(o Location) bool {
	if l.Store != o.Store {
		return false
	}
	return l.Path == o.Path || within(l.Path, o.Path) || within(o.Path, l.Path)
}

// within tells whether child is below parent.
func within(parent, child string) bool {
	return parent == "" || strings.HasPrefix(child, parent+"/")
}

// LabelKey labels every Hoard Job (and its pod) with the Key of the repository it uses, and
// every session waiting for that repository.
const LabelKey = "hoard.io/repository-location"

// AnnotationSharedWithOtherTools, set to "true" on a Repository, says that programs other
// than Hoard (a restic CLI, another operator) also use the repository. Hoard then no longer
// assumes that a lock it finds is stale: its Jobs remove only locks restic itself calls stale,
// and wait for the others.
const AnnotationSharedWithOtherTools = "hoard.io/shared-with-other-tools"

// SoleWriter tells whether a Hoard Job that holds the repository's place in line is the only
// program using it: true unless the Repository says other tools use it too.
func SoleWriter(repo *v1alpha1.Repository) bool {
	return repo.Annotations[AnnotationSharedWithOtherTools] != "true"
}
