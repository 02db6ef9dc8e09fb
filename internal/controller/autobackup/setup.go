package autobackup

import (
	"context"
	"slices"

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
	"github.com/hoard-operator/hoard/internal/event"
)

// SetupWithManager registers the reconciler. It watches AppBindings; a BackupBlueprint change
// is mapped to the AppBindings that name it, and a Repository or BackupConfiguration change
// (spec or deletion, not status) to the annotated AppBindings of its namespace, so that an
// edited or deleted object is put back and a hand-made one that goes away frees the name.
func SetupWithManager(mgr ctrl.Manager) error {
	r := &Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: event.RecorderFor(mgr, "autobackup")}
	c := mgr.GetClient()
	inNamespace := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		return annotatedBindings(ctx, c, o.GetNamespace(), nil)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("autobackup").
		For(&appcatalogv1alpha1.AppBinding{}).
		Watches(&stashv1beta1.BackupBlueprint{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return annotatedBindings(ctx, c, "", func(ab *appcatalogv1alpha1.AppBinding) bool {
					return slices.ContainsFunc(WantedBlueprints(ab), func(w Wanted) bool { return w.Blueprint == o.GetName() })
				})
			})).
		Watches(&stashv1alpha1.Repository{}, inNamespace, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&stashv1beta1.BackupConfiguration{}, inNamespace, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// annotatedBindings lists the AppBindings (of ns, or everywhere when ns is empty) that carry
// the blueprint annotation and match (nil matches all).
func annotatedBindings(ctx context.Context, c client.Client, ns string, match func(*appcatalogv1alpha1.AppBinding) bool) []reconcile.Request {
	var list appcatalogv1alpha1.AppBindingList
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, &list, opts...); err != nil {
		log.FromContext(ctx).Error(err, "failed to list AppBindings", "namespace", ns)
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		ab := &list.Items[i]
		if _, ok := ab.Annotations[AnnotationBlueprint]; ok && (match == nil || match(ab)) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ab)})
		}
	}
	return reqs
}
