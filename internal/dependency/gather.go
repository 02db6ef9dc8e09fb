package dependency

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// Readers are the two ways to read: Cached is the manager's informer cache, Direct the API
// server. Secrets are always read directly, so the operator never caches every Secret of the
// cluster; other objects come from the cache, and a cache miss is confirmed directly because
// an object created a moment ago may not have reached the cache yet.
type Readers struct {
	Cached client.Reader
	Direct client.Reader
}

// Get reads one object: Secrets directly, others from the cache, confirming a miss directly.
func (r Readers) Get(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	if _, secret := obj.(*corev1.Secret); secret || r.Cached == nil {
		return r.Direct.Get(ctx, key, obj)
	}
	err := r.Cached.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		return r.Direct.Get(ctx, key, obj)
	}
	return err
}

// Gather reads what req refers to. A missing object is left nil for Check to report; only
// failures to read are errors. Nothing behind a Repository that may not be used from req's
// namespace is read, and Secrets are read only in the namespace of the object naming them.
func Gather(ctx context.Context, c Readers, req Request) (*Inputs, error) {
	in := &Inputs{Request: req}
	if err := gatherRepository(ctx, c, in); err != nil {
		return nil, err
	}
	if err := gatherTarget(ctx, c, in); err != nil {
		return nil, err
	}
	if err := gatherTask(ctx, c, in); err != nil {
		return nil, err
	}
	return in, nil
}

// get reads obj, reporting whether it exists.
func get(ctx context.Context, c Readers, key client.ObjectKey, obj client.Object, kind string) (bool, error) {
	if err := c.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("failed to get %s %s: %w", kind, key, err)
	}
	return true, nil
}

func gatherRepository(ctx context.Context, c Readers, in *Inputs) error {
	key := in.RepositoryRef.Key(in.Namespace)
	if key.Name == "" {
		return nil
	}
	repo := &v1alpha1.Repository{}
	if found, err := get(ctx, c, key, repo, "Repository"); err != nil || !found {
		return err
	}
	in.Repository = repo
	if NeedsNamespaceLabels(repo, in.Namespace) {
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		found, err := get(ctx, c, client.ObjectKey{Name: in.Namespace}, ns, "Namespace")
		if err != nil {
			return err
		}
		if found {
			in.NamespaceLabels = ns.Labels
		}
	}
	if !usable(in) || repo.Spec.Backend.StorageSecretName == "" {
		return nil
	}
	s := &corev1.Secret{}
	found, err := get(ctx, c, client.ObjectKey{Namespace: repo.Namespace, Name: repo.Spec.Backend.StorageSecretName}, s, "Secret")
	if err != nil || !found {
		return err
	}
	in.StorageSecret = s.Data
	if in.StorageSecret == nil {
		in.StorageSecret = map[string][]byte{}
	}
	return nil
}

func gatherTarget(ctx context.Context, c Readers, in *Inputs) error {
	ref := in.TargetRef
	if ref.Name == "" || !IsAppBinding(ref) {
		return nil
	}
	ab := &appcatalogv1alpha1.AppBinding{}
	if found, err := get(ctx, c, client.ObjectKey{Namespace: in.Namespace, Name: ref.Name}, ab, "AppBinding"); err != nil || !found {
		return err
	}
	in.AppBinding = ab
	in.ServiceFound = true
	if s := ab.Spec.ClientConfig.Service; s != nil {
		// Metadata only: that the Service exists is all that is checked.
		svc := &metav1.PartialObjectMetadata{}
		svc.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Service"))
		found, err := get(ctx, c, client.ObjectKey{Namespace: ab.Namespace, Name: s.Name}, svc, "Service")
		if err != nil {
			return err
		}
		in.ServiceFound = found
	}
	readSecret := func(name string) (map[string][]byte, bool, error) {
		s := &corev1.Secret{}
		found, err := get(ctx, c, client.ObjectKey{Namespace: ab.Namespace, Name: name}, s, "Secret")
		if err != nil || !found {
			return nil, false, err
		}
		if s.Data == nil {
			return map[string][]byte{}, true, nil
		}
		return s.Data, true, nil
	}
	if s := ab.Spec.Secret; s != nil && s.Name != "" {
		data, found, err := readSecret(s.Name)
		if err != nil {
			return err
		}
		if found {
			in.TargetSecret = data
		}
	}
	for _, t := range ab.Spec.SecretTransforms {
		ref := t.AddKeysFrom
		// Only the AppBinding's own namespace is read: appbinding.Transform refuses the others.
		if ref == nil || ref.SecretRef == nil || ref.SecretRef.Name == "" || (ref.SecretRef.Namespace != "" && ref.SecretRef.Namespace != ab.Namespace) {
			continue
		}
		data, found, err := readSecret(ref.SecretRef.Name)
		if err != nil {
			return err
		}
		if found {
			if in.KeySecrets == nil {
				in.KeySecrets = map[string]map[string][]byte{}
			}
			in.KeySecrets[ref.SecretRef.Name] = data
		}
	}
	return nil
}

func gatherTask(ctx context.Context, c Readers, in *Inputs) error {
	src, _, err := TaskSource(in)
	if err != nil || src.Name == "" {
		// Check reports it.
		return nil //nolint:nilerr // an unparseable AppBinding is a condition, not a read failure
	}
	task := &v1beta1.Task{}
	if found, err := get(ctx, c, client.ObjectKey{Name: src.Name}, task, "Task"); err != nil || !found {
		return err
	}
	in.Task = task
	in.Functions = map[string]*v1beta1.Function{}
	for _, step := range task.Spec.Steps {
		fn := &v1beta1.Function{}
		found, err := get(ctx, c, client.ObjectKey{Name: step.Name}, fn, "Function")
		if err != nil {
			return err
		}
		if found {
			in.Functions[step.Name] = fn
		}
	}
	return nil
}

// AllowedNow tells whether repo's usagePolicy lets namespace ns use it, reading ns's labels
// when the policy selects by label: for writes made on a Repository of another namespace
// after a session started, when the grant may have changed.
func AllowedNow(ctx context.Context, c client.Reader, repo *v1alpha1.Repository, ns string) (bool, error) {
	var nsLabels map[string]string
	if NeedsNamespaceLabels(repo, ns) {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if err := c.Get(ctx, client.ObjectKey{Name: ns}, m); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("failed to get Namespace %s: %w", ns, err)
		}
		nsLabels = m.Labels
	}
	return Allowed(repo, ns, nsLabels), nil
}
