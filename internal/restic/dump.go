package restic

import (
	"context"
	"fmt"
	"io"
	"os"
)

// WriteError is a failure to pass dumped data on: the reader of the data (e.g. mysql) went
// away, so the fault is on that side, not restic's.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return fmt.Sprintf("failed to pass on restored data: %v", e.Err) }
func (e *WriteError) Unwrap() error { return e.Err }

// Dump writes file from snapshot ("latest" or an id; f narrows "latest") to w and returns the
// number of bytes written. If w fails, restic is stopped (its stdout is closed) and a
// *WriteError is returned, possibly joined with restic's own error.
func (r *Restic) Dump(ctx context.Context, snapshot, file string, f Filter, w io.Writer) (int64, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("failed to create a pipe for restic dump: %w", err)
	}
	// restic writes into a pipe we read ourselves: with a plain io.Writer as Stdout, os/exec
	// would wait for restic before draining the copy, and a restic blocked on a full pipe whose
	// reader died would never exit.
	done := make(chan error, 1)
	var n int64
	go func() {
		var cerr error
		// Large reads: a dump is hundreds of MiB, 32 KiB at a time would be many syscalls.
		n, cerr = io.CopyBuffer(w, pr, make([]byte, 1<<20))
		// Closing the read end makes a still-writing restic fail with EPIPE instead of hanging.
		pr.Close()
		done <- cerr
	}()
	runErr := r.run(ctx, call{command: "dump", flags: f.flags(), args: []string{snapshot, file}, stdout: pw})
	pw.Close()
	copyErr := <-done
	switch {
	case copyErr != nil && runErr != nil:
		return n, fmt.Errorf("%w (%w)", &WriteError{Err: copyErr}, runErr)
	case copyErr != nil:
		return n, &WriteError{Err: copyErr}
	default:
		return n, runErr
	}
}
