// Package controller registers Hoard's reconcilers, one per kind, each in its own
// sub-package.
package controller

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/hoard-operator/hoard/internal/controller/backupconfiguration"
)

// Options are the settings every reconciler may need.
type Options struct {
	// OperatorImage runs the operator's own commands in Jobs and CronJobs (trigger,
	// update-status, wipe-repository).
	OperatorImage string
	// PushgatewayURL, when set, receives the stash_* metrics after every session.
	PushgatewayURL string
	// SessionTimeout fails a session still running after this long, unless its invoker sets
	// spec.timeOut.
	SessionTimeout time.Duration
}

// Setup registers every reconciler with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	setups := []func(ctrl.Manager, Options) error{
		// Each reconciler package adds its SetupWithManager adapter here.
		func(m ctrl.Manager, o Options) error { return backupconfiguration.SetupWithManager(m, o.OperatorImage) },
	}
	for _, setup := range setups {
		if err := setup(mgr, opts); err != nil {
			return err
		}
	}
	return nil
}
