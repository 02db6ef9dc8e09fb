package restoresession

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
func (r *Reconciler) summary(rs *v1beta1.RestoreSession, phase, errMsg string) hook.Summary {
	t := targetRef(rs)
	return hook.Summary{
		Name: rs.Name, Namespace: rs.Namespace,
		Invoker: hook.Ref{Kind: "RestoreSession", Name: rs.Name},
		Target:  hook.Ref{APIVersion: t.APIVersion, Kind: t.Kind, Name: t.Name},
		Status:  hook.Status{Phase: phase, Duration: result.FormatDuration(r.Now().Sub(rs.CreationTimestamp.Time)), Error: errMsg},
	}
}

func targetRef(rs *v1beta1.RestoreSession) v1beta1.TargetRef {
	if rs.Spec.Target != nil {
		return rs.Spec.Target.Ref
	}
	return v1beta1.TargetRef{}
}

func hasExec(h *v1beta1.RestoreHooks) bool {
	return h != nil && ((h.PreRestore != nil && h.PreRestore.Exec != nil) || (h.PostRestore != nil && h.PostRestore.Exec != nil))
}

// addPreHook makes the preRestore hook the first step of the session's Job, with the session's
// hook identity when it (or postRestore) runs a command in the target. A hook that cannot run
// against the target is a *hookjob.TargetError.
func (r *Reconciler) addPreHook(ctx context.Context, rs *v1beta1.RestoreSession, job *batchv1.Job) error {
	h := rs.Spec.Hooks
	if h == nil || h.PreRestore == nil {
		return nil
	}
	w, err := hookjob.Resolve(ctx, r.Client, rs.Namespace, hook.PreRestore, *h.PreRestore, targetRef(rs))
	if err != nil {
		return err
	}
	identity := ""
	if hasExec(h) {
		if identity, err = hookjob.EnsureIdentity(ctx, r.Client, r.Scheme, rs, jobspec.KindRestore); err != nil {
			return err
		}
	}
	return hookjob.AddPreHook(job, r.OperatorImage, hook.PreRestore, w, r.summary(rs, string(v1beta1.RestoreRunning), ""), identity, r.hookTimeout())
}

func (r *Reconciler) hookTimeout() time.Duration {
	if r.HookTimeout > 0 {
		return r.HookTimeout
	}
	return hook.DefaultTimeout
}

// followPost follows a post-hook Job that exists: done is true when the session was
// concluded (or waits for it), false when the session has no post-hook Job.
func (r *Reconciler) followPost(ctx context.Context, rs *v1beta1.RestoreSession) (ctrl.Result, bool, error) {
	if rs.Spec.Hooks == nil || rs.Spec.Hooks.PostRestore == nil {
		return ctrl.Result{}, false, nil
	}
	st, err := hookjob.ReadPost(ctx, r.APIReader, rs, jobspec.KindRestore, hook.PostRestore)
	if err != nil || !st.Exists {
		return ctrl.Result{}, false, err
	}
	if st.Hook == nil {
		return ctrl.Result{RequeueAfter: r.PollInterval}, true, nil
	}
	// The hook's output may quote what the target's pod holds: scrubbed with the credentials
	// of the session's Job (the target's password), which stay until the session is recorded.
	job := &batchv1.Job{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: jobspec.JobName(jobspec.KindRestore, rs.Name)}, job); err == nil {
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
		out = session.Outcome{Finished: true, Error: "the outcome kept on the postRestore hook's Job cannot be read: " + err.Error()}
	}
	return ctrl.Result{}, true, r.conclude(ctx, rs, out, st.Hook)
}

// startPost starts the postRestore hook when its policy says so; started is false when it
// does not run. A hook that cannot run is concluded at once as failed.
func (r *Reconciler) startPost(ctx context.Context, rs *v1beta1.RestoreSession, out session.Outcome) (started bool, err error) {
	h := rs.Spec.Hooks
	if h == nil || h.PostRestore == nil || !h.PostRestore.ExecutionPolicy.Runs(out.Succeeded) {
		return false, nil
	}
	refuse := func(err error) (bool, error) {
		var te *hookjob.TargetError
		if !errors.As(err, &te) {
			return false, err
		}
		return true, r.conclude(ctx, rs, out, &result.Hook{Name: hook.PostRestore, Action: hook.Action(&h.PostRestore.Handler), Phase: result.PhaseFailed, Error: te.Msg})
	}
	w, err := hookjob.Resolve(ctx, r.Client, rs.Namespace, hook.PostRestore, h.PostRestore.Handler, targetRef(rs))
	if err != nil {
		return refuse(err)
	}
	identity := ""
	if w.Handler.Exec != nil {
		if identity, err = hookjob.EnsureIdentity(ctx, r.Client, r.Scheme, rs, jobspec.KindRestore); err != nil {
			return refuse(err)
		}
	}
	phase := v1beta1.RestoreSucceeded
	if !out.Succeeded {
		phase = v1beta1.RestoreFailed
	}
	err = hookjob.CreatePostJob(ctx, r.Client, r.Scheme, hookjob.Post{
		Kind: jobspec.KindRestore, Owner: rs, Image: r.OperatorImage, Name: hook.PostRestore, Where: w,
		Summary: r.summary(rs, string(phase), out.Error), Identity: identity, Timeout: r.hookTimeout(), Outcome: out,
	})
	if err != nil {
		return refuse(err)
	}
	orig := rs.DeepCopy()
	meta.SetStatusCondition(&rs.Status.Conditions, metav1.Condition{Type: v1beta1.ConditionGlobalPostRestoreHookSucceeded, Status: metav1.ConditionUnknown,
		Reason: "HookRunning", Message: fmt.Sprintf("the postRestore hook runs in Job %s (the restore %s)", hookjob.Name(jobspec.KindRestore, rs.Name), map[bool]string{true: "succeeded", false: "failed"}[out.Succeeded])})
	return true, r.writeStatus(ctx, orig, rs)
}

// conclude records the session's outcome with the hooks that ran, in one status write, then
// removes the session's credentials and hook identity.
func (r *Reconciler) conclude(ctx context.Context, rs *v1beta1.RestoreSession, out session.Outcome, post *result.Hook) error {
	hooks := append([]result.Hook(nil), out.Hooks...)
	if post != nil {
		hooks = append(hooks, *post)
	}
	conds := hookConditions(hooks)
	var err error
	if out.StopReason != "" {
		err = r.fail(ctx, rs, out.StopReason, out.Error, conds...)
	} else {
		err = r.finish(ctx, rs, out, conds...)
	}
	if err != nil {
		return err
	}
	for i := range hooks {
		msg := event.Shorten(hooks[i].Describe())
		if hooks[i].Succeeded() {
			event.HookSucceeded.Emit(r.Recorder, rs, msg)
		} else {
			event.HookFailed.Emit(r.Recorder, rs, msg)
		}
	}
	if err := session.DeleteSessionSecrets(ctx, r.Client, rs, jobspec.JobName(jobspec.KindRestore, rs.Name)); err != nil {
		return err
	}
	if !hasExec(rs.Spec.Hooks) {
		return nil
	}
	return hookjob.DeleteIdentity(ctx, r.Client, r.APIReader, rs, jobspec.KindRestore)
}

// hookConditions are upstream's conditions of the hooks that ran
// (GlobalPreRestoreHookSucceeded, GlobalPostRestoreHookSucceeded), each with the hook's outcome. A
// failed post hook does not change the session's phase.
func hookConditions(hooks []result.Hook) []metav1.Condition {
	var conds []metav1.Condition
	for i := range hooks {
		h := &hooks[i]
		typ := v1beta1.ConditionGlobalPreRestoreHookSucceeded
		if h.Name == hook.PostRestore {
			typ = v1beta1.ConditionGlobalPostRestoreHookSucceeded
		}
		c := metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "HookSucceeded", Message: h.Describe()}
		if !h.Succeeded() {
			c.Status, c.Reason = metav1.ConditionFalse, "HookFailed"
		}
		conds = append(conds, c)
	}
	return conds
}
