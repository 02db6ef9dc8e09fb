package sessionrun

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
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/hookjob"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/session"
)

// Env is what every session kind's reconciler is given: clients, the Job starter and the
// operator's settings.
type Env struct {
	Client client.Client
	// APIReader reads around the cache where a stale read would do harm: confirming that a
	// Job is really gone, and a kind's own reads (a backup's configuration created a moment
	// ago, its skip rule).
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  record.EventRecorder
	// Starter creates the session's Job once its repository is free.
	Starter *session.Starter

	PushgatewayURL string
	// OperatorImage runs the hooks (`hoard run-hook`).
	OperatorImage string
	// HookTimeout bounds each hook; zero means hook.DefaultTimeout.
	HookTimeout time.Duration
	// Timeout fails sessions still running after this long unless spec.timeOut says
	// otherwise.
	Timeout time.Duration
	// PollInterval is how often a running session is looked at for progress and deadline;
	// zero means 10s.
	PollInterval time.Duration
	// StartGrace is how long a Job's container may fail to start before the session fails;
	// zero means session.DefaultStartGrace.
	StartGrace time.Duration
	// Progress reads a running Job's progress line (session.LogProgressReader); nil for none.
	Progress session.ProgressReader
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Readers are the dependency checker's readers: the cache, and the API server directly.
func (e *Env) Readers() session.Readers {
	return session.Readers{Cached: e.Client, Direct: e.APIReader}
}

// SessionTimeout is a session's bound: spec.timeOut when it is set, else the operator's
// default. of names the object the value comes from in the error ("" for the session itself).
func (e *Env) SessionTimeout(timeOut, of string) (time.Duration, error) {
	if timeOut == "" {
		return e.Timeout, nil
	}
	d, err := time.ParseDuration(timeOut)
	if err != nil || d <= 0 {
		if of != "" {
			of = " of " + of
		}
		return 0, fmt.Errorf("spec.timeOut %q%s is not a positive duration such as 2h", timeOut, of)
	}
	return d, nil
}

// Duration is how long the session has existed, as the status says it.
func (e *Env) Duration(s client.Object) string {
	return result.FormatDuration(e.Now().Sub(s.GetCreationTimestamp().Time))
}

// Runner reconciles one session kind. T is the session type, S a pointer to it.
type Runner[T any, S interface {
	*T
	client.Object
}] struct {
	*Env
	Kind Kind[S]
}

// SetupWithManager registers the runner as the kind's reconciler, named name. list is an
// empty list of the kind: the sessions that wait for a repository are woken from it when a
// Job releases the repository.
func (r *Runner[T, S]) SetupWithManager(mgr ctrl.Manager, name string, list client.ObjectList) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.PollInterval == 0 {
		r.PollInterval = 10 * time.Second
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(S(new(T))).
		Owns(&batchv1.Job{}).
		// A Job that ends frees its repository for the sessions waiting in line.
		Watches(&batchv1.Job{}, session.WakeWaiters(mgr.GetClient(), list, func(o client.Object) bool {
			s, ok := o.(S)
			return ok && r.Kind.Stage(s) == Waiting
		}), builder.WithPredicates(session.RepositoryReleased())).
		Named(name).
		// Sessions are independent of each other: those that share a repository are
		// serialised by the repository queue, and a kind's own rule (a backup's skip) reads
		// the API directly, so concurrent reconciles cannot break it.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

// Reconcile moves a session one step: Waiting → Running (or Failed, or the kind's own end),
// Running → finished; a finished session goes to Kind.Done.
func (r *Runner[T, S]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s := S(new(T))
	if err := r.Client.Get(ctx, req.NamespacedName, s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !s.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, nil
	}
	switch r.Kind.Stage(s) {
	case Finished:
		return ctrl.Result{}, r.Kind.Done(ctx, s)
	case Running:
		return session.RequeueOnConflict(r.track(ctx, s))
	default:
		return session.RequeueOnConflict(r.start(ctx, s))
	}
}

// WriteStatus patches the session's status when it differs from orig's, with orig's
// resourceVersion: a conflict means the reconcile read a stale copy and starts again.
func (r *Runner[T, S]) WriteStatus(ctx context.Context, orig, s S) error {
	if equality.Semantic.DeepEqual(r.Kind.Status(orig), r.Kind.Status(s)) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, s, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("failed to update status of %s %s/%s: %w", r.Kind.Desc().Object, s.GetNamespace(), s.GetName(), err)
	}
	return nil
}

func (r *Runner[T, S]) copyOf(s S) S {
	c, _ := s.DeepCopyObject().(S)
	return c
}

func (r *Runner[T, S]) fail(ctx context.Context, s S, reason, msg string, extra ...metav1.Condition) error {
	return r.Kind.Fail(ctx, s, reason, msg, extra...)
}

func (r *Runner[T, S]) start(ctx context.Context, s S) (ctrl.Result, error) {
	// Nothing is created from a stale copy: the hook identity and the Job of a session that
	// started (or ended) meanwhile would be created again.
	if err := session.Current(ctx, r.APIReader, r.Scheme, s); err != nil {
		return ctrl.Result{}, err
	}
	d := r.Kind.Desc()
	p, err := r.Kind.Plan(ctx, s)
	var refused *Refusal
	switch {
	case errors.As(err, &refused):
		return ctrl.Result{}, r.fail(ctx, s, refused.Reason, refused.Message, refused.Conditions...)
	case err != nil:
		return ctrl.Result{}, err
	case p == nil:
		return ctrl.Result{}, nil
	}
	created := s.GetCreationTimestamp().Time
	left, expired := session.TimeLeft(created, r.Now(), p.Timeout)
	if expired {
		return ctrl.Result{}, r.fail(ctx, s, "DeadlineExceeded", session.ExpiredMessage(string(d.Job), created, p.Timeout, session.WaitingFor(*r.Kind.Conditions(s))))
	}

	g, err := session.Gather(ctx, r.Readers(), p.Request)
	var ue *session.UserError
	if errors.As(err, &ue) {
		// With the checker's condition, as the BackupConfiguration shows it.
		return ctrl.Result{}, r.fail(ctx, s, ue.Reason, ue.Message, ue.AsCondition())
	} else if err != nil {
		return ctrl.Result{}, err
	}
	in := g.Input
	loc, err := location.Of(in.Repository.Namespace, &in.Repository.Spec.Backend)
	if err != nil {
		return ctrl.Result{}, r.fail(ctx, s, "InvalidRepository", fmt.Sprintf("Repository %s: %v", in.Repository.Name, err))
	}
	// Checked before anything is created: the Job would mount the node's filesystem.
	if err := location.CheckLocalBackend(&in.Repository.Spec.Backend); err != nil {
		return ctrl.Result{}, r.fail(ctx, s, location.ReasonUnsafeBackendVolume, fmt.Sprintf("Repository %s: %v", in.Repository.Name, err))
	}
	if p.Configure != nil {
		p.Configure(in)
	}
	in.PushgatewayURL = r.PushgatewayURL
	in.ActiveDeadlineSeconds = session.Seconds(left)
	in.LocationKey = loc.Key()
	in.SoleWriter = location.SoleWriter(in.Repository)
	jobName := jobspec.JobName(d.Job, s.GetName())
	if g.Connection != nil {
		in.TargetSecretName = session.TargetSecretName(jobName)
	}
	if g.Storage != nil {
		in.StorageSecretCopy = session.StorageSecretName(jobName)
	}
	job, err := jobspec.Build(in)
	if err != nil {
		return ctrl.Result{}, r.fail(ctx, s, "TaskResolutionFailed", err.Error())
	}
	var te *hookjob.TargetError
	if err := r.addPreHook(ctx, s, p.Hooks, job); errors.As(err, &te) {
		return ctrl.Result{}, r.fail(ctx, s, "HookFailed", te.Msg)
	} else if err != nil {
		return ctrl.Result{}, err
	}
	st, err := r.Starter.Start(ctx, session.Launch{Session: s, Job: job, Connection: g.Connection, Storage: g.Storage, Location: loc})
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case st.FailReason != "":
		return ctrl.Result{}, r.fail(ctx, s, st.FailReason, st.FailMessage)
	case st.Wait != "":
		return ctrl.Result{RequeueAfter: session.NextLook(r.PollInterval, left)}, r.wait(ctx, s, st.Wait)
	}

	orig := r.copyOf(s)
	r.Kind.MarkRunning(s, p)
	conds := r.Kind.Conditions(s)
	session.SetRepositoryAcquired(conds, loc)
	meta.SetStatusCondition(conds, metav1.Condition{Type: d.JobCreated, Status: metav1.ConditionTrue, Reason: "JobCreated", Message: "Job " + job.Name + " created"})
	if err := r.WriteStatus(ctx, orig, s); err != nil {
		return ctrl.Result{}, err
	}
	d.Started.Emit(r.Recorder, s, job.Name)
	log.FromContext(ctx).Info(string(d.Job)+" started", "job", job.Name)
	return ctrl.Result{RequeueAfter: r.PollInterval}, nil
}

// wait keeps the session Pending and says what it waits for; the event is recorded when
// that changes.
func (r *Runner[T, S]) wait(ctx context.Context, s S, why string) error {
	orig := r.copyOf(s)
	r.Kind.MarkPending(s)
	changed := session.SetWaiting(r.Kind.Conditions(s), why)
	if err := r.WriteStatus(ctx, orig, s); err != nil {
		return err
	}
	if changed {
		event.SessionWaiting.Emit(r.Recorder, s, why)
		log.FromContext(ctx).Info(string(r.Kind.Desc().Job)+" waits", "for", why)
	}
	return nil
}

func (r *Runner[T, S]) track(ctx context.Context, s S) (ctrl.Result, error) {
	timeout, hooks := r.Kind.Follow(ctx, s)
	if res, done, err := r.followPost(ctx, s, hooks); done || err != nil {
		return res, err
	}
	obs, err := session.Observe(ctx, r.Client, r.APIReader, session.Running{
		Kind: r.Kind.Desc().Job, Session: s, Timeout: timeout, Poll: r.PollInterval, StartGrace: r.StartGrace, Now: r.Now(),
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
		// The post hook runs however the session ended, as its policy says; the session is
		// recorded once it is done.
		if started, err := r.startPost(ctx, s, hooks, out); started || err != nil {
			return ctrl.Result{RequeueAfter: r.PollInterval}, err
		}
		return ctrl.Result{}, r.conclude(ctx, s, hooks, out, nil)
	}
	if p, ok := r.Kind.(Progresser[S]); ok {
		if err := p.ReportProgress(ctx, s, obs.Job); err != nil {
			log.FromContext(ctx).V(1).Info("no progress report", "reason", err.Error())
		}
	}
	return ctrl.Result{RequeueAfter: obs.RequeueAfter}, nil
}
