// Package controller registers Hoard's reconcilers, one per kind, each in its own
// sub-package.
package controller

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/hoard-operator/hoard/internal/controller/backupconfiguration"
	"github.com/hoard-operator/hoard/internal/controller/mysqladdon"
	"github.com/hoard-operator/hoard/internal/metrics"
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
	// MySQLAddonChart is a directory with the mysql-addon chart that MySQLAddon resources
	// install; empty uses the chart built into the binary.
	MySQLAddonChart string
	// AddonReleaseNamespace holds the Helm release records of the (cluster-scoped) addon
	// resources; empty means hoard-system.
	AddonReleaseNamespace string
}

// Setup registers every reconciler with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	setups := []func(ctrl.Manager, Options) error{
		// Each reconciler package adds its SetupWithManager adapter here.
		func(m ctrl.Manager, o Options) error { return metrics.Setup(m, o.PushgatewayURL) },
		setupMySQLAddon,
		func(m ctrl.Manager, o Options) error { return backupconfiguration.SetupWithManager(m, o.OperatorImage) },
	}
	for _, setup := range setups {
		if err := setup(mgr, opts); err != nil {
			return err
		}
	}
	return nil
}

func setupMySQLAddon(mgr ctrl.Manager, opts Options) error {
	ns := opts.AddonReleaseNamespace
	if ns == "" {
		ns = "hoard-system"
	}
	return mysqladdon.SetupWithManager(mgr, mysqladdon.Options{ChartPath: opts.MySQLAddonChart, ReleaseNamespace: ns})
}
