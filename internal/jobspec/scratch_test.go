package jobspec

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestScratchServer(t *testing.T) {
	in := restoreInput()
	in.TargetSecretName = "stash-restore-verify-target"
	in.Scratch = &ScratchServer{Image: "mariadb:10.11", Args: []string{"--skip-log-bin"},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}}
	job, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	pod := job.Spec.Template.Spec
	if len(pod.InitContainers) != 2 || pod.InitContainers[0].Name != ScratchContainerName {
		t.Fatalf("init containers %d, first %q: want the scratch server before the restore step", len(pod.InitContainers), pod.InitContainers[0].Name)
	}
	srv := pod.InitContainers[0]
	if srv.RestartPolicy == nil || *srv.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("restartPolicy %v, want Always (a native sidecar, stopped when the steps end)", srv.RestartPolicy)
	}
	if got := strings.Join(srv.Args, " "); got != "--bind-address=127.0.0.1 --skip-log-bin" {
		t.Errorf("args %q, want the loopback address first", got)
	}
	if srv.Resources.Limits.Memory().String() != "1Gi" {
		t.Errorf("resources %v", srv.Resources)
	}
	if sc := srv.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("security context %+v, want the restricted one", sc)
	}
	for _, e := range srv.Env {
		if e.Value != "" || e.ValueFrom.SecretKeyRef.Name != in.TargetSecretName || e.ValueFrom.SecretKeyRef.Key != "password" {
			t.Errorf("env %s = %+v, want the target Secret's password by reference", e.Name, e)
		}
	}
	mounts := map[string]bool{}
	for _, m := range srv.VolumeMounts {
		mounts[m.MountPath] = true
		if !strings.HasPrefix(m.Name, "scratch-") {
			t.Errorf("the scratch server mounts %s (%s): only its own emptyDirs", m.Name, m.MountPath)
		}
	}
	for _, p := range []string{"/var/lib/mysql", "/run/mysqld", "/tmp"} {
		if !mounts[p] {
			t.Errorf("no volume at %s", p)
		}
	}

	in.TargetSecretName = ""
	if _, err := Build(in); err == nil || !strings.Contains(err.Error(), "connection Secret") {
		t.Errorf("a scratch server without a target Secret: %v", err)
	}
}
