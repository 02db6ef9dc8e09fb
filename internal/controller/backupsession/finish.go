package backupsession

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/session"
)

// Fail implements sessionrun.Kind: it ends a session that could not run or did not succeed;
// extra are conditions to record with the failure.
func (r *Reconciler) Fail(ctx context.Context, bs *v1beta1.BackupSession, reason, msg string, extra ...metav1.Condition) error {
	return r.failHost(ctx, bs, reason, msg, nil, session.Stopped(reason), extra...)
}

// failHost is fail for a Job that created no snapshot, with what it reported, if anything.
// mayHaveStored says that the Job ran but cannot tell: it was stopped, or it ended without a
// result (killed, out of memory), perhaps after it stored its snapshot. extra are conditions
// to record with the failure.
func (r *Reconciler) failHost(ctx context.Context, bs *v1beta1.BackupSession, reason, msg string, res *result.Result, mayHaveStored bool, extra ...metav1.Condition) error {
	orig := bs.DeepCopy()
	for _, c := range extra {
		meta.SetStatusCondition(&bs.Status.Conditions, c)
	}
	host := ""
	if res != nil {
		host = res.Hostname
		setActionConditions(&bs.Status.Conditions, res)
	}
	bc := r.config(ctx, bs)
	if host == "" {
		host = result.DefaultHostname
		if bc.Spec.Target != nil {
			host = jobspec.Hostname(bc.Spec.Target.Alias)
		}
	}
	bs.Status.Phase = v1beta1.BackupSessionFailed
	bs.Status.SessionDuration = r.Duration(bs)
	bs.Status.Progress = nil
	bs.Status.Targets = []v1beta1.BackupTargetStatus{{
		Ref:        targetRef(bc),
		TotalHosts: ptr.To(int32(1)),
		Phase:      v1beta1.TargetBackupFailed,
		Stats:      []v1beta1.HostBackupStats{{Hostname: host, Phase: v1beta1.HostFailed, Error: msg}},
	}}
	created := metav1.Condition{Type: ConditionSnapshotCreated, Status: metav1.ConditionFalse, Reason: "NoSnapshot", Message: "no snapshot was created"}
	if mayHaveStored {
		created = metav1.Condition{Type: ConditionSnapshotCreated, Status: metav1.ConditionUnknown, Reason: "NoResult",
			Message: "the Job ended without a result: a snapshot it may have created (before retention, say) appears at the Repository's next sync (kubectl get snapshots)"}
	}
	meta.SetStatusCondition(&bs.Status.Conditions, created)
	meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: "BackupSucceeded", Status: metav1.ConditionFalse, Reason: reason, Message: msg})
	if err := r.run.WriteStatus(ctx, orig, bs); err != nil {
		return err
	}
	event.BackupSessionFailed.Emit(r.Recorder, bs, msg)
	log.FromContext(ctx).Info("backup failed", "reason", reason, "message", msg)
	return r.pruneHistory(ctx, bs)
}

func (r *Reconciler) skip(ctx context.Context, bs *v1beta1.BackupSession, msg string) error {
	orig := bs.DeepCopy()
	bs.Status.Phase = v1beta1.BackupSessionSkipped
	bs.Status.SessionDuration = r.Duration(bs)
	meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: "BackupSkipped", Status: metav1.ConditionTrue, Reason: "AnotherSessionRunning", Message: msg})
	if err := r.run.WriteStatus(ctx, orig, bs); err != nil {
		return err
	}
	event.BackupSessionSkipped.Emit(r.Recorder, bs, msg)
	return r.pruneHistory(ctx, bs)
}

// Finish implements sessionrun.Kind: it records a finished Job's outcome. A snapshot the Job created is recorded even when
// a later step (retention, check, statistics) failed: it exists, it is kept, and the session
// says so next to what failed. extra are conditions to record with the outcome (the hooks').
func (r *Reconciler) Finish(ctx context.Context, bs *v1beta1.BackupSession, out session.Outcome, extra ...metav1.Condition) error {
	res := out.Result
	if res == nil || (!out.Succeeded && len(res.Snapshots) == 0) {
		// A failed pre hook stopped the Job before the backup.
		if err := r.failHost(ctx, bs, "BackupFailed", out.Error, res, res == nil && out.FailedHook() == nil, extra...); err != nil {
			return err
		}
		if res != nil && res.Repository != nil {
			return r.updateRepository(ctx, bs, r.config(ctx, bs).Spec.Repository, res, false)
		}
		return nil
	}

	orig := bs.DeepCopy()
	for _, c := range extra {
		meta.SetStatusCondition(&bs.Status.Conditions, c)
	}
	bc := r.config(ctx, bs)
	host := v1beta1.HostBackupStats{
		Hostname: res.Hostname,
		Phase:    v1beta1.HostSucceeded,
		Duration: res.Duration,
	}
	for _, s := range res.Snapshots {
		st := v1beta1.SnapshotStats{Name: s.Name, Path: s.Path, TotalSize: s.TotalSize, Uploaded: s.Uploaded, ProcessingTime: s.ProcessingTime}
		if fs := s.FileStats; fs != nil {
			st.FileStats = v1beta1.FileStats{TotalFiles: fs.TotalFiles, NewFiles: fs.NewFiles, ModifiedFiles: fs.ModifiedFiles, UnmodifiedFiles: fs.UnmodifiedFiles}
		}
		host.Snapshots = append(host.Snapshots, st)
	}
	snapshot := res.Snapshots[0].Name
	phase, targetPhase := v1beta1.BackupSessionSucceeded, v1beta1.TargetBackupSucceeded
	succeeded := metav1.Condition{Type: "BackupSucceeded", Status: metav1.ConditionTrue, Reason: "BackupSucceeded", Message: "backup of " + res.Hostname + " succeeded"}
	if !out.Succeeded {
		phase, targetPhase = v1beta1.BackupSessionFailed, v1beta1.TargetBackupFailed
		host.Phase = v1beta1.HostFailed
		host.Error = out.Error
		succeeded = metav1.Condition{Type: "BackupSucceeded", Status: metav1.ConditionFalse, Reason: "PostBackupActionFailed", Message: out.Error}
	}
	bs.Status.Phase = phase
	bs.Status.SessionDuration = r.Duration(bs)
	bs.Status.Progress = nil
	bs.Status.Targets = []v1beta1.BackupTargetStatus{{
		Ref:               targetRef(bc),
		TotalHosts:        ptr.To(int32(1)),
		Phase:             targetPhase,
		Stats:             []v1beta1.HostBackupStats{host},
		PreBackupActions:  res.PreActions,
		PostBackupActions: res.PostActions,
	}}
	setActionConditions(&bs.Status.Conditions, res)
	meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: ConditionSnapshotCreated, Status: metav1.ConditionTrue, Reason: "SnapshotCreated",
		Message: fmt.Sprintf("snapshot %s (%s) was created", snapshot, res.Snapshots[0].TotalSize)})
	meta.SetStatusCondition(&bs.Status.Conditions, succeeded)
	if err := r.run.WriteStatus(ctx, orig, bs); err != nil {
		return err
	}
	if out.Succeeded {
		event.BackupSessionSucceeded.Emit(r.Recorder, bs, bs.Status.SessionDuration, snapshot)
		log.FromContext(ctx).Info("backup succeeded", "snapshot", snapshot)
	} else {
		event.BackupSessionFailed.Emit(r.Recorder, bs, out.Error)
		log.FromContext(ctx).Info("backup failed after its snapshot was created", "snapshot", snapshot, "message", out.Error)
	}
	if slices.Contains(res.PreActions, result.ActionInitializeRepository) {
		event.RepositoryInitialized.Emit(r.Recorder, bs, bc.Spec.Repository.Name)
	}
	if slices.Contains(res.PostActions, result.ActionApplyRetention) {
		removed := int64(0)
		if res.Repository != nil {
			removed = res.Repository.SnapshotsRemoved
		}
		event.RetentionApplied.Emit(r.Recorder, bs, bc.Spec.RetentionPolicy.Name, removed)
	}
	if err := r.updateRepository(ctx, bs, bc.Spec.Repository, res, out.Succeeded); err != nil {
		return err
	}
	if err := r.recordSnapshots(ctx, bs, bc.Spec.Repository, res); err != nil {
		return err
	}
	return r.pruneHistory(ctx, bs)
}

// ConditionSnapshotCreated says whether the session's snapshot exists, independently of the
// steps after it.
const ConditionSnapshotCreated = "SnapshotCreated"

// actionConditions are the condition types of the actions around a backup.
var actionConditions = map[string]string{
	result.ActionInitializeRepository: v1beta1.ConditionBackendRepositoryInitialized,
	result.ActionApplyRetention:       v1beta1.ConditionRetentionPolicyApplied,
	result.ActionVerifyIntegrity:      v1beta1.ConditionRepositoryIntegrityVerified,
	result.ActionSendMetrics:          v1beta1.ConditionRepositoryMetricsPushed,
}

func setActionConditions(conds *[]metav1.Condition, res *result.Result) {
	set := func(t string, ok bool, reason, msg string) {
		status := metav1.ConditionTrue
		if !ok {
			status = metav1.ConditionFalse
		}
		meta.SetStatusCondition(conds, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg})
	}
	if slices.Contains(res.PreActions, result.ActionInitializeRepository) {
		set(v1beta1.ConditionBackendRepositoryInitialized, true, "RepositoryInitialized", "the restic repository was initialised by this session")
	}
	if slices.Contains(res.PostActions, result.ActionApplyRetention) {
		msg := "retention policy applied"
		if res.Repository != nil {
			msg = fmt.Sprintf("retention policy applied: %d snapshot(s) removed", res.Repository.SnapshotsRemoved)
		}
		set(v1beta1.ConditionRetentionPolicyApplied, true, "RetentionPolicyApplied", msg)
	}
	if slices.Contains(res.PostActions, result.ActionVerifyIntegrity) {
		ok := res.Repository != nil && res.Repository.Integrity != nil && *res.Repository.Integrity
		msg := "restic check passed"
		if !ok {
			msg = "restic check found problems in the repository"
		}
		set(v1beta1.ConditionRepositoryIntegrityVerified, ok, map[bool]string{true: "IntegrityVerified", false: "IntegrityCheckFailed"}[ok], msg)
	}
	if slices.Contains(res.PostActions, result.ActionSendMetrics) {
		set(v1beta1.ConditionRepositoryMetricsPushed, true, "RepositoryMetricsRead", "repository size and snapshot count recorded")
	}
	for _, f := range res.FailedActions {
		if t, ok := actionConditions[f.Action]; ok {
			set(t, false, f.Action+"Failed", f.Error)
		}
	}
}

// config is the session's BackupConfiguration; when it is gone, an empty one whose fields
// read as unset.
func (r *Reconciler) config(ctx context.Context, bs *v1beta1.BackupSession) *v1beta1.BackupConfiguration {
	bc := &v1beta1.BackupConfiguration{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: bs.Namespace, Name: bs.Spec.Invoker.Name}, bc); err != nil {
		return &v1beta1.BackupConfiguration{}
	}
	return bc
}

func targetRef(bc *v1beta1.BackupConfiguration) v1beta1.TargetRef {
	if bc.Spec.Target != nil {
		return bc.Spec.Target.Ref
	}
	return v1beta1.TargetRef{}
}

// updateRepository copies what the Job saw of the repository into the Repository's status:
// backup times when it created a snapshot, the last successful one when it fully succeeded.
// The Repository may be in another namespace (spec.repository.namespace).
func (r *Reconciler) updateRepository(ctx context.Context, bs *v1beta1.BackupSession, ref v1beta1.RepositoryRef, res *result.Result, succeeded bool) error {
	if ref.Name == "" {
		return nil
	}
	key := ref.Key(bs.Namespace)
	now := metav1.NewTime(r.Now().Truncate(time.Second))
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		repo := &v1alpha1.Repository{}
		if err := r.Client.Get(ctx, key, repo); err != nil {
			return client.IgnoreNotFound(err)
		}
		// A Repository of another namespace is written only while it allows the session's:
		// the configuration may have been pointed elsewhere since the session started.
		if allowed, err := dependency.AllowedNow(ctx, r.Client, repo, bs.Namespace); err != nil || !allowed {
			return err
		}
		orig := repo.DeepCopy()
		st := &repo.Status
		st.ObservedGeneration = repo.Generation
		// A snapshot that exists is a backup, even when a step after it failed.
		if len(res.Snapshots) > 0 {
			if st.FirstBackupTime == nil {
				st.FirstBackupTime = &now
			}
			st.LastBackupTime = &now
		}
		if succeeded {
			// Deprecated fields stay filled: upstream dashboards still read them.
			st.LastSuccessfulBackupTime = &now                //nolint:staticcheck
			st.LastBackupDuration = bs.Status.SessionDuration //nolint:staticcheck
		}
		if rs := res.Repository; rs != nil {
			if rs.Integrity != nil {
				st.Integrity = ptr.To(*rs.Integrity)
			}
			if rs.TotalSize != "" {
				st.TotalSize = rs.TotalSize
			}
			st.SnapshotCount = rs.SnapshotCount
			st.BackupCount = rs.SnapshotCount //nolint:staticcheck // deprecated, still read by upstream dashboards
			st.SnapshotsRemovedOnLastCleanup = rs.SnapshotsRemoved
		}
		if err := r.Client.Status().Patch(ctx, repo, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		return nil
	})
}
