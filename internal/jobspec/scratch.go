package jobspec

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/hoard-operator/hoard/internal/podsecurity"
)

// ScratchServer is a database server that runs beside a verifying restore, in the restore
// Job's pod, as a native sidecar (an init container that restarts always): it starts before
// the restore steps, listens on 127.0.0.1:3306, and the kubelet stops it when the last step
// ends, so it never outlives the Job, whether the restore passed, failed or was killed.
type ScratchServer struct {
	Image     string
	Args      []string
	Resources corev1.ResourceRequirements
}

// ScratchContainerName is the scratch server's container.
const ScratchContainerName = "scratch-server"

// scratchVolumes are the server's writable directories, by volume name: data, socket and
// temporary files.
func scratchVolumes() [][2]string {
	return [][2]string{{"scratch-data", "/var/lib/mysql"}, {"scratch-run", "/run/mysqld"}, {"scratch-tmp", "/tmp"}}
}

// addScratchServer puts the scratch server first among the pod's init containers. Its root
// password is the one in the session's target Secret, which the restore reads from there. It
// listens on the loopback address only: no other pod can reach it.
func addScratchServer(in *Input, pod *corev1.PodSpec) error {
	s := in.Scratch
	if s == nil {
		return nil
	}
	if in.TargetSecretName == "" {
		return fmt.Errorf("a scratch server needs the target's connection Secret")
	}
	password := &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: in.TargetSecretName}, Key: "password"}}
	c := corev1.Container{
		Name:            ScratchContainerName,
		Image:           s.Image,
		Args:            append([]string{"--bind-address=127.0.0.1"}, s.Args...),
		RestartPolicy:   ptr.To(corev1.ContainerRestartPolicyAlways),
		Env:             []corev1.EnvVar{{Name: "MARIADB_ROOT_PASSWORD", ValueFrom: password}, {Name: "MYSQL_ROOT_PASSWORD", ValueFrom: password}},
		Resources:       *s.Resources.DeepCopy(),
		SecurityContext: podsecurity.Container(false),
		Ports:           []corev1.ContainerPort{{Name: "mysql", ContainerPort: 3306}},
	}
	for _, v := range scratchVolumes() {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v[0], MountPath: v[1]})
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: v[0], VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	pod.InitContainers = append([]corev1.Container{c}, pod.InitContainers...)
	return nil
}
