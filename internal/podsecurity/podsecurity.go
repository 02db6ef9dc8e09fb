// Package podsecurity is the restricted security settings of every pod Hoard creates (backup
// and restore Jobs, trigger CronJobs, wipe Jobs), in one place so they cannot drift apart.
// They satisfy the "restricted" Pod Security Standard.
package podsecurity

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// NonRootID is the user and group Hoard's images run as.
const NonRootID = int64(65532)

// Pod is the pod security context: non-root, RuntimeDefault seccomp, volumes owned by the group.
func Pod() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(NonRootID),
		RunAsGroup:     ptr.To(NonRootID),
		FSGroup:        ptr.To(NonRootID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// Container is the container security context: no privilege escalation, every capability
// dropped. readOnlyRoot also makes the root filesystem read-only, for containers that write
// only to their volumes.
func Container(readOnlyRoot bool) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Privileged:               ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if readOnlyRoot {
		sc.ReadOnlyRootFilesystem = ptr.To(true)
	}
	return sc
}

// UnsafeVolumeSource names the field of v that would give a pod the node's filesystem or run
// commands on the node, "" when there is none: hostPath (any file of the node), gitRepo (the
// kubelet runs git as root with the user's URL and revision) and flexVolume (a driver binary on
// the node gets the user's options). Every other source is either Pod Security "restricted" or
// a network volume (nfs, cephfs, ...) whose server has its own access control.
func UnsafeVolumeSource(v *corev1.VolumeSource) string {
	switch {
	case v == nil:
		return ""
	case v.HostPath != nil:
		return "hostPath"
	case v.GitRepo != nil: //nolint:staticcheck // refused precisely because it is deprecated and unsafe
		return "gitRepo"
	case v.FlexVolume != nil:
		return "flexVolume"
	}
	return ""
}
