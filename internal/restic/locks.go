package restic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Unlock removes stale locks: those of processes that no longer run on this host and those
// not refreshed for 30 minutes. restic does not ignore stale locks by itself: any lock stops
// an exclusive command such as check or prune. Unlock never removes the locks of live
// processes, so it is safe while other jobs, or this one, use the repository. It does not use
// the local cache (locks are never cached), so it may run beside a command that creates it.
func (r *Restic) Unlock(ctx context.Context) error {
	return r.run(ctx, call{command: "unlock", noCache: true})
}

// UnlockAll removes every lock, including those of processes that may still run (restic
// unlock --remove-all). It is only safe when the caller knows that no other process uses the
// repository, this caller's own other restic commands included.
func (r *Restic) UnlockAll(ctx context.Context) error {
	return r.run(ctx, call{command: "unlock", flags: []string{"--remove-all"}, noCache: true})
}

// Lock is a lock file, as `restic cat lock` shows it.
type Lock struct {
	// ID is the lock file's id.
	ID        string    `json:"-"`
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username"`
	PID       int       `json:"pid"`
}

// ListLocks returns the ids of the repository's lock files. restic lists them without
// taking a lock itself.
func (r *Restic) ListLocks(ctx context.Context) ([]string, error) {
	var out bytes.Buffer
	if err := r.run(ctx, call{command: "list", args: []string{"locks"}, stdout: &out}); err != nil {
		return nil, err
	}
	return strings.Fields(out.String()), nil
}

// CatLock reads one lock file, without taking a lock (an exclusive lock would stop it).
func (r *Restic) CatLock(ctx context.Context, id string) (*Lock, error) {
	var out bytes.Buffer
	if err := r.run(ctx, call{command: "cat", flags: []string{"--no-lock"}, args: []string{"lock", id}, stdout: &out}); err != nil {
		return nil, err
	}
	l := &Lock{ID: id}
	if err := decodeJSON("cat lock", out.Bytes(), l); err != nil {
		return nil, err
	}
	return l, nil
}

// RemoveAllLocks lists the repository's locks, reads the first describe of them (who left
// them, for the caller's log), and removes them all with UnlockAll; without locks it removes
// nothing. The safety rule of UnlockAll applies. ids are every lock found; described may
// miss locks that could not be read (e.g. removed meanwhile).
func (r *Restic) RemoveAllLocks(ctx context.Context, describe int) (ids []string, described []Lock, err error) {
	ids, err = r.ListLocks(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to list the locks: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	for _, id := range ids[:min(describe, len(ids))] {
		if l, err := r.CatLock(ctx, id); err == nil {
			described = append(described, *l)
		}
	}
	if err := r.UnlockAll(ctx); err != nil {
		return ids, described, fmt.Errorf("failed to remove the locks: %w", err)
	}
	return ids, described, nil
}

// String describes the lock for logs: who held it and since when.
func (l Lock) String() string {
	kind := "lock"
	if l.Exclusive {
		kind = "exclusive lock"
	}
	id := l.ID
	if len(id) > 8 {
		id = id[:8]
	}
	return fmt.Sprintf("%s %s of PID %d on host %s, %s", kind, id, l.PID, l.Hostname, l.Time.UTC().Format(time.RFC3339))
}

// describeLocks bounds the `restic cat lock` runs before a removal: each costs a key
// derivation, and a Job that died leaves one lock.
const describeLocks = 3

// LockRetry is the stale-lock rule (design record 0002): a caller that is the
// repository's sole writer knows that every lock is a leftover of a Job that ended, so when a
// lock stops a command it removes every lock and runs the command once more. Any other caller
// leaves locks alone.
type LockRetry struct {
	// SoleWriter says that no other process uses the repository, this caller's own other
	// restic commands included.
	SoleWriter bool
	// Removing runs the removal, e.g. within the caller's storage timeout; nil runs it as is.
	Removing func(ctx context.Context, remove func(context.Context) error) error
	// Removed is told, after the removal, every lock id found, up to three locks described
	// (who left them), and the removal's error; nil tells nobody.
	Removed func(ids []string, described []Lock, err error)
}

// RetryLocked runs f, one restic command, under the stale-lock rule p.
func (r *Restic) RetryLocked(ctx context.Context, p LockRetry, f func(context.Context) error) error {
	err := f(ctx)
	if err == nil || !p.SoleWriter || !errors.Is(err, ErrLocked) || ctx.Err() != nil {
		return err
	}
	var ids []string
	var described []Lock
	remove := func(ctx context.Context) error {
		var err error
		ids, described, err = r.RemoveAllLocks(ctx, describeLocks)
		return err
	}
	var rerr error
	if p.Removing != nil {
		rerr = p.Removing(ctx, remove)
	} else {
		rerr = remove(ctx)
	}
	if p.Removed != nil {
		p.Removed(ids, described, rerr)
	}
	if rerr != nil {
		return fmt.Errorf("%w (removing the repository's locks failed too: %w)", err, rerr)
	}
	return f(ctx)
}

// RetryAfterRemovingLocks is RetryLocked for a caller that logs lines: each removed lock goes
// to log (which may be nil).
func (r *Restic) RetryAfterRemovingLocks(ctx context.Context, soleWriter bool, log func(format string, args ...any), f func() error) error {
	p := LockRetry{SoleWriter: soleWriter}
	if log != nil {
		p.Removed = func(ids []string, described []Lock, _ error) {
			for _, l := range described {
				log("removed %s", l)
			}
			if len(ids) > len(described) {
				log("removed %d more lock(s)", len(ids)-len(described))
			}
		}
	}
	return r.RetryLocked(ctx, p, func(context.Context) error { return f() })
}
