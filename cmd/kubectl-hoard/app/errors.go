package app

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// explain turns an API error about one object into a line that names the object and says
// what to do. resource is what `kubectl get` calls the kind (for the hint).
func explain(err error, kind, resource, namespace, name, verb string) error {
	obj := fmt.Sprintf("%s %s/%s", kind, namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s not found: check the name and the namespace (-n); `kubectl get %s -n %s` lists them", obj, resource, namespace)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("you may not %s %s: ask for the RBAC right to %s %s in namespace %s", verb, obj, verb, resource, namespace)
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s changed while this command updated it: run the command again", obj)
	}
	return fmt.Errorf("failed to %s %s: %w", verb, obj, err)
}
