// Package names turns user-chosen names of any legal length into valid Kubernetes object
// names and label values. Users may name objects up to 253 characters, while label values
// (and the names of objects that become label values, such as Jobs) stop at 63.
package names

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

const (
	// MaxLabelValue is the longest label value (and Job name) Kubernetes accepts.
	MaxLabelValue = 63
	// MaxObjectName is the longest DNS-subdomain object name.
	MaxObjectName = 253

	// LabelName, LabelComponent and LabelManagedBy are the recommended labels of the objects
	// Hoard makes; ManagedByHoard is the value of LabelManagedBy and LabelName.
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByHoard = "hoard"
	// LabelSession, on a session's Job and pod, is the session's name as a label value.
	LabelSession = "hoard.io/session"

	hashLength         = 10
	prefixedHashLength = 8
)

// Shorten returns name when it fits max characters, and otherwise a prefix of it followed by
// "-" and a hash of the whole name, max characters in all. Distinct long names stay distinct,
// and the result still starts and ends with an alphanumeric character.
func Shorten(name string, max int) string {
	return fit(name, max, hash(name, hashLength))
}

// Prefixed is prefix+name when it fits max characters, and otherwise its beginning followed by
// "-" and an 8-character hash of name alone, max characters in all. The names of the objects
// the controllers make for one object (wipe, snapshots and operation Jobs, trigger CronJobs)
// are made with it; as those objects outlive an operator upgrade, their names must not change.
func Prefixed(prefix, name string, max int) string {
	return fit(prefix+name, max, hash(name, prefixedHashLength))
}

// fit is the one shortening rule: s if it fits max, else its beginning, trimmed of
// separators, "-" and sum.
func fit(s string, max int, sum string) string {
	if len(s) <= max {
		return s
	}
	return strings.TrimRight(s[:max-len(sum)-1], "-._") + "-" + sum
}

func hash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

// PushgatewayJob is upstream Stash's Pushgateway job for an invoker, also given to Jobs as
// PROMETHEUS_JOB_NAME: "<lower-case invoker kind>-<namespace>-<name>".
func PushgatewayJob(invokerKind, namespace, invokerName string) string {
	return strings.ToLower(invokerKind) + "-" + namespace + "-" + invokerName
}

// LabelValue is name as a label value: unchanged up to 63 characters, else shortened.
// Selecting by such a label can match another long name with the same prefix and hash only in
// theory; callers that must be exact compare the full name from the object's spec as well.
func LabelValue(name string) string {
	return Shorten(name, MaxLabelValue)
}

// Labels are the recommended labels of an object the operator makes for one of its own (a
// trigger CronJob, a wipe, snapshots or operation Job): name and manager "hoard", and component.
func Labels(component string) map[string]string {
	return map[string]string{LabelName: ManagedByHoard, LabelComponent: component, LabelManagedBy: ManagedByHoard}
}
