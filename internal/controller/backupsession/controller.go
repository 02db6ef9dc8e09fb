// Package backupsession reconciles BackupSessions: it turns each new session into a backup
// Job, follows the Job to its end, and records the outcome on the session and its Repository.
// All state lives in the API (the session's phase, the Job, the pod status), so an operator
// restarted mid-backup picks up where it left off.
package backupsession

import (
	"context"
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/sessionrun"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/schedule"
	"github.com/hoard-operator/hoard/internal/session"
)

// Reconciler reconciles BackupSessions: the session runner (package sessionrun) with what a
// backup adds, its configuration, its skip rule and its status.
type Reconciler struct {
	sessionrun.Env

	run *sessionrun.Runner[v1beta1.BackupSession, *v1beta1.BackupSession]
}

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// Sessions: read through the cache (and listed directly for the skip decision), labelled
// with their repository while they wait (patch), pruned past backupHistoryLimit (delete).
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupsessions,verbs=get;list;watch;delete;patch
// The runner and Finish patch the status; nothing updates it whole.
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
	r.run = &sessionrun.Runner[v1beta1.BackupSession, *v1beta1.BackupSession]{Env: &r.Env, Kind: r}
	return r.run.SetupWithManager(mgr, "backupsession", &v1beta1.BackupSessionList{})
}

// Desc implements sessionrun.Kind.
func (r *Reconciler) Desc() sessionrun.Desc {
	return sessionrun.Desc{
		Job: jobspec.KindBackup, Object: "BackupSession", Started: event.BackupSessionStarted, JobCreated: "BackupJobCreated",
		PreHook: hook.PreBackup, PostHook: hook.PostBackup,
		PreHookCondition: v1beta1.ConditionGlobalPreBackupHookSucceeded, PostHookCondition: v1beta1.ConditionGlobalPostBackupHookSucceeded,
	}
}

// Stage implements sessionrun.Kind.
func (r *Reconciler) Stage(bs *v1beta1.BackupSession) sessionrun.Stage {
	switch bs.Status.Phase {
	case v1beta1.BackupSessionSucceeded, v1beta1.BackupSessionFailed, v1beta1.BackupSessionSkipped:
		return sessionrun.Finished
	case v1beta1.BackupSessionRunning, v1beta1.BackupSessionUnknown:
		return sessionrun.Running
	}
	return sessionrun.Waiting
}

// Status implements sessionrun.Kind.
func (r *Reconciler) Status(bs *v1beta1.BackupSession) any { return bs.Status }

// Conditions implements sessionrun.Kind.
func (r *Reconciler) Conditions(bs *v1beta1.BackupSession) *[]metav1.Condition {
	return &bs.Status.Conditions
}

// Done implements sessionrun.Kind: a finished session prunes the configuration's history.
func (r *Reconciler) Done(ctx context.Context, bs *v1beta1.BackupSession) error {
	return r.pruneHistory(ctx, bs)
}

// Plan implements sessionrun.Kind: the BackupConfiguration says what to back up, and a
// session whose configuration already has one running or ahead of it is skipped.
func (r *Reconciler) Plan(ctx context.Context, bs *v1beta1.BackupSession) (*sessionrun.Plan, error) {
	inv := bs.Spec.Invoker
	if inv.Kind != "BackupConfiguration" {
		return nil, sessionrun.Refuse("InvokerUnsupported", fmt.Sprintf("invoker kind %q is not supported: use BackupConfiguration", inv.Kind))
	}
	bc := &v1beta1.BackupConfiguration{}
	// A configuration created a moment ago may not be in the cache yet.
	if err := r.Readers().Get(ctx, client.ObjectKey{Namespace: bs.Namespace, Name: inv.Name}, bc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, sessionrun.Refuse("InvokerNotFound", fmt.Sprintf("BackupConfiguration %s/%s not found", bs.Namespace, inv.Name))
		}
		return nil, fmt.Errorf("failed to get BackupConfiguration %s/%s: %w", bs.Namespace, inv.Name, err)
	}
	if bc.Spec.Driver == v1beta1.VolumeSnapshotter {
		return nil, sessionrun.Refuse("DriverUnsupported", "driver VolumeSnapshotter is not supported: Hoard backs up with the Restic driver")
	}
	// Skip, not queue: a schedule that fires while the configuration's previous backup still
	// runs (or waits) gets no second one behind it. Restores have no such rule.
	if other, err := r.runningSibling(ctx, bs); err != nil {
		return nil, err
	} else if other != "" {
		return nil, r.skip(ctx, bs, fmt.Sprintf("BackupSession %s of BackupConfiguration %s is still running or waiting to run", other, inv.Name))
	}
	timeout, err := r.SessionTimeout(bc.Spec.TimeOut, "BackupConfiguration "+bc.Name)
	if err != nil {
		return nil, sessionrun.Refuse("InvalidTimeOut", err.Error())
	}
	target := jobspec.Target{}
	if t := bc.Spec.Target; t != nil {
		target = jobspec.Target{Alias: t.Alias, Ref: t.Ref, Paths: t.Paths, VolumeMounts: t.VolumeMounts, Args: t.Args}
	}
	return &sessionrun.Plan{
		Timeout: timeout,
		Request: session.Request{
			Kind:        jobspec.KindBackup,
			Namespace:   bs.Namespace,
			SessionName: bs.Name,
			Invoker:     jobspec.Invoker{Kind: inv.Kind, Name: inv.Name},
			TaskRef:     bc.Spec.Task,
			Repository:  bc.Spec.Repository,
			Target:      target,
		},
		Configure: func(in *jobspec.Input) {
			in.RetentionPolicy = bc.Spec.RetentionPolicy
			// A schedule that never fires (or none) has no interval: 0.
			in.ScheduleInterval, _ = schedule.Interval(bc.Spec.Schedule)
			in.RuntimeSettings = bc.Spec.RuntimeSettings
			in.TempDir = bc.Spec.TempDir
			in.InterimVolume = bc.Spec.InterimVolumeTemplate
		},
		Hooks: hooks(bs, bc),
	}, nil
}

// hooks are the configuration's hooks, run for the session.
func hooks(bs *v1beta1.BackupSession, bc *v1beta1.BackupConfiguration) sessionrun.Hooks {
	h := sessionrun.Hooks{Target: targetRef(bc), Invoker: hook.Ref{Kind: bs.Spec.Invoker.Kind, Name: bs.Spec.Invoker.Name}}
	if bc.Spec.Hooks != nil {
		h.Pre, h.Post = bc.Spec.Hooks.PreBackup, bc.Spec.Hooks.PostBackup
	}
	return h
}

// Follow implements sessionrun.Kind: the configuration as it is now.
func (r *Reconciler) Follow(ctx context.Context, bs *v1beta1.BackupSession) (time.Duration, sessionrun.Hooks) {
	timeout := r.Timeout
	bc := &v1beta1.BackupConfiguration{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: bs.Namespace, Name: bs.Spec.Invoker.Name}, bc); err == nil {
		if t, err := r.SessionTimeout(bc.Spec.TimeOut, "BackupConfiguration "+bc.Name); err == nil {
			timeout = t
		}
	}
	return timeout, hooks(bs, bc)
}

// MarkPending implements sessionrun.Kind.
func (r *Reconciler) MarkPending(bs *v1beta1.BackupSession) {
	bs.Status.Phase = v1beta1.BackupSessionPending
}

// MarkRunning implements sessionrun.Kind.
func (r *Reconciler) MarkRunning(bs *v1beta1.BackupSession, p *sessionrun.Plan) {
	bs.Status.Phase = v1beta1.BackupSessionRunning
	bs.Status.Targets = []v1beta1.BackupTargetStatus{{
		Ref:        p.Request.Target.Ref,
		TotalHosts: ptr.To(int32(1)),
		Phase:      v1beta1.TargetBackupRunning,
	}}
	for _, c := range []string{v1beta1.ConditionRepositoryFound, v1beta1.ConditionBackendSecretFound, v1beta1.ConditionBackupTargetFound} {
		meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: "Found", Message: "found when the session started"})
	}
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

// newerRecord orders finished sessions for the history, newest first: the one that finished
// last (a backup that ran while a later session was skipped keeps its record), then by
// creation time (times have whole seconds), then by name.
func newerRecord(a, b *v1beta1.BackupSession) bool {
	if fa, fb := finishedAt(a), finishedAt(b); !fa.Equal(fb) {
		return fb.Before(fa)
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return a.Name > b.Name
}

// finishedAt is the latest transition among a session's conditions: when it finished, for a
// finished one.
func finishedAt(s *v1beta1.BackupSession) time.Time {
	var t time.Time
	for _, c := range s.Status.Conditions {
		if c.LastTransitionTime.After(t) {
			t = c.LastTransitionTime.Time
		}
	}
	return t
}

func olderThan(a, b *v1beta1.BackupSession) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// ReportProgress implements sessionrun.Progresser: the running backup's progress line.
func (r *Reconciler) ReportProgress(ctx context.Context, bs *v1beta1.BackupSession, job *batchv1.Job) error {
	p, err := r.LatestProgress(ctx, job)
	if err != nil || p == nil {
		return err
	}
	orig := bs.DeepCopy()
	prog := &v1beta1.BackupProgress{BytesDone: p.BytesDone, TotalBytes: p.TotalBytes, Percent: sessionrun.Percent(p), LastUpdateTime: ptr.To(metav1.NewTime(r.Now()))}
	if old := bs.Status.Progress; old != nil && old.BytesDone == prog.BytesDone && old.TotalBytes == prog.TotalBytes {
		return nil
	}
	bs.Status.Progress = prog
	return r.run.WriteStatus(ctx, orig, bs)
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
	// Newest first, in one order whichever session is being reconciled: a finished session
	// reconciled again (any event on it) once counted itself the newest, and two such
	// reconciles at once pruned each other's session, the result the user waits for included.
	sort.Slice(finished, func(i, j int) bool { return newerRecord(finished[i], finished[j]) })
	for _, s := range finished[limit:] {
		if err := r.Client.Delete(ctx, s, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("failed to delete old BackupSession %s/%s: %w", s.Namespace, s.Name, err)
		}
		log.FromContext(ctx).Info("pruned old BackupSession", "name", s.Name, "limit", limit)
	}
	return nil
}
