package backupverification

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	"github.com/hoard-operator/hoard/internal/appbinding"
	"github.com/hoard-operator/hoard/internal/names"
)

// ScratchName is the AppBinding and the Secret of a BackupVerification's managed server.
func ScratchName(verification string) string { return names.Shorten(verification+"-scratch", 63) }

// ScratchURL is where a managed scratch server listens: beside the restore, in its pod.
const ScratchURL = "mysql://127.0.0.1:3306"

// ensureServer creates the managed server's root password Secret (once) and its AppBinding,
// both controlled by the BackupVerification. The server itself exists only inside each
// verification Job's pod (package jobspec, ScratchServer).
func (r *Reconciler) ensureServer(ctx context.Context, bv *opsv1alpha1.BackupVerification, source *appcatalogv1alpha1.AppBinding) (string, error) {
	name := ScratchName(bv.Name)
	key := client.ObjectKey{Namespace: bv.Namespace, Name: name}

	// Metadata only: the password never passes through the operator's cache.
	existing := &metav1.PartialObjectMetadata{}
	existing.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	switch err := r.Get(ctx, key, existing); {
	case apierrors.IsNotFound(err):
		pw := make([]byte, 24)
		if _, err := rand.Read(pw); err != nil {
			return "", fmt.Errorf("failed to make the scratch server's password: %w", err)
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: bv.Namespace, Labels: labels(bv)},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{appbinding.KeyUsername: []byte("root"), appbinding.KeyPassword: []byte(hex.EncodeToString(pw))},
		}
		if err := controllerutil.SetControllerReference(bv, secret, r.Scheme); err != nil {
			return "", err
		}
		if err := r.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("failed to create the scratch server's Secret %s: %w", key, err)
		}
	case err != nil:
		return "", fmt.Errorf("failed to get Secret %s: %w", key, err)
	case !metav1.IsControlledBy(existing, bv):
		return "", &notReady{"ScratchNameTaken", fmt.Sprintf("Secret %s exists and does not belong to this BackupVerification: delete it or rename the BackupVerification", name)}
	}

	want := appcatalogv1alpha1.AppBindingSpec{
		Type:         "mysql",
		ClientConfig: appcatalogv1alpha1.ClientConfig{URL: ptr.To(ScratchURL)},
		Secret:       &corev1.LocalObjectReference{Name: name},
	}
	if source != nil {
		want.Type, want.Version = source.Spec.Type, source.Spec.Version
	}
	ab := &appcatalogv1alpha1.AppBinding{}
	switch err := r.Get(ctx, key, ab); {
	case apierrors.IsNotFound(err):
		ab = &appcatalogv1alpha1.AppBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: bv.Namespace, Labels: labels(bv)},
			Spec:       want,
		}
		if err := controllerutil.SetControllerReference(bv, ab, r.Scheme); err != nil {
			return "", err
		}
		if err := r.Create(ctx, ab); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("failed to create the scratch server's AppBinding %s: %w", key, err)
		}
	case err != nil:
		return "", fmt.Errorf("failed to get AppBinding %s: %w", key, err)
	case !metav1.IsControlledBy(ab, bv):
		return "", &notReady{"ScratchNameTaken", fmt.Sprintf("AppBinding %s exists and does not belong to this BackupVerification: delete it or rename the BackupVerification", name)}
	case !equality.Semantic.DeepEqual(ab.Spec, want):
		ab.Spec = want
		if err := r.Update(ctx, ab); err != nil {
			return "", fmt.Errorf("failed to update the scratch server's AppBinding %s: %w", key, err)
		}
	}
	return name, nil
}

// checkScratchBinding refuses a scratch AppBinding that is the configuration's own target or
// reaches the same address: a verification overwrites its scratch target.
func (r *Reconciler) checkScratchBinding(ctx context.Context, bv *opsv1alpha1.BackupVerification, source *appcatalogv1alpha1.AppBinding) error {
	name := bv.Spec.Scratch.AppBinding
	scratch := &appcatalogv1alpha1.AppBinding{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: bv.Namespace, Name: name}, scratch); apierrors.IsNotFound(err) {
		return &notReady{"ScratchNotFound", fmt.Sprintf("scratch AppBinding %s not found in namespace %s", name, bv.Namespace)}
	} else if err != nil {
		return fmt.Errorf("failed to get AppBinding %s/%s: %w", bv.Namespace, name, err)
	}
	if source == nil {
		return &notReady{"SourceNotFound", "the BackupConfiguration's AppBinding is not found: the scratch target cannot be told apart from it"}
	}
	if source.Name == scratch.Name {
		return &notReady{"ScratchIsSource", fmt.Sprintf("scratch AppBinding %s is the BackupConfiguration's own target: a verification would overwrite the source database", name)}
	}
	sh, sp, err := appbinding.Address(source)
	if err != nil {
		return &notReady{"SourceUnreadable", fmt.Sprintf("the BackupConfiguration's AppBinding %s: %v", source.Name, err)}
	}
	th, tp, err := appbinding.Address(scratch)
	if err != nil {
		return &notReady{"ScratchUnreadable", fmt.Sprintf("scratch AppBinding %s: %v", name, err)}
	}
	if sameHost(sh, th) && sp == tp {
		return &notReady{"ScratchIsSource", fmt.Sprintf("scratch AppBinding %s reaches %s, as the BackupConfiguration's AppBinding %s does: a verification would overwrite the source database",
			name, net.JoinHostPort(th, strconv.Itoa(tp)), source.Name)}
	}
	return nil
}

// sameHost compares two hosts as the cluster's DNS would resolve them in one namespace's
// form: "db.ns.svc" and "db.ns.svc.cluster.local." are one host.
func sameHost(a, b string) bool {
	norm := func(h string) string {
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		return strings.TrimSuffix(h, ".cluster.local")
	}
	return norm(a) == norm(b)
}
