package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/names"
)

const (
	// pushTimeout bounds one push; a failed push is retried with the controller's backoff.
	pushTimeout = 30 * time.Second
	// repositoryWait is how long after a successful backup the pusher waits for the
	// Repository's status to show that backup.
	repositoryWait = 30 * time.Second
)

// Pusher pushes the metrics of every finished session to a Pushgateway, once per session,
// under upstream Stash's job name.
type Pusher struct {
	reader client.Reader
	url    string
	d      *descriptors

	mu sync.Mutex
	// pushed remembers the UID of the session pushed under each name. It lives in memory: a
	// restarted operator pushes the latest sessions once more, which is harmless because the
	// values are derived from their statuses and therefore the same. Entries go away with
	// their sessions, so it holds at most one entry per existing session.
	pushed map[pushKey]types.UID
}

type pushKey struct {
	kind string
	types.NamespacedName
}

// NewPusher returns a Pusher that reads sessions through reader and pushes to url.
func NewPusher(reader client.Reader, url string) *Pusher {
	return &Pusher{reader: reader, url: url, d: newDescriptors(), pushed: map[pushKey]types.UID{}}
}

// SetupWithManager starts one controller per session kind.
func (p *Pusher) SetupWithManager(mgr ctrl.Manager) error {
	// Name validation is skipped because it is process-wide and the integration tests build
	// several managers in one process; within one manager the names are unique anyway.
	opts := controller.Options{SkipNameValidation: ptr.To(true)}
	if err := ctrl.NewControllerManagedBy(mgr).Named("backupsession-metrics").
		For(&v1beta1.BackupSession{}).WithOptions(opts).
		Complete(reconcile.Func(p.reconcileBackup)); err != nil {
		return fmt.Errorf("failed to set up the BackupSession metrics pusher: %w", err)
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named("restoresession-metrics").
		For(&v1beta1.RestoreSession{}).WithOptions(opts).
		Complete(reconcile.Func(p.reconcileRestore)); err != nil {
		return fmt.Errorf("failed to set up the RestoreSession metrics pusher: %w", err)
	}
	return nil
}

// seen reports whether the session with this key and uid was pushed already.
func (p *Pusher) seen(k pushKey, uid types.UID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pushed[k] == uid
}

// forget drops a deleted session.
func (p *Pusher) forget(k pushKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pushed, k)
}

func (p *Pusher) markPushed(k pushKey, uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushed[k] = uid
}

func (p *Pusher) reconcileBackup(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := pushKey{"BackupSession", req.NamespacedName}
	var bs v1beta1.BackupSession
	if err := p.reader.Get(ctx, req.NamespacedName, &bs); err != nil {
		if apierrors.IsNotFound(err) {
			p.forget(key)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("failed to get BackupSession %s: %w", req, err)
	}
	if !backupFinished(bs.Status.Phase) || p.seen(key, bs.UID) {
		return reconcile.Result{}, nil
	}

	// Only the invoker's latest finished session is pushed: after a restart the sessions are
	// reconciled in no particular order, and an older one must not overwrite a newer one.
	var siblings v1beta1.BackupSessionList
	if err := p.reader.List(ctx, &siblings, client.InNamespace(bs.Namespace)); err != nil {
		return reconcile.Result{}, fmt.Errorf("failed to list BackupSessions in %s: %w", bs.Namespace, err)
	}
	for i := range siblings.Items {
		s := &siblings.Items[i]
		if invokerOf(s) == invokerOf(&bs) && backupFinished(s.Status.Phase) && newer(s, &bs) {
			p.markPushed(key, bs.UID)
			return reconcile.Result{}, nil
		}
	}

	var bc *v1beta1.BackupConfiguration
	if bs.Spec.Invoker.Kind == "BackupConfiguration" {
		bc = &v1beta1.BackupConfiguration{}
		if err := p.reader.Get(ctx, client.ObjectKey{Namespace: bs.Namespace, Name: bs.Spec.Invoker.Name}, bc); err != nil {
			if !apierrors.IsNotFound(err) {
				return reconcile.Result{}, fmt.Errorf("failed to get BackupConfiguration %s/%s: %w", bs.Namespace, bs.Spec.Invoker.Name, err)
			}
			bc = nil
		}
	}
	b := &builder{d: p.d}
	b.backupSession(&bs, bc)
	if bc != nil && bc.Spec.Repository.Name != "" {
		repo, err := p.repository(ctx, bs.Namespace, bc.Spec.Repository.Name)
		if err != nil {
			return reconcile.Result{}, err
		}
		// A successful backup updates the Repository's status just after the session's.
		// Until that update is in the cache the repository metrics would be the previous
		// backup's, so wait for it a little, but never forever (it may not come).
		if repo != nil && bs.Status.Phase == v1beta1.BackupSessionSucceeded &&
			(repo.Status.LastBackupTime == nil || repo.Status.LastBackupTime.Before(&bs.CreationTimestamp)) &&
			time.Since(finishTime(bs.CreationTimestamp.Time, bs.Status.SessionDuration)) < repositoryWait {
			return reconcile.Result{RequeueAfter: time.Second}, nil
		}
		if repo != nil {
			// Verification gauges are scraped from /metrics only: the verdict lands on a
			// Snapshot after the session's status.
			b.repository(repo, nil)
		}
	}
	job := names.PushgatewayJob(bs.Spec.Invoker.Kind, bs.Namespace, bs.Spec.Invoker.Name)
	if err := p.push(ctx, job, b); err != nil {
		return reconcile.Result{}, fmt.Errorf("failed to push metrics of BackupSession %s: %w", req, err)
	}
	p.markPushed(key, bs.UID)
	log.FromContext(ctx).V(1).Info("Pushed session metrics", "job", job)
	return reconcile.Result{}, nil
}

func (p *Pusher) reconcileRestore(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := pushKey{"RestoreSession", req.NamespacedName}
	var rs v1beta1.RestoreSession
	if err := p.reader.Get(ctx, req.NamespacedName, &rs); err != nil {
		if apierrors.IsNotFound(err) {
			p.forget(key)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("failed to get RestoreSession %s: %w", req, err)
	}
	if !restoreFinished(rs.Status.Phase) || p.seen(key, rs.UID) {
		return reconcile.Result{}, nil
	}
	b := &builder{d: p.d}
	b.restoreSession(&rs)
	if rs.Spec.Repository.Name != "" {
		repo, err := p.repository(ctx, rs.Namespace, rs.Spec.Repository.Name)
		if err != nil {
			return reconcile.Result{}, err
		}
		if repo != nil {
			b.repository(repo, nil)
		}
	}
	job := names.PushgatewayJob("RestoreSession", rs.Namespace, rs.Name)
	if err := p.push(ctx, job, b); err != nil {
		return reconcile.Result{}, fmt.Errorf("failed to push metrics of RestoreSession %s: %w", req, err)
	}
	p.markPushed(key, rs.UID)
	log.FromContext(ctx).V(1).Info("Pushed session metrics", "job", job)
	return reconcile.Result{}, nil
}

// repository returns the named Repository, or nil when it does not exist.
func (p *Pusher) repository(ctx context.Context, namespace, name string) (*v1alpha1.Repository, error) {
	var repo v1alpha1.Repository
	if err := p.reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &repo); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to get Repository %s/%s: %w", namespace, name, err)
	}
	return &repo, nil
}

// push sends b's metrics to the Pushgateway with POST, as upstream Stash did: metrics with
// the same names are replaced, others are kept, so a failed session (which sets only the
// *_success gauges) leaves the last success time of the previous one in place.
func (p *Pusher) push(ctx context.Context, job string, b *builder) error {
	if err := b.err(); err != nil {
		log.FromContext(ctx).Error(err, "Some stash metrics could not be derived", "job", job)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(fixed(b.metrics)); err != nil {
		return fmt.Errorf("failed to register metrics: %w", err)
	}
	// A Pushgateway that accepts the connection and never answers must not hold the worker.
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	return push.New(p.url, job).Gatherer(reg).AddContext(ctx)
}

// fixed is a Collector of metrics computed beforehand. It describes nothing, which makes it an
// "unchecked" collector: the registry then accepts whatever subset of gauges a session has.
type fixed []prometheus.Metric

func (fixed) Describe(chan<- *prometheus.Desc) {}

func (f fixed) Collect(ch chan<- prometheus.Metric) {
	for _, m := range f {
		ch <- m
	}
}
