// Package session holds what the BackupSession and RestoreSession reconcilers share: fetching
// everything a session's Job needs, creating the Job, and reading its outcome back from the
// pod status.
package session

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/appbinding"
	"github.com/hoard-operator/hoard/internal/resolve"
)

// ResticPasswordKey must be in every storage Secret.
const ResticPasswordKey = "RESTIC_PASSWORD"

// UserError is a problem with what the user asked for (a missing object, a bad reference):
// the session fails with its message, and retrying will not help until the user acts.
type UserError struct {
	// Condition is the condition type the problem belongs to (e.g. RepositoryFound).
	Condition string
	Reason    string
	Message   string
}

func (e *UserError) Error() string { return e.Message }

func userErr(cond, reason, format string, args ...any) error {
	return &UserError{Condition: cond, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Request is what the invoker says about the session.
type Request struct {
	Kind           resolve.Kind
	Namespace      string
	SessionName    string
	Invoker        resolve.Invoker
	TaskRef        v1beta1.TaskRef
	RepositoryName string
	Target         resolve.Target
}

// Gathered is everything fetched for a session: the resolve.Input (without session settings
// such as retention), and the connection data for the target Secret.
type Gathered struct {
	Input      *resolve.Input
	Connection map[string][]byte
}

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

// Gather fetches the Repository, its Secret, the target AppBinding with its credentials, the
// Task and its Functions. Missing objects become a *UserError naming them.
func Gather(ctx context.Context, c Readers, req Request) (*Gathered, error) {
	in := &resolve.Input{
		Kind:        req.Kind,
		Namespace:   req.Namespace,
		SessionName: req.SessionName,
		Invoker:     req.Invoker,
		Target:      req.Target,
		UserParams:  req.TaskRef.Params,
	}
	g := &Gathered{Input: in}

	if req.RepositoryName == "" {
		return nil, userErr(v1beta1.ConditionRepositoryFound, "RepositoryNotSet", "spec.repository.name is empty")
	}
	repo := &v1alpha1.Repository{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: req.Namespace, Name: req.RepositoryName}, repo); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, userErr(v1beta1.ConditionRepositoryFound, "RepositoryNotFound", "Repository %s/%s not found", req.Namespace, req.RepositoryName)
		}
		return nil, fmt.Errorf("failed to get Repository %s/%s: %w", req.Namespace, req.RepositoryName, err)
	}
	in.Repository = repo
	if err := checkStorageSecret(ctx, c, repo); err != nil {
		return nil, err
	}

	taskRef := req.TaskRef
	if ref := req.Target.Ref; ref.Kind == "AppBinding" {
		ab := &appcatalogv1alpha1.AppBinding{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: req.Namespace, Name: ref.Name}, ab); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, userErr(targetCondition(req.Kind), "TargetNotFound", "AppBinding %s/%s not found", req.Namespace, ref.Name)
			}
			return nil, fmt.Errorf("failed to get AppBinding %s/%s: %w", req.Namespace, ref.Name, err)
		}
		conn, err := connection(ctx, c, ab)
		if err != nil {
			return nil, err
		}
		g.Connection = conn
		if taskRef.Name == "" {
			backup, restore, err := appbinding.AddonTasks(ab)
			if err != nil {
				return nil, userErr(targetCondition(req.Kind), "InvalidAddonParameters", "%s", err.Error())
			}
			addon := backup
			if req.Kind == resolve.KindRestore {
				addon = restore
			}
			taskRef.Name = addon.Name
			var params []v1beta1.Param
			for _, p := range addon.Params {
				params = append(params, v1beta1.Param{Name: p.Name, Value: p.Value})
			}
			// The invoker's params win over the binding's.
			in.UserParams = append(params, req.TaskRef.Params...)
		}
	} else if ref.Kind != "" {
		return nil, userErr(targetCondition(req.Kind), "TargetKindUnsupported", "target kind %q is not supported: Hoard backs up databases through an AppBinding", ref.Kind)
	} else {
		return nil, userErr(targetCondition(req.Kind), "TargetNotSet", "spec.target.ref is empty")
	}

	if taskRef.Name == "" {
		return nil, userErr("TaskFound", "TaskNotSet", "spec.task.name is empty and AppBinding %s/%s names no %s task in its StashAddon parameters", req.Namespace, req.Target.Ref.Name, req.Kind)
	}
	task := &v1beta1.Task{}
	if err := c.Get(ctx, client.ObjectKey{Name: taskRef.Name}, task); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, userErr("TaskFound", "TaskNotFound", "Task %q not found (is the MySQL addon installed?)", taskRef.Name)
		}
		return nil, fmt.Errorf("failed to get Task %s: %w", taskRef.Name, err)
	}
	in.Task = task
	in.Functions = map[string]*v1beta1.Function{}
	for i, step := range task.Spec.Steps {
		fn := &v1beta1.Function{}
		if err := c.Get(ctx, client.ObjectKey{Name: step.Name}, fn); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, userErr("TaskFound", "FunctionNotFound", "Task %q step %d: Function %q not found", task.Name, i, step.Name)
			}
			return nil, fmt.Errorf("failed to get Function %s: %w", step.Name, err)
		}
		in.Functions[step.Name] = fn
	}
	return g, nil
}

func targetCondition(k resolve.Kind) string {
	if k == resolve.KindRestore {
		return v1beta1.ConditionRestoreTargetFound
	}
	return v1beta1.ConditionBackupTargetFound
}

func checkStorageSecret(ctx context.Context, c Readers, repo *v1alpha1.Repository) error {
	name := repo.Spec.Backend.StorageSecretName
	if name == "" {
		return userErr(v1beta1.ConditionBackendSecretFound, "SecretNotSet", "Repository %s/%s sets no spec.backend.storageSecretName", repo.Namespace, repo.Name)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: repo.Namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return userErr(v1beta1.ConditionBackendSecretFound, "SecretNotFound", "storage Secret %s/%s of Repository %s not found", repo.Namespace, name, repo.Name)
		}
		return fmt.Errorf("failed to get Secret %s/%s: %w", repo.Namespace, name, err)
	}
	if _, ok := s.Data[ResticPasswordKey]; !ok {
		return userErr(v1beta1.ConditionBackendSecretFound, "SecretKeyMissing", "storage Secret %s/%s has no key %s", repo.Namespace, name, ResticPasswordKey)
	}
	return nil
}

func connection(ctx context.Context, c Readers, ab *appcatalogv1alpha1.AppBinding) (map[string][]byte, error) {
	get := func(ns, name string) (map[string][]byte, error) {
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("Secret %s/%s not found", ns, name)
			}
			return nil, fmt.Errorf("failed to get Secret %s/%s: %w", ns, name, err)
		}
		return s.Data, nil
	}
	var data map[string][]byte
	if ab.Spec.Secret != nil && ab.Spec.Secret.Name != "" {
		var err error
		if data, err = get(ab.Namespace, ab.Spec.Secret.Name); err != nil {
			return nil, userErr("TargetSecretFound", "SecretNotFound", "AppBinding %s/%s: %s", ab.Namespace, ab.Name, err.Error())
		}
	}
	conn, err := appbinding.Connection(ab, data, get)
	if err != nil {
		return nil, userErr("TargetSecretFound", "InvalidCredentials", "%s", err.Error())
	}
	return conn, nil
}
