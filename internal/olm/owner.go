// Package olm is what the operator does only when Operator Lifecycle Manager installed it:
// it makes the cluster-scoped objects that OLM does not delete with the operator's
// ClusterServiceVersion, yet that an uninstall must remove (the admission guard the operator
// applies itself, and the bundle's ClusterRole hoard-hook-exec), dependents of the
// ClusterRoles that OLM made for that CSV. OLM deletes those with the CSV (its finalizer
// operators.coreos.com/csv-cleanup deletes every ClusterRole labelled as the CSV's), and
// Kubernetes' garbage collector then deletes the dependents. See
// docs/design/0023-olm-uninstall-removes-everything.md.
package olm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hoard-operator/hoard/internal/guard"
	"github.com/hoard-operator/hoard/internal/hookjob"
)

// The labels OLM puts on the ClusterRoles (and ClusterRoleBindings) it makes for a CSV's
// clusterPermissions, and, in AllNamespaces mode, for its permissions (operator-framework's
// ownerutil.OwnerLabel); the CSV's finalizer deletes the ClusterRoles that carry all three.
const (
	OwnerLabel          = "olm.owner"
	OwnerKindLabel      = "olm.owner.kind"
	OwnerNamespaceLabel = "olm.owner.namespace"
	csvKind             = "ClusterServiceVersion"
)

// FieldOwner is the field manager of the ownerReferences the operator adds.
const FieldOwner = "hoard-olm-owner"

// Owners: list on ClusterRoles, to find those OLM made for the operator's CSV by their labels
// (their names end in a hash of the CSV's permissions; RBAC cannot restrict a list by label).
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=list

// Adopt: patch on the two objects of the admission guard and on ClusterRole hoard-hook-exec, by
// name, to add the ownerReferences. Patching only the ownerReferences of a ClusterRole needs
// no escalate (RBAC lets anyone with patch change only the fields the garbage collector uses),
// so the operator still holds neither pods/exec nor escalate. delete, by the same names, is what
// the OwnerReferencesPermissionEnforcement admission plugin (on in OpenShift) asks of whoever
// changes an object's ownerReferences; the operator never deletes these objects itself.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=patch;delete,resourceNames=hoard-hook-exec
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicies;validatingadmissionpolicybindings,verbs=delete,resourceNames=hoard-admission-guard

// Dependents are the objects the operator makes dependents of its CSV: ClusterRole
// hoard-hook-exec (the bundle's: OLM creates a bundle's ClusterRoles without marking them as the
// CSV's), and the admission guard's policy and binding when the operator applies them
// (withGuard, --apply-admission-guard). Only their kinds and names matter.
func Dependents(withGuard bool) ([]client.Object, error) {
	objs := []client.Object{&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: hookjob.ExecClusterRole}}}
	if withGuard {
		policy, binding, err := guard.Objects()
		if err != nil {
			return nil, err
		}
		objs = append(objs, policy, binding)
	}
	return objs, nil
}

// Own makes each of objs a dependent of every ClusterRole OLM made for the CSV csv of
// namespace ns (Owners, Adopt) and returns those ClusterRoles' names. A missing
// hoard-hook-exec is skipped: OLM may create it after the operator starts, and HookRoleKeeper
// adopts it when it comes.
func Own(ctx context.Context, c client.Client, csv, ns string, objs []client.Object) ([]string, error) {
	refs, err := Owners(ctx, c, csv, ns, hookjob.ExecClusterRole)
	if err != nil {
		return nil, err
	}
	for _, obj := range objs {
		err := Adopt(ctx, c, obj, refs)
		if _, role := obj.(*rbacv1.ClusterRole); role && obj.GetName() == hookjob.ExecClusterRole && apierrors.IsNotFound(err) {
			log.FromContext(ctx).Info("ClusterRole " + hookjob.ExecClusterRole + " is not there yet: adopted when it comes")
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(refs))
	for _, r := range refs {
		names = append(names, r.Name)
	}
	return names, nil
}

// Owners returns an ownerReference to each ClusterRole that OLM made for the CSV csv in
// namespace ns, read from the API server (not a cache), skipping the objects in except (the
// objects to be adopted, which must not own themselves). It fails when there is none: OLM made
// none for that CSV, so nothing would remove the dependents.
func Owners(ctx context.Context, r client.Reader, csv, ns string, except ...string) ([]metav1.OwnerReference, error) {
	if csv == "" || ns == "" {
		return nil, fmt.Errorf("the CSV's name (%q) and namespace (%q) must both be known", csv, ns)
	}
	var roles rbacv1.ClusterRoleList
	sel := client.MatchingLabels{OwnerLabel: csv, OwnerKindLabel: csvKind, OwnerNamespaceLabel: ns}
	if err := r.List(ctx, &roles, sel); err != nil {
		return nil, fmt.Errorf("failed to list the ClusterRoles OLM made for CSV %s/%s: %w", ns, csv, err)
	}
	skip := map[string]bool{}
	for _, n := range except {
		skip[n] = true
	}
	var refs []metav1.OwnerReference
	for _, role := range roles.Items {
		if skip[role.Name] {
			continue
		}
		refs = append(refs, metav1.OwnerReference{
			APIVersion: rbacv1.SchemeGroupVersion.String(),
			Kind:       "ClusterRole",
			Name:       role.Name,
			UID:        role.UID,
		})
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("no ClusterRole is labelled %s=%s,%s=%s,%s=%s: OLM made none for this CSV, so nothing would delete what the operator leaves when it is uninstalled",
			OwnerLabel, csv, OwnerKindLabel, csvKind, OwnerNamespaceLabel, ns)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name < refs[j].Name })
	return refs, nil
}

// Adopt adds refs to the ownerReferences of obj (its kind and name; it must exist) with a
// strategic merge patch, which merges them by UID: the references already there stay, those of
// a CSV an upgrade replaced included, until the garbage collector drops them once their owner
// is gone. The object is deleted only when none of its owners is left.
func Adopt(ctx context.Context, c client.Client, obj client.Object, refs []metav1.OwnerReference) error {
	if len(refs) == 0 {
		return errors.New("no owner to adopt into")
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": refs}})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, obj, client.RawPatch(types.StrategicMergePatchType, patch), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("failed to add the owners of %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}
