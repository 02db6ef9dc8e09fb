package sessionrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/hookjob"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/scrub"
	"github.com/hoard-operator/hoard/internal/session"
)

// The phases the hooks' summary names; every session kind calls them so.
const (
	phaseRunning   = "Running"
	phaseSucceeded = "Succeeded"
	phaseFailed    = "Failed"
)

// summary is what the session's hooks see in their templates.
func (r *Runner[T, S]) summary(s S, h Hooks, phase, errMsg string) hook.Summary {
	return hook.Summary{
		Name: s.GetName(), Namespace: s.GetNamespace(),
		Invoker: h.Invoker,
		Target:  hook.Ref{APIVersion: h.Target.APIVersion, Kind: h.Target.Kind, Name: h.Target.Name},
		Status:  hook.Status{Phase: phase, Duration: r.Duration(s), Error: errMsg},
	}
}

func (r *Runner[T, S]) hookTimeout() time.Duration {
	if r.HookTimeout > 0 {
		return r.HookTimeout
	}
	return hook.DefaultTimeout
}

// addPreHook makes the pre hook the first step of the session's Job, with the session's hook
// identity when it (or the post hook) runs a command in the target. A hook that cannot run
// against the target is a *hookjob.TargetError.
func (r *Runner[T, S]) addPreHook(ctx context.Context, s S, h Hooks, job *batchv1.Job) error {
	if h.Pre == nil {
		return nil
	}
	d := r.Kind.Desc()
	w, err := hookjob.Resolve(ctx, r.Client, s.GetNamespace(), d.PreHook, *h.Pre, h.Target)
	if err != nil {
		return err
	}
	identity := ""
	if h.hasExec() {
		if identity, err = hookjob.EnsureIdentity(ctx, r.Client, r.Scheme, s, d.Job); err != nil {
			return err
		}
	}
	return hookjob.AddPreHook(job, r.OperatorImage, d.PreHook, w, r.summary(s, h, phaseRunning, ""), identity, r.hookTimeout())
}

// followPost follows a post-hook Job that exists: done is true when the session was
// concluded (or waits for it), false when the session has no post-hook Job.
func (r *Runner[T, S]) followPost(ctx context.Context, s S, h Hooks) (ctrl.Result, bool, error) {
	if h.Post == nil {
		return ctrl.Result{}, false, nil
	}
	d := r.Kind.Desc()
	st, err := hookjob.ReadPost(ctx, r.APIReader, s, d.Job, d.PostHook)
	if err != nil || !st.Exists {
		return ctrl.Result{}, false, err
	}
	if st.Hook == nil {
		return ctrl.Result{RequeueAfter: r.PollInterval}, true, nil
	}
	// The hook's output may quote what the target's pod holds: scrubbed with the credentials
	// of the session's Job (the target's password), which stay until the session is recorded.
	// A Job that is gone (deleted, or timed out) leaves the copies made for it.
	jobName := jobspec.JobName(d.Job, s.GetName())
	job := &batchv1.Job{}
	var sc *scrub.Scrubber
	switch err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: s.GetNamespace(), Name: jobName}, job); {
	case err == nil:
		sc, err = session.JobScrubber(ctx, r.APIReader, job)
		if err != nil {
			return ctrl.Result{}, true, err
		}
	case apierrors.IsNotFound(err):
		if sc, err = session.CopiesScrubber(ctx, r.APIReader, s.GetNamespace(), jobName); err != nil {
			return ctrl.Result{}, true, err
		}
	default:
		return ctrl.Result{}, true, fmt.Errorf("failed to get the session's Job: %w", err)
	}
	st.Hook.Scrub(sc)
	var out session.Outcome
	if err := json.Unmarshal(st.Outcome, &out); err != nil {
		out = session.Outcome{Finished: true, Error: "the outcome kept on the " + d.PostHook + " hook's Job cannot be read: " + err.Error()}
	}
	return ctrl.Result{}, true, r.conclude(ctx, s, h, out, st.Hook)
}

// startPost starts the post hook when its policy says so; started is false when it does not
// run. A hook that cannot run is concluded at once as failed.
func (r *Runner[T, S]) startPost(ctx context.Context, s S, h Hooks, out session.Outcome) (started bool, err error) {
	if h.Post == nil || !h.Post.ExecutionPolicy.Runs(out.Succeeded) {
		return false, nil
	}
	d := r.Kind.Desc()
	refuse := func(err error) (bool, error) {
		var te *hookjob.TargetError
		if !errors.As(err, &te) {
			return false, err
		}
		return true, r.conclude(ctx, s, h, out, &result.Hook{Name: d.PostHook, Action: hook.Action(&h.Post.Handler), Phase: result.PhaseFailed, Error: te.Msg})
	}
	w, err := hookjob.Resolve(ctx, r.Client, s.GetNamespace(), d.PostHook, h.Post.Handler, h.Target)
	if err != nil {
		return refuse(err)
	}
	identity := ""
	if w.Handler.Exec != nil {
		if identity, err = hookjob.EnsureIdentity(ctx, r.Client, r.Scheme, s, d.Job); err != nil {
			return refuse(err)
		}
	}
	phase := phaseSucceeded
	if !out.Succeeded {
		phase = phaseFailed
	}
	err = hookjob.CreatePostJob(ctx, r.Client, r.Scheme, hookjob.Post{
		Kind: d.Job, Owner: s, Image: r.OperatorImage, Name: d.PostHook, Where: w,
		Summary: r.summary(s, h, phase, out.Error), Identity: identity, Timeout: r.hookTimeout(), Outcome: out,
	})
	if err != nil {
		return refuse(err)
	}
	orig := r.copyOf(s)
	meta.SetStatusCondition(r.Kind.Conditions(s), metav1.Condition{Type: d.PostHookCondition, Status: metav1.ConditionUnknown,
		Reason: "HookRunning", Message: fmt.Sprintf("the %s hook runs in Job %s (the %s %s)", d.PostHook, hookjob.Name(d.Job, s.GetName()), d.Job, map[bool]string{true: "succeeded", false: "failed"}[out.Succeeded])})
	return true, r.WriteStatus(ctx, orig, s)
}

// conclude records the session's outcome with the hooks that ran, in one status write, then
// removes the session's credentials and hook identity.
func (r *Runner[T, S]) conclude(ctx context.Context, s S, h Hooks, out session.Outcome, post *result.Hook) error {
	d := r.Kind.Desc()
	hooks := append([]result.Hook(nil), out.Hooks...)
	if post != nil {
		hooks = append(hooks, *post)
	}
	conds := HookConditions(d, hooks)
	var err error
	if out.StopReason != "" {
		err = r.fail(ctx, s, out.StopReason, out.Error, conds...)
	} else {
		err = r.Kind.Finish(ctx, s, out, conds...)
	}
	if err != nil {
		return err
	}
	for i := range hooks {
		msg := event.Shorten(hooks[i].Describe())
		if hooks[i].Succeeded() {
			event.HookSucceeded.Emit(r.Recorder, s, msg)
		} else {
			event.HookFailed.Emit(r.Recorder, s, msg)
		}
	}
	if err := session.DeleteSessionSecrets(ctx, r.Client, s, jobspec.JobName(d.Job, s.GetName())); err != nil {
		return err
	}
	if !h.hasExec() {
		return nil
	}
	return hookjob.DeleteIdentity(ctx, r.Client, r.APIReader, s, d.Job)
}

// HookConditions are upstream's conditions of the hooks that ran (for a backup
// GlobalPreBackupHookSucceeded and GlobalPostBackupHookSucceeded), each with the hook's
// outcome. A failed post hook does not change the session's phase.
func HookConditions(d Desc, hooks []result.Hook) []metav1.Condition {
	var conds []metav1.Condition
	for i := range hooks {
		h := &hooks[i]
		typ := d.PreHookCondition
		if h.Name == d.PostHook {
			typ = d.PostHookCondition
		}
		c := metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "HookSucceeded", Message: h.Describe()}
		if !h.Succeeded() {
			c.Status, c.Reason = metav1.ConditionFalse, "HookFailed"
		}
		conds = append(conds, c)
	}
	return conds
}
