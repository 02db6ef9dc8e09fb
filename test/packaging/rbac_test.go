// Package packaging checks, without a cluster, what the operator is granted by each way of
// installing it: the kustomize config (config/rbac), the Helm chart (rendered with and
// without watchNamespaces) and the OLM bundle. The expected grants live in
// testdata/rbac.golden, so any widening is a diff in review. `make check-rbac` runs it (part
// of `make test-packaging`); HOARD_UPDATE_GOLDEN=1 rewrites the golden file.
package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/hoard-operator/hoard/test/internal/golden"
)

func root(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// docs decodes every YAML document of data.
func docs(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("decode YAML: %v", err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

func convert(t *testing.T, from, to any) {
	t.Helper()
	b, err := yaml.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, to); err != nil {
		t.Fatal(err)
	}
}

func rulesOf(t *testing.T, u *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	var r rbacv1.ClusterRole
	convert(t, u.Object, &r)
	return r.Rules
}

// grants flattens rules into one line per API group and resource, with its sorted verbs (and
// resource names, if any): the form the golden file and the cross-checks compare.
func grants(rules []rbacv1.PolicyRule) []string {
	verbs := map[string]map[string]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				key := g + " " + res
				if g == "" {
					key = "core " + res
				}
				if len(r.ResourceNames) > 0 {
					key += " names=" + strings.Join(r.ResourceNames, ",")
				}
				if verbs[key] == nil {
					verbs[key] = map[string]bool{}
				}
				for _, v := range r.Verbs {
					verbs[key][v] = true
				}
			}
		}
	}
	var out []string
	for key, vs := range verbs {
		var list []string
		for v := range vs {
			list = append(list, v)
		}
		sort.Strings(list)
		out = append(out, key+": "+strings.Join(list, " "))
	}
	sort.Strings(out)
	return out
}

type report struct {
	b strings.Builder
}

func (r *report) section(title string, lines []string) {
	fmt.Fprintf(&r.b, "== %s\n", title)
	for _, l := range lines {
		fmt.Fprintf(&r.b, "  %s\n", l)
	}
}

func helmTemplate(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	helm := os.Getenv("HOARD_HELM")
	if helm == "" {
		helm = filepath.Join(root(t), "bin", "helm")
	}
	cmd := exec.Command(helm, append([]string{"template", "hoard", filepath.Join(root(t), "helm-charts", "hoard"), "--namespace", "hoard-system"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v: %s (run `make bin/helm` or set HOARD_HELM)", args, err, stderr.String())
	}
	return docs(t, out)
}

// helmRBAC reports the RBAC objects of a rendered chart: each role's grants, and each binding
// as where it grants what to whom.
func helmRBAC(t *testing.T, r *report, title string, objs []*unstructured.Unstructured) map[string][]string {
	t.Helper()
	byName := map[string][]string{}
	var bindings []string
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole", "Role":
			g := grants(rulesOf(t, o))
			byName[o.GetName()] = g
			where := "cluster"
			if o.GetKind() == "Role" {
				where = "namespace " + o.GetNamespace()
			}
			r.section(fmt.Sprintf("%s: %s %s (%s)", title, o.GetKind(), o.GetName(), where), g)
		case "ClusterRoleBinding", "RoleBinding":
			var b rbacv1.RoleBinding
			convert(t, o.Object, &b)
			var subjects []string
			for _, s := range b.Subjects {
				subjects = append(subjects, s.Kind+" "+s.Namespace+"/"+s.Name)
			}
			where := "cluster-wide"
			if o.GetKind() == "RoleBinding" {
				where = "in namespace " + o.GetNamespace()
			}
			bindings = append(bindings, fmt.Sprintf("%s %s %s: %s %s to %s", o.GetKind(), o.GetName(), where, b.RoleRef.Kind, b.RoleRef.Name, strings.Join(subjects, ", ")))
		}
	}
	sort.Strings(bindings)
	r.section(title+": bindings", bindings)
	return byName
}

func union(lists ...[]string) []string {
	var rules []rbacv1.PolicyRule
	for _, l := range lists {
		for _, line := range l {
			key, verbs, _ := strings.Cut(line, ": ")
			f := strings.Fields(key)
			g := f[0]
			if g == "core" {
				g = ""
			}
			rule := rbacv1.PolicyRule{APIGroups: []string{g}, Resources: []string{f[1]}, Verbs: strings.Fields(verbs)}
			if len(f) > 2 {
				if names, ok := strings.CutPrefix(f[2], "names="); ok {
					rule.ResourceNames = strings.Split(names, ",")
				}
			}
			rules = append(rules, rule)
		}
	}
	return grants(rules)
}

func sameGrants(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s differ from config/rbac's ClusterRole:\n got: %q\nwant: %q", what, got, want)
	}
}

func TestRBACGrants(t *testing.T) {
	base := root(t)
	r := &report{}
	r.b.WriteString("# What each install grants the operator (test/packaging/rbac_test.go). A change here is a\n# change in the operator's privileges: review it against docs/design/0014-least-privilege.md.\n")

	// config/rbac: the generated ClusterRole and the Role in the operator's namespace.
	data, err := os.ReadFile(filepath.Join(base, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfgCluster, cfgRole []string
	for _, o := range docs(t, data) {
		g := grants(rulesOf(t, o))
		switch o.GetKind() {
		case "ClusterRole":
			cfgCluster = g
			r.section("config/rbac: ClusterRole "+o.GetName(), g)
		case "Role":
			cfgRole = g
			r.section("config/rbac: Role "+o.GetName()+" (the operator's namespace)", g)
		}
	}
	if cfgCluster == nil || cfgRole == nil {
		t.Fatal("config/rbac/role.yaml lacks the ClusterRole or the Role")
	}

	// Helm, every namespace (the default).
	all := helmRBAC(t, r, "helm (all namespaces)", helmTemplate(t, "--show-only", "templates/rbac.yaml"))
	sameGrants(t, "helm's ClusterRole grants", all["hoard-manager"], cfgCluster)
	sameGrants(t, "helm's release-records Role grants", all["hoard-release-records"], cfgRole)

	// Helm, two watched namespaces: only cluster-scoped kinds stay cluster-wide.
	some := helmRBAC(t, r, "helm (watchNamespaces=team-a,team-b)", helmTemplate(t, "--show-only", "templates/rbac.yaml", "--set", "watchNamespaces={team-a,team-b}"))
	sameGrants(t, "helm's split ClusterRoles together", union(some["hoard-manager"], some["hoard-manager-namespaced"]), cfgCluster)
	for _, line := range some["hoard-manager"] {
		if res, ok := strings.CutPrefix(line, "core "); ok && !clusterScoped(t, base, strings.SplitN(strings.Fields(strings.ReplaceAll(res, ":", " "))[0], "/", 2)[0]) {
			t.Errorf("with watchNamespaces the cluster-wide ClusterRole still grants a namespaced core kind: %s", line)
		}
	}
	dep := helmTemplate(t, "--show-only", "templates/deployment.yaml", "--set", "watchNamespaces={team-a,team-b}")
	var args []string
	for _, o := range dep {
		var d struct {
			Spec struct {
				Template struct {
					Spec corev1.PodSpec `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		convert(t, o.Object, &d)
		for _, c := range d.Spec.Template.Spec.Containers {
			args = append(args, c.Args...)
		}
	}
	r.section("helm (watchNamespaces=team-a,team-b): operator flag", filter(args, "--watch-namespaces"))

	// The OLM bundle.
	data, err = os.ReadFile(filepath.Join(base, "bundle", "manifests", "hoard.clusterserviceversion.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var csv struct {
		Spec struct {
			InstallModes []struct {
				Type      string `json:"type"`
				Supported bool   `json:"supported"`
			} `json:"installModes"`
			Install struct {
				Spec struct {
					ClusterPermissions []struct {
						Rules []rbacv1.PolicyRule `json:"rules"`
					} `json:"clusterPermissions"`
					Permissions []struct {
						Rules []rbacv1.PolicyRule `json:"rules"`
					} `json:"permissions"`
					Deployments []struct {
						Spec struct {
							Template struct {
								Spec corev1.PodSpec `json:"spec"`
							} `json:"template"`
						} `json:"spec"`
					} `json:"deployments"`
				} `json:"spec"`
			} `json:"install"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &csv); err != nil {
		t.Fatal(err)
	}
	var cp, p []rbacv1.PolicyRule
	for _, x := range csv.Spec.Install.Spec.ClusterPermissions {
		cp = append(cp, x.Rules...)
	}
	for _, x := range csv.Spec.Install.Spec.Permissions {
		p = append(p, x.Rules...)
	}
	r.section("bundle: clusterPermissions (cluster-wide in every install mode)", grants(cp))
	r.section("bundle: permissions (each target namespace; cluster-wide in AllNamespaces)", grants(p))
	var modes []string
	for _, m := range csv.Spec.InstallModes {
		modes = append(modes, fmt.Sprintf("%s=%t", m.Type, m.Supported))
	}
	r.section("bundle: installModes", modes)
	var env []string
	for _, d := range csv.Spec.Install.Spec.Deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.Name == "WATCH_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
					env = append(env, "WATCH_NAMESPACE from "+e.ValueFrom.FieldRef.FieldPath)
				}
			}
		}
	}
	r.section("bundle: watched namespaces", env)
	// Every rule of config/rbac's ClusterRole is in the bundle, and no more than the ClusterRole,
	// the operator-namespace Role and leader election.
	leader := grants([]rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	})
	sameGrants(t, "the bundle's permissions together", union(grants(cp), grants(p)), union(cfgCluster, cfgRole, leader))
	for _, line := range grants(cp) {
		key, _, _ := strings.Cut(line, ": ")
		res := strings.Fields(key)[1]
		if !clusterScoped(t, base, strings.SplitN(res, "/", 2)[0]) {
			t.Errorf("clusterPermissions grant a namespaced kind, which no install mode would restrict: %s", line)
		}
	}

	// The exec hooks' ClusterRole: granted to no one by the install, bound per session to its
	// hook identity. Every install ships the same one under the name the operator binds.
	hookRole := func(path string) []string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d := docs(t, data)
		if len(d) != 1 || d[0].GetKind() != "ClusterRole" {
			t.Fatalf("%s: want one ClusterRole", path)
		}
		return grants(rulesOf(t, d[0]))
	}
	hookCfg := hookRole(filepath.Join(base, "config", "rbac", "hook_exec_role.yaml"))
	r.section("config/rbac: ClusterRole hook-exec (hoard-hook-exec; bound per session to its hook ServiceAccount)", hookCfg)
	sameGrants(t, "helm's hoard-hook-exec grants", all["hoard-hook-exec"], hookCfg)
	sameGrants(t, "the bundle's hoard-hook-exec grants", hookRole(filepath.Join(base, "bundle", "manifests", "hoard-hook-exec_rbac.authorization.k8s.io_v1_clusterrole.yaml")), hookCfg)

	golden.Check(t, filepath.Join(base, "test", "packaging", "testdata", "rbac.golden"), r.b.String(), "the operator's grants changed", lineDiff)
}

func filter(args []string, prefix string) []string {
	var out []string
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			out = append(out, a)
		}
	}
	return out
}

// clusterScoped tells whether the CRD with this plural name is cluster-scoped, or the
// built-in resource is listed in config/rbac/cluster-scoped-builtin.txt.
func clusterScoped(t *testing.T, base, plural string) bool {
	t.Helper()
	builtin, err := os.ReadFile(filepath.Join(base, "config", "rbac", "cluster-scoped-builtin.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(builtin), "\n") {
		if strings.TrimSpace(l) == plural {
			return true
		}
	}
	files, err := filepath.Glob(filepath.Join(base, "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd struct {
			Spec struct {
				Scope string `json:"scope"`
				Names struct {
					Plural string `json:"plural"`
				} `json:"names"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		if crd.Spec.Names.Plural == plural {
			return crd.Spec.Scope == "Cluster"
		}
	}
	return false
}

// lineDiff lists the lines only in want (-) and only in got (+), each with its section.
func lineDiff(want, got string) string {
	keyed := func(s string) []string {
		var out []string
		section := ""
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "== ") {
				section = l
				continue
			}
			out = append(out, section+" |"+l)
		}
		return out
	}
	w, g := keyed(want), keyed(got)
	inW, inG := map[string]bool{}, map[string]bool{}
	for _, l := range w {
		inW[l] = true
	}
	for _, l := range g {
		inG[l] = true
	}
	var b strings.Builder
	for _, l := range w {
		if !inG[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !inW[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
