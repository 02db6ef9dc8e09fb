package restic

import (
	"errors"
	"fmt"
	"strings"
)

// restic's documented exit codes (restic ≥ 0.17), as sentinel errors. An *ExitError matches
// the one for its code with errors.Is.
var (
	ErrFailed        = errors.New("command failed")
	ErrRuntime       = errors.New("internal error")
	ErrIncomplete    = errors.New("snapshot is incomplete: some source data could not be read")
	ErrNoRepository  = errors.New("repository does not exist")
	ErrLocked        = errors.New("repository is locked by another process")
	ErrWrongPassword = errors.New("wrong repository password")
	ErrInterrupted   = errors.New("interrupted")
	ErrKilled        = errors.New("killed by a signal")
)

// ExitError is a restic command that did not succeed.
type ExitError struct {
	// Command is the restic subcommand, e.g. "backup".
	Command string
	// Code is restic's exit code, or -1 when a signal ended it.
	Code int
	// Signal names the signal that ended restic, if one did.
	Signal string
	// Message is restic's own explanation: its JSON exit message, else the last stderr lines.
	Message string
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "restic %s failed: %v", e.Command, e.Unwrap())
	if e.Signal != "" {
		fmt.Fprintf(&b, " (%s)", e.Signal)
	} else {
		fmt.Fprintf(&b, " (exit code %d)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the sentinel error for the exit code.
func (e *ExitError) Unwrap() error {
	if e.Signal != "" {
		return ErrKilled
	}
	return codeError(e.Code)
}

func codeError(code int) error {
	switch code {
	case 1:
		return ErrFailed
	case 2:
		return ErrRuntime
	case 3:
		return ErrIncomplete
	case 10:
		return ErrNoRepository
	case 11:
		return ErrLocked
	case 12:
		return ErrWrongPassword
	case 130:
		return ErrInterrupted
	default:
		return ErrFailed
	}
}
