//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/test/internal/golden"
)

// canICheck is one line of the table: may the operator's ServiceAccount do verb on resource
// (group/resource[/subresource]) in a namespace ("" is every namespace at once).
type canICheck struct {
	verb, group, resource, subresource string
	// name is the object's name, for rules by resourceNames.
	name string
}

func (c canICheck) String() string {
	r := c.resource
	if c.subresource != "" {
		r += "/" + c.subresource
	}
	if c.group != "" {
		r += "." + c.group
	}
	if c.name != "" {
		r += " " + c.name
	}
	return c.verb + " " + r
}

// TestOperatorCanI is the `kubectl auth can-i --as=system:serviceaccount:<ns>:<sa>` table of the
// installed operator, asked of the API server with SubjectAccessReviews (the check can-i
// makes), in the operator's namespace, a user namespace, kube-system and across all
// namespaces. The expected table is testdata/can-i.golden: any widening of the operator's
// rights is a diff there. HOARD_UPDATE_GOLDEN=1 rewrites it.
func TestOperatorCanI(t *testing.T) {
	user := operatorUser(t)
	checks := []canICheck{
		{verb: "get", resource: "secrets"},
		{verb: "list", resource: "secrets"},
		{verb: "watch", resource: "secrets"},
		{verb: "create", resource: "secrets"},
		{verb: "update", resource: "secrets"},
		{verb: "patch", resource: "secrets"},
		{verb: "delete", resource: "secrets"},
		{verb: "deletecollection", resource: "secrets"},
		{verb: "create", group: "rbac.authorization.k8s.io", resource: "roles"},
		{verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings"},
		{verb: "escalate", group: "rbac.authorization.k8s.io", resource: "roles"},
		{verb: "bind", group: "rbac.authorization.k8s.io", resource: "roles"},
		{verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		{verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles", name: "hoard-hook-exec"},
		{verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles", name: "cluster-admin"},
		// Under OLM the operator makes hoard-hook-exec a dependent of its CSV's ClusterRoles,
		// which it finds by label (design record 0023): it lists ClusterRoles and patches that
		// one's ownerReferences (delete: OwnerReferencesPermissionEnforcement), nothing more.
		{verb: "list", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		{verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		{verb: "escalate", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		{verb: "patch", group: "rbac.authorization.k8s.io", resource: "clusterroles", name: "hoard-hook-exec"},
		{verb: "patch", group: "rbac.authorization.k8s.io", resource: "clusterroles", name: "cluster-admin"},
		{verb: "delete", group: "rbac.authorization.k8s.io", resource: "clusterroles", name: "hoard-hook-exec"},
		{verb: "delete", group: "rbac.authorization.k8s.io", resource: "rolebindings"},
		{verb: "create", resource: "serviceaccounts"},
		{verb: "delete", resource: "serviceaccounts"},
		{verb: "create", resource: "serviceaccounts", subresource: "token"},
		{verb: "create", resource: "pods"},
		{verb: "create", resource: "pods", subresource: "exec"},
		{verb: "create", group: "batch", resource: "jobs"},
		{verb: "delete", group: "batch", resource: "jobs"},
		{verb: "list", resource: "pods"},
		{verb: "get", resource: "pods", subresource: "log"},
		{verb: "create", group: "stash.appscode.com", resource: "backupsessions"},
		// Snapshot objects are the operator's records (design record 0021); it never updates
		// one whole, only patches.
		{verb: "create", group: "repositories.stash.appscode.com", resource: "snapshots"},
		{verb: "delete", group: "repositories.stash.appscode.com", resource: "snapshots"},
		{verb: "update", group: "repositories.stash.appscode.com", resource: "snapshots"},
		// Auto-backup (docs/design/0018-auto-backup.md): it makes and removes
		// BackupConfigurations, makes Repositories and never deletes them, and reads blueprints.
		{verb: "create", group: "stash.appscode.com", resource: "backupconfigurations"},
		{verb: "delete", group: "stash.appscode.com", resource: "backupconfigurations"},
		{verb: "create", group: "stash.appscode.com", resource: "repositories"},
		{verb: "delete", group: "stash.appscode.com", resource: "repositories"},
		{verb: "list", group: "stash.appscode.com", resource: "backupblueprints"},
		// BackupVerification (docs/design/0038-backup-verification.md): it makes and removes
		// its verifying RestoreSessions, and makes (and keeps in step) its scratch AppBinding.
		{verb: "create", group: "stash.appscode.com", resource: "restoresessions"},
		{verb: "delete", group: "stash.appscode.com", resource: "restoresessions"},
		{verb: "create", group: "appcatalog.appscode.com", resource: "appbindings"},
		{verb: "update", group: "appcatalog.appscode.com", resource: "appbindings"},
		{verb: "delete", group: "appcatalog.appscode.com", resource: "appbindings"},
	}
	// The namespaces by role, so the table reads the same whatever the install's names.
	namespaces := []struct{ label, name string }{
		{"operator", operatorNamespace},
		{"user", "hoard-can-i-user"}, // A namespace need not exist to be asked about.
		{"kube-system", "kube-system"},
		{"all", ""},
	}

	var asked []review
	for _, n := range namespaces {
		for _, c := range checks {
			asked = append(asked, review{namespace: n.name, canICheck: c})
		}
	}
	allowed := accessReviews(t, user, asked)

	var b strings.Builder
	b.WriteString("# kubectl auth can-i --as=system:serviceaccount:<operator namespace>:<operator ServiceAccount>, asked\n")
	b.WriteString("# with SubjectAccessReviews by test/e2e/rbac_test.go (TestOperatorCanI) of the Helm install.\n")
	b.WriteString("# A change here is a change in the operator's rights: see docs/threat-model.md.\n")
	fmt.Fprintf(&b, "%-62s", "check")
	for _, n := range namespaces {
		fmt.Fprintf(&b, " %-12s", n.label)
	}
	b.WriteString("\n")
	for i, c := range checks {
		fmt.Fprintf(&b, "%-62s", c.String())
		for j := range namespaces {
			answer := "no"
			if allowed[j*len(checks)+i] {
				answer = "yes"
			}
			fmt.Fprintf(&b, " %-12s", answer)
		}
		b.WriteString("\n")
	}
	got := strings.ReplaceAll(b.String(), " \n", "\n")
	for strings.Contains(got, " \n") {
		got = strings.ReplaceAll(got, " \n", "\n")
	}
	t.Logf("operator %s:\n%s", user, got)

	golden.Check(t, filepath.Join(repoRoot, "test", "e2e", "testdata", "can-i.golden"), got, "the operator's rights differ from testdata/can-i.golden", nil)
}

// operatorUser is the user name of the installed operator's ServiceAccount.
func operatorUser(t *testing.T) string {
	t.Helper()
	sa := mustKubectl(t, "", "-n", operatorNamespace, "get", "deployment/"+operatorRelease, "-o", "jsonpath={.spec.template.spec.serviceAccountName}")
	return "system:serviceaccount:" + operatorNamespace + ":" + sa
}

// review is one question to the API server's authorizer.
type review struct {
	namespace string
	canICheck
}

// accessReviews asks, in one request, whether user (a ServiceAccount of the operator's
// namespace) may do each of asked, with SubjectAccessReviews.
func accessReviews(t *testing.T, user string, asked []review) []bool {
	t.Helper()
	var items []map[string]any
	for _, r := range asked {
		items = append(items, map[string]any{
			"apiVersion": "authorization.k8s.io/v1",
			"kind":       "SubjectAccessReview",
			"spec": map[string]any{
				"user":   user,
				"groups": []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"},
				"resourceAttributes": map[string]any{
					"namespace": r.namespace, "verb": r.verb, "group": r.group, "resource": r.resource, "subresource": r.subresource, "name": r.name,
				},
			},
		})
	}
	in, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	// kubectl prints the created reviews one JSON object after another, in order.
	out := mustKubectl(t, string(in), "create", "-f", "-", "-o", "json")
	dec := json.NewDecoder(strings.NewReader(out))
	var allowed []bool
	for dec.More() {
		var r struct {
			Spec struct {
				ResourceAttributes struct {
					Namespace string `json:"namespace"`
					Verb      string `json:"verb"`
					Resource  string `json:"resource"`
				} `json:"resourceAttributes"`
			} `json:"spec"`
			Status struct {
				Allowed bool `json:"allowed"`
			} `json:"status"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("decode SubjectAccessReviews: %v: %s", err, out)
		}
		if i := len(allowed); i < len(asked) {
			if a := r.Spec.ResourceAttributes; a.Namespace != asked[i].namespace || a.Verb != asked[i].verb || a.Resource != asked[i].resource {
				t.Fatalf("answer %d is about %+v, asked %+v", i, a, asked[i])
			}
		}
		allowed = append(allowed, r.Status.Allowed)
	}
	if len(allowed) != len(asked) {
		t.Fatalf("%d answers to %d SubjectAccessReviews", len(allowed), len(asked))
	}
	return allowed
}

// TestWatchNamespacesOnCluster installs the operator with the chart's watchNamespaces set to
// one namespace, backs up a database there, and shows that a configuration in another
// namespace is ignored and that the operator's rights end at the watched namespace. The
// install is put back as it was at the end.
func TestWatchNamespacesOnCluster(t *testing.T) {
	watched := newCaseNamespace(t, "hoard-watched")
	ignored := newCaseNamespace(t, "hoard-not-watched")
	helm := filepath.Join(repoRoot, "bin", "helm")
	chart := filepath.Join(repoRoot, "helm-charts", "hoard")
	upgrade := func(watch string) {
		t.Helper()
		cmd := exec.Command(helm, "upgrade", operatorRelease, chart, "-n", operatorNamespace, "--reuse-values",
			"--set-json", "watchNamespaces="+watch, "--wait", "--timeout", "5m")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helm upgrade (watchNamespaces=%s): %v: %s", watch, err, out)
		}
		mustKubectl(t, "", "-n", operatorNamespace, "rollout", "status", "deploy/"+operatorRelease, "--timeout=180s")
	}
	t.Cleanup(func() { upgrade("[]") })
	step(t, "install with watchNamespaces=[%s]", watched.ns)
	upgrade(`["` + watched.ns + `"]`)
	args := mustKubectl(t, "", "-n", operatorNamespace, "get", "deploy/"+operatorRelease, "-o", "jsonpath={.spec.template.spec.containers[0].args}")
	if !strings.Contains(args, "--watch-namespaces="+watched.ns) {
		t.Fatalf("the operator runs without --watch-namespaces=%s: %s", watched.ns, args)
	}

	user := operatorUser(t)
	var asked []review
	for _, ns := range []string{watched.ns, ignored.ns} {
		for _, c := range []canICheck{
			{verb: "get", resource: "secrets"},
			{verb: "create", resource: "secrets"},
			{verb: "create", group: "batch", resource: "jobs"},
			{verb: "list", group: "stash.appscode.com", resource: "backupconfigurations"},
		} {
			asked = append(asked, review{namespace: ns, canICheck: c})
		}
	}
	asked = append(asked, review{namespace: "", canICheck: canICheck{verb: "list", group: "stash.appscode.com", resource: "tasks"}})
	for i, ok := range accessReviews(t, user, asked) {
		want := asked[i].namespace != ignored.ns
		if ok != want {
			t.Errorf("can the operator %s in namespace %q: %t, want %t", asked[i].canICheck, asked[i].namespace, ok, want)
		}
	}

	step(t, "a configuration in %s that the operator must ignore", ignored.ns)
	ignored.repository("repo", "repo", false)
	ignored.backupConfiguration(bcSpec{Name: "nightly", Repo: "repo", Target: "mariadb"})

	step(t, "a backup in the watched namespace %s", watched.ns)
	watched.setup("mariadb")
	watched.smallData("mariadb", "shop")
	watched.repository("repo", "repo", false)
	watched.backupConfiguration(bcSpec{Name: "nightly", Repo: "repo", Target: "mariadb"})
	snap := watched.backup("nightly")
	t.Logf("backup in %s: snapshot %s", watched.ns, snap)

	var bc struct {
		Status struct {
			ObservedGeneration int64             `json:"observedGeneration"`
			Conditions         []json.RawMessage `json:"conditions"`
		} `json:"status"`
	}
	if !ignored.get("backupconfiguration/nightly", &bc) {
		t.Fatal("the configuration in the namespace not watched is gone")
	}
	if bc.Status.ObservedGeneration != 0 || len(bc.Status.Conditions) != 0 {
		t.Errorf("the operator acted on a configuration in a namespace it does not watch: %+v", bc.Status)
	}
	if out, _ := ignored.try("get", "cronjobs", "-o", "name"); out != "" {
		t.Errorf("the operator created in a namespace it does not watch: %s", out)
	}
}
