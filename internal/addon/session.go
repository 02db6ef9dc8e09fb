// Package addon implements the backup and restore flows of the MySQL addon: the code a
// backup or restore Job runs, between the database clients (package mysql) and restic
// (package restic). The flows need no Kubernetes API: their input is flags and mounted files,
// their output a result.Result.
package addon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/scrub"
)

// DumpFileName is the file a snapshot holds, as upstream Stash named it.
const DumpFileName = "dumpfile.sql"

// Common are the settings backup and restore share.
type Common struct {
	// Repository, as the Function's flags give it.
	Provider       string
	Bucket         string
	Endpoint       string
	Region         string
	Prefix         string
	SecretDir      string
	MaxConnections int
	EnableCache    bool

	// ScratchDir holds the option file, restic's cache and temporary files.
	ScratchDir string
	// Hostname is the snapshot host; result.DefaultHostname when empty.
	Hostname string
	// TargetDir holds the database connection files (see mysql.LoadTarget).
	TargetDir string
	// WaitTimeout bounds the wait for the database to answer.
	WaitTimeout time.Duration
	// StorageTimeout bounds the first contact with the repository; restic itself would retry
	// an unreachable backend for 15 minutes.
	StorageTimeout time.Duration
	// RetryLock is how long restic waits for a lock held by a live process.
	RetryLock time.Duration
	// SoleWriter says that the operator runs no other Hoard Job on this repository while this
	// one runs (and that nothing outside Hoard writes to it). Every lock another process left
	// is then a leftover of a Job that died: restic does not wait for locks, and a command
	// stopped by one removes all locks (restic unlock --remove-all) and runs once more.
	SoleWriter bool

	Namespace string

	ResticBinary    string
	MySQLBinary     string
	MySQLDumpBinary string
	// MySQLBinlogBinary reads and replays binary logs (point-in-time recovery).
	MySQLBinlogBinary string

	// Env is the environment the tools start from (os.Environ()).
	Env []string
	// Stdout gets progress lines, Stderr logs.
	Stdout io.Writer
	Stderr io.Writer
}

func (o *Common) hostname() string {
	if o.Hostname == "" {
		return result.DefaultHostname
	}
	return o.Hostname
}

// session is one run's resources: a work directory, the clients, and the scrubber that keeps
// their credentials out of every message.
type session struct {
	o      *Common
	log    *slog.Logger
	scrub  *scrub.Scrubber
	stderr *scrub.ScrubWriter
	work   string
	restic *restic.Restic
	db     *mysql.Client
	// target is the database's connection (for the restore engine).
	target *mysql.Target
	// location is the repository, with credentials scrubbed, for messages.
	location string
}

func newSession(o *Common) *session {
	// Until open knows the secrets, the rules that need none apply.
	s := &session{o: o, scrub: scrub.New()}
	s.stderr = s.scrub.Writer(o.Stderr)
	s.log = slog.New(slog.NewTextHandler(s.stderr, nil))
	return s
}

// open prepares the clients. It reads credentials first so that anything printed afterwards
// is scrubbed.
func (s *session) open() error {
	o := s.o
	target, err := mysql.LoadTarget(o.TargetDir)
	if err != nil {
		return err
	}
	s.target = target
	cacheDir := ""
	if o.EnableCache {
		cacheDir = filepath.Join(o.ScratchDir, "restic-cache")
	}
	retryLock := o.RetryLock
	if o.SoleWriter {
		// No live process of Hoard's can hold a lock: waiting would only delay the removal.
		retryLock = 0
	}
	setup, err := restic.NewSetup(restic.Config{
		Provider: o.Provider, Bucket: o.Bucket, Endpoint: o.Endpoint, Region: o.Region,
		Prefix: o.Prefix, MaxConnections: o.MaxConnections, SecretDir: o.SecretDir,
		CacheDir: cacheDir, RetryLock: retryLock,
	})
	if err != nil {
		return err
	}
	s.scrub = scrub.New(append([]string{target.Password}, setup.Secrets...)...)
	s.stderr.Use(s.scrub)

	if o.ScratchDir == "" {
		return errors.New("no scratch directory given (--scratch-dir)")
	}
	if err := os.MkdirAll(o.ScratchDir, 0o700); err != nil {
		return fmt.Errorf("failed to create the scratch directory: %w", err)
	}
	if s.work, err = os.MkdirTemp(o.ScratchDir, "hoard-"); err != nil {
		return fmt.Errorf("failed to create a work directory in %s: %w", o.ScratchDir, err)
	}
	optFile, err := mysql.WriteOptionFile(s.work, target)
	if err != nil {
		return err
	}
	prio, err := PriorityWrapper(o.Env)
	if err != nil {
		return err
	}
	s.db = &mysql.Client{MySQL: o.MySQLBinary, MySQLDump: o.MySQLDumpBinary, MySQLBinlog: o.MySQLBinlogBinary, OptionFile: optFile, Env: mysql.CleanEnv(o.Env), Wrapper: prio}
	tmp := filepath.Join(s.work, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("failed to create a temporary directory: %w", err)
	}
	// restic's output passes through mysqldump's too (backup --stdin-from-command): it is
	// scrubbed of the database password as well.
	s.restic = restic.New(setup, restic.Options{Binary: o.ResticBinary, BaseEnv: o.Env, TempDir: tmp, Stderr: s.stderr, Wrapper: prio, Scrubber: s.scrub})
	s.location = s.scrub.String(setup.Repository)
	s.log.Info("prepared", "repository", s.location, "database", target.Address(),
		"tls", target.CAFile != "" || target.InsecureSkipVerify, "soleWriter", o.SoleWriter)
	return nil
}

func (s *session) close() {
	s.stderr.Flush()
	if s.work != "" {
		// The option file holds the database password: never leave it behind.
		_ = os.RemoveAll(s.work)
	}
}

func (s *session) waitDB(ctx context.Context) error {
	s.log.Info("waiting for the database", "timeout", s.o.WaitTimeout)
	if err := s.db.WaitReady(ctx, s.o.WaitTimeout, time.Second); err != nil {
		return fmt.Errorf("failed to connect to the database: %w", err)
	}
	return nil
}

// storageTimeoutError is a repository that did not respond within the storage timeout.
type storageTimeoutError struct {
	location string
	timeout  time.Duration
	err      error
}

// Error names the repository and the backend's last word; which restic command was waiting
// (and that it was interrupted for it) says nothing to the user.
func (e *storageTimeoutError) Error() string {
	msg := fmt.Sprintf("the repository %s did not respond within %s", e.location, e.timeout)
	var xe *restic.ExitError
	if errors.As(e.err, &xe) && xe.Message != "" {
		return msg + "; restic's last error: " + lastError(xe.Message)
	}
	return msg + ": " + e.err.Error()
}

// lastError picks the backend's last complaint out of restic's last lines (joined by "; "),
// which repeat it once per retry; all of them when none looks like one.
func lastError(msg string) string {
	lines := strings.Split(msg, "; ")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.ToLower(lines[i])
		if strings.Contains(l, "error") || strings.Contains(l, "refused") || strings.Contains(l, "timeout") || strings.Contains(l, "no such host") {
			return lines[i]
		}
	}
	return msg
}

func (e *storageTimeoutError) Unwrap() error { return e.err }

// withStorageTimeout runs f with the storage timeout and explains a timeout.
func (s *session) withStorageTimeout(ctx context.Context, f func(context.Context) error) error {
	if s.o.StorageTimeout <= 0 {
		return f(ctx)
	}
	sctx, cancel := context.WithTimeout(ctx, s.o.StorageTimeout)
	defer cancel()
	err := f(sctx)
	if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return &storageTimeoutError{location: s.location, timeout: s.o.StorageTimeout, err: err}
	}
	return err
}

// retryLocked runs f, one restic command, under restic's stale-lock rule (restic.LockRetry):
// when this Job is the repository's sole writer and a lock stopped f, the locks are leftovers
// of Hoard Jobs that died; they are removed within the storage timeout, logged, and f runs
// once more. The caller must make sure that no other restic process of this Job holds a lock
// meanwhile.
func (s *session) retryLocked(ctx context.Context, command string, f func(context.Context) error) error {
	return s.restic.RetryLocked(ctx, s.lockRetry(command, nil), f)
}

// lockRetry is this Job's stale-lock rule for command; before, when not nil, runs before a
// removal.
func (s *session) lockRetry(command string, before func()) restic.LockRetry {
	return restic.LockRetry{
		SoleWriter: s.o.SoleWriter,
		Removing: func(ctx context.Context, remove func(context.Context) error) error {
			if before != nil {
				before()
			}
			return s.withStorageTimeout(ctx, remove)
		},
		Removed: func(ids []string, described []restic.Lock, err error) {
			for _, l := range described {
				s.log.Warn("removed "+l.String(), "lock", l.ID, "host", l.Hostname, "pid", l.PID, "time", l.Time.UTC().Format(time.RFC3339), "exclusive", l.Exclusive)
			}
			switch {
			case err != nil:
			case len(ids) == 0:
				// Gone in between, e.g. removed as stale by this Job's own unlock.
				s.log.Info("restic " + command + " was stopped by a lock that is gone now; running it again")
			default:
				s.log.Warn("restic "+command+" was stopped by a lock; as the repository's sole writer this Job removed every lock (all left by Jobs that ended) and runs it again",
					"locks", len(ids), "described", len(described))
			}
		},
	}
}

// finish fills in the common result fields.
func (s *session) finish(res *result.Result, start time.Time, err error) *result.Result {
	res.Duration = result.FormatDuration(time.Since(start))
	if err != nil {
		res.Phase = result.PhaseFailed
		res.Error = err.Error()
	} else {
		res.Phase = result.PhaseSucceeded
	}
	res.Scrub(s.scrub)
	if err != nil {
		s.log.Error(string(res.Kind)+" failed", "error", res.Error)
	} else {
		s.log.Info(string(res.Kind)+" succeeded", "duration", res.Duration)
	}
	return res
}
