package addon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/hoard-operator/hoard/internal/dumpfacts"
	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/pipe"
	"github.com/hoard-operator/hoard/internal/result"
)

// restic runs the dump through `hoard-mysql-addon dump-exec`, which starts mysqldump and
// records how it ended. restic only learns that "the command failed"; the status file tells
// the backup whether mysqldump or restic was at fault, and why.

// DumpStatus is how mysqldump ended, or that it is still running.
type DumpStatus struct {
	// Running is set from the start of the dump until its end. restic runs the dump only
	// once it has opened, locked and indexed the repository: a status file, even a running
	// one, shows that it got that far.
	Running  bool     `json:"running,omitempty"`
	ExitCode int      `json:"exitCode"`
	Signal   string   `json:"signal,omitempty"`
	Stderr   []string `json:"stderr,omitempty"`
	// StartError is set when mysqldump could not be started at all.
	StartError string `json:"startError,omitempty"`
	// Tables and Rows are what the dump's record holds (package dumpfacts), when it has one;
	// NotCounted says why it has none.
	Tables     int    `json:"tables,omitempty"`
	Rows       int64  `json:"rows,omitempty"`
	NotCounted string `json:"notCounted,omitempty"`
	// Binlog is the binary log position the dump recorded, if any.
	Binlog *dumpfacts.Binlog `json:"binlog,omitempty"`
}

// countFacts notes the dump's record in the status.
func (s *DumpStatus) countFacts(f *dumpfacts.Facts, reason error) {
	if f == nil {
		if reason != nil {
			s.NotCounted = reason.Error()
		}
		return
	}
	s.Tables = len(f.Tables)
	s.Binlog = f.Binlog
	for _, t := range f.Tables {
		s.Rows += t.Rows
	}
}

// binlog is the recorded binary log position for the backup's result; nil without one.
func (s *DumpStatus) binlog() *result.Binlog {
	if s == nil || s.Binlog == nil {
		return nil
	}
	return &result.Binlog{File: s.Binlog.File, Pos: s.Binlog.Pos, GTID: s.Binlog.GTID}
}

// Failed reports whether mysqldump ended without completing the dump.
func (s *DumpStatus) Failed() bool {
	return !s.Running && (s.ExitCode != 0 || s.Signal != "" || s.StartError != "")
}

// BrokenPipe reports a mysqldump that failed only because its reader (restic) went away.
func (s *DumpStatus) BrokenPipe() bool {
	if s.Signal == syscall.SIGPIPE.String() {
		return true
	}
	for _, l := range s.Stderr {
		if strings.Contains(l, "errno 32") || strings.Contains(strings.ToLower(l), "broken pipe") {
			return true
		}
	}
	return false
}

func (s *DumpStatus) String() string {
	var b strings.Builder
	switch {
	case s.Running:
		b.WriteString("mysqldump did not finish")
	case s.StartError != "":
		fmt.Fprintf(&b, "mysqldump could not be started: %s", s.StartError)
	case s.Signal != "":
		fmt.Fprintf(&b, "mysqldump was killed (%s)", s.Signal)
	default:
		fmt.Fprintf(&b, "mysqldump exited with code %d", s.ExitCode)
	}
	if len(s.Stderr) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(s.Stderr, "; "))
	}
	return b.String()
}

// DumpExecCommand is the argv restic runs: this binary's dump-exec wrapping mysqldump.
func DumpExecCommand(self, statusFile string, dump []string) []string {
	return append([]string{self, "dump-exec", "--status-file", statusFile, "--"}, dump...)
}

// RunDumpExec runs argv, copies its stdout to this process's stdout while counting the rows
// of each table, ends a complete dump with that record (package dumpfacts), keeps the tail of
// its stderr (also passed to stderr), writes the status file and returns the exit code to
// exit with. The child gets a clean environment: restic's, which holds the repository
// password, is not passed on.
func RunDumpExec(statusFile string, argv []string, stderr io.Writer) int {
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "dump-exec: no command given")
		return 2
	}
	// Pdeathsig is tied to the thread that forks: keep this goroutine on one thread so that
	// mysqldump dies with us when restic kills us.
	runtime.LockOSThread()
	// restic reads our stdout: enlarge that pipe before mysqldump inherits it. Best effort, as
	// a small pipe is only slower (and stdout is not a pipe when run by hand).
	_ = pipe.Grow(os.Stdout)
	// A reader gone away is an error to report (EPIPE), not a signal that kills this process
	// before it writes the status file. Notify, unlike Ignore, is not inherited by mysqldump.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if err := writeJSONFile(statusFile, &DumpStatus{Running: true}); err != nil {
		fmt.Fprintf(stderr, "dump-exec: %v\n", err)
		return 1
	}
	tail := mysql.NewTail(4096)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = io.MultiWriter(tail, stderr)
	cmd.Env = mysql.CleanEnv(os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r, w, err := pipe.New()
	if err != nil {
		fmt.Fprintf(stderr, "dump-exec: %v\n", err)
		return 1
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	var facts *dumpfacts.Facts
	var countErr, copyErr error
	if err == nil {
		// The dump passes through this process, which counts each table's rows on the way
		// (design 0035); a reader that went away stops mysqldump with a broken pipe.
		facts, countErr, copyErr = dumpfacts.Copy(os.Stdout, r)
		r.Close()
		err = cmd.Wait()
	} else {
		r.Close()
	}
	st := &DumpStatus{Stderr: tail.Lines()}
	code := 0
	var ee *exec.ExitError
	switch {
	case err == nil && copyErr != nil:
		// mysqldump ended well, but restic did not read all of it.
		st.ExitCode, code = 1, 1
		st.Stderr = append(st.Stderr, copyErr.Error())
	case err == nil:
		st.countFacts(facts, countErr)
		if facts != nil {
			facts.DumpArgs = mysql.DumpOptions(argv)
			line, lerr := facts.Line()
			if lerr == nil {
				_, lerr = os.Stdout.Write(line)
			}
			if lerr != nil {
				st.ExitCode, code = 1, 1
				st.Stderr = append(st.Stderr, "failed to write the dump's facts: "+lerr.Error())
			}
		}
	case errors.As(err, &ee):
		code = ee.ExitCode()
		st.ExitCode = code
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			st.Signal = ws.Signal().String()
			code = 128 + int(ws.Signal())
			st.ExitCode = code
		}
	default:
		st.StartError = err.Error()
		code = 127
		st.ExitCode = code
	}
	if werr := writeJSONFile(statusFile, st); werr != nil {
		fmt.Fprintf(stderr, "dump-exec: %v\n", werr)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// ReadDumpStatus reads the status file; nil, nil means restic never started the dump.
func ReadDumpStatus(path string) (*DumpStatus, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the dump status: %w", err)
	}
	var st DumpStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("failed to decode the dump status: %w", err)
	}
	return &st, nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", filepath.Base(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}
