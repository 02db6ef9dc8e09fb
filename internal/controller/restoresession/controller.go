// Package restoresession reconciles RestoreSessions: each becomes one restore Job, followed
// to its end, with the outcome recorded on the session.
package restoresession

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/session"
)

// Reconciler reconciles RestoreSessions.
type Reconciler struct {
	Client    client.Client
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  record.EventRecorder
	// Starter creates the session's Job once its repository is free.
	Starter *session.Starter

	PushgatewayURL string
	// OperatorImage runs the hooks (`hoard run-hook`).
	OperatorImage string
	// HookTimeout bounds each hook; zero means hook.DefaultTimeout.
	HookTimeout  time.Duration
	Timeout      time.Duration
	PollInterval time.Duration
	Now          func() time.Time
}

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// Sessions are read through the cache and labelled with their repository while they wait.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=restoresessions,verbs=get;list;watch;patch
// writeStatus patches the status; nothing updates it whole.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=restoresessions/status,verbs=patch
// +kubebuilder:rbac:groups=stash.appscode.com,resources=repositories,verbs=get;list;watch
// +kubebuilder:rbac:groups=stash.appscode.com,resources=tasks;functions,verbs=get;list;watch
// +kubebuilder:rbac:groups=appcatalog.appscode.com,resources=appbindings,verbs=get;list;watch
// Secrets: as for backups (see package backupsession): get directly, create and delete the
// per-session copy of the target's credentials; no list, watch, update or patch.
// The dependency checker: an AppBinding's Service (metadata), namespace labels for usagePolicy.
// +kubebuilder:rbac:groups="",resources=services;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
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
		For(&v1beta1.RestoreSession{}).
		Owns(&batchv1.Job{}).
		// A Job that ends frees its repository for the sessions waiting in line.
		Watches(&batchv1.Job{}, session.WakeWaiters(mgr.GetClient(), &v1beta1.RestoreSessionList{}, func(o client.Object) bool {
			s, ok := o.(*v1beta1.RestoreSession)
			return ok && (s.Status.Phase == "" || s.Status.Phase == v1beta1.RestorePending)
		}), builder.WithPredicates(session.RepositoryReleased())).
		Named("restoresession").
		// Restores are independent of each other; those that share a repository are
		// serialised by the repository queue, which reads the API directly.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

// Reconcile moves a RestoreSession one step: Pending → Running (or Failed), Running → done.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rs := &v1beta1.RestoreSession{}
	if err := r.Client.Get(ctx, req.NamespacedName, rs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	switch rs.Status.Phase {
	case v1beta1.RestoreSucceeded, v1beta1.RestoreFailed:
		return ctrl.Result{}, nil
	case v1beta1.RestoreRunning, v1beta1.RestoreUnknown:
		return session.RequeueOnConflict(r.track(ctx, rs))
	default:
		return session.RequeueOnConflict(r.start(ctx, rs))
	}
}

func (r *Reconciler) host(rs *v1beta1.RestoreSession) string {
	if rs.Spec.Target != nil {
		return jobspec.Hostname(rs.Spec.Target.Alias)
	}
	return result.DefaultHostname
}

func (r *Reconciler) timeout(rs *v1beta1.RestoreSession) (time.Duration, error) {
	if rs.Spec.TimeOut == "" {
		return r.Timeout, nil
	}
	d, err := time.ParseDuration(rs.Spec.TimeOut)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("spec.timeOut %q is not a positive duration such as 2h", rs.Spec.TimeOut)
	}
	return d, nil
}

func (r *Reconciler) start(ctx context.Context, rs *v1beta1.RestoreSession) (ctrl.Result, error) {
	if rs.Spec.Driver == v1beta1.VolumeSnapshotter {
		return ctrl.Result{}, r.fail(ctx, rs, "DriverUnsupported", "driver VolumeSnapshotter is not supported: Hoard restores with the Restic driver")
	}
	timeout, err := r.timeout(rs)
	if err != nil {
		return ctrl.Result{}, r.fail(ctx, rs, "InvalidTimeOut", err.Error())
	}
	left, expired := session.TimeLeft(rs.CreationTimestamp.Time, r.Now(), timeout)
	if expired {
		return ctrl.Result{}, r.fail(ctx, rs, "DeadlineExceeded", session.ExpiredMessage("restore", rs.CreationTimestamp.Time, timeout, session.WaitingFor(rs.Status.Conditions)))
	}
	target := jobspec.Target{}
	var targetRules []v1beta1.Rule
	if t := rs.Spec.Target; t != nil {
		target = jobspec.Target{Alias: t.Alias, Ref: t.Ref, VolumeMounts: t.VolumeMounts, Args: t.Args}
		targetRules = t.Rules
	}
	g, err := session.Gather(ctx, session.Readers{Cached: r.Client, Direct: r.APIReader}, session.Request{
		Kind:        jobspec.KindRestore,
		Namespace:   rs.Namespace,
		SessionName: rs.Name,
		Invoker:     jobspec.Invoker{Kind: "RestoreSession", Name: rs.Name},
		TaskRef:     rs.Spec.Task,
		Repository:  rs.Spec.Repository,
		Target:      target,
	})
	var ue *session.UserError
	if errors.As(err, &ue) {
		// With the checker's condition, as a BackupConfiguration would show it.
		return ctrl.Result{}, r.record(ctx, rs, false, ue.Reason, ue.Message, nil, ue.AsCondition())
	} else if err != nil {
		return ctrl.Result{}, err
	}
	in := g.Input
	loc, err := location.Of(in.Repository.Namespace, &in.Repository.Spec.Backend)
	if err != nil {
		return ctrl.Result{}, r.fail(ctx, rs, "InvalidRepository", fmt.Sprintf("Repository %s: %v", in.Repository.Name, err))
	}
	// Checked before anything is created: the Job would mount the node's filesystem.
	if err := location.CheckLocalBackend(&in.Repository.Spec.Backend); err != nil {
		return ctrl.Result{}, r.fail(ctx, rs, location.ReasonUnsafeBackendVolume, fmt.Sprintf("Repository %s: %v", in.Repository.Name, err))
	}
	in.RestoreRule = jobspec.SelectRule(targetRules, rs.Spec.Rules, r.host(rs))
	in.RuntimeSettings = rs.Spec.RuntimeSettings
	in.TempDir = rs.Spec.TempDir
	in.InterimVolume = rs.Spec.InterimVolumeTemplate
	in.PushgatewayURL = r.PushgatewayURL
	in.ActiveDeadlineSeconds = session.Seconds(left)
	in.LocationKey = loc.Key()
	in.SoleWriter = location.SoleWriter(in.Repository)
	jobName := jobspec.JobName(jobspec.KindRestore, rs.Name)
	if g.Connection != nil {
		in.TargetSecretName = session.TargetSecretName(jobName)
	}
	if g.Storage != nil {
		in.StorageSecretCopy = session.StorageSecretName(jobName)
	}
	job, err := jobspec.Build(in)
	if err != nil {
		return ctrl.Result{}, r.fail(ctx, rs, "TaskResolutionFailed", err.Error())
	}
	var te *hookjob.TargetError
	if err := r.addPreHook(ctx, rs, job); errors.As(err, &te) {
		return ctrl.Result{}, r.fail(ctx, rs, "HookFailed", te.Msg)
	} else if err != nil {
		return ctrl.Result{}, err
	}
	st, err := r.Starter.Start(ctx, session.Launch{Session: rs, Job: job, Connection: g.Connection, Storage: g.Storage, Location: loc})
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case st.FailReason != "":
		return ctrl.Result{}, r.fail(ctx, rs, st.FailReason, st.FailMessage)
	case st.Wait != "":
		return ctrl.Result{RequeueAfter: session.NextLook(r.PollInterval, left)}, r.wait(ctx, rs, st.Wait)
	}
	orig := rs.DeepCopy()
	rs.Status.Phase = v1beta1.RestoreRunning
	rs.Status.TotalHosts = ptr.To(int32(1))
	meta.SetStatusCondition(&rs.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionRestoreTargetFound, Status: metav1.ConditionTrue, Reason: "TargetFound", Message: "restore target found"})
	session.SetRepositoryAcquired(&rs.Status.Conditions, loc)
	meta.SetStatusCondition(&rs.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionRestoreJobCreated, Status: metav1.ConditionTrue, Reason: "JobCreated", Message: "Job " + job.Name + " created"})
	if err := r.writeStatus(ctx, orig, rs); err != nil {
		return ctrl.Result{}, err
	}
	event.RestoreSessionStarted.Emit(r.Recorder, rs, job.Name)
	log.FromContext(ctx).Info("restore started", "job", job.Name)
	return ctrl.Result{RequeueAfter: r.PollInterval}, nil
}

// wait keeps the session Pending and says what it waits for; the event is recorded when
// that changes.
func (r *Reconciler) wait(ctx context.Context, rs *v1beta1.RestoreSession, why string) error {
	orig := rs.DeepCopy()
	rs.Status.Phase = v1beta1.RestorePending
	changed := session.SetWaiting(&rs.Status.Conditions, why)
	if err := r.writeStatus(ctx, orig, rs); err != nil {
		return err
	}
	if changed {
		event.SessionWaiting.Emit(r.Recorder, rs, why)
		log.FromContext(ctx).Info("restore waits", "for", why)
	}
	return nil
}

func (r *Reconciler) track(ctx context.Context, rs *v1beta1.RestoreSession) (ctrl.Result, error) {
	timeout, _ := r.timeout(rs)
	if res, done, err := r.followPost(ctx, rs); done || err != nil {
		return res, err
	}
	obs, err := session.Observe(ctx, r.Client, r.APIReader, session.Running{
		Kind: jobspec.KindRestore, Session: rs, Timeout: timeout, Poll: r.PollInterval, Now: r.Now(),
	})
	var out session.Outcome
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case obs.Outcome.Finished:
		out = obs.Outcome
	case obs.StopReason != "":
		out = session.Outcome{Finished: true, StopReason: obs.StopReason, Error: obs.StopMessage}
	default:
		return ctrl.Result{RequeueAfter: obs.RequeueAfter}, nil
	}
	// postRestore runs however the restore ended, as its policy says; the session is recorded
	// once it is done.
	if started, err := r.startPost(ctx, rs, out); started || err != nil {
		return ctrl.Result{RequeueAfter: r.PollInterval}, err
	}
	return ctrl.Result{}, r.conclude(ctx, rs, out, nil)
}

func (r *Reconciler) fail(ctx context.Context, rs *v1beta1.RestoreSession, reason, msg string, extra ...metav1.Condition) error {
	return r.record(ctx, rs, false, reason, msg, nil, extra...)
}

func (r *Reconciler) finish(ctx context.Context, rs *v1beta1.RestoreSession, out session.Outcome, extra ...metav1.Condition) error {
	if !out.Succeeded {
		return r.record(ctx, rs, false, "RestoreFailed", out.Error, out.Result, extra...)
	}
	msg := "restore of " + out.Result.Hostname + " succeeded"
	if len(out.Result.Snapshots) > 0 {
		msg += ": loaded " + session.DescribeSnapshot(out.Result.Snapshots[0])
	}
	return r.record(ctx, rs, true, "RestoreSucceeded", msg, out.Result, extra...)
}

// extra are conditions to record with the outcome.
func (r *Reconciler) record(ctx context.Context, rs *v1beta1.RestoreSession, ok bool, reason, msg string, res *result.Result, extra ...metav1.Condition) error {
	orig := rs.DeepCopy()
	for _, c := range extra {
		meta.SetStatusCondition(&rs.Status.Conditions, c)
	}
	host := v1beta1.HostRestoreStats{Hostname: r.host(rs), Phase: v1beta1.HostFailed}
	if res != nil {
		if res.Hostname != "" {
			host.Hostname = res.Hostname
		}
		host.Duration = res.Duration
	}
	status := metav1.ConditionFalse
	rs.Status.Phase = v1beta1.RestoreFailed
	if ok {
		host.Phase = v1beta1.HostSucceeded
		status = metav1.ConditionTrue
		rs.Status.Phase = v1beta1.RestoreSucceeded
	} else {
		host.Error = msg
	}
	rs.Status.TotalHosts = ptr.To(int32(1))
	rs.Status.SessionDuration = result.FormatDuration(r.Now().Sub(rs.CreationTimestamp.Time))
	rs.Status.Stats = []v1beta1.HostRestoreStats{host}
	meta.SetStatusCondition(&rs.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionRestoreCompleted, Status: status, Reason: reason, Message: msg})
	if err := r.writeStatus(ctx, orig, rs); err != nil {
		return err
	}
	if ok {
		event.RestoreSessionSucceeded.Emit(r.Recorder, rs, rs.Status.SessionDuration, msg)
	} else {
		event.RestoreSessionFailed.Emit(r.Recorder, rs, msg)
	}
	log.FromContext(ctx).Info("restore finished", "phase", rs.Status.Phase, "message", msg)
	return nil
}

func (r *Reconciler) writeStatus(ctx context.Context, orig, rs *v1beta1.RestoreSession) error {
	if equality.Semantic.DeepEqual(orig.Status, rs.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, rs, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("failed to update status of RestoreSession %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}
