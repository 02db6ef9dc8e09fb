package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/internal/guard"
	"github.com/hoard-operator/hoard/internal/hookjob"
	"github.com/hoard-operator/hoard/internal/olm"
	"github.com/hoard-operator/hoard/test/envtestutil"
)

// operatorIdentity is a client acting as a ServiceAccount of namespace ns bound, cluster-wide,
// to config/rbac's generated ClusterRole (after edit, when given): what the OLM bundle's
// clusterPermissions and AllNamespaces permissions grant the operator together.
func operatorIdentity(t *testing.T, ns, name string, edit func(*rbacv1.ClusterRole)) client.Client {
	t.Helper()
	ctx := context.Background()
	roles := readObjects(t, filepath.Join(envtestutil.RepoRoot(), "config/rbac/role.yaml"))
	role := &rbacv1.ClusterRole{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(roles[0].Object, role); err != nil {
		t.Fatal(err)
	}
	role.Name = name
	if edit != nil {
		edit(role)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	rb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: ns}},
	}
	for _, obj := range []client.Object{role, sa, rb} {
		if err := k8sClient.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
	}
	return saClient(t, ns, name)
}

// olmClusterRole creates a ClusterRole as OLM makes one for a CSV's clusterPermissions:
// labelled with the CSV's name, kind and namespace.
func olmClusterRole(t *testing.T, name, csv, ns string) *rbacv1.ClusterRole {
	t.Helper()
	r := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			olm.OwnerLabel: csv, olm.OwnerKindLabel: "ClusterServiceVersion", olm.OwnerNamespaceLabel: ns, "olm.permissions.hash": "test",
		}},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}}},
	}
	if err := k8sClient.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), r) })
	return r
}

// ownerNames returns the names of obj's owners (read as cluster admin), sorted.
func ownerNames(t *testing.T, obj client.Object) []string {
	t.Helper()
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range obj.GetOwnerReferences() {
		if r.APIVersion != "rbac.authorization.k8s.io/v1" || r.Kind != "ClusterRole" {
			t.Errorf("%s: owner %+v is not a ClusterRole", obj.GetName(), r)
		}
		names = append(names, r.Name)
	}
	slices.Sort(names)
	return names
}

// TestOLMOwnership: under OLM the operator makes the admission guard it applies and the bundle's
// ClusterRole hoard-hook-exec dependents of the ClusterRoles OLM made for its CSV (which OLM
// deletes with the CSV; the garbage collector, which envtest does not run, then deletes the
// dependents: test/install's OLM path shows that part). It does so with the rights config/rbac
// gives it, on an API server that runs OwnerReferencesPermissionEnforcement as OpenShift does.
// A restart changes nothing; an upgrade adds the new CSV's ClusterRoles and keeps the old
// ones, so that the old CSV's removal does not take the guard with it. The operator can
// neither touch another ClusterRole nor widen hoard-hook-exec.
func TestOLMOwnership(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	op := operatorIdentity(t, ns, "olm-test-operator", nil)

	hookDocs := readObjects(t, filepath.Join(envtestutil.RepoRoot(), "config/rbac/hook_exec_role.yaml"))
	hookRole := &rbacv1.ClusterRole{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(hookDocs[0].Object, hookRole); err != nil {
		t.Fatal(err)
	}
	hookRole.Name = hookjob.ExecClusterRole
	mustCreate(t, hookRole)
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), hookRole) })

	v1 := olmClusterRole(t, "hoard.v0.1.0-olmtest", "hoard.v0.1.0", ns)
	other := olmClusterRole(t, "someone-elses.v1-olmtest", "someone-elses.v1", ns)
	olmClusterRole(t, "hoard.v0.1.0-elsewhere-olmtest", "hoard.v0.1.0", "another-namespace")

	policy, binding, err := guard.Objects()
	if err != nil {
		t.Fatal(err)
	}
	plain := removeGuardAfter(t, policy, binding)
	start := func(csv string) []string {
		t.Helper()
		if err := guard.Apply(ctx, op); err != nil {
			t.Fatalf("apply the guard: %v", err)
		}
		awaitGuard(t, plain, true)
		objs, err := olm.Dependents(true)
		if err != nil {
			t.Fatal(err)
		}
		owners, err := olm.Own(ctx, op, csv, ns, objs)
		if err != nil {
			t.Fatalf("own by CSV %s with the operator's rights: %v", csv, err)
		}
		return owners
	}
	dependents := []client.Object{&rbacv1.ClusterRole{}, &admissionv1.ValidatingAdmissionPolicy{}, &admissionv1.ValidatingAdmissionPolicyBinding{}}
	dependents[0].SetName(hookjob.ExecClusterRole)
	dependents[1].SetName(policy.Name)
	dependents[2].SetName(binding.Name)
	expect := func(when string, want ...string) {
		t.Helper()
		for _, d := range dependents {
			if got := ownerNames(t, d); !slices.Equal(got, want) {
				t.Errorf("%s: %T %s is owned by %v, want %v", when, d, d.GetName(), got, want)
			}
		}
	}

	// Install, then a restart.
	for i := 0; i < 2; i++ {
		if owners := start("hoard.v0.1.0"); !slices.Equal(owners, []string{v1.Name}) {
			t.Fatalf("owners %v, want [%s]", owners, v1.Name)
		}
	}
	expect("installed", v1.Name)
	// The dependents are otherwise as they were: the hook role's rules untouched.
	got := &rbacv1.ClusterRole{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: hookjob.ExecClusterRole}, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rules) != 1 || !slices.Equal(got.Rules[0].Resources, []string{"pods/exec"}) || !slices.Equal(got.Rules[0].Verbs, []string{"create"}) {
		t.Errorf("hoard-hook-exec's rules changed: %+v", got.Rules)
	}

	// An upgrade: the next CSV's operator adds its own CSV's ClusterRole; the old one stays an
	// owner until it is deleted (then the garbage collector drops the dangling reference).
	v2 := olmClusterRole(t, "hoard.v0.1.1-olmtest", "hoard.v0.1.1", ns)
	start("hoard.v0.1.1")
	expect("upgraded", v1.Name, v2.Name)

	// What the operator may not do.
	refs, err := olm.Owners(ctx, op, "hoard.v0.1.1", ns)
	if err != nil {
		t.Fatal(err)
	}
	if err := olm.Adopt(ctx, op, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: other.Name}}, refs); !apierrors.IsForbidden(err) {
		t.Errorf("the operator changed another ClusterRole's owners: %v", err)
	}
	widen := client.MergeFrom(got.DeepCopy())
	got.Rules = append(got.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}})
	if err := op.Patch(ctx, got, widen); !apierrors.IsForbidden(err) {
		t.Errorf("the operator widened hoard-hook-exec: %v", err)
	}
	if _, err := olm.Own(ctx, op, "no-such.v1", ns, dependents[:1]); err == nil || !strings.Contains(err.Error(), "olm.owner=no-such.v1") {
		t.Errorf("a CSV OLM made no ClusterRole for: %v", err)
	}

	// Without delete on them, OwnerReferencesPermissionEnforcement refuses the change (the
	// reason the operator holds delete on these three objects by name).
	noDelete := operatorIdentity(t, ns, "olm-test-no-delete", func(r *rbacv1.ClusterRole) {
		for i := range r.Rules {
			if len(r.Rules[i].ResourceNames) > 0 {
				r.Rules[i].Verbs = slices.DeleteFunc(r.Rules[i].Verbs, func(v string) bool { return v == "delete" })
			}
		}
	})
	v3 := olmClusterRole(t, "hoard.v0.1.2-olmtest", "hoard.v0.1.2", ns)
	ref := []metav1.OwnerReference{{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: v3.Name, UID: v3.UID}}
	for _, d := range dependents {
		if err := olm.Adopt(ctx, noDelete, d, ref); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ownerRef") {
			t.Errorf("%T %s: without delete: %v, want refused by OwnerReferencesPermissionEnforcement", d, d.GetName(), err)
		}
	}

	// OLM may create the hook role after the operator has started (CI saw it: the role stayed
	// without owners, and an uninstall left it), and an upgrade rewrites it. The keeper, with
	// the operator's rights, adopts it when it comes and again after a rewrite drops the
	// references.
	if err := k8sClient.Delete(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: hookjob.ExecClusterRole}}); err != nil {
		t.Fatal(err)
	}
	kctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	keeper := &olm.HookRoleKeeper{Reader: op, Writer: op, CSV: "hoard.v0.1.1", Namespace: ns, Interval: 200 * time.Millisecond}
	go func() { done <- keeper.Start(kctx) }()
	t.Cleanup(func() { stop(); <-done })
	time.Sleep(time.Second) // the keeper finds no role for a few rounds
	late := hookRole.DeepCopy()
	late.ResourceVersion, late.UID, late.OwnerReferences = "", "", nil
	mustCreate(t, late)
	ownedByV2 := func() error {
		if got := ownerNames(t, late); !slices.Equal(got, []string{v2.Name}) {
			return fmt.Errorf("owned by %v, want [%s]", got, v2.Name)
		}
		return nil
	}
	pollUntil(t, 10*time.Second, "the keeper to adopt hoard-hook-exec created after it started", ownedByV2)
	late.OwnerReferences = nil
	if err := k8sClient.Update(ctx, late); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "the keeper to adopt hoard-hook-exec again after a rewrite", ownedByV2)
}
