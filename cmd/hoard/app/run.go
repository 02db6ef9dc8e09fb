package app

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/hoard-operator/hoard/internal/guard"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/manager"
	"github.com/hoard-operator/hoard/internal/olm"
	"github.com/hoard-operator/hoard/internal/scheme"
	"github.com/hoard-operator/hoard/internal/version"
)

func newRunCommand() *cobra.Command {
	var opts manager.Options
	var watchNamespaces string
	var qps float32
	var burst int
	var applyGuard bool
	var olmCSV string
	zapOpts := zap.Options{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the operator's controllers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			log := ctrl.Log.WithName("setup")
			log.Info("starting", "version", version.String())
			cfg, err := ctrl.GetConfig()
			if err != nil {
				return fmt.Errorf("failed to load kubeconfig: %w", err)
			}
			// client-go's defaults (20 QPS) throttle a backup burst on many configurations.
			cfg.QPS, cfg.Burst = qps, burst
			opts.WatchNamespaces = manager.ParseNamespaces(watchNamespaces)
			if len(opts.WatchNamespaces) > 0 {
				log.Info("watching only some namespaces", "namespaces", opts.WatchNamespaces)
			}
			mgr, err := manager.New(cfg, opts)
			if err != nil {
				return err
			}
			if applyGuard {
				if err := applyAdmissionGuard(cmd.Context(), cfg); err != nil {
					return err
				}
				log.Info("admission guard applied", "policy", "hoard-admission-guard")
			}
			if olmCSV != "" {
				owners, err := adoptIntoCSV(cmd.Context(), cfg, olmCSV, os.Getenv("POD_NAMESPACE"), applyGuard)
				if err != nil {
					return err
				}
				log.Info("cluster-scoped objects made dependents of the CSV's ClusterRoles, which OLM deletes with it", "csv", olmCSV, "owners", owners)
				keeper := &olm.HookRoleKeeper{Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), CSV: olmCSV, Namespace: os.Getenv("POD_NAMESPACE"), Interval: 20 * time.Second}
				if err := mgr.Add(keeper); err != nil {
					return fmt.Errorf("failed to add the keeper of ClusterRole hoard-hook-exec: %w", err)
				}
			}
			if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
				return fmt.Errorf("manager stopped: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", "address the /metrics endpoint binds to; 0 disables it")
	f.StringVar(&opts.ProbeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probes bind to")
	f.StringVar(&opts.PprofAddr, "pprof-bind-address", "0", "address Go's /debug/pprof binds to; 0 disables it")
	f.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect a leader so only one replica reconciles")
	f.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's)")
	f.DurationVar(&opts.SyncPeriod, "sync-period", 0, "resync every object this often (0: controller-runtime's default)")
	f.StringVar(&opts.Controllers.OperatorImage, "operator-image", "ghcr.io/hoard-operator/hoard:"+version.Version, "image that runs the operator's own commands in CronJobs and Jobs")
	f.StringVar(&opts.Controllers.PushgatewayURL, "pushgateway-url", "", "also push the stash_* metrics to this Prometheus Pushgateway after every session")
	f.DurationVar(&opts.Controllers.ConfigurationRecheck, "configuration-recheck", 5*time.Minute, "check every BackupConfiguration again this often, so that a storage or database Secret changed since (Secrets are not watched) shows on its conditions")
	f.DurationVar(&opts.Controllers.SnapshotSyncInterval, "snapshot-sync-interval", time.Hour, "sync every Repository's Snapshot objects with restic this often, counted from its last sync (0: only on demand, annotation hoard.io/sync-snapshots, and when Snapshots are deleted)")
	f.DurationVar(&opts.Controllers.SessionTimeout, "session-timeout", 6*time.Hour, "fail a backup or restore session still running after this long, unless its spec.timeOut says otherwise")
	f.DurationVar(&opts.Controllers.HookTimeout, "hook-timeout", hook.DefaultTimeout, "deadline of each preBackup, postBackup, preRestore and postRestore hook (the Stash API gives hooks none)")
	f.StringVar(&opts.Controllers.MySQLAddonChart, "mysql-addon-chart", "", "directory of the mysql-addon Helm chart that MySQLAddon resources install (default: the chart built into the binary)")
	f.StringVar(&opts.Controllers.AddonReleaseNamespace, "addon-release-namespace", envOr("POD_NAMESPACE", "hoard-system"), "namespace that keeps the Helm release records of MySQLAddon resources (default: $POD_NAMESPACE, else hoard-system)")
	f.StringVar(&watchNamespaces, "watch-namespaces", os.Getenv("WATCH_NAMESPACE"), "comma-separated namespaces whose objects the operator watches and acts on; empty watches every namespace (default: $WATCH_NAMESPACE, which OLM sets from olm.targetNamespaces)")
	f.BoolVar(&applyGuard, "apply-admission-guard", false, "create or update the admission guard (ValidatingAdmissionPolicy hoard-admission-guard and its binding) at start; for installs that cannot ship it, such as OLM")
	f.StringVar(&olmCSV, "olm-csv", os.Getenv("OPERATOR_CONDITION_NAME"), "the OLM ClusterServiceVersion that installed the operator, in $POD_NAMESPACE (default: $OPERATOR_CONDITION_NAME, which OLM sets to it); when set, the admission guard the operator applies and ClusterRole hoard-hook-exec are made dependents of the ClusterRoles OLM made for that CSV, so that deleting the CSV deletes them too; empty: nothing of the kind (Helm, kubectl)")
	f.Float32Var(&qps, "kube-api-qps", 100, "queries per second to the Kubernetes API server")
	f.IntVar(&burst, "kube-api-burst", 200, "burst of queries to the Kubernetes API server")
	gofs := flag.NewFlagSet("zap", flag.ContinueOnError)
	zapOpts.BindFlags(gofs)
	f.AddGoFlagSet(gofs)
	return cmd
}

// applyAdmissionGuard applies the guard before the controllers start, so that an OLM install
// is guarded from its first reconcile; without it the operator does not start.
func applyAdmissionGuard(ctx context.Context, cfg *rest.Config) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return fmt.Errorf("failed to create a client for the admission guard: %w", err)
	}
	if err := guard.Apply(ctx, c); err != nil {
		return fmt.Errorf("--apply-admission-guard: %w (the guard needs Kubernetes 1.30 or later)", err)
	}
	return nil
}

// adoptIntoCSV makes the objects an uninstall through OLM would otherwise leave (ClusterRole
// hoard-hook-exec from the bundle and, when the operator applied it, the admission guard)
// dependents of the ClusterRoles OLM made for CSV csv of namespace ns, and returns those
// ClusterRoles' names. Like the guard, it runs before the controllers start, and the operator
// does not start without it: after an upgrade the replaced CSV's ClusterRoles go, and with them
// whatever only they own.
func adoptIntoCSV(ctx context.Context, cfg *rest.Config, csv, ns string, guardApplied bool) ([]string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ctx = ctrl.LoggerInto(ctx, ctrl.Log.WithName("setup"))
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("failed to create a client for --olm-csv: %w", err)
	}
	objs, err := olm.Dependents(guardApplied)
	if err != nil {
		return nil, err
	}
	owners, err := olm.Own(ctx, c, csv, ns, objs)
	if err != nil {
		return nil, fmt.Errorf("--olm-csv %s: %w", csv, err)
	}
	return owners, nil
}

// envOr returns the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
