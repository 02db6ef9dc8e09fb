package olm

import (
	"context"
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/hoard-operator/hoard/internal/hookjob"
	"github.com/hoard-operator/hoard/internal/scheme"
)

func role(name, uid string, labels map[string]string) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid), Labels: labels}}
}

func csvLabels(csv, ns string) map[string]string {
	return map[string]string{OwnerLabel: csv, OwnerKindLabel: "ClusterServiceVersion", OwnerNamespaceLabel: ns, "olm.permissions.hash": "x"}
}

// TestOwners: only the ClusterRoles labelled with all three of OLM's owner labels for this CSV
// and namespace are owners; never the object being adopted; none at all is an error.
func TestOwners(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(
		role("hoard.v0.1.0-abc", "u1", csvLabels("hoard.v0.1.0", "hoard-system")),
		role("hoard.v0.1.0-hoard-controller-manager-def", "u2", csvLabels("hoard.v0.1.0", "hoard-system")),
		role("hoard.v0.1.0-other-ns", "u3", csvLabels("hoard.v0.1.0", "elsewhere")),
		role("hoard.v0.0.9-old", "u4", csvLabels("hoard.v0.0.9", "hoard-system")),
		role("olm.og.hoard.admin-xyz", "u5", map[string]string{OwnerLabel: "hoard", OwnerKindLabel: "OperatorGroup", OwnerNamespaceLabel: "hoard-system"}),
		// After an upgrade OLM leaves only olm.owner on a bundle's ClusterRole; should it ever
		// carry all three, it must still not own itself.
		role(hookjob.ExecClusterRole, "u6", csvLabels("hoard.v0.1.0", "hoard-system")),
		role("no-labels", "u7", nil),
	).Build()
	ctx := context.Background()

	refs, err := Owners(ctx, c, "hoard.v0.1.0", "hoard-system", hookjob.ExecClusterRole)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		if r.APIVersion != "rbac.authorization.k8s.io/v1" || r.Kind != "ClusterRole" || r.Controller != nil || r.BlockOwnerDeletion != nil {
			t.Errorf("reference %+v: want a plain ClusterRole reference", r)
		}
		got = append(got, r.Name+"/"+string(r.UID))
	}
	if want := "hoard.v0.1.0-abc/u1 hoard.v0.1.0-hoard-controller-manager-def/u2"; strings.Join(got, " ") != want {
		t.Errorf("owners %v, want %s", got, want)
	}

	if _, err := Owners(ctx, c, "hoard.v9.9.9", "hoard-system"); err == nil || !strings.Contains(err.Error(), "olm.owner=hoard.v9.9.9") {
		t.Errorf("a CSV OLM made nothing for: err %v", err)
	}
	if _, err := Owners(ctx, c, "hoard.v0.1.0", ""); err == nil {
		t.Error("no namespace: no error")
	}
}

// TestDependents: the bundle's hook ClusterRole always, the guard's two objects only when the
// operator applied them.
func TestDependents(t *testing.T) {
	names := func(objs []client.Object) string {
		var n []string
		for _, o := range objs {
			n = append(n, strings.TrimPrefix(fmt.Sprintf("%T", o), "*v1.")+"/"+o.GetName())
		}
		return strings.Join(n, " ")
	}
	objs, err := Dependents(false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(objs), "ClusterRole/hoard-hook-exec"; got != want {
		t.Errorf("without the guard: %s, want %s", got, want)
	}
	objs, err = Dependents(true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(objs), "ClusterRole/hoard-hook-exec ValidatingAdmissionPolicy/hoard-admission-guard ValidatingAdmissionPolicyBinding/hoard-admission-guard"; got != want {
		t.Errorf("with the guard: %s, want %s", got, want)
	}
}
