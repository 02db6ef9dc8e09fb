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

	hashLength = 10
)

// Shorten returns name when it fits max characters, and otherwise a prefix of it followed by
// "-" and a hash of the whole name, max characters in all. Distinct long names stay distinct,
// and the result still starts and ends with an alphanumeric character.
func Shorten(name string, max int) string {
	if len(name) <= max {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	prefix := strings.TrimRight(name[:max-hashLength-1], "-._")
	return prefix + "-" + hex.EncodeToString(sum[:])[:hashLength]
}

// LabelValue is name as a label value: unchanged up to 63 characters, else shortened.
// Selecting by such a label can match another long name with the same prefix and hash only in
// theory; callers that must be exact compare the full name from the object's spec as well.
func LabelValue(name string) string {
	return Shorten(name, MaxLabelValue)
}
