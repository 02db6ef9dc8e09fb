package backupsession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/hookjob"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/session"
)

// summary is what the session's hooks see in their templates.
func (r *Reconciler) summary(bs *v1beta1.BackupSession, bc *v1beta1.BackupConfiguration, phase, errMsg string) hook.Summary {
	t := targetRef(bc)
	return hook.Summary{
		Name: bs.Name, Namespace: bs.Namespace,
		Invoker: hook.Ref{Kind: bs.Spec.Invoker.Kind, Name: bs.Spec.Invoker.Name},
		Target:  hook.Ref{APIVersion: t.APIVersion, Kind: t.Kind, Name: t.Name},
		Status:  hook.Status{Phase: phase, Duration: r.duration(bs), Error: errMsg},
	}
}

func hasExec(h *v1beta1.BackupHooks) bool {
	return h != nil && ((h.PreBackup != nil && h.PreBackup.Exec != nil) || (h.PostBackup != nil && h.PostBackup.Exec != nil))
}

// addPreHook makes the preBackup hook the first step of the session's Job, with the session's
// hook identity when it (or postBackup) runs a command in the target. A hook that cannot run
// against the target is a *hookjob.TargetError.
func (r *Reconciler) addPreHook(ctx context.Context, bs *v1beta1.BackupSession, bc *v1beta1.BackupConfiguration, job *batchv1.Job) error {
	h := bc.Spec.Hooks
	if h == nil || h.PreBackup == nil {
		return nil
	}
	w, err := hookjob.Resolve(ctx, r.Client, bs.Namespace, hook.PreBackup, *h.PreBackup, targetRef(bc))
	if err != nil {
		return err
	}
	identity := ""
	if hasExec(h) {
		if identity, err = hookjob.EnsureIdentity(ctx, r.Client, r.Scheme, bs, jobspec.KindBackup); err != nil {
			return err
		}
	}
	return hookjob.AddPreHook(job, r.OperatorImage, hook.PreBackup, w, r.summary(bs, bc, string(v1beta1.BackupSessionRunning), ""), identity, r.hookTimeout())
}

func (r *Reconciler) hookTimeout() time.Duration {
	if r.HookTimeout > 0 {
		return r.HookTimeout
	}
	return hook.DefaultTimeout
}

// followPost follows a post-hook Job that exists: done is true when the session was
// concluded (or waits for it), false when the session has no post-hook Job.
func (r *Reconciler) followPost(ctx context.Context, bs *v1beta1.BackupSession, bc *v1beta1.BackupConfiguration) (ctrl.Result, bool, error) {
	if bc.Spec.Hooks == nil || bc.Spec.Hooks.PostBackup == nil {
		return ctrl.Result{}, false, nil
	}
	st, err := hookjob.ReadPost(ctx, r.APIReader, bs, jobspec.KindBackup, hook.PostBackup)
	if err != nil || !st.Exists {
		return ctrl.Result{}, false, err
	}
	if st.Hook == nil {
		return ctrl.Result{RequeueAfter: r.PollInterval}, true, nil
	}
	// The hook's output may quote what the target's pod holds: scrubbed with the credentials
	// of the session's Job (the target's password), which stay until the session is recorded.
	job := &batchv1.Job{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: bs.Namespace, Name: jobspec.JobName(jobspec.KindBackup, bs.Name)}, job); err == nil {
		sc, err := session.JobScrubber(ctx, r.APIReader, job)
		if err != nil {
			return ctrl.Result{}, true, err
		}
		st.Hook.Scrub(sc)
	} else if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, true, fmt.Errorf("failed to get the session's Job: %w", err)
	}
	var out session.Outcome
	if err := json.Unmarshal(st.Outcome, &out); err != nil {
		out = session.Outcome{Finished: true, Error: "the outcome kept on the postBackup hook's Job cannot be read: " + err.Error()}
	}
	return ctrl.Result{}, true, r.conclude(ctx, bs, out, st.Hook)
}

// startPost starts the postBackup hook when its policy says so; started is false when it
// does not run. A hook that cannot run is concluded at once as failed.
func (r *Reconciler) startPost(ctx context.Context, bs *v1beta1.BackupSession, bc *v1beta1.BackupConfiguration, out session.Outcome) (started bool, err error) {
	h := bc.Spec.Hooks
	if h == nil || h.PostBackup == nil || !h.PostBackup.ExecutionPolicy.Runs(out.Succeeded) {
		return false, nil
	}
	refuse := func(err error) (bool, error) {
		var te *hookjob.TargetError
		if !errors.As(err, &te) {
			return false, err
		}
		return true, r.conclude(ctx, bs, out, &result.Hook{Name: hook.PostBackup, Action: hook.Action(&h.PostBackup.Handler), Phase: result.PhaseFailed, Error: te.Msg})
	}
	w, err := hookjob.Resolve(ctx, r.Client, bs.Namespace, hook.PostBackup, h.PostBackup.Handler, targetRef(bc))
	if err != nil {
		return refuse(err)
	}
	identity := ""
	if w.Handler.Exec != nil {
		if identity, err = hookjob.EnsureIdentity(ctx, r.Client, r.Scheme, bs, jobspec.KindBackup); err != nil {
			return refuse(err)
		}
	}
	phase := v1beta1.BackupSessionSucceeded
	if !out.Succeeded {
		phase = v1beta1.BackupSessionFailed
	}
	err = hookjob.CreatePostJob(ctx, r.Client, r.Scheme, hookjob.Post{
		Kind: jobspec.KindBackup, Owner: bs, Image: r.OperatorImage, Name: hook.PostBackup, Where: w,
		Summary: r.summary(bs, bc, string(phase), out.Error), Identity: identity, Timeout: r.hookTimeout(), Outcome: out,
	})
	if err != nil {
		return refuse(err)
	}
	orig := bs.DeepCopy()
	meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionGlobalPostBackupHookSucceeded, Status: metav1.ConditionUnknown,
		Reason: "HookRunning", Message: fmt.Sprintf("the postBackup hook runs in Job %s (the backup %s)", hookjob.Name(jobspec.KindBackup, bs.Name), map[bool]string{true: "succeeded", false: "failed"}[out.Succeeded])})
	return true, r.writeStatus(ctx, orig, bs)
}

// conclude records the session's outcome with the hooks that ran, in one status write, then
// removes the session's credentials and hook identity.
func (r *Reconciler) conclude(ctx context.Context, bs *v1beta1.BackupSession, out session.Outcome, post *result.Hook) error {
	hooks := append([]result.Hook(nil), out.Hooks...)
	if post != nil {
		hooks = append(hooks, *post)
	}
	conds := hookConditions(hooks)
	var err error
	if out.StopReason != "" {
		err = r.fail(ctx, bs, out.StopReason, out.Error, conds...)
	} else {
		err = r.finish(ctx, bs, out, conds...)
	}
	if err != nil {
		return err
	}
	for i := range hooks {
		msg := event.Shorten(hooks[i].Describe())
		if hooks[i].Succeeded() {
			event.HookSucceeded.Emit(r.Recorder, bs, msg)
		} else {
			event.HookFailed.Emit(r.Recorder, bs, msg)
		}
	}
	if err := session.DeleteSessionSecrets(ctx, r.Client, bs, jobspec.JobName(jobspec.KindBackup, bs.Name)); err != nil {
		return err
	}
	if !hasExec(r.config(ctx, bs).Spec.Hooks) {
		return nil
	}
	return hookjob.DeleteIdentity(ctx, r.Client, r.APIReader, bs, jobspec.KindBackup)
}

// hookConditions are upstream's conditions of the hooks that ran
// (GlobalPreBackupHookSucceeded, GlobalPostBackupHookSucceeded), each with the hook's outcome. A
// failed post hook does not change the session's phase.
func hookConditions(hooks []result.Hook) []metav1.Condition {
	var conds []metav1.Condition
	for i := range hooks {
		h := &hooks[i]
		typ := v1beta1.ConditionGlobalPreBackupHookSucceeded
		if h.Name == hook.PostBackup {
			typ = v1beta1.ConditionGlobalPostBackupHookSucceeded
		}
		c := metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "HookSucceeded", Message: h.Describe()}
		if !h.Succeeded() {
			c.Status, c.Reason = metav1.ConditionFalse, "HookFailed"
		}
		conds = append(conds, c)
	}
	return conds
}
