//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// canICheck is one line of the table: may the operator's ServiceAccount do verb on resource
// (group/resource[/subresource]) in a namespace ("" is every namespace at once).
type canICheck struct {
	verb, group, resource, subresource string
}

func (c canICheck) String() string {
	r := c.resource
	if c.subresource != "" {
		r += "/" + c.subresource
	}
	if c.group != "" {
		r += "." + c.group
	}
	return c.verb + " " + r
}

// TestOperatorCanI is the `kubectl auth can-i --as=system:serviceaccount:<ns>:<sa>` table of the
// installed operator, asked of the API server with SubjectAccessReviews (the check can-i
// makes), in the operator's namespace, a user namespace, kube-system and across all
// namespaces. The expected table is testdata/can-i.golden: any widening of the operator's
// rights is a diff there. HOARD_UPDATE_GOLDEN=1 rewrites it.
func TestOperatorCanI(t *testing.T) {
	sa := mustKubectl(t, "", "-n", operatorNamespace, "get", "deployment/"+operatorRelease, "-o", "jsonpath={.spec.template.spec.serviceAccountName}")
	user := "system:serviceaccount:" + operatorNamespace + ":" + sa
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
		{verb: "create", resource: "serviceaccounts"},
		{verb: "create", resource: "serviceaccounts", subresource: "token"},
		{verb: "create", resource: "pods"},
		{verb: "create", resource: "pods", subresource: "exec"},
		{verb: "create", group: "batch", resource: "jobs"},
		{verb: "delete", group: "batch", resource: "jobs"},
		{verb: "list", resource: "pods"},
		{verb: "get", resource: "pods", subresource: "log"},
		{verb: "create", group: "stash.appscode.com", resource: "backupsessions"},
	}
	// The namespaces by role, so the table reads the same whatever the install's names.
	namespaces := []struct{ label, name string }{
		{"operator", operatorNamespace},
		{"user", "hoard-can-i-user"}, // A namespace need not exist to be asked about.
		{"kube-system", "kube-system"},
		{"all", ""},
	}

	var items []map[string]any
	for _, n := range namespaces {
		for _, c := range checks {
			items = append(items, map[string]any{
				"apiVersion": "authorization.k8s.io/v1",
				"kind":       "SubjectAccessReview",
				"spec": map[string]any{
					"user":   user,
					"groups": []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"},
					"resourceAttributes": map[string]any{
						"namespace": n.name, "verb": c.verb, "group": c.group, "resource": c.resource, "subresource": c.subresource,
					},
				},
			})
		}
	}
	in, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	out := mustKubectl(t, string(in), "create", "-f", "-", "-o", "json")
	var res struct {
		Items []struct {
			Status struct {
				Allowed bool `json:"allowed"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode SubjectAccessReviews: %v: %s", err, out)
	}
	if len(res.Items) != len(items) {
		t.Fatalf("%d answers to %d SubjectAccessReviews", len(res.Items), len(items))
	}

	var b strings.Builder
	b.WriteString("# kubectl auth can-i --as=system:serviceaccount:<operator namespace>:<operator ServiceAccount>, asked\n")
	b.WriteString("# with SubjectAccessReviews by test/e2e/rbac_test.go (TestOperatorCanI) of the Helm install.\n")
	b.WriteString("# A change here is a change in the operator's rights: see docs/threat-model.md.\n")
	fmt.Fprintf(&b, "%-42s", "check")
	for _, n := range namespaces {
		fmt.Fprintf(&b, " %-12s", n.label)
	}
	b.WriteString("\n")
	for i, c := range checks {
		fmt.Fprintf(&b, "%-42s", c.String())
		for j := range namespaces {
			answer := "no"
			if res.Items[j*len(checks)+i].Status.Allowed {
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

	golden := filepath.Join(repoRoot, "test", "e2e", "testdata", "can-i.golden")
	if os.Getenv("HOARD_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (HOARD_UPDATE_GOLDEN=1 writes it)", err)
	}
	if got != string(want) {
		t.Errorf("the operator's rights differ from testdata/can-i.golden; if intended, review and rerun with HOARD_UPDATE_GOLDEN=1.\nwant:\n%s\ngot:\n%s", want, got)
	}
}
