// Package restic runs the restic command line tool against one repository.
//
// Every command gets its configuration explicitly (no global state), builds its argv in a
// fixed order (subcommand, global flags, command flags, positional arguments), decodes
// restic's --json output into typed values, and turns restic's exit codes into typed errors
// (see ExitError). Credentials reach restic only through its environment, never its argv.
package restic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/hoard-operator/hoard/internal/scrub"
)

// Options are the process settings of a Restic, independent of the repository.
type Options struct {
	// Binary is the restic executable; "restic" (looked up in PATH) when empty.
	Binary string
	// BaseEnv is the environment restic inherits (usually os.Environ()). Any RESTIC_* variable
	// in it is dropped so that only the Setup decides which repository and password are used.
	BaseEnv []string
	// TempDir becomes TMPDIR: restic stages pack files there.
	TempDir string
	// Stderr receives restic's stderr, line by line, scrubbed. It may be nil.
	Stderr io.Writer
	// Scrubber hides secrets in restic's stderr and in the messages of its errors; nil means
	// one for the Setup's secrets. Whoever knows more secrets (the database password, which
	// reaches restic's stderr through mysqldump's) passes a Scrubber that has them all.
	Scrubber *scrub.Scrubber
	// Wrapper prefixes every restic command, e.g. `nice -n 10` (it must exec restic, so that
	// signals reach restic itself).
	Wrapper []string
	// GracePeriod is how long restic may take to release its lock after being interrupted
	// before it is killed. Zero means 30s.
	GracePeriod time.Duration
}

// Restic runs restic commands against the repository of a Setup.
type Restic struct {
	binary  string
	wrapper []string
	setup   *Setup
	env     []string
	stderr  io.Writer
	scrub   *scrub.Scrubber
	grace   time.Duration
}

// New returns a runner for the repository described by setup.
func New(setup *Setup, opts Options) *Restic {
	bin := opts.Binary
	if bin == "" {
		bin = "restic"
	}
	grace := opts.GracePeriod
	if grace == 0 {
		grace = 30 * time.Second
	}
	env := make([]string, 0, len(opts.BaseEnv)+len(setup.Env)+2)
	for _, kv := range opts.BaseEnv {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := setup.Env[k]; ours || strings.HasPrefix(k, "RESTIC_") || (k == "TMPDIR" && opts.TempDir != "") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, setup.Environ()...)
	// One progress line a second is plenty for a Job and keeps the JSON stream small.
	env = append(env, "RESTIC_PROGRESS_FPS=1")
	if opts.TempDir != "" {
		env = append(env, "TMPDIR="+opts.TempDir)
	}
	sc := opts.Scrubber
	if sc == nil {
		sc = scrub.New(setup.Secrets...)
	}
	return &Restic{binary: bin, wrapper: opts.Wrapper, setup: setup, env: env, stderr: opts.Stderr, scrub: sc, grace: grace}
}

// call is one restic invocation.
type call struct {
	command string   // subcommand, e.g. "backup"
	json    bool     // add --json
	flags   []string // command flags, in order
	args    []string // positional arguments
	stdout  io.Writer
	// stdin, when set, is restic's standard input (backup --stdin).
	stdin io.Reader
	// noCache keeps the command off the local cache. Commands that run beside another on the
	// same cache directory need it: restic creates a new cache without locking, and a
	// second process that reads the cache's version file before the first has written it fails
	// ("unable to open cache: readVersion").
	noCache bool
}

// argv returns the arguments (without the binary) restic is started with for c.
func (r *Restic) argv(c call) []string {
	a := []string{c.command}
	if c.json {
		a = append(a, "--json")
	}
	a = append(a, r.setup.Flags...)
	if c.noCache {
		// restic ignores --cache-dir when --no-cache is given.
		a = append(a, "--no-cache")
	}
	a = append(a, c.flags...)
	a = append(a, c.args...)
	return a
}

// run starts restic and waits for it. Cancelling ctx interrupts restic with SIGINT so that
// it removes its lock, and kills it after the grace period.
func (r *Restic) run(ctx context.Context, c call) error {
	argv := append(append(append([]string{}, r.wrapper...), r.binary), r.argv(c)...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = r.env
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = r.grace
	if c.stdout != nil {
		cmd.Stdout = c.stdout
	}
	if c.stdin != nil {
		cmd.Stdin = c.stdin
	}
	se := newStderr(r.stderr, r.scrub)
	cmd.Stderr = se
	err := cmd.Run()
	se.flush()
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("failed to run restic %s: %w", c.command, err)
	}
	xe := &ExitError{Command: c.command, Code: ee.ExitCode()}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		xe.Signal = "signal: " + ws.Signal().String()
		xe.Code = -1
	}
	xe.Message = se.message()
	return xe
}

// stderrCollector forwards restic's stderr and remembers what explains a failure: the JSON
// exit message restic prints with --json, and the last lines otherwise. Every line is
// scrubbed first, so neither the log nor an error ever holds what it hides.
type stderrCollector struct {
	lw      lineWriter
	out     io.Writer
	scrub   *scrub.Scrubber
	tail    *tail
	exitMsg string
}

func newStderr(out io.Writer, sc *scrub.Scrubber) *stderrCollector {
	s := &stderrCollector{out: out, scrub: sc, tail: newTail(8)}
	s.lw.fn = s.line
	return s
}

func (s *stderrCollector) Write(p []byte) (int, error) { return s.lw.Write(p) }

func (s *stderrCollector) flush() { s.lw.Flush() }

func (s *stderrCollector) line(raw []byte) {
	if bytes.HasPrefix(raw, []byte("{")) {
		var m struct {
			MessageType string `json:"message_type"`
			Code        int    `json:"code"`
			Message     string `json:"message"`
		}
		if json.Unmarshal(raw, &m) == nil && m.MessageType == "exit_error" {
			s.exitMsg = s.scrub.String(strings.Join(strings.Fields(m.Message), " "))
		}
	}
	l := []byte(s.scrub.String(string(raw)))
	s.tail.add(l)
	if s.out != nil {
		_, _ = s.out.Write(append(append([]byte(nil), l...), '\n'))
	}
}

// message explains the failure: restic's exit message, preceded by the last other line when
// that line says more (for example the backend error behind a retry).
func (s *stderrCollector) message() string {
	lines := s.tail.Lines()
	var last string
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.HasPrefix(lines[i], "{") && !strings.HasPrefix(lines[i], "signal ") {
			last = lines[i]
			break
		}
	}
	switch {
	case s.exitMsg == "":
		return strings.Join(lines, "; ")
	case last != "" && !strings.Contains(s.exitMsg, last):
		return s.exitMsg + " (last message: " + last + ")"
	default:
		return s.exitMsg
	}
}

// decodeJSON decodes the first JSON value of restic's output.
func decodeJSON(command string, out []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("failed to decode the output of restic %s: %w", command, err)
	}
	return nil
}
