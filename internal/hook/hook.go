// Package hook runs one Stash hook (preBackup, postBackup, preRestore, postRestore) from
// inside a session's Job: a command in a pod of the target (exec), an HTTP request
// (httpGet, httpPost) or a TCP connection (tcpSocket). Commands, bodies and form values are
// Go templates over the session's Summary, as in upstream Stash. Every hook has a deadline,
// and what it prints or answers is scrubbed and bounded before it is reported
// (docs/design/0019-hooks.md).
package hook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/scrub"
)

// DefaultTimeout bounds a hook when nothing else does: the Stash API gives hooks no
// timeoutSeconds.
const DefaultTimeout = 60 * time.Second

// MaxOutputBytes is how much of a hook's output (a command's stdout and stderr, an HTTP
// response body) is kept: the end of a command's output, the start of a response.
const MaxOutputBytes = 1024

// Names of the hooks, as the API spells them.
const (
	PreBackup   = "preBackup"
	PostBackup  = "postBackup"
	PreRestore  = "preRestore"
	PostRestore = "postRestore"
)

// Actions, as the API spells them.
const (
	ActionExec      = "exec"
	ActionHTTPGet   = "httpGet"
	ActionHTTPPost  = "httpPost"
	ActionTCPSocket = "tcpSocket"
)

// Summary is what templates see, with upstream Stash's field names: {{ .Namespace }},
// {{ .Target.Name }}, {{ .Status.Phase }}, {{ .Status.Error }}.
type Summary struct {
	// Name is the session's name.
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Invoker   Ref    `json:"invoker"`
	Target    Ref    `json:"target"`
	Status    Status `json:"status"`
}

// Ref names an object.
type Ref struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// Status is the session's state when the hook runs: Running before the backup or restore,
// its final phase after it.
type Status struct {
	Phase    string `json:"phase"`
	Duration string `json:"duration,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Execer runs a command in a container of a pod and returns its combined output; a
// non-zero exit is an *ExitError. The real one uses the pods/exec API (NewPodExecer).
type Execer interface {
	Exec(ctx context.Context, namespace, pod, container string, command []string) (output []byte, err error)
}

// ExitError is a command that ran and exited with a non-zero code.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("command exited with code %d", e.Code) }

// Spec is one hook to run.
type Spec struct {
	// Name is preBackup, postBackup, preRestore or postRestore.
	Name    string
	Handler v1beta1.Handler
	Summary Summary
	// Timeout bounds the whole hook; DefaultTimeout when zero.
	Timeout time.Duration

	// Namespace, Pod and Container are where an exec hook runs (the operator picks a ready
	// pod of the target; Container defaults to Handler.ContainerName).
	Namespace string
	Pod       string
	Container string
	Execer    Execer

	// Scrubber hides the credentials the hook's runner holds in everything it reports.
	Scrubber *scrub.Scrubber
}

// Action names the handler's one action, or "" when it has none.
func Action(h *v1beta1.Handler) string {
	switch {
	case h.Exec != nil:
		return ActionExec
	case h.HTTPGet != nil:
		return ActionHTTPGet
	case h.HTTPPost != nil:
		return ActionHTTPPost
	case h.TCPSocket != nil:
		return ActionTCPSocket
	}
	return ""
}

// Validate checks that h has exactly one action, with what that action needs.
func Validate(h *v1beta1.Handler) error {
	n := 0
	for _, set := range []bool{h.Exec != nil, h.HTTPGet != nil, h.HTTPPost != nil, h.TCPSocket != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return errors.New("the hook has no action: set one of exec, httpGet, httpPost, tcpSocket")
	case n > 1:
		return errors.New("the hook has more than one action: set only one of exec, httpGet, httpPost, tcpSocket")
	case h.Exec != nil && len(h.Exec.Command) == 0:
		return errors.New("exec hook has an empty command")
	}
	return nil
}

// Run runs the hook once and reports its outcome; it never returns an unbounded or unscrubbed
// message.
func Run(ctx context.Context, s Spec) *result.Hook {
	start := time.Now()
	h := &result.Hook{Type: result.HookType, Name: s.Name, Action: Action(&s.Handler)}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	out, err := run(ctx, &s)
	// A command's last newline would make every status message a block.
	h.Output = strings.TrimSpace(string(out))
	h.Phase = result.PhaseSucceeded
	if err != nil {
		h.Phase = result.PhaseFailed
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			err = fmt.Errorf("did not finish within %s: %w", timeout, err)
		}
		h.Error = err.Error()
	}
	h.Duration = result.FormatDuration(time.Since(start))
	h.Scrub(s.Scrubber)
	return h
}

func run(ctx context.Context, s *Spec) ([]byte, error) {
	if err := Validate(&s.Handler); err != nil {
		return nil, err
	}
	switch h := &s.Handler; {
	case h.Exec != nil:
		return runExec(ctx, s)
	case h.HTTPGet != nil:
		return runHTTPGet(ctx, s)
	case h.HTTPPost != nil:
		return runHTTPPost(ctx, s)
	default:
		return runTCP(ctx, s)
	}
}

func runExec(ctx context.Context, s *Spec) ([]byte, error) {
	if s.Pod == "" {
		return nil, errors.New("exec hook has no pod to run in")
	}
	if s.Execer == nil {
		return nil, errors.New("exec hook cannot run: no access to the pods/exec API was given to this Job")
	}
	cmd := make([]string, len(s.Handler.Exec.Command))
	for i, arg := range s.Handler.Exec.Command {
		v, err := render(fmt.Sprintf("exec.command[%d]", i), arg, s.Summary)
		if err != nil {
			return nil, err
		}
		cmd[i] = v
	}
	container := s.Container
	if container == "" {
		container = s.Handler.ContainerName
	}
	out, err := s.Execer.Exec(ctx, s.Namespace, s.Pod, container, cmd)
	out = tail(out, MaxOutputBytes)
	where := "pod " + s.Namespace + "/" + s.Pod
	if container != "" {
		where += " container " + container
	}
	if err != nil {
		return out, fmt.Errorf("%s: %w", where, err)
	}
	return out, nil
}

// tail keeps the last n bytes of b: a failing command says why at the end.
func tail(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append([]byte("… "), b[len(b)-n:]...)
}

// head keeps the first n bytes of b: a response says what it is at the start.
func head(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append(b[:n:n], []byte(" …")...)
}
