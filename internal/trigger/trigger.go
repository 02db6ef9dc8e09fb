// Package trigger creates a BackupSession for a BackupConfiguration: what the configuration's
// CronJob runs on every schedule tick, and what a user runs for an instant backup.
package trigger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/names"
)

// ErrPaused is returned for a paused configuration: no session is created.
var ErrPaused = errors.New("backups are paused")

// maxAttempts bounds the retries on a name collision (two triggers within one second).
const maxAttempts = 5

// SessionName is upstream Stash's name pattern: "<configuration>-<unix seconds>". Attempt n > 0
// appends "-n" so a second trigger within the same second gets its own session. Names that
// would pass 253 characters are shortened with a hash.
func SessionName(bcName string, now time.Time, attempt int) string {
	name := bcName + "-" + strconv.FormatInt(now.Unix(), 10)
	if attempt > 0 {
		name += "-" + strconv.Itoa(attempt)
	}
	return names.Shorten(name, names.MaxObjectName)
}

// NewSession is the BackupSession a trigger creates for bc.
func NewSession(bc *stashv1beta1.BackupConfiguration, name string) *stashv1beta1.BackupSession {
	return &stashv1beta1.BackupSession{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: bc.Namespace,
			Labels: map[string]string{
				stashv1beta1.LabelInvokerType: "BackupConfiguration",
				stashv1beta1.LabelInvokerName: names.LabelValue(bc.Name),
			},
			// Deleting the configuration deletes its sessions. blockOwnerDeletion stays unset:
			// it would need update on backupconfigurations/finalizers, which the trigger's
			// Role deliberately lacks.
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: stashv1beta1.GroupVersion.String(),
				Kind:       "BackupConfiguration",
				Name:       bc.Name,
				UID:        bc.UID,
				Controller: ptr.To(true),
			}},
		},
		Spec: stashv1beta1.BackupSessionSpec{
			Invoker: stashv1beta1.BackupInvokerRef{
				APIGroup: stashv1beta1.GroupVersion.Group,
				Kind:     "BackupConfiguration",
				Name:     bc.Name,
			},
		},
	}
}

// Trigger creates a BackupSession for the configuration namespace/name and returns it. It
// refuses a paused configuration with ErrPaused. Whether another session is still running is
// for the BackupSession controller to decide (it marks the new one Skipped).
func Trigger(ctx context.Context, c client.Client, namespace, name string, now func() time.Time) (*stashv1beta1.BackupSession, error) {
	bc := &stashv1beta1.BackupConfiguration{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, bc); err != nil {
		return nil, fmt.Errorf("failed to get BackupConfiguration %s/%s: %w", namespace, name, err)
	}
	if bc.Spec.Paused {
		return nil, fmt.Errorf("BackupConfiguration %s/%s: %w (spec.paused is true); unpause it to back up", namespace, name, ErrPaused)
	}
	if !bc.DeletionTimestamp.IsZero() {
		return nil, fmt.Errorf("BackupConfiguration %s/%s is being deleted", namespace, name)
	}
	t := now()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		s := NewSession(bc, SessionName(bc.Name, t, attempt))
		err := c.Create(ctx, s)
		if err == nil {
			return s, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("failed to create BackupSession %s/%s: %w", namespace, s.Name, err)
		}
	}
	return nil, fmt.Errorf("failed to create a BackupSession for %s/%s: %d sessions named %s already exist",
		namespace, name, maxAttempts, SessionName(bc.Name, t, 0)+"[-n]")
}
