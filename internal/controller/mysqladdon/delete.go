package mysqladdon

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hoardv1alpha1 "github.com/hoard-operator/hoard/api/hoard/v1alpha1"
)

// DeleteAndWait deletes a MySQLAddon and waits until the operator has uninstalled its Tasks
// and Functions and released the finalizer. The install chart runs it as a pre-delete hook:
// `helm uninstall` removes the operator together with the addon, and an addon deleted after
// its operator would stay Terminating forever.
func DeleteAndWait(ctx context.Context, c client.Client, name string, timeout time.Duration) error {
	addon := &hoardv1alpha1.MySQLAddon{}
	addon.Name = name
	if err := c.Delete(ctx, addon); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to delete MySQLAddon %s: %w", name, err)
	}
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKey{Name: name}, &hoardv1alpha1.MySQLAddon{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, client.IgnoreNotFound(err)
	})
	if err != nil {
		return fmt.Errorf("MySQLAddon %s is still there after %s (is the operator running? it removes the addon's finalizer): %w", name, timeout, err)
	}
	return nil
}
