package hookjob

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/names"
)

// ExecClusterRole is the ClusterRole shipped with the install that an exec hook's identity is
// bound to in the session's namespace: create on pods/exec, nothing else. The operator may
// bind it (RBAC verb bind, by this name only) without holding pods/exec itself.
const ExecClusterRole = "hoard-hook-exec"

// Name is the post-hook Job and the hook identity (ServiceAccount and RoleBinding) of a
// session. Its prefix differs from every session Job's (stash-backup-, stash-restore-), so no
// session's objects can take another's name.
func Name(kind jobspec.Kind, session string) string {
	return names.LabelValue("stash-hook-" + string(kind) + "-" + session)
}

// RBAC of the hook identity: a ServiceAccount and a RoleBinding per session with an exec hook,
// controlled by the session and deleted when it finishes. bind lets the operator bind the one
// shipped ClusterRole without holding pods/exec; it grants nothing else.
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;create;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=get;create;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=hoard-hook-exec

// EnsureIdentity creates the session's hook ServiceAccount and its RoleBinding to
// ExecClusterRole, both controlled by owner. Existing objects are kept only when owner
// controls them.
func EnsureIdentity(ctx context.Context, c client.Client, s *runtime.Scheme, owner client.Object, kind jobspec.Kind) (string, error) {
	name := Name(kind, owner.GetName())
	lbls := map[string]string{names.LabelManagedBy: names.ManagedByHoard, names.LabelSession: names.LabelValue(owner.GetName())}
	sa := &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: name, Namespace: owner.GetNamespace(), Labels: lbls},
		AutomountServiceAccountToken: ptrFalse(),
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: owner.GetNamespace(), Labels: lbls},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ExecClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: owner.GetNamespace()}},
	}
	for _, o := range []struct {
		obj, existing client.Object
	}{{sa, &corev1.ServiceAccount{}}, {rb, &rbacv1.RoleBinding{}}} {
		if err := controllerutil.SetControllerReference(owner, o.obj, s); err != nil {
			return "", fmt.Errorf("failed to own %s: %w", name, err)
		}
		err := c.Create(ctx, o.obj)
		if err == nil {
			continue
		}
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsNotFound(err) {
			// For good: an install without ClusterRole hoard-hook-exec's bind grant, or a
			// namespace being deleted. The session fails saying so instead of waiting.
			return "", &TargetError{Msg: fmt.Sprintf("the exec hook's identity %s/%s cannot be created: %v", owner.GetNamespace(), name, err)}
		}
		if !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("failed to create the hook identity %s/%s: %w", owner.GetNamespace(), name, err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(o.obj), o.existing); err != nil {
			return "", fmt.Errorf("failed to read the hook identity %s/%s: %w", owner.GetNamespace(), name, err)
		}
		if !metav1.IsControlledBy(o.existing, owner) {
			return "", &TargetError{Msg: fmt.Sprintf("%T %s/%s already exists and this session does not own it: delete it, or create the session under another name", o.existing, owner.GetNamespace(), name)}
		}
	}
	return name, nil
}

// DeleteIdentity removes the session's hook ServiceAccount and RoleBinding, which invalidates
// the tokens given to its hook containers. Objects the session does not control are left.
// They are read with direct, a reader that does not lag behind like the cache: an identity
// created moments ago must not be missed.
func DeleteIdentity(ctx context.Context, c client.Client, direct client.Reader, owner client.Object, kind jobspec.Kind) error {
	name := Name(kind, owner.GetName())
	key := client.ObjectKey{Namespace: owner.GetNamespace(), Name: name}
	for _, obj := range []client.Object{&rbacv1.RoleBinding{}, &corev1.ServiceAccount{}} {
		if err := direct.Get(ctx, key, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("failed to read the hook identity %s/%s: %w", key.Namespace, key.Name, err)
		}
		if !metav1.IsControlledBy(obj, owner) {
			continue
		}
		uid := obj.GetUID()
		if err := c.Delete(ctx, obj, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("failed to delete the hook identity %s/%s: %w", key.Namespace, key.Name, err)
		}
	}
	return nil
}

func ptrFalse() *bool { b := false; return &b }
