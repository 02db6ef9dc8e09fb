// Package manager assembles Hoard's controller-runtime manager: scheme, probes, metrics,
// leader election and every controller. `hoard run` and the integration tests share it, so
// the tests exercise the same wiring that ships.
package manager

import (
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/hoard-operator/hoard/internal/controller"
	"github.com/hoard-operator/hoard/internal/scheme"
)

// Options configure the manager. The zero value is not useful; see the run command's flags.
type Options struct {
	// MetricsAddr serves /metrics; "0" disables it.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz; "0" disables it.
	ProbeAddr string
	// PprofAddr serves Go's /debug/pprof; empty or "0" disables it.
	PprofAddr string

	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string

	// SyncPeriod is how often every object is reconciled even without a change.
	SyncPeriod time.Duration

	// WatchNamespaces restricts what namespaced objects the operator watches and acts on;
	// empty means every namespace. Cluster-scoped kinds (Tasks, Functions, MySQLAddons) are
	// always watched.
	WatchNamespaces []string

	Controllers controller.Options
}

// ReleaseNamespace is the namespace that keeps the MySQLAddons' Helm release records.
func ReleaseNamespace(o controller.Options) string {
	if o.AddonReleaseNamespace == "" {
		return controller.DefaultReleaseNamespace
	}
	return o.AddonReleaseNamespace
}

// CacheOptions and ClientOptions are what New gives the manager's cache and client; tests
// that build their own manager use them to watch and read what the operator does.
func CacheOptions(opts Options) cache.Options {
	var sync *time.Duration
	if opts.SyncPeriod > 0 {
		sync = &opts.SyncPeriod
	}
	return cacheOptions(sync, opts.WatchNamespaces, ReleaseNamespace(opts.Controllers))
}

// ClientOptions: see CacheOptions.
func ClientOptions() client.Options { return clientOptions() }

// New returns a manager with every Hoard controller registered.
func New(cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = "hoard-operator.hoard-operator.github.io"
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:  opts.ProbeAddr,
		PprofBindAddress:        opts.PprofAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        opts.LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// Release the lease on a clean shutdown so a rolling update does not wait it out.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         CacheOptions(opts),
		Client:                        ClientOptions(),
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create manager: %w", err)
	}
	if err := controller.Setup(mgr, opts.Controllers); err != nil {
		return nil, fmt.Errorf("failed to set up controllers: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("failed to add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("failed to add readiness check: %w", err)
	}
	return mgr, nil
}
