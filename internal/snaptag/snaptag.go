// Package snaptag is the part of the Job↔operator contract written into restic itself: the tags
// that name the target a snapshot belongs to. The addon writes and selects by them; the operator
// reads them into Snapshot objects without importing the addon.
package snaptag

import (
	"fmt"
	"strings"
)

// Identity is the target a snapshot belongs to: the namespace of the BackupConfiguration that
// wrote it and the kind and name of its target (usually an AppBinding). Hoard writes it into
// every snapshot as tags, and retention and "latest" select by it, so that configurations
// sharing a repository (and the host name host-0) never touch each other's snapshots.
//
// The tags keep the format of Hoard's first releases: namespace=<ns>, invoker=<Kind>/<name>
// and target=<Kind>/<name>. Snapshots without namespace= and target= tags (for example those
// upstream Stash wrote) have no identity.
type Identity struct {
	Namespace string
	Kind      string
	Name      string
}

// Tag prefixes of a Hoard snapshot.
const (
	tagNamespace = "namespace="
	tagInvoker   = "invoker="
	tagTarget    = "target="
)

// IsZero reports whether the identity is unknown.
func (i Identity) IsZero() bool { return i.Kind == "" || i.Name == "" }

// String is "<namespace>/<Kind>/<name>", the form messages and results use; "" when unknown.
func (i Identity) String() string {
	if i.IsZero() {
		return ""
	}
	return i.Namespace + "/" + i.Kind + "/" + i.Name
}

// Tags are the tags of a snapshot of target written by the invoker (e.g.
// BackupConfiguration/nightly). An unknown invoker or target leaves its tag out.
func Tags(target Identity, invokerKind, invokerName string) []string {
	tags := []string{tagNamespace + target.Namespace}
	if invokerKind != "" && invokerName != "" {
		tags = append(tags, tagInvoker+invokerKind+"/"+invokerName)
	}
	if !target.IsZero() {
		tags = append(tags, tagTarget+target.Kind+"/"+target.Name)
	}
	return tags
}

// Of reads the identity from a snapshot's tags; ok is false when the snapshot lacks
// the namespace= or target= tag.
func Of(tags []string) (id Identity, ok bool) {
	var hasNS bool
	for _, t := range tags {
		switch {
		case strings.HasPrefix(t, tagNamespace):
			id.Namespace, hasNS = strings.TrimPrefix(t, tagNamespace), true
		case strings.HasPrefix(t, tagTarget):
			id.Kind, id.Name, _ = strings.Cut(strings.TrimPrefix(t, tagTarget), "/")
		}
	}
	if !hasNS || id.IsZero() {
		return Identity{}, false
	}
	return id, true
}

// Parse reads "<Kind>/<name>" or "<namespace>/<Kind>/<name>", as the sourceTarget
// param gives it; the namespace defaults to namespace.
func Parse(s, namespace string) (Identity, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	for _, p := range parts {
		if p == "" {
			parts = nil
			break
		}
	}
	switch len(parts) {
	case 2:
		return Identity{Namespace: namespace, Kind: parts[0], Name: parts[1]}, nil
	case 3:
		return Identity{Namespace: parts[0], Kind: parts[1], Name: parts[2]}, nil
	}
	return Identity{}, fmt.Errorf("source target %q is neither <Kind>/<name> nor <namespace>/<Kind>/<name> (e.g. AppBinding/db-a)", s)
}
