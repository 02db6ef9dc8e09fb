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
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/event"
)

// SetupWithManager registers the reconciler. Besides its own objects it watches what a
// configuration refers to, so a Repository, AppBinding, Service or Task that appears or changes
// later turns the configuration Ready (or NotReady) without waiting for a resync. Secrets are
// not watched: that would need list and watch on every Secret of the cluster
// (docs/design/0014-least-privilege.md); a configuration missing one is looked at again every
// recheck instead, and every other one every readyRecheck. It needs dependency.RepositoryIndex,
// which controller.Setup registers.
func SetupWithManager(mgr ctrl.Manager, image string, recheck, readyRecheck time.Duration) error {
	r := &Reconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Scheme:       mgr.GetScheme(),
		Recorder:     event.RecorderFor(mgr, "backupconfiguration"),
		Image:        image,
		Recheck:      recheck,
		ReadyRecheck: readyRecheck,
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
		// spec (its backend, its usagePolicy) matter here, and configurations of any
		// namespace may use it.
		Watches(&stashv1alpha1.Repository{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return usingRepository(ctx, c, o.GetNamespace(), o.GetName())
			}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return bindingsThen(ctx, c, o.GetNamespace(), func(ab *appcatalogv1alpha1.AppBinding) bool {
					return ab.Spec.ClientConfig.Service != nil && ab.Spec.ClientConfig.Service.Name == o.GetName()
				})
			}), builder.OnlyMetadata).
		// A namespace's labels decide what a usagePolicy selector allows.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return referring(ctx, c, o.GetName(), func(bc *stashv1beta1.BackupConfiguration) bool {
					return bc.Spec.Repository.Namespace != "" && bc.Spec.Repository.Namespace != bc.Namespace
				})
			}), builder.OnlyMetadata, builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&appcatalogv1alpha1.AppBinding{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return referring(ctx, c, o.GetNamespace(), usesBinding(o.GetName()))
			})).
		Watches(&stashv1beta1.Task{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				// An empty task name may resolve to any Task through the AppBinding.
				return referring(ctx, c, "", func(bc *stashv1beta1.BackupConfiguration) bool {
					return bc.Spec.Task.Name == o.GetName() || bc.Spec.Task.Name == ""
				})
			})).
		// Functions come and go with the addon; any configuration may use any of them.
		Watches(&stashv1beta1.Function{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, _ client.Object) []reconcile.Request {
				return referring(ctx, c, "", func(*stashv1beta1.BackupConfiguration) bool { return true })
			})).
		Complete(r)
}

func usesBinding(name string) func(*stashv1beta1.BackupConfiguration) bool {
	return func(bc *stashv1beta1.BackupConfiguration) bool {
		return bc.Spec.Target != nil && bc.Spec.Target.Ref.Name == name && dependency.IsAppBinding(bc.Spec.Target.Ref)
	}
}

// referring lists the configurations (in ns, or everywhere when ns is empty) that match.
func referring(ctx context.Context, c client.Client, ns string, match func(*stashv1beta1.BackupConfiguration) bool, opts ...client.ListOption) []reconcile.Request {
	var list stashv1beta1.BackupConfigurationList
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

// usingRepository lists the configurations, of any namespace, that refer to a Repository.
func usingRepository(ctx context.Context, c client.Client, ns, name string) []reconcile.Request {
	return referring(ctx, c, "", func(*stashv1beta1.BackupConfiguration) bool { return true },
		client.MatchingFields{dependency.RepositoryIndex: dependency.RepositoryIndexValue(ns, name)})
}

// bindingsThen lists the configurations of ns whose AppBinding matches.
func bindingsThen(ctx context.Context, c client.Client, ns string, match func(*appcatalogv1alpha1.AppBinding) bool) []reconcile.Request {
	var bindings appcatalogv1alpha1.AppBindingList
	if err := c.List(ctx, &bindings, client.InNamespace(ns)); err != nil {
		log.FromContext(ctx).Error(err, "failed to list AppBindings", "namespace", ns)
		return nil
	}
	var reqs []reconcile.Request
	for i := range bindings.Items {
		if match(&bindings.Items[i]) {
			reqs = append(reqs, referring(ctx, c, ns, usesBinding(bindings.Items[i].Name))...)
		}
	}
	return reqs
}
