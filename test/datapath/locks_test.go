package datapath

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
)

// deadHost is the host name of the Job pods the tests kill: restic calls a lock of another
// host stale only after 30 minutes, however dead its process is.
const deadHost = "dead-pod"

// lockIDs lists the repository's locks (restic list locks takes no lock).
func lockIDs(t *testing.T, r *Repo) []string {
	t.Helper()
	out, err := r.Restic(ctxT(t), tools, "list", "locks")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(out)
}

// lockHost reads the host of a lock.
func lockHost(t *testing.T, r *Repo, id string) string {
	t.Helper()
	out, err := r.Restic(ctxT(t), tools, "cat", "lock", id, "--no-lock")
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Hostname string `json:"hostname"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	return l.Hostname
}

// leaveLock leaves a lock the way a Job pod killed on another node does: restic runs in a UTS
// namespace of its own with the host name dead-pod, takes its lock and is killed with SIGKILL.
// An exclusive lock comes from `restic key passwd` blocked on a FIFO, like a prune or check
// killed mid-way; a non-exclusive one from a backup blocked on its stdin.
func leaveLock(t *testing.T, r *Repo, exclusive bool) {
	t.Helper()
	if out, err := exec.Command("unshare", "--uts", "true").CombinedOutput(); err != nil {
		t.Fatalf("this test needs a UTS namespace (root) to give restic another host name: %v: %s", err, out)
	}
	before := len(lockIDs(t, r))
	argv := []string{"unshare", "--uts", "--", "sh", "-c", `hostname "$0" && exec "$@"`, deadHost, tools.Restic, "--no-cache"}
	if exclusive {
		fifo := filepath.Join(t.TempDir(), "new-password")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		argv = append(argv, "key", "passwd", "--new-password-file", fifo)
	} else {
		argv = append(argv, "backup", "--stdin", "--stdin-filename", "dumpfile.sql", "--host", "host-0")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), r.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the doomed restic to lock the repository", func() bool { return len(lockIDs(t, r)) > before })
	// unshare and sh exec: the process is restic itself.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	ids := lockIDs(t, r)
	if len(ids) != before+1 {
		t.Fatalf("%d locks after the kill, want %d", len(ids), before+1)
	}
	for _, id := range ids {
		if h := lockHost(t, r, id); h != deadHost {
			t.Fatalf("lock %s is of host %q, want %q", id, h, deadHost)
		}
	}
}

// TestLocksOfKilledJobs: a Job killed with SIGKILL on another node leaves its lock. Without
// --sole-writer, retention and check wait --retry-lock for it and fail, as before; the backup
// reports its snapshot and the failed steps. With --sole-writer (the operator runs no other
// Job on the repository), the next backup removes the lock and succeeds at once, retention
// and check included; so does a restore.
func TestLocksOfKilledJobs(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	mustExec(t, src, shopSQL)
	srcTarget, dstTarget := targetDir(t, src, DBPassword), targetDir(t, dst, DBPassword)
	repo, _ := localRepo(t)
	args := []string{"--mysql-args=--databases shop", "--retention-keep-last=5", "--retention-prune=true"}
	clean := backup(t, repo, srcTarget, args...)
	mustSucceed(t, clean)
	t.Logf("a backup without a leftover lock takes %s", clean.Duration.Round(time.Millisecond))

	t.Run("killed backup, not sole writer: the snapshot is kept and reported, retention and check fail", func(t *testing.T) {
		leaveLock(t, repo, false)
		run := backup(t, repo, srcTarget, append(args, "--retry-lock=3s")...)
		mustFail(t, run, "was created and is kept", "applying the retention policy failed", "verifying the repository's integrity failed",
			"repository is locked by another process (exit code 11)", deadHost)
		r := run.Result
		if len(r.Snapshots) != 1 || !strings.HasPrefix(r.Error, "snapshot "+r.Snapshots[0].Name+" was created and is kept, but ") {
			t.Errorf("result snapshots %+v, error %q", r.Snapshots, r.Error)
		}
		var failed []string
		for _, f := range r.FailedActions {
			failed = append(failed, f.Action)
			if !strings.Contains(f.Error, "locked") {
				t.Errorf("%s failed with %q", f.Action, f.Error)
			}
		}
		if want := []string{result.ActionApplyRetention, result.ActionVerifyIntegrity}; !reflect.DeepEqual(failed, want) {
			t.Errorf("failed actions %q, want %q", failed, want)
		}
		if !slices.Contains(r.PostActions, result.ActionSendMetrics) || r.Repository.SnapshotCount != 2 {
			t.Errorf("post actions %q, repository %+v", r.PostActions, r.Repository)
		}
		if !slices.ContainsFunc(snapshots(t, repo), func(s Snapshot) bool { return s.ShortID == r.Snapshots[0].Name }) {
			t.Errorf("snapshot %s is not in the repository", r.Snapshots[0].Name)
		}
		if n := len(lockIDs(t, repo)); n != 1 {
			t.Errorf("%d locks, want the dead pod's", n)
		}
	})

	t.Run("killed backup, sole writer: the next backup succeeds at once", func(t *testing.T) {
		if len(lockIDs(t, repo)) == 0 {
			leaveLock(t, repo, false)
		}
		run := backup(t, repo, srcTarget, append(args, "--sole-writer=true")...)
		mustSucceed(t, run)
		t.Logf("backup with the dead pod's lock took %s", run.Duration.Round(time.Millisecond))
		if run.Duration > 30*time.Second {
			t.Errorf("took %s: it waited for the lock", run.Duration)
		}
		r := run.Result
		if !reflect.DeepEqual(r.PostActions, []string{result.ActionApplyRetention, result.ActionVerifyIntegrity, result.ActionSendMetrics}) ||
			r.Repository.Integrity == nil || !*r.Repository.Integrity {
			t.Errorf("post actions %q, repository %+v", r.PostActions, r.Repository)
		}
		if !strings.Contains(run.Stderr, "removed lock") || !strings.Contains(run.Stderr, "host="+deadHost) {
			t.Errorf("the log does not say which lock was removed:\n%s", run.Stderr)
		}
		if n := len(lockIDs(t, repo)); n != 0 {
			t.Errorf("%d locks left", n)
		}
		assertHealthy(t, repo)
	})

	t.Run("killed prune, not sole writer: the backup waits and fails", func(t *testing.T) {
		before := len(snapshots(t, repo))
		leaveLock(t, repo, true)
		run := backup(t, repo, srcTarget, append(args, "--retry-lock=2s")...)
		mustFail(t, run, "no snapshot was created", "exit code 11", "exclusively")
		// The exclusive lock stops a locked listing too.
		if out, err := repo.Restic(ctxT(t), tools, "list", "snapshots", "--no-lock"); err != nil || len(strings.Fields(out)) != before {
			t.Errorf("snapshots %q (%v), want %d", out, err, before)
		}
	})

	t.Run("killed prune, sole writer: the backup succeeds at once", func(t *testing.T) {
		if len(lockIDs(t, repo)) == 0 {
			leaveLock(t, repo, true)
		}
		run := backup(t, repo, srcTarget, append(args, "--sole-writer=true")...)
		mustSucceed(t, run)
		t.Logf("backup with the dead pod's exclusive lock took %s", run.Duration.Round(time.Millisecond))
		if run.Duration > 30*time.Second {
			t.Errorf("took %s: it waited for the lock", run.Duration)
		}
		if len(run.Result.FailedActions) != 0 || len(lockIDs(t, repo)) != 0 {
			t.Errorf("failed actions %+v, locks %v", run.Result.FailedActions, lockIDs(t, repo))
		}
		assertHealthy(t, repo)
	})

	t.Run("killed prune, sole writer: a restore succeeds at once", func(t *testing.T) {
		want := tableChecksums(t, src, "shop")
		leaveLock(t, repo, true)
		mustExec(t, dst, "DROP DATABASE IF EXISTS shop")
		rr := restore(t, repo, dstTarget, "--sole-writer=true")
		mustSucceed(t, rr)
		t.Logf("restore with the dead pod's exclusive lock took %s", rr.Duration.Round(time.Millisecond))
		if got := tableChecksums(t, dst, "shop"); !reflect.DeepEqual(got, want) {
			t.Errorf("restored %v, want %v", got, want)
		}
		if n := len(lockIDs(t, repo)); n != 0 {
			t.Errorf("%d locks left", n)
		}
	})
}

// TestHalfInitialisedRepository: a location with key files but no config (what concurrent
// first backups left on a REST server) is reported as such, with what to do, and never
// initialised again.
func TestHalfInitialisedRepository(t *testing.T) {
	src := newServer(t)
	mustExec(t, src, shopSQL)
	target := targetDir(t, src, DBPassword)
	cases := []struct {
		name string
		repo func(t *testing.T) (*Repo, string)
	}{
		{"rest", func(t *testing.T) (*Repo, string) {
			r, _, data, _ := restRepo(t, "hoard", "rest-Pa55word")
			return r, filepath.Join(data, "demo-repo")
		}},
		{"local", localRepo},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo, dir := tc.repo(t)
			if _, err := repo.Restic(ctxT(t), tools, "init"); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, "config")); err != nil {
				t.Fatal(err)
			}
			keys := countFiles(t, filepath.Join(dir, "keys"))
			for i := 0; i < 2; i++ {
				run := backup(t, repo, target, "--mysql-args=--databases shop")
				mustFail(t, run, "is half-initialised: it has key files but no config file", "Hoard does not initialise over existing keys",
					"If the location holds no data, delete its keys/ directory (or the whole location) and run the backup again",
					"otherwise restore its config file from a copy", "repository already contains keys")
				r := run.Result
				if len(r.Snapshots) != 0 || len(r.FailedActions) != 1 || r.FailedActions[0].Action != result.ActionInitializeRepository || len(r.PreActions) != 0 {
					t.Errorf("result %+v", r)
				}
				if strings.Contains(r.Error, "rest-Pa55word") {
					t.Errorf("the error shows the REST password: %s", r.Error)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "config")); !os.IsNotExist(err) {
				t.Errorf("a config file appeared: %v", err)
			}
			if n := countFiles(t, filepath.Join(dir, "keys")); n != keys {
				t.Errorf("%d key files, were %d", n, keys)
			}
		})
	}
}

// TestUnlockBesideFirstCommand: the addon removes stale locks in the background while its
// backup opens the repository, both with the same fresh cache directory. restic creates a
// cache without locking, so a second process could read its version file before the first
// had written it ("unable to open cache: readVersion"), which failed a backup on the
// cluster. Unlock therefore never touches the cache.
func TestUnlockBesideFirstCommand(t *testing.T) {
	repo, _, _, _ := restRepo(t, "hoard", "rest-Pa55word")
	if _, err := repo.Restic(ctxT(t), tools, "init"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		cache := filepath.Join(t.TempDir(), "restic-cache")
		setup, err := restic.NewSetup(restic.Config{Provider: "rest", Endpoint: restEndpoint(t, repo), SecretDir: repo.SecretDir, CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		r := restic.New(setup, restic.Options{Binary: tools.Restic, BaseEnv: os.Environ(), TempDir: t.TempDir()})
		if i == 0 {
			if err := r.Unlock(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(cache); !os.IsNotExist(err) {
				t.Fatalf("restic unlock created the cache directory %s (stat: %v): it would race a command creating it", cache, err)
			}
			continue
		}
		unlocked := make(chan error, 1)
		go func() { unlocked <- r.Unlock(ctxT(t)) }()
		if _, err := r.Snapshots(ctxT(t), restic.Filter{}, 0); err != nil {
			t.Errorf("round %d: snapshots beside unlock: %v", i, err)
		}
		if err := <-unlocked; err != nil {
			t.Errorf("round %d: unlock beside snapshots: %v", i, err)
		}
	}
}
