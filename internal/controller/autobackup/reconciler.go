// Package autobackup reconciles AppBindings annotated with stash.appscode.com/backup-blueprint:
// it makes and keeps a Repository and a BackupConfiguration from each named BackupBlueprint
// in the AppBinding's namespace, and deletes the BackupConfiguration (never the Repository)
// when the annotation no longer asks for it. See docs/design/0018-auto-backup.md.
package autobackup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/event"
)

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// Blueprints are read from the cache; they are cluster-scoped and only read.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupblueprints,verbs=get;list;watch
// The Repository a blueprint makes is created and kept in step, never deleted: its snapshots
// outlive the annotation.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=repositories,verbs=get;list;watch;create;update
// The BackupConfiguration is created, kept in step and deleted when the annotation goes.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupconfigurations,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=appcatalog.appscode.com,resources=appbindings,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Recheck is how often an AppBinding whose auto-backup is refused or waits for a blueprint is
// looked at again, so its Warning event stays visible while the cause lasts.
const Recheck = 5 * time.Minute

// Reconciler reconciles the auto-backup of one AppBinding.
type Reconciler struct {
	client.Client
	// APIReader reads whether the objects a blueprint makes exist: a hand-made one the cache
	// has not seen yet must not be taken for none.
	APIReader client.Reader
	Recorder  record.EventRecorder
}

// Reconcile makes what each named blueprint asks for, then removes the BackupConfigurations
// it made that nothing asks for any more. It reads no Secret: the storage Secret the
// blueprint names is the Repository's, read in the AppBinding's namespace by the dependency
// checker when the BackupConfiguration is checked.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ab := &appcatalogv1alpha1.AppBinding{}
	if err := r.Get(ctx, req.NamespacedName, ab); err != nil {
		if apierrors.IsNotFound(err) {
			// The BackupConfigurations it owns go with it (garbage collector); Repositories stay.
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("failed to get AppBinding %s: %w", req.NamespacedName, err)
	}
	if !ab.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	wanted := WantedBlueprints(ab)
	recheck := false
	var errs []error
	for _, w := range wanted {
		again, err := r.ensure(ctx, ab, w)
		recheck = recheck || again
		errs = append(errs, err)
	}
	errs = append(errs, r.removeUnwanted(ctx, ab, wanted))
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, err
	}
	if recheck {
		return ctrl.Result{RequeueAfter: Recheck}, nil
	}
	return ctrl.Result{}, nil
}

// ensure makes or updates the pair for one blueprint; again says the AppBinding should be
// looked at again later (a missing blueprint, an object in the way).
func (r *Reconciler) ensure(ctx context.Context, ab *appcatalogv1alpha1.AppBinding, w Wanted) (again bool, _ error) {
	logger := log.FromContext(ctx).WithValues("blueprint", w.Blueprint, "name", w.Name)
	bp := &stashv1beta1.BackupBlueprint{}
	if err := r.Get(ctx, types.NamespacedName{Name: w.Blueprint}, bp); err != nil {
		if !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("failed to get BackupBlueprint %s: %w", w.Blueprint, err)
		}
		logger.Info("BackupBlueprint not found; nothing made for it")
		event.BlueprintNotFound.Emit(r.Recorder, ab, w.Blueprint)
		return true, nil
	}
	repo, bc, err := Render(ab, bp, w)
	if err != nil {
		logger.Info("BackupBlueprint cannot be applied", "error", err.Error())
		event.BlueprintInvalid.Emit(r.Recorder, ab, err.Error())
		return true, nil
	}

	// Both names are checked before anything is written: a hand-made object under either
	// name means neither is made, so backups never go into a Repository the user made.
	curRepo := &stashv1alpha1.Repository{}
	repoExists, err := r.getOptional(ctx, client.ObjectKeyFromObject(repo), curRepo)
	if err != nil {
		return false, err
	}
	curBC := &stashv1beta1.BackupConfiguration{}
	bcExists, err := r.getOptional(ctx, client.ObjectKeyFromObject(bc), curBC)
	if err != nil {
		return false, err
	}
	for _, in := range []struct {
		kind   string
		exists bool
		obj    client.Object
	}{{"Repository", repoExists, curRepo}, {"BackupConfiguration", bcExists, curBC}} {
		if in.exists && !MadeFor(in.obj, ab.Name) {
			msg := fmt.Sprintf("%s %s/%s exists and was not made by Hoard for AppBinding %s: it is left as it is, and BackupBlueprint %s makes nothing for this AppBinding until it is renamed or deleted",
				in.kind, ab.Namespace, w.Name, ab.Name, w.Blueprint)
			logger.Info("auto-backup refused: " + msg)
			event.AutoBackupRefused.Emit(r.Recorder, ab, msg)
			return true, nil
		}
	}

	if !repoExists {
		if err := r.Create(ctx, repo); err != nil {
			return r.refusedByAPI(ctx, ab, w, "create Repository", err)
		}
		event.AutoBackupCreated.Emit(r.Recorder, ab, "Repository", repo.Name, bp.Name)
	} else {
		want := curRepo.DeepCopy()
		want.Spec = repo.Spec
		want.Annotations[AnnotationMadeFrom] = bp.Name
		dry := want.DeepCopy()
		if err := r.Update(ctx, dry, client.DryRunAll); err != nil {
			return r.refusedByAPI(ctx, ab, w, "update Repository", err)
		}
		if !equality.Semantic.DeepEqual(curRepo.Spec, dry.Spec) || !equality.Semantic.DeepEqual(curRepo.Annotations, dry.Annotations) {
			if err := r.Update(ctx, want); err != nil {
				return r.refusedByAPI(ctx, ab, w, "update Repository", err)
			}
			event.AutoBackupUpdated.Emit(r.Recorder, ab, "Repository", repo.Name, bp.Name)
		}
	}

	if !bcExists {
		if err := r.Create(ctx, bc); err != nil {
			return r.refusedByAPI(ctx, ab, w, "create BackupConfiguration", err)
		}
		event.AutoBackupCreated.Emit(r.Recorder, ab, "BackupConfiguration", bc.Name, bp.Name)
		return false, nil
	}
	// spec.paused is the user's: pausing an auto-backup survives blueprint changes.
	want := curBC.DeepCopy()
	want.Spec = bc.Spec
	want.Spec.Paused = curBC.Spec.Paused
	want.Annotations[AnnotationMadeFrom] = bp.Name
	want.OwnerReferences = bc.OwnerReferences
	// A dry run applies the CRD's defaults (driver, backupHistoryLimit, ...), so what is
	// compared is what would be stored: an unchanged blueprint writes nothing.
	dry := want.DeepCopy()
	if err := r.Update(ctx, dry, client.DryRunAll); err != nil {
		return r.refusedByAPI(ctx, ab, w, "update BackupConfiguration", err)
	}
	if equality.Semantic.DeepEqual(curBC.Spec, dry.Spec) && equality.Semantic.DeepEqual(curBC.Annotations, dry.Annotations) &&
		equality.Semantic.DeepEqual(curBC.OwnerReferences, dry.OwnerReferences) {
		return false, nil
	}
	if err := r.Update(ctx, want); err != nil {
		return r.refusedByAPI(ctx, ab, w, "update BackupConfiguration", err)
	}
	event.AutoBackupUpdated.Emit(r.Recorder, ab, "BackupConfiguration", bc.Name, bp.Name)
	return false, nil
}

// removeUnwanted deletes the BackupConfigurations made for this AppBinding whose name no
// listed blueprint gives any more. The Repositories stay, with their snapshots.
func (r *Reconciler) removeUnwanted(ctx context.Context, ab *appcatalogv1alpha1.AppBinding, wanted []Wanted) error {
	keep := map[string]bool{}
	for _, w := range wanted {
		keep[w.Name] = true
	}
	var list stashv1beta1.BackupConfigurationList
	if err := r.List(ctx, &list, client.InNamespace(ab.Namespace)); err != nil {
		return fmt.Errorf("failed to list BackupConfigurations in %s: %w", ab.Namespace, err)
	}
	for i := range list.Items {
		bc := &list.Items[i]
		if keep[bc.Name] || !MadeFor(bc, ab.Name) || !bc.DeletionTimestamp.IsZero() {
			continue
		}
		// Only the exact object read is deleted, never a newer one of the same name.
		err := r.Delete(ctx, bc, client.Preconditions{UID: &bc.UID})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to delete BackupConfiguration %s/%s: %w", bc.Namespace, bc.Name, err)
		}
		log.FromContext(ctx).Info("auto-backup removed", "backupConfiguration", bc.Name)
		event.AutoBackupRemoved.Emit(r.Recorder, ab, bc.Name, bc.Spec.Repository.Name)
	}
	return nil
}

// refusedByAPI reports a write the API server refused for what it contains (the admission
// guard, e.g. a params annotation with --host, or CRD validation, e.g. a bad schedule) as
// AutoBackupRefused: retrying cannot help until the blueprint or the annotations change.
// Other errors are returned to be retried.
func (r *Reconciler) refusedByAPI(ctx context.Context, ab *appcatalogv1alpha1.AppBinding, w Wanted, what string, err error) (bool, error) {
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		return false, fmt.Errorf("failed to %s %s/%s: %w", what, ab.Namespace, w.Name, err)
	}
	msg := fmt.Sprintf("BackupBlueprint %s: could not %s %s/%s: %v", w.Blueprint, what, ab.Namespace, w.Name, err)
	log.FromContext(ctx).Info("auto-backup refused: " + msg)
	event.AutoBackupRefused.Emit(r.Recorder, ab, msg)
	return true, nil
}

func (r *Reconciler) getOptional(ctx context.Context, key client.ObjectKey, obj client.Object) (bool, error) {
	if err := r.APIReader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("failed to get %T %s: %w", obj, key, err)
	}
	return true, nil
}
