// Package sessionrun is the one session runner: it moves a session (BackupSession,
// RestoreSession, and the kinds to come) from new to finished — start, track, finish — and
// owns what every kind does the same way: the deadline, the repository queue, the Job, the
// hooks, the status write and the events. A kind supplies only what differs, through Kind:
// how it reads its settings, and how its status records a start and an outcome.
// docs/design/0032-one-session-runner.md says why.
package sessionrun

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/session"
)

// Stage is where a session stands, whatever its kind calls its phases.
type Stage int

const (
	// Waiting: new or Pending; the runner starts it when it can.
	Waiting Stage = iota
	// Running: its Job was created; the runner follows it.
	Running
	// Finished: its outcome is recorded; the runner only calls Kind.Done.
	Finished
)

// Desc is what the runner says about a kind: names, events and condition types.
type Desc struct {
	// Job names the session's Jobs (jobspec.JobName) and the kind in messages and logs.
	Job jobspec.Kind
	// Object is the kind's name, as in error messages ("BackupSession").
	Object string
	// Started is the event of a started Job, with the Job's name.
	Started event.Event
	// JobCreated is the condition type that records the Job's creation.
	JobCreated string
	// PreHook and PostHook are the hooks' names (hook.PreBackup...), PreHookCondition and
	// PostHookCondition upstream's condition types of their outcomes.
	PreHook, PostHook                   string
	PreHookCondition, PostHookCondition string
}

// Hooks are a session's hooks, wherever its kind keeps them (a BackupSession's are its
// BackupConfiguration's), and what the hooks' templates see of the session.
type Hooks struct {
	Pre  *v1beta1.Handler
	Post *v1beta1.PostHook
	// Target is the session's target, where an exec hook runs.
	Target v1beta1.TargetRef
	// Invoker is what the session's summary names as its invoker.
	Invoker hook.Ref
}

// hasExec tells whether a hook runs a command in the target (and so needs the hook identity).
func (h Hooks) hasExec() bool {
	return (h.Pre != nil && h.Pre.Exec != nil) || (h.Post != nil && h.Post.Exec != nil)
}

// Plan is what a kind supplies to start a session.
type Plan struct {
	// Timeout bounds the session from its creation; zero means no bound.
	Timeout time.Duration
	// Request is what to gather for the Job (session.Gather).
	Request session.Request
	// Configure sets the kind's own settings on the Job's input (retention, restore rule...).
	Configure func(in *jobspec.Input)
	Hooks     Hooks
}

// Refusal is a session that cannot start: it fails with Reason and Message, and Conditions
// are recorded with the failure.
type Refusal struct {
	Reason, Message string
	Conditions      []metav1.Condition
}

func (e *Refusal) Error() string { return e.Message }

// Refuse is a *Refusal.
func Refuse(reason, msg string) error { return &Refusal{Reason: reason, Message: msg} }

// Kind is what one session kind supplies; the runner does the rest. S is a pointer to the
// session type (*v1beta1.BackupSession).
type Kind[S client.Object] interface {
	Desc() Desc
	// Stage maps the session's phase to the runner's stages.
	Stage(s S) Stage
	// Plan reads what the session needs to start. A *Refusal fails the session; a nil Plan
	// without an error means the kind ended the session itself (a skipped backup).
	Plan(ctx context.Context, s S) (*Plan, error)
	// Follow is the timeout and the hooks of a running session, read again at each look: its
	// invoker may have changed or gone (then the operator's default timeout and no hooks).
	Follow(ctx context.Context, s S) (time.Duration, Hooks)
	// Status is the part of s the runner compares before it patches (its status).
	Status(s S) any
	// Conditions are the session's status conditions.
	Conditions(s S) *[]metav1.Condition
	// MarkPending and MarkRunning set the phase (and, for Running, the kind's own status of a
	// started Job); the runner sets the repository and Job conditions after.
	MarkPending(s S)
	MarkRunning(s S, p *Plan)
	// Fail records a session that failed without a result from its Job; Finish records the
	// outcome of its Job. extra are conditions to record with it (the hooks'). Both write
	// the status (Runner.WriteStatus) and emit the kind's events.
	Fail(ctx context.Context, s S, reason, msg string, extra ...metav1.Condition) error
	Finish(ctx context.Context, s S, out session.Outcome, extra ...metav1.Condition) error
	// Done is called for a finished session (backups prune their history).
	Done(ctx context.Context, s S) error
}

// Progresser is a Kind that reports a running Job's progress on its status; the runner calls
// it at each look while the Job runs.
type Progresser[S client.Object] interface {
	ReportProgress(ctx context.Context, s S, job *batchv1.Job) error
}
