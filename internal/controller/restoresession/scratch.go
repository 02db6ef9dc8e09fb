package restoresession

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/backupverification"
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/jobspec"
)

// scratchServer is the server a restore must run beside itself: its target is the scratch
// AppBinding of a BackupVerification of the session's namespace whose scratch is a managed
// server. Only the binding the verification controls counts, so naming a BackupVerification
// in an annotation, or copying its AppBinding, starts no server.
func (r *Reconciler) scratchServer(ctx context.Context, rs *v1beta1.RestoreSession) (*jobspec.ScratchServer, error) {
	t := rs.Spec.Target
	if t == nil || !dependency.IsAppBinding(t.Ref) || t.Ref.Name == "" {
		return nil, nil
	}
	ab := &appcatalogv1alpha1.AppBinding{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: t.Ref.Name}, ab); err != nil {
		// A missing AppBinding is the dependency checker's to report.
		return nil, client.IgnoreNotFound(err)
	}
	owner := metav1.GetControllerOf(ab)
	if owner == nil || owner.Kind != "BackupVerification" || owner.APIVersion != opsv1alpha1.GroupVersion.String() {
		return nil, nil
	}
	bv := &opsv1alpha1.BackupVerification{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: owner.Name}, bv); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("failed to get BackupVerification %s/%s: %w", rs.Namespace, owner.Name, err)
	}
	s := bv.Spec.Scratch.Server
	if bv.UID != owner.UID || s == nil || backupverification.ScratchName(bv.Name) != ab.Name {
		return nil, nil
	}
	return &jobspec.ScratchServer{Image: s.Image, Args: s.Args, Resources: s.Resources}, nil
}
