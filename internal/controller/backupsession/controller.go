// Package backupsession reconciles BackupSessions: it turns each new session into a backup
// Job, follows the Job to its end, and records the outcome on the session and its Repository.
// All state lives in the API (the session's phase, the Job, the pod status), so an operator
// restarted mid-backup picks up where it left off.
package backupsession

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/hookjob"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/session"
)

// Reconciler reconciles BackupSessions.
type Reconciler struct {
	Client client.Client
	// APIReader reads around the cache where a stale read would do harm: the skip decision,
	// and confirming that a Job is really gone.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  record.EventRecorder
	Progress  session.ProgressReader
	// Starter creates the session's Job once its repository is free.
	Starter *session.Starter

	PushgatewayURL string
	// OperatorImage runs the hooks (`hoard run-hook`).
	OperatorImage string
	// HookTimeout bounds each hook; zero means hook.DefaultTimeout.
	HookTimeout time.Duration
	// Timeout fails sessions still running after this long unless the configuration's
	// spec.timeOut says otherwise.
	Timeout time.Duration
	// PollInterval is how often a running session is looked at for progress and deadline.
	PollInterval time.Duration
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// Sessions: read through the cache (and listed directly for the skip decision), labelled
// with their repository while they wait (patch), pruned past backupHistoryLimit (delete).
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupsessions,verbs=get;list;watch;delete;patch
// writeStatus and finish patch the status; nothing updates it whole.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupsessions/status,verbs=patch
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupconfigurations,verbs=get;list;watch
// +kubebuilder:rbac:groups=stash.appscode.com,resources=repositories,verbs=get;list;watch
// A finished backup patches its Repository's status (size, snapshot count, integrity).
// +kubebuilder:rbac:groups=stash.appscode.com,resources=repositories/status,verbs=patch
// +kubebuilder:rbac:groups=stash.appscode.com,resources=tasks;functions,verbs=get;list;watch
// +kubebuilder:rbac:groups=appcatalog.appscode.com,resources=appbindings,verbs=get;list;watch
// Secrets: get reads the storage Secret and the AppBinding's Secret directly (session.Readers,
// never cached); create and delete make and remove the per-session copy of the target's
// credentials (session.CreateJob, session.DeleteTargetSecret). No list, watch, update or patch.
// The dependency checker: an AppBinding's Service (metadata), namespace labels for usagePolicy.
// +kubebuilder:rbac:groups="",resources=services;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;delete
// Pods are only listed, through the cache: a finished Job's termination messages, and which
// Jobs still hold a repository (package repoqueue).
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch
// The progress line of a running backup (session.LogProgressReader); pods have no API access.
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// Jobs: created per session, read directly to confirm one missing from the cache, deleted
// when a session runs past its deadline.
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.PollInterval == 0 {
		r.PollInterval = 10 * time.Second
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1beta1.BackupSession{}).
		Owns(&batchv1.Job{}).
		// A Job that ends frees its repository for the sessions waiting in line.
		Watches(&batchv1.Job{}, session.WakeWaiters(mgr.GetClient(), &v1beta1.BackupSessionList{}, func(o client.Object) bool {
			s, ok := o.(*v1beta1.BackupSession)
			return ok && (s.Status.Phase == "" || s.Status.Phase == v1beta1.BackupSessionPending)
		}), builder.WithPredicates(session.RepositoryReleased())).
		Named("backupsession").
		// Sessions of different configurations are independent; the skip decision reads
		// the API directly, so concurrent reconciles cannot both start one configuration.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

// Reconcile moves a session one step: Pending → Running (or Skipped/Failed), Running →
// Succeeded/Failed, and prunes the history once it is finished.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	bs := &v1beta1.BackupSession{}
	if err := r.Client.Get(ctx, req.NamespacedName, bs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !bs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	switch bs.Status.Phase {
	case v1beta1.BackupSessionSucceeded, v1beta1.BackupSessionFailed, v1beta1.BackupSessionSkipped:
		return ctrl.Result{}, r.pruneHistory(ctx, bs)
	case v1beta1.BackupSessionRunning, v1beta1.BackupSessionUnknown:
		return session.RequeueOnConflict(r.track(ctx, bs))
	default:
		return session.RequeueOnConflict(r.start(ctx, bs))
	}
}

func (r *Reconciler) start(ctx context.Context, bs *v1beta1.BackupSession) (ctrl.Result, error) {
	inv := bs.Spec.Invoker
	if inv.Kind != "BackupConfiguration" {
		return ctrl.Result{}, r.fail(ctx, bs, "InvokerUnsupported", fmt.Sprintf("invoker kind %q is not supported: use BackupConfiguration", inv.Kind))
	}
	bc := &v1beta1.BackupConfiguration{}
	// A configuration created a moment ago may not be in the cache yet.
	if err := r.readers().Get(ctx, client.ObjectKey{Namespace: bs.Namespace, Name: inv.Name}, bc); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.fail(ctx, bs, "InvokerNotFound", fmt.Sprintf("BackupConfiguration %s/%s not found", bs.Namespace, inv.Name))
		}
		return ctrl.Result{}, fmt.Errorf("failed to get BackupConfiguration %s/%s: %w", bs.Namespace, inv.Name, err)
	}
	if bc.Spec.Driver == v1beta1.VolumeSnapshotter {
		return ctrl.Result{}, r.fail(ctx, bs, "DriverUnsupported", "driver VolumeSnapshotter is not supported: Hoard backs up with the Restic driver")
	}
	if other, err := r.runningSibling(ctx, bs); err != nil {
		return ctrl.Result{}, err
	} else if other != "" {
		return ctrl.Result{}, r.skip(ctx, bs, fmt.Sprintf("BackupSession %s of BackupConfiguration %s is still running or waiting to run", other, inv.Name))
	}
	timeout, err := r.timeout(bc)
	if err != nil {
		return ctrl.Result{}, r.fail(ctx, bs, "InvalidTimeOut", err.Error())
	}
	left, expired := session.TimeLeft(bs.CreationTimestamp.Time, r.Now(), timeout)
	if expired {
		return ctrl.Result{}, r.fail(ctx, bs, "DeadlineExceeded", session.ExpiredMessage("backup", bs.CreationTimestamp.Time, timeout, session.WaitingFor(bs.Status.Conditions)))
	}

	target := jobspec.Target{}
	if t := bc.Spec.Target; t != nil {
		target = jobspec.Target{Alias: t.Alias, Ref: t.Ref, Paths: t.Paths, VolumeMounts: t.VolumeMounts, Args: t.Args}
	}
	g, err := session.Gather(ctx, r.readers(), session.Request{
		Kind:        jobspec.KindBackup,
		Namespace:   bs.Namespace,
		SessionName: bs.Name,
		Invoker:     jobspec.Invoker{Kind: inv.Kind, Name: inv.Name},
		TaskRef:     bc.Spec.Task,
		Repository:  bc.Spec.Repository,
		Target:      target,
	})
	var ue *session.UserError
	if errors.As(err, &ue) {
		// With the checker's condition, as the BackupConfiguration shows it.
		return ctrl.Result{}, r.failHost(ctx, bs, ue.Reason, ue.Message, nil, ue.AsCondition())
	} else if err != nil {
		return ctrl.Result{}, err
	}
	in := g.Input
	loc, err := location.Of(in.Repository.Namespace, &in.Repository.Spec.Backend)
	if err != nil {
		return ctrl.Result{}, r.fail(ctx, bs, "InvalidRepository", fmt.Sprintf("Repository %s: %v", in.Repository.Name, err))
	}
	// Checked before anything is created: the Job would mount the node's filesystem.
	if err := location.CheckLocalBackend(&in.Repository.Spec.Backend); err != nil {
		return ctrl.Result{}, r.fail(ctx, bs, location.ReasonUnsafeBackendVolume, fmt.Sprintf("Repository %s: %v", in.Repository.Name, err))
	}
	in.RetentionPolicy = bc.Spec.RetentionPolicy
	in.RuntimeSettings = bc.Spec.RuntimeSettings
	in.TempDir = bc.Spec.TempDir
	in.InterimVolume = bc.Spec.InterimVolumeTemplate
	in.PushgatewayURL = r.PushgatewayURL
	in.ActiveDeadlineSeconds = session.Seconds(left)
	in.LocationKey = loc.Key()
	in.SoleWriter = location.SoleWriter(in.Repository)
	jobName := jobspec.JobName(jobspec.KindBackup, bs.Name)
	if g.Connection != nil {
		in.TargetSecretName = session.TargetSecretName(jobName)
	}
	if g.Storage != nil {
		in.StorageSecretCopy = session.StorageSecretName(jobName)
	}
	job, err := jobspec.Build(in)
	if err != nil {
		return ctrl.Result{}, r.fail(ctx, bs, "TaskResolutionFailed", err.Error())
	}
	var te *hookjob.TargetError
	if err := r.addPreHook(ctx, bs, bc, job); errors.As(err, &te) {
		return ctrl.Result{}, r.fail(ctx, bs, "HookFailed", te.Msg)
	} else if err != nil {
		return ctrl.Result{}, err
	}
	st, err := r.Starter.Start(ctx, session.Launch{Session: bs, Job: job, Connection: g.Connection, Storage: g.Storage, Location: loc})
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case st.FailReason != "":
		return ctrl.Result{}, r.fail(ctx, bs, st.FailReason, st.FailMessage)
	case st.Wait != "":
		return ctrl.Result{RequeueAfter: session.NextLook(r.PollInterval, left)}, r.wait(ctx, bs, st.Wait)
	}

	orig := bs.DeepCopy()
	bs.Status.Phase = v1beta1.BackupSessionRunning
	bs.Status.Targets = []v1beta1.BackupTargetStatus{{
		Ref:        target.Ref,
		TotalHosts: ptr.To(int32(1)),
		Phase:      v1beta1.TargetBackupRunning,
	}}
	for _, c := range []string{v1beta1.ConditionRepositoryFound, v1beta1.ConditionBackendSecretFound, v1beta1.ConditionBackupTargetFound} {
		meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: "Found", Message: "found when the session started"})
	}
	session.SetRepositoryAcquired(&bs.Status.Conditions, loc)
	meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: "BackupJobCreated", Status: metav1.ConditionTrue, Reason: "JobCreated", Message: "Job " + job.Name + " created"})
	if err := r.writeStatus(ctx, orig, bs); err != nil {
		return ctrl.Result{}, err
	}
	event.BackupSessionStarted.Emit(r.Recorder, bs, job.Name)
	log.FromContext(ctx).Info("backup started", "job", job.Name)
	return ctrl.Result{RequeueAfter: r.PollInterval}, nil
}

// wait keeps the session Pending and says what it waits for; the event is recorded when
// that changes.
func (r *Reconciler) wait(ctx context.Context, bs *v1beta1.BackupSession, why string) error {
	orig := bs.DeepCopy()
	bs.Status.Phase = v1beta1.BackupSessionPending
	changed := session.SetWaiting(&bs.Status.Conditions, why)
	if err := r.writeStatus(ctx, orig, bs); err != nil {
		return err
	}
	if changed {
		event.SessionWaiting.Emit(r.Recorder, bs, why)
		log.FromContext(ctx).Info("backup waits", "for", why)
	}
	return nil
}

func (r *Reconciler) readers() session.Readers {
	return session.Readers{Cached: r.Client, Direct: r.APIReader}
}

// runningSibling returns the name of another session of the same invoker that holds the
// right to run: one that is Running, or Pending and older. It reads the API directly, since
// a cached list could miss a session that turned Running a moment ago.
func (r *Reconciler) runningSibling(ctx context.Context, bs *v1beta1.BackupSession) (string, error) {
	list := &v1beta1.BackupSessionList{}
	if err := r.APIReader.List(ctx, list, client.InNamespace(bs.Namespace), client.MatchingLabels{
		v1beta1.LabelInvokerName: names.LabelValue(bs.Spec.Invoker.Name),
	}); err != nil {
		return "", fmt.Errorf("failed to list BackupSessions of %s/%s: %w", bs.Namespace, bs.Spec.Invoker.Name, err)
	}
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID == bs.UID || o.Spec.Invoker.Kind != bs.Spec.Invoker.Kind || o.Spec.Invoker.Name != bs.Spec.Invoker.Name {
			continue
		}
		switch o.Status.Phase {
		case v1beta1.BackupSessionRunning:
			return o.Name, nil
		case "", v1beta1.BackupSessionPending:
			if olderThan(o, bs) {
				return o.Name, nil
			}
		}
	}
	return "", nil
}

func olderThan(a, b *v1beta1.BackupSession) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

func (r *Reconciler) timeout(bc *v1beta1.BackupConfiguration) (time.Duration, error) {
	if bc.Spec.TimeOut == "" {
		return r.Timeout, nil
	}
	d, err := time.ParseDuration(bc.Spec.TimeOut)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("spec.timeOut %q of BackupConfiguration %s is not a positive duration such as 2h", bc.Spec.TimeOut, bc.Name)
	}
	return d, nil
}

func (r *Reconciler) track(ctx context.Context, bs *v1beta1.BackupSession) (ctrl.Result, error) {
	timeout := r.Timeout
	bc := &v1beta1.BackupConfiguration{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: bs.Namespace, Name: bs.Spec.Invoker.Name}, bc); err == nil {
		if t, err := r.timeout(bc); err == nil {
			timeout = t
		}
	}
	if res, done, err := r.followPost(ctx, bs, bc); done || err != nil {
		return res, err
	}
	obs, err := session.Observe(ctx, r.Client, r.APIReader, session.Running{
		Kind: jobspec.KindBackup, Session: bs, Timeout: timeout, Poll: r.PollInterval, Now: r.Now(),
	})
	var out session.Outcome
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case obs.Outcome.Finished:
		out = obs.Outcome
	case obs.StopReason != "":
		out = session.Outcome{Finished: true, StopReason: obs.StopReason, Error: obs.StopMessage}
	}
	if out.Finished {
		// postBackup runs however the backup ended, as its policy says; the session is
		// recorded once it is done.
		if started, err := r.startPost(ctx, bs, bc, out); started || err != nil {
			return ctrl.Result{RequeueAfter: r.PollInterval}, err
		}
		return ctrl.Result{}, r.conclude(ctx, bs, out, nil)
	}
	if err := r.updateProgress(ctx, bs, obs.Job); err != nil {
		log.FromContext(ctx).V(1).Info("no progress report", "reason", err.Error())
	}
	return ctrl.Result{RequeueAfter: obs.RequeueAfter}, nil
}

func (r *Reconciler) updateProgress(ctx context.Context, bs *v1beta1.BackupSession, job *batchv1.Job) error {
	if r.Progress == nil {
		return nil
	}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return err
	}
	// backoffLimit is 0: the Job has at most one pod.
	if len(pods.Items) == 0 {
		return nil
	}
	p, err := r.Progress.Latest(ctx, &pods.Items[0])
	if err != nil || p == nil {
		return err
	}
	orig := bs.DeepCopy()
	prog := &v1beta1.BackupProgress{BytesDone: p.BytesDone, TotalBytes: p.TotalBytes, LastUpdateTime: ptr.To(metav1.NewTime(r.Now()))}
	if p.PercentDone > 0 {
		prog.Percent = ptr.To(int32(p.PercentDone * 100))
	}
	if old := bs.Status.Progress; old != nil && old.BytesDone == prog.BytesDone && old.TotalBytes == prog.TotalBytes {
		return nil
	}
	bs.Status.Progress = prog
	return r.writeStatus(ctx, orig, bs)
}

func (r *Reconciler) pruneHistory(ctx context.Context, bs *v1beta1.BackupSession) error {
	bc := &v1beta1.BackupConfiguration{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: bs.Namespace, Name: bs.Spec.Invoker.Name}, bc); err != nil {
		return client.IgnoreNotFound(err)
	}
	limit := 1
	if bc.Spec.BackupHistoryLimit != nil {
		limit = int(*bc.Spec.BackupHistoryLimit)
	}
	list := &v1beta1.BackupSessionList{}
	if err := r.Client.List(ctx, list, client.InNamespace(bs.Namespace), client.MatchingLabels{v1beta1.LabelInvokerName: names.LabelValue(bc.Name)}); err != nil {
		return fmt.Errorf("failed to list BackupSessions of %s/%s: %w", bc.Namespace, bc.Name, err)
	}
	var finished []*v1beta1.BackupSession
	for i := range list.Items {
		s := &list.Items[i]
		if s.Spec.Invoker.Kind != "BackupConfiguration" || s.Spec.Invoker.Name != bc.Name || !s.DeletionTimestamp.IsZero() {
			continue
		}
		switch s.Status.Phase {
		case v1beta1.BackupSessionSucceeded, v1beta1.BackupSessionFailed, v1beta1.BackupSessionSkipped:
			finished = append(finished, s)
		}
	}
	if len(finished) <= limit {
		return nil
	}
	// Newest first; the session that just finished counts as the newest, as it is: creation
	// times have whole seconds, and two sessions made in one second would otherwise be ordered
	// by name, which could prune the result the user is waiting for.
	sort.Slice(finished, func(i, j int) bool {
		if finished[i].UID == bs.UID || finished[j].UID == bs.UID {
			return finished[i].UID == bs.UID
		}
		return olderThan(finished[j], finished[i])
	})
	for _, s := range finished[limit:] {
		if err := r.Client.Delete(ctx, s, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("failed to delete old BackupSession %s/%s: %w", s.Namespace, s.Name, err)
		}
		log.FromContext(ctx).Info("pruned old BackupSession", "name", s.Name, "limit", limit)
	}
	return nil
}

func (r *Reconciler) writeStatus(ctx context.Context, orig, bs *v1beta1.BackupSession) error {
	if equality.Semantic.DeepEqual(orig.Status, bs.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, bs, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("failed to update status of BackupSession %s/%s: %w", bs.Namespace, bs.Name, err)
	}
	return nil
}
