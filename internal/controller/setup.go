// Package controller registers Hoard's reconcilers, one per kind, each in its own
// sub-package.
package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/hoard-operator/hoard/internal/controller/autobackup"
	"github.com/hoard-operator/hoard/internal/controller/backupconfiguration"
	"github.com/hoard-operator/hoard/internal/controller/backupsession"
	"github.com/hoard-operator/hoard/internal/controller/backupverification"
	"github.com/hoard-operator/hoard/internal/controller/mysqladdon"
	"github.com/hoard-operator/hoard/internal/controller/repository"
	"github.com/hoard-operator/hoard/internal/controller/repositoryoperation"
	"github.com/hoard-operator/hoard/internal/controller/restoresession"
	"github.com/hoard-operator/hoard/internal/controller/sessionrun"
	"github.com/hoard-operator/hoard/internal/controller/snapshot"
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/metrics"
	"github.com/hoard-operator/hoard/internal/repoqueue"
	"github.com/hoard-operator/hoard/internal/session"
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
	// HookTimeout bounds each backup or restore hook; zero means hook.DefaultTimeout.
	HookTimeout time.Duration
	// PollInterval is how often running sessions are checked for progress and deadlines;
	// zero means 10s.
	PollInterval time.Duration
	// StartGrace is how long a session's container may fail to start (an image that cannot
	// be pulled, a missing Secret) before the session fails; zero means
	// session.DefaultStartGrace.
	StartGrace time.Duration
	// ConfigurationRecheck is how often a BackupConfiguration that waits for no Secret is
	// checked again, so that a Secret changed later (Secrets are not watched) shows on its
	// conditions; zero means 5m.
	ConfigurationRecheck time.Duration
	// MySQLAddonChart is a directory with the mysql-addon chart that MySQLAddon resources
	// install; empty uses the chart built into the binary.
	MySQLAddonChart string
	// SnapshotSyncInterval is how often each Repository's Snapshot objects are synced with
	// restic; zero means only on demand and when Snapshots are deleted.
	SnapshotSyncInterval time.Duration
	// AddonReleaseNamespace holds the Helm release records of the (cluster-scoped) addon
	// resources; empty means hoard-system.
	AddonReleaseNamespace string
	// Progress reads running sessions' progress lines; nil reads them from the pods' logs
	// (session.LogProgressReader). A test API server has no kubelet to serve logs.
	Progress session.ProgressReader
}

// Setup registers every reconciler with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	// The BackupConfiguration and Repository reconcilers both find configurations by the
	// Repository they use, in whichever namespace it is.
	if err := dependency.IndexBackupConfigurations(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	// One queue for every reconciler that starts Jobs on repositories, so that a backup, a
	// restore and a wipe of one repository never run at the same time.
	queue := &repoqueue.Queue{Cached: mgr.GetClient(), Direct: mgr.GetAPIReader()}
	starter := &session.Starter{Client: mgr.GetClient(), Direct: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Queue: queue}
	setups := []func(ctrl.Manager, Options) error{
		// Each reconciler package adds its SetupWithManager adapter here.
		func(m ctrl.Manager, o Options) error { return setupBackupSession(m, o, starter) },
		func(m ctrl.Manager, o Options) error { return setupRestoreSession(m, o, starter) },
		func(m ctrl.Manager, o Options) error { return metrics.Setup(m, o.PushgatewayURL) },
		setupMySQLAddon,
		func(m ctrl.Manager, o Options) error {
			return backupconfiguration.SetupWithManager(m, o.OperatorImage, o.PollInterval, o.ConfigurationRecheck)
		},
		func(m ctrl.Manager, o Options) error { return repository.SetupWithManager(m, o.OperatorImage, queue) },
		func(m ctrl.Manager, o Options) error {
			return snapshot.SetupWithManager(m, o.OperatorImage, queue, o.SnapshotSyncInterval, o.StartGrace)
		},
		func(m ctrl.Manager, _ Options) error { return autobackup.SetupWithManager(m) },
		func(m ctrl.Manager, o Options) error {
			return repositoryoperation.SetupWithManager(m, o.OperatorImage, queue, o.StartGrace)
		},
		func(m ctrl.Manager, _ Options) error {
			r := &backupverification.Reconciler{Client: m.GetClient(), Scheme: m.GetScheme(),
				Recorder: event.RecorderFor(m, "backupverification"), Now: time.Now}
			return r.SetupWithManager(m)
		},
	}
	for _, setup := range setups {
		if err := setup(mgr, opts); err != nil {
			return err
		}
	}
	return nil
}

// DefaultReleaseNamespace keeps the addons' Helm release records when no namespace is set.
const DefaultReleaseNamespace = "hoard-system"

func setupMySQLAddon(mgr ctrl.Manager, opts Options) error {
	ns := opts.AddonReleaseNamespace
	if ns == "" {
		ns = DefaultReleaseNamespace
	}
	return mysqladdon.SetupWithManager(mgr, mysqladdon.Options{ChartPath: opts.MySQLAddonChart, ReleaseNamespace: ns})
}

// sessionEnv is what the session reconcilers share; each gets its own event recorder.
func sessionEnv(mgr ctrl.Manager, opts Options, starter *session.Starter, name string) (sessionrun.Env, error) {
	progress := opts.Progress
	if progress == nil {
		// Pod logs are not served by controller-runtime's client: a clientset reads them.
		clientset, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return sessionrun.Env{}, fmt.Errorf("failed to create clientset: %w", err)
		}
		progress = session.LogProgressReader{Clientset: clientset}
	}
	return sessionrun.Env{
		Client:         mgr.GetClient(),
		APIReader:      mgr.GetAPIReader(),
		Scheme:         mgr.GetScheme(),
		Recorder:       event.RecorderFor(mgr, name),
		Starter:        starter,
		PushgatewayURL: opts.PushgatewayURL,
		OperatorImage:  opts.OperatorImage,
		HookTimeout:    opts.HookTimeout,
		Timeout:        opts.SessionTimeout,
		PollInterval:   opts.PollInterval,
		StartGrace:     opts.StartGrace,
		Progress:       progress,
	}, nil
}

func setupBackupSession(mgr ctrl.Manager, opts Options, starter *session.Starter) error {
	env, err := sessionEnv(mgr, opts, starter, "backupsession")
	if err != nil {
		return err
	}
	r := &backupsession.Reconciler{Env: env}
	return r.SetupWithManager(mgr)
}

func setupRestoreSession(mgr ctrl.Manager, opts Options, starter *session.Starter) error {
	env, err := sessionEnv(mgr, opts, starter, "restoresession")
	if err != nil {
		return err
	}
	r := &restoresession.Reconciler{Env: env}
	return r.SetupWithManager(mgr)
}
