package restic

import (
	"context"
	"errors"
	"os"
	"syscall"
)

// Dump writes file from snapshot ("latest" or an id; f narrows "latest") into out, which
// becomes restic's stdout: the data goes straight to out's reader (e.g. mysql). Any relay
// through this process, even a zero-copy one, made restores measurably slower.
func (r *Restic) Dump(ctx context.Context, snapshot, file string, f Filter, out *os.File) error {
	return r.run(ctx, call{command: "dump", flags: f.flags(), args: []string{snapshot, file}, stdout: out})
}

// ReaderGone reports whether err is restic killed by SIGPIPE: the reader of its output went
// away, so the fault is on that side.
func ReaderGone(err error) bool {
	var xe *ExitError
	return errors.As(err, &xe) && xe.Signal == "signal: "+syscall.SIGPIPE.String()
}
