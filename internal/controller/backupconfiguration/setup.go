package backupconfiguration

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// SetupWithManager registers the reconciler. Besides its own objects it watches what a
// configuration refers to, so a Repository, AppBinding or Task that appears later turns the
// configuration Ready without waiting for a resync. Secrets are not watched: that would need
// list and watch on every Secret of the cluster (docs/design/0014-least-privilege.md); a
// configuration whose storage Secret is missing is looked at again every recheck instead.
func SetupWithManager(mgr ctrl.Manager, image string, recheck time.Duration) error {
	r := &Reconciler{
		Client:   mgr.GetClient(),
		Scheme:   mgr.GetScheme(),
		Recorder: mgr.GetEventRecorderFor("hoard-backupconfiguration"),
		Image:    image,
		Recheck:  recheck,
	}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named("backupconfiguration").
		For(&stashv1beta1.BackupConfiguration{}).
		Owns(&batchv1.CronJob{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		// Every backup updates its Repository's status; only the Repository's existence and
		// spec matter here, and many configurations may share one Repository.
		Watches(&stashv1alpha1.Repository{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return referring(ctx, c, o.GetNamespace(), func(bc *stashv1beta1.BackupConfiguration) bool {
					return bc.Spec.Repository.Name == o.GetName()
				})
			}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&appcatalogv1alpha1.AppBinding{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return referring(ctx, c, o.GetNamespace(), func(bc *stashv1beta1.BackupConfiguration) bool {
					return bc.Spec.Target != nil && bc.Spec.Target.Ref.Name == o.GetName() && isAppBinding(bc.Spec.Target.Ref)
				})
			})).
		Watches(&stashv1beta1.Task{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				// An empty task name may resolve to any Task through the AppBinding.
				return referring(ctx, c, "", func(bc *stashv1beta1.BackupConfiguration) bool {
					return bc.Spec.Task.Name == o.GetName() || bc.Spec.Task.Name == ""
				})
			})).
		Complete(r)
}

// referring lists the configurations (in ns, or everywhere when ns is empty) that match.
func referring(ctx context.Context, c client.Client, ns string, match func(*stashv1beta1.BackupConfiguration) bool) []reconcile.Request {
	var list stashv1beta1.BackupConfigurationList
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, &list, opts...); err != nil {
		log.FromContext(ctx).Error(err, "failed to list BackupConfigurations", "namespace", ns)
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if match(&list.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}
