// Package restoresession reconciles RestoreSessions: each becomes one restore Job, followed
// to its end, with the outcome recorded on the session.
package restoresession

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/sessionrun"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/session"
)

// Reconciler reconciles RestoreSessions: the session runner (package sessionrun) with what a
// restore adds, its settings on the session itself and its status.
type Reconciler struct {
	sessionrun.Env

	run *sessionrun.Runner[v1beta1.RestoreSession, *v1beta1.RestoreSession]
}

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// Sessions are read through the cache and labelled with their repository while they wait.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=restoresessions,verbs=get;list;watch;patch
// The runner and Finish patch the status; nothing updates it whole.
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
// The progress line of a running restore (session.LogProgressReader): tables loaded and loading.
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// A verifying restore (param verify) records its verdict on the Snapshot it restored.
// +kubebuilder:rbac:groups=repositories.stash.appscode.com,resources=snapshots,verbs=get;patch
// A verification's restore into a managed scratch server runs that server beside itself.
// +kubebuilder:rbac:groups=operations.hoard.io,resources=backupverifications,verbs=get;list;watch

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.run = &sessionrun.Runner[v1beta1.RestoreSession, *v1beta1.RestoreSession]{Env: &r.Env, Kind: r}
	return r.run.SetupWithManager(mgr, "restoresession", &v1beta1.RestoreSessionList{})
}

// Desc implements sessionrun.Kind.
func (r *Reconciler) Desc() sessionrun.Desc {
	return sessionrun.Desc{
		Job: jobspec.KindRestore, Object: "RestoreSession", Started: event.RestoreSessionStarted, JobCreated: v1beta1.ConditionRestoreJobCreated,
		PreHook: hook.PreRestore, PostHook: hook.PostRestore,
		PreHookCondition: v1beta1.ConditionGlobalPreRestoreHookSucceeded, PostHookCondition: v1beta1.ConditionGlobalPostRestoreHookSucceeded,
	}
}

// Stage implements sessionrun.Kind.
func (r *Reconciler) Stage(rs *v1beta1.RestoreSession) sessionrun.Stage {
	switch rs.Status.Phase {
	case v1beta1.RestoreSucceeded, v1beta1.RestoreFailed:
		return sessionrun.Finished
	case v1beta1.RestoreRunning, v1beta1.RestoreUnknown:
		return sessionrun.Running
	}
	return sessionrun.Waiting
}

// Status implements sessionrun.Kind.
func (r *Reconciler) Status(rs *v1beta1.RestoreSession) any { return rs.Status }

// Conditions implements sessionrun.Kind.
func (r *Reconciler) Conditions(rs *v1beta1.RestoreSession) *[]metav1.Condition {
	return &rs.Status.Conditions
}

// Done implements sessionrun.Kind: a finished restore needs nothing more.
func (r *Reconciler) Done(context.Context, *v1beta1.RestoreSession) error { return nil }

func (r *Reconciler) host(rs *v1beta1.RestoreSession) string {
	if rs.Spec.Target != nil {
		return jobspec.Hostname(rs.Spec.Target.Alias)
	}
	return result.DefaultHostname
}

// Plan implements sessionrun.Kind: the session itself says what to restore.
func (r *Reconciler) Plan(ctx context.Context, rs *v1beta1.RestoreSession) (*sessionrun.Plan, error) {
	if rs.Spec.Driver == v1beta1.VolumeSnapshotter {
		return nil, sessionrun.Refuse("DriverUnsupported", "driver VolumeSnapshotter is not supported: Hoard restores with the Restic driver")
	}
	timeout, err := r.SessionTimeout(rs.Spec.TimeOut, "")
	if err != nil {
		return nil, sessionrun.Refuse("InvalidTimeOut", err.Error())
	}
	scratch, err := r.scratchServer(ctx, rs)
	if err != nil {
		return nil, err
	}
	target := jobspec.Target{}
	var targetRules []v1beta1.Rule
	if t := rs.Spec.Target; t != nil {
		target = jobspec.Target{Alias: t.Alias, Ref: t.Ref, VolumeMounts: t.VolumeMounts, Args: t.Args}
		targetRules = t.Rules
	}
	return &sessionrun.Plan{
		Timeout: timeout,
		Request: session.Request{
			Kind:        jobspec.KindRestore,
			Namespace:   rs.Namespace,
			SessionName: rs.Name,
			Invoker:     jobspec.Invoker{Kind: "RestoreSession", Name: rs.Name},
			TaskRef:     rs.Spec.Task,
			Repository:  rs.Spec.Repository,
			Target:      target,
		},
		Configure: func(in *jobspec.Input) {
			in.RestoreRule = jobspec.SelectRule(targetRules, rs.Spec.Rules, r.host(rs))
			in.RuntimeSettings = rs.Spec.RuntimeSettings
			in.TempDir = rs.Spec.TempDir
			in.InterimVolume = rs.Spec.InterimVolumeTemplate
			in.Scratch = scratch
		},
		Hooks: hooks(rs),
	}, nil
}

// hooks are the session's own hooks.
func hooks(rs *v1beta1.RestoreSession) sessionrun.Hooks {
	h := sessionrun.Hooks{Invoker: hook.Ref{Kind: "RestoreSession", Name: rs.Name}}
	if rs.Spec.Target != nil {
		h.Target = rs.Spec.Target.Ref
	}
	if rs.Spec.Hooks != nil {
		h.Pre, h.Post = rs.Spec.Hooks.PreRestore, rs.Spec.Hooks.PostRestore
	}
	return h
}

// Follow implements sessionrun.Kind. An unreadable spec.timeOut failed the session at its
// start; one changed since then bounds nothing.
func (r *Reconciler) Follow(_ context.Context, rs *v1beta1.RestoreSession) (time.Duration, sessionrun.Hooks) {
	timeout, _ := r.SessionTimeout(rs.Spec.TimeOut, "")
	return timeout, hooks(rs)
}

// MarkPending implements sessionrun.Kind.
func (r *Reconciler) MarkPending(rs *v1beta1.RestoreSession) {
	rs.Status.Phase = v1beta1.RestorePending
}

// MarkRunning implements sessionrun.Kind.
func (r *Reconciler) MarkRunning(rs *v1beta1.RestoreSession, _ *sessionrun.Plan) {
	rs.Status.Phase = v1beta1.RestoreRunning
	rs.Status.TotalHosts = ptr.To(int32(1))
	meta.SetStatusCondition(&rs.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionRestoreTargetFound, Status: metav1.ConditionTrue, Reason: "TargetFound", Message: "restore target found"})
}

// ReportProgress implements sessionrun.Progresser: the running restore's progress line, with
// the restore engine's tables.
func (r *Reconciler) ReportProgress(ctx context.Context, rs *v1beta1.RestoreSession, job *batchv1.Job) error {
	p, err := r.LatestProgress(ctx, job)
	if err != nil || p == nil {
		return err
	}
	orig := rs.DeepCopy()
	prog := &v1beta1.RestoreProgress{BytesDone: p.BytesDone, TotalBytes: p.TotalBytes, Percent: sessionrun.Percent(p),
		TablesDone: p.TablesDone, Loading: p.Loading, RowsDone: p.RowsDone}
	for _, t := range p.Tables {
		prog.Tables = append(prog.Tables, v1beta1.TableProgress{Table: t.Table, Rows: t.Rows, Bytes: t.Bytes})
	}
	if old := rs.Status.Progress; old != nil {
		same := *old
		same.LastUpdateTime = nil
		if equality.Semantic.DeepEqual(&same, prog) {
			return nil
		}
	}
	prog.LastUpdateTime = ptr.To(metav1.NewTime(r.Now()))
	rs.Status.Progress = prog
	return r.run.WriteStatus(ctx, orig, rs)
}

// Fail implements sessionrun.Kind.
func (r *Reconciler) Fail(ctx context.Context, rs *v1beta1.RestoreSession, reason, msg string, extra ...metav1.Condition) error {
	return r.record(ctx, rs, false, reason, msg, nil, extra...)
}

// Finish implements sessionrun.Kind.
func (r *Reconciler) Finish(ctx context.Context, rs *v1beta1.RestoreSession, out session.Outcome, extra ...metav1.Condition) error {
	if !out.Succeeded {
		return r.record(ctx, rs, false, "RestoreFailed", out.Error, out.Result, extra...)
	}
	msg := "restore of " + out.Result.Hostname + " succeeded"
	if len(out.Result.Snapshots) > 0 {
		msg += ": loaded " + session.DescribeSnapshot(out.Result.Snapshots[0])
	}
	if rc := out.Result.Recovery; rc != nil {
		msg += "; recovered to " + describeRecovery(rc)
	}
	if v := out.Result.Verification; v != nil {
		msg += "; verified: " + describeVerification(v)
	}
	return r.record(ctx, rs, true, "RestoreSucceeded", msg, out.Result, extra...)
}

// record writes the outcome, ok or not; extra are conditions to record with it.
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
		rs.Status.Progress = nil
	} else {
		host.Error = msg
		if res != nil && res.Load != nil {
			rs.Status.Failure = restoreFailure(res.Load)
		}
	}
	rs.Status.TotalHosts = ptr.To(int32(1))
	rs.Status.SessionDuration = r.Duration(rs)
	rs.Status.Stats = []v1beta1.HostRestoreStats{host}
	meta.SetStatusCondition(&rs.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionRestoreCompleted, Status: status, Reason: reason, Message: msg})
	if err := r.run.WriteStatus(ctx, orig, rs); err != nil {
		return err
	}
	if err := r.recordVerification(ctx, rs, ok, msg, res); err != nil {
		// The session's outcome stands; the Snapshot keeps its previous verdict.
		log.FromContext(ctx).Error(err, "verification not recorded")
	}
	if ok {
		event.RestoreSessionSucceeded.Emit(r.Recorder, rs, rs.Status.SessionDuration, msg)
	} else {
		event.RestoreSessionFailed.Emit(r.Recorder, rs, msg)
	}
	log.FromContext(ctx).Info("restore finished", "phase", rs.Status.Phase, "message", msg)
	return nil
}

// restoreFailure is the status form of where the restore engine stopped.
func restoreFailure(l *result.LoadFailure) *v1beta1.RestoreFailure {
	return &v1beta1.RestoreFailure{StatementLine: int64(l.Line), Table: l.Table, TablesCompleted: int64(l.TablesCompleted),
		LastCompleted: l.Completed, PartlyLoaded: l.PartlyLoaded}
}
