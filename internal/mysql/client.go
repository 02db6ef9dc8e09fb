package mysql

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hoard-operator/hoard/internal/pipe"
)

// Client runs the mysql command line tools against the server of an option file.
type Client struct {
	// MySQL and MySQLDump are the executables; "mysql" and "mysqldump" when empty.
	MySQL     string
	MySQLDump string
	// MySQLBinlog reads binary logs; DefaultBinlogTool when empty.
	MySQLBinlog string
	// OptionFile is the file written by WriteOptionFile.
	OptionFile string
	// Env is the environment of the clients; see CleanEnv.
	Env []string
	// Wrapper prefixes mysqldump and mysql, e.g. `nice -n 10` (see addon.PriorityWrapper).
	Wrapper []string
}

func (c *Client) mysqlBin() string {
	if c.MySQL == "" {
		return "mysql"
	}
	return c.MySQL
}

func (c *Client) mysqldumpBin() string {
	if c.MySQLDump == "" {
		return "mysqldump"
	}
	return c.MySQLDump
}

// CleanEnv keeps only what the clients need from env: no storage credentials leak into them,
// and no MYSQL_* variables from the image can change which server they talk to.
func CleanEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "TMPDIR", k == "TZ", k == "LANG", strings.HasPrefix(k, "LC_"):
			out = append(out, kv)
		}
	}
	return out
}

// DefaultDumpOptions give a consistent, complete logical backup without blocking writers:
// InnoDB tables are read in one REPEATABLE READ transaction instead of under table locks.
func DefaultDumpOptions() []string {
	return []string{
		"--single-transaction", // consistent snapshot of InnoDB without LOCK TABLES
		"--quick",              // stream rows instead of buffering whole tables
		"--routines",
		"--triggers",
		"--events",
		"--hex-blob",                      // binary data survives any client character set
		"--default-character-set=utf8mb4", // 4-byte UTF-8 (emoji) round-trips
		"--max-allowed-packet=1G",         // rows larger than the 16M default
		"--flush-privileges",              // grants from a dumped mysql database apply at once
		// No LOCK TABLES around each table's rows: a table whose default is NEXTVAL(seq) cannot be
		// loaded under it ("Table 'seq' was not locked"), and InnoDB gains nothing from it.
		"--skip-add-locks",
	}
}

// DefaultDatabaseSelection is what upstream's `args` defaulted to.
func DefaultDatabaseSelection() []string { return []string{"--all-databases"} }

// BinlogPositionOption makes mysqldump write, as comments, the binary log position the dump
// is consistent with (package dumpfacts reads them).
const BinlogPositionOption = "--master-data=2"

// DumpCommand is the mysqldump argv (binary first). extra options follow the defaults;
// userArgs replace the database selection (--all-databases when empty) and come last, so
// they can also override a default option.
func (c *Client) DumpCommand(userArgs []string, extra ...string) []string {
	argv := append(append([]string{}, c.Wrapper...), c.mysqldumpBin(), "--defaults-file="+c.OptionFile)
	argv = append(argv, DefaultDumpOptions()...)
	argv = append(argv, extra...)
	if len(userArgs) == 0 {
		userArgs = DefaultDatabaseSelection()
	}
	return append(argv, userArgs...)
}

// DumpOptions are the options of a DumpCommand argv after its option file, without the
// binary log position option: what decides the rows' text of a dump, so that DumpAgain
// writes them the same way on another server.
func DumpOptions(argv []string) []string {
	for i, a := range argv {
		if strings.HasPrefix(a, "--defaults-file=") {
			var out []string
			for _, o := range argv[i+1:] {
				if o != BinlogPositionOption {
					out = append(out, o)
				}
			}
			return out
		}
	}
	return nil
}

// DumpAgainCommand is the mysqldump argv that dumps this client's server with options taken
// from DumpOptions.
func (c *Client) DumpAgainCommand(options []string) []string {
	argv := append(append([]string{}, c.Wrapper...), c.mysqldumpBin(), "--defaults-file="+c.OptionFile)
	return append(argv, options...)
}

// ServerError is a failed mysql/mysqldump run.
type ServerError struct {
	// Tool is "mysql" or "mysqldump".
	Tool string
	// ExitCode is the tool's exit code, or -1 when a signal ended it.
	ExitCode int
	Signal   string
	// Code is the MySQL error number from "ERROR nnnn" or "Got error: nnnn", 0 if none.
	Code int
	// Stderr holds the last lines of the tool's stderr.
	Stderr []string
}

func (e *ServerError) Error() string {
	status := fmt.Sprintf("exit code %d", e.ExitCode)
	if e.Signal != "" {
		status = e.Signal
	}
	if len(e.Stderr) == 0 {
		return fmt.Sprintf("%s failed (%s)", e.Tool, status)
	}
	return fmt.Sprintf("%s failed (%s): %s", e.Tool, status, strings.Join(e.Stderr, "; "))
}

// Permanent reports errors that waiting does not cure: refused credentials and TLS failures.
func (e *ServerError) Permanent() bool {
	switch e.Code {
	case 1044, 1045, 1698, // access denied
		2026: // TLS/SSL error, e.g. an unverifiable certificate
		return true
	}
	return false
}

var errorCodeRe = regexp.MustCompile(`(?:ERROR|Got error:) (\d{4})`)

// NewServerError builds the error for a failed run of tool from its wait error and stderr.
func NewServerError(tool string, waitErr error, stderr []string) *ServerError {
	e := &ServerError{Tool: tool, ExitCode: -1, Stderr: stderr}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		e.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = "signal: " + ws.Signal().String()
		}
	}
	for _, l := range stderr {
		if m := errorCodeRe.FindStringSubmatch(l); m != nil {
			e.Code, _ = strconv.Atoi(m[1])
		}
	}
	return e
}

// Ping runs `SELECT 1`.
func (c *Client) Ping(ctx context.Context, connectTimeout time.Duration) error {
	secs := int(connectTimeout.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	cmd := exec.CommandContext(ctx, c.mysqlBin(), "--defaults-file="+c.OptionFile,
		"--connect-timeout="+strconv.Itoa(secs), "--batch", "--skip-column-names", "--execute=SELECT 1")
	cmd.Env = c.Env
	stderr := NewTail(4096)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return NewServerError("mysql", err, stderr.Lines())
		}
		return fmt.Errorf("failed to run mysql: %w", err)
	}
	if strings.TrimSpace(string(out)) != "1" {
		return fmt.Errorf("SELECT 1 returned %q", strings.TrimSpace(string(out)))
	}
	return nil
}

// WaitReady pings the server until it answers, timeout passes, or the error is one waiting
// cannot cure. On timeout it returns the last connection error.
func (c *Client) WaitReady(ctx context.Context, timeout, interval time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return fmt.Errorf("database not ready after %s: %w", timeout, last)
		}
		pctx, cancel := context.WithTimeout(ctx, remaining)
		last = c.Ping(pctx, min(remaining, defaultConnectTimeout*time.Second))
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *ServerError
		if errors.As(last, &se) && se.Permanent() {
			return last
		}
		if errors.Is(last, context.DeadlineExceeded) {
			return fmt.Errorf("database not ready after %s: connection attempt timed out", timeout)
		}
		t := time.NewTimer(min(interval, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Load is a running `mysql` that executes what is written to its stdin.
type Load struct {
	// exited is closed once mysql has been waited for.
	exited chan struct{}
	cmd    *exec.Cmd
	stdin  *os.File
	stderr *Tail
}

// DefaultLoadOptions let mysql read back every statement mysqldump wrote: rows larger than
// the client's 16M default arrive as one statement. MariaDB's client prints a failed
// statement before its error by default; a dump's statement is row data, which must not
// reach the error and from there the session's status.
func DefaultLoadOptions() []string {
	return []string{"--max-allowed-packet=1G", "--skip-print-query-on-error"}
}

// LoadCommand is the mysql argv (binary first) that executes SQL from stdin.
func (c *Client) LoadCommand(userArgs []string) []string {
	argv := append(append([]string{}, c.Wrapper...), c.mysqlBin(), "--defaults-file="+c.OptionFile)
	argv = append(argv, DefaultLoadOptions()...)
	return append(argv, userArgs...)
}

// StartLoad starts mysql with the user's args (e.g. a database name) after the defaults.
//
// Cancelling ctx kills mysql only after WriterGrace: the writer of its input (restic) is
// stopped by the same cancellation and must first remove its repository lock. A reader killed
// at once made restic die of SIGPIPE with its lock left behind.
func (c *Client) StartLoad(ctx context.Context, userArgs []string) (*Load, error) {
	argv := c.LoadCommand(userArgs)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = c.Env
	l := &Load{cmd: cmd, stderr: NewTail(4096), exited: make(chan struct{})}
	cmd.Stderr = l.stderr
	cmd.Stdout = l.stderr
	// A large pipe (not StdinPipe's default one): see package pipe.
	r, w, err := pipe.New()
	if err != nil {
		return nil, fmt.Errorf("failed to create mysql's stdin: %w", err)
	}
	cmd.Stdin = r
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("failed to start mysql: %w", err)
	}
	l.stdin = w
	go func() {
		select {
		case <-ctx.Done():
		case <-l.exited:
			return
		}
		select {
		case <-time.After(WriterGrace):
			_ = cmd.Process.Kill()
		case <-l.exited:
		}
	}()
	return l, nil
}

// WriterGrace is how long a cancelled load keeps reading, so that the writer of its input
// can stop cleanly first.
const WriterGrace = 5 * time.Second

// Stdin is where the SQL goes: a pipe.
func (l *Load) Stdin() *os.File { return l.stdin }

// BytesRead is how much mysql has read so far, by the kernel's count (rchar of
// /proc/<pid>/io): its input, plus a few KiB of option files and server replies.
func (l *Load) BytesRead() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", l.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("failed to read mysql's I/O counters: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no rchar in mysql's I/O counters")
}

// Finish closes stdin and waits for mysql to execute the rest.
func (l *Load) Finish() error {
	l.stdin.Close()
	err := l.wait()
	if err != nil {
		return NewServerError("mysql", err, l.stderr.Lines())
	}
	return nil
}

// Abort kills mysql before it sees the end of its input, so that an incomplete last statement
// of a truncated stream is never executed.
func (l *Load) Abort() {
	_ = l.cmd.Process.Kill()
	l.stdin.Close()
	_ = l.wait()
}

func (l *Load) wait() error {
	err := l.cmd.Wait()
	close(l.exited)
	return err
}
