// Package metrics exports the stash_* gauges of the Stash metrics contract. They are derived
// from the statuses of BackupSessions, RestoreSessions and Repositories at scrape time, so
// /metrics never disagrees with what `kubectl get` shows and survives operator restarts
// without any state of its own. With a Pushgateway configured, the same values are pushed
// once per finished session for dashboards that read the Pushgateway, as upstream Stash did.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	repov1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// The collector and the pusher read the sessions, configurations and repositories from the
// informer cache (read-only).
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupsessions;restoresessions;backupconfigurations;repositories,verbs=get;list;watch

// listTimeout bounds the cache reads of one scrape. Reads from a synced cache take
// microseconds; the first read of a kind starts its informer and waits for it.
const listTimeout = 20 * time.Second

// Collector derives the stash_* gauges from objects read through reader, normally the
// manager's cache.
type Collector struct {
	reader client.Reader
	log    logr.Logger
	d      *descriptors
}

// NewCollector returns a Collector reading through reader.
func NewCollector(reader client.Reader, log logr.Logger) *Collector {
	return &Collector{reader: reader, log: log, d: newDescriptors()}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { c.d.describe(ch) }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	ms, err := c.collect(ctx)
	if err != nil {
		// Logged rather than reported as an invalid metric: controller-runtime's handler fails
		// the whole scrape on any error, which would hide its controller metrics too.
		c.log.Error(err, "Some stash metrics could not be derived")
	}
	for _, m := range ms {
		ch <- m
	}
}

func (c *Collector) collect(ctx context.Context) ([]prometheus.Metric, error) {
	var (
		bcs   v1beta1.BackupConfigurationList
		bss   v1beta1.BackupSessionList
		rss   v1beta1.RestoreSessionList
		repos v1alpha1.RepositoryList
		snaps repov1alpha1.SnapshotList
		bvs   opsv1alpha1.BackupVerificationList
	)
	for _, l := range []client.ObjectList{&bcs, &bss, &rss, &repos, &snaps, &bvs} {
		if err := c.reader.List(ctx, l); err != nil {
			return nil, fmt.Errorf("failed to list %T: %w", l, err)
		}
	}
	configs := make(map[invokerKey]*v1beta1.BackupConfiguration, len(bcs.Items))
	for i := range bcs.Items {
		bc := &bcs.Items[i]
		configs[invokerKey{bc.Namespace, "BackupConfiguration", bc.Name}] = bc
	}

	b := &builder{d: c.d}
	failed := map[invokerKey]bool{}
	for _, bs := range latestFinished(bss.Items) {
		b.backupSession(bs, configs[invokerOf(bs)])
		failed[invokerOf(bs)] = bs.Status.Phase == v1beta1.BackupSessionFailed
	}
	// A failure must not hide when the invoker last succeeded: alerts on overdue backups count
	// from it, and the Pushgateway keeps it across failures as well.
	for _, bs := range latestSucceeded(bss.Items) {
		if failed[invokerOf(bs)] {
			b.lastSuccess(bs, configs[invokerOf(bs)])
		}
	}
	for _, bs := range oldestUnfinished(bss.Items) {
		b.runningSession(bs, configs[invokerOf(bs)])
	}
	for i := range bcs.Items {
		b.backupConfiguration(&bcs.Items[i])
	}
	for i := range rss.Items {
		if restoreFinished(rss.Items[i].Status.Phase) {
			b.restoreSession(&rss.Items[i])
		}
	}
	verified := latestVerifications(snaps.Items)
	for i := range repos.Items {
		r := &repos.Items[i]
		b.repository(r, verified[[2]string{r.Namespace, r.Name}])
	}
	for i := range bvs.Items {
		b.backupVerification(&bvs.Items[i])
	}
	for key, open := range binlogGaps(snaps.Items) {
		b.gauge(b.d.binlogGap, boolValue(open), []string{key.repository, key.namespace, key.target})
	}
	return b.metrics, b.err()
}

// registration registers a Collector with a registry once the manager's caches are running,
// so a scrape never reads from a cache that has not started.
type registration struct {
	registry prometheus.Registerer
	c        prometheus.Collector
	log      logr.Logger
}

// Start implements manager.Runnable.
func (r registration) Start(ctx context.Context) error {
	if err := register(r.registry, r.c); err != nil {
		return err
	}
	r.log.V(1).Info("Registered the stash metrics collector")
	<-ctx.Done()
	return nil
}

// NeedLeaderElection is false: every replica serves /metrics from its own cache.
func (registration) NeedLeaderElection() bool { return false }

// register adds c to registry, replacing an earlier Collector of the same kind. controller-
// runtime's registry is process-wide, and a process can build more than one manager (the
// integration tests do); the newest manager's cache is the one that is running.
func register(registry prometheus.Registerer, c prometheus.Collector) error {
	err := registry.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		registry.Unregister(are.ExistingCollector)
		err = registry.Register(c)
	}
	if err != nil {
		return fmt.Errorf("failed to register the stash metrics collector: %w", err)
	}
	return nil
}

// Setup makes the manager's /metrics serve the stash_* gauges, next to controller-runtime's
// own metrics, and, when pushgatewayURL is set, starts pushing them after every session.
func Setup(mgr ctrl.Manager, pushgatewayURL string) error {
	log := mgr.GetLogger().WithName("metrics")
	c := NewCollector(mgr.GetCache(), log)
	var r manager.Runnable = registration{registry: crmetrics.Registry, c: c, log: log}
	if err := mgr.Add(r); err != nil {
		return fmt.Errorf("failed to add the stash metrics collector: %w", err)
	}
	if pushgatewayURL == "" {
		return nil
	}
	return NewPusher(mgr.GetCache(), pushgatewayURL).SetupWithManager(mgr)
}
