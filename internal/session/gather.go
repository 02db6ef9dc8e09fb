// Package session holds what the BackupSession and RestoreSession reconcilers share: fetching
// everything a session's Job needs, creating the Job, and reading its outcome back from the
// pod status.
package session

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/jobspec"
)

// UserError is a problem with what the user asked for (a missing object, a refused
// reference): the session fails with its message, and retrying will not help until the user
// acts. It is the dependency checker's condition, the one a BackupConfiguration shows too.
type UserError struct {
	// Condition is the condition type the problem belongs to (e.g. RepositoryFound).
	Condition string
	Reason    string
	Message   string
}

func (e *UserError) Error() string { return e.Message }

// AsCondition is the failed check as a False condition for the session's status.
func (e *UserError) AsCondition() metav1.Condition {
	return metav1.Condition{Type: e.Condition, Status: metav1.ConditionFalse, Reason: e.Reason, Message: e.Message}
}

// Request is what the invoker says about the session.
type Request struct {
	Kind        jobspec.Kind
	Namespace   string
	SessionName string
	Invoker     jobspec.Invoker
	TaskRef     v1beta1.TaskRef
	Repository  v1beta1.RepositoryRef
	Target      jobspec.Target
}

// Gathered is everything fetched for a session: the jobspec.Input (without session settings
// such as retention), the connection data for the target Secret, and, for a Repository in
// another namespace, the storage Secret's data for the session's copy of it.
type Gathered struct {
	Input      *jobspec.Input
	Connection map[string][]byte
	Storage    *StorageCopy
}

// Readers are the dependency checker's readers.
type Readers = dependency.Readers

// Gather fetches and checks what the session needs through the dependency checker. The first
// failed check becomes a *UserError with the checker's condition type, reason and message.
func Gather(ctx context.Context, c Readers, req Request) (*Gathered, error) {
	deps, err := dependency.Gather(ctx, c, dependency.Request{
		Kind:          req.Kind,
		Namespace:     req.Namespace,
		RepositoryRef: req.Repository,
		TargetRef:     req.Target.Ref,
		TaskRef:       req.TaskRef,
	})
	if err != nil {
		return nil, err
	}
	out := dependency.Check(deps)
	if f := out.Failed(); f != nil {
		return nil, &UserError{Condition: f.Type, Reason: f.Reason, Message: f.Message}
	}
	g := &Gathered{
		Input: &jobspec.Input{
			Kind:        req.Kind,
			Namespace:   req.Namespace,
			SessionName: req.SessionName,
			Invoker:     req.Invoker,
			Target:      req.Target,
			UserParams:  out.Params,
			Repository:  deps.Repository,
			Task:        deps.Task,
			Functions:   deps.Functions,
		},
		Connection: out.Connection,
	}
	if deps.CrossNamespace() {
		g.Storage = &StorageCopy{From: deps.Repository.Namespace + "/" + deps.Repository.Spec.Backend.StorageSecretName, Data: deps.StorageSecret}
	}
	return g, nil
}
