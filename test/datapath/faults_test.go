package datapath

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultFixture is a repository with one good snapshot, and what it holds.
type faultFixture struct {
	src, dst  *MariaDB
	repo      *Repo
	baseline  string // snapshot id
	want      map[string]string
	srcTarget string
	dstTarget string
}

func newFaultFixture(t *testing.T, repo *Repo) *faultFixture {
	t.Helper()
	f := &faultFixture{src: newServer(t), dst: newServer(t), repo: repo}
	mustExec(t, f.src, shopSQL)
	f.srcTarget, f.dstTarget = targetDir(t, f.src, DBPassword), targetDir(t, f.dst, DBPassword)
	run := backup(t, repo, f.srcTarget, "--mysql-args=--databases shop")
	mustSucceed(t, run)
	s := snapshots(t, repo)
	if len(s) != 1 {
		t.Fatalf("snapshots after the first backup: %+v", s)
	}
	f.baseline = s[0].ID
	f.want = tableChecksums(t, f.src, "shop")
	return f
}

// assertIntact: no snapshot was added, restic check passes, and the baseline snapshot still
// restores to what was backed up. checkArgs are extra arguments for restic check.
func (f *faultFixture) assertIntact(t *testing.T, checkArgs ...string) {
	t.Helper()
	if ids := snapshotIDs(snapshots(t, f.repo)); !reflect.DeepEqual(ids, []string{f.baseline}) {
		t.Errorf("snapshots are %v, want only the baseline %s", ids, f.baseline)
	}
	assertHealthy(t, f.repo, checkArgs...)
	mustExec(t, f.dst, "DROP DATABASE IF EXISTS shop")
	mustSucceed(t, restore(t, f.repo, f.dstTarget, "--snapshot="+f.baseline))
	if got := tableChecksums(t, f.dst, "shop"); !reflect.DeepEqual(got, f.want) {
		t.Errorf("baseline restored to %v, want %v", got, f.want)
	}
}

func TestFaults(t *testing.T) {
	repo, repoDir := localRepo(t)
	f := newFaultFixture(t, repo)

	t.Run("database down", func(t *testing.T) {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(t.TempDir(), "target")
		if err := WriteTarget(target, "127.0.0.1", port, DBUser, DBPassword); err != nil {
			t.Fatal(err)
		}
		run := backup(t, repo, target, "--wait-timeout=3")
		mustFail(t, run, "failed to connect to the database", "not ready after 3s", "Can't connect to server on '127.0.0.1'")
		if run.Duration < 3*time.Second || run.Duration > 30*time.Second {
			t.Errorf("took %s, want the 3s wait", run.Duration)
		}
		f.assertIntact(t)
	})

	t.Run("wrong database password", func(t *testing.T) {
		run := backup(t, repo, targetDir(t, f.src, "not-the-password"), "--wait-timeout=120")
		mustFail(t, run, "failed to connect to the database", "ERROR 1045", "Access denied for user 'hoard'")
		// Access denied does not get better by waiting.
		if run.Duration > 30*time.Second {
			t.Errorf("took %s: a refused password must fail at once", run.Duration)
		}
		f.assertIntact(t)
	})

	t.Run("wrong restic password", func(t *testing.T) {
		bad, err := NewRepo(filepath.Join(t.TempDir(), "secret"), []string{"--provider=local", "--bucket=" + repoDir},
			map[string]string{"RESTIC_PASSWORD": "not-the-restic-password"})
		if err != nil {
			t.Fatal(err)
		}
		run := backup(t, bad, f.srcTarget)
		mustFail(t, run, "failed to open the restic repository", "wrong repository password (exit code 12)")
		f.assertIntact(t)
	})

	t.Run("missing storage secret key", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "secret")
		bad, err := NewRepo(dir, []string{"--provider=local", "--bucket=" + repoDir}, map[string]string{"OTHER": "x"})
		if err != nil {
			t.Fatal(err)
		}
		mustFail(t, backup(t, bad, f.srcTarget), "storage secret "+dir+" has no key RESTIC_PASSWORD")
	})

	t.Run("mysqldump fails", func(t *testing.T) {
		run := backup(t, repo, f.srcTarget, "--mysql-args=--databases no_such_db")
		mustFail(t, run, "no snapshot was created", "mysqldump exited with code 2", "Unknown database 'no_such_db'")
		f.assertIntact(t)
	})

	t.Run("arguments overriding the connection are refused", func(t *testing.T) {
		// Where the credentials would go: any connection to it is counted.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int32
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
		t.Cleanup(func() { ln.Close() })
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		for _, c := range []struct {
			kind, args, named string
		}{
			{"backup", "--databases shop --host=127.0.0.1 --port=" + port, `"--host=127.0.0.1"`},
			{"backup", "--databases shop -P" + port + " -h127.0.0.1", `"-P` + port + `"`},
			{"backup", "--all-databases --defaults-extra-file=/etc/hostname", `"--defaults-extra-file=/etc/hostname"`},
			{"restore", "shop --loose-port=" + port + " --hos=127.0.0.1", `"--loose-port=` + port + `"`},
			{"restore", "-uroot shop", `"-uroot"`},
		} {
			var run *AddonRun
			if c.kind == "backup" {
				run = backup(t, repo, f.srcTarget, "--mysql-args="+c.args, "--wait-timeout=5")
			} else {
				run = restore(t, repo, f.dstTarget, "--mysql-args="+c.args, "--wait-timeout=5")
			}
			mustFail(t, run, "--mysql-args refused", c.named, "override the target's connection")
			// Refused before anything ran: no wait for the database, no restic.
			if run.Duration > 5*time.Second {
				t.Errorf("%s %q took %s: something ran before the refusal", c.kind, c.args, run.Duration)
			}
		}
		if n := accepted.Load(); n != 0 {
			t.Errorf("%d connections reached the server named in the arguments", n)
		}
		f.assertIntact(t)
	})

	t.Run("restore: unknown snapshot", func(t *testing.T) {
		mustFail(t, restore(t, repo, f.dstTarget, "--snapshot=deadbeef"), "the repository has no snapshot deadbeef")
	})

	t.Run("restore: no snapshot of the source host", func(t *testing.T) {
		// The dump of "latest" starts before the lookup has answered: the lookup's error wins.
		mustFail(t, restore(t, repo, f.dstTarget, "--source-hostname=nobody"), `the repository has no snapshot of dumpfile.sql from host "nobody"`)
	})

	t.Run("restore: mysql fails", func(t *testing.T) {
		run := restore(t, repo, f.dstTarget, "--mysql-args=no_such_db")
		mustFail(t, run, "restore failed", "mysql failed (exit code 1)", "Unknown database 'no_such_db'")
		// mysql stopped before the first statement: the database is as it was.
		if strings.Contains(run.Result.Error, "partly restored") {
			t.Errorf("a restore that changed nothing says: %s", run.Result.Error)
		}
	})

	t.Run("server killed mid-dump", func(t *testing.T) {
		victim := newServer(t)
		mustExec(t, victim, bigSQL)
		release := lockTable(t, victim, "big.z_locked")
		a, err := tools.StartAddon(filepath.Join(t.TempDir(), "out"), addonArgs(t, "backup-mysql", repo, targetDir(t, victim, DBPassword), "--mysql-args=--databases big")...)
		if err != nil {
			t.Fatal(err)
		}
		waitDumpBlocked(t, victim, a)
		victim.Kill()
		release()
		run, err := a.Wait()
		if err != nil {
			t.Fatal(err)
		}
		mustFail(t, run, "no snapshot was created", "mysqldump exited with code", "Lost connection to server during query")
		f.assertIntact(t)
	})

	t.Run("restic killed mid-upload", func(t *testing.T) {
		victim := newServer(t)
		mustExec(t, victim, bigSQL)
		release := lockTable(t, victim, "big.z_locked")
		packsBefore := countFiles(t, filepath.Join(repoDir, "data"))
		a, err := tools.StartAddon(filepath.Join(t.TempDir(), "out"), addonArgs(t, "backup-mysql", repo, targetDir(t, victim, DBPassword), "--mysql-args=--databases big")...)
		if err != nil {
			t.Fatal(err)
		}
		waitDumpBlocked(t, victim, a)
		// The dump of a_big (~80 MiB) is through: restic has written pack files by now.
		waitFor(t, "restic to upload pack files", func() bool { return countFiles(t, filepath.Join(repoDir, "data")) > packsBefore })
		all, _ := processes()
		tree := descendants(all, a.Cmd.Process.Pid)
		killAtCleanup(t, tree)
		r, ok := tree["restic"]
		if !ok {
			t.Fatalf("no restic below the addon: %v", tree)
		}
		if err := syscall.Kill(r.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		run, err := a.Wait()
		if err != nil {
			t.Fatal(err)
		}
		mustFail(t, run, "no snapshot was created", "restic backup failed: killed by a signal (signal: killed)")
		release()
		if n := countFiles(t, filepath.Join(repoDir, "locks")); n == 0 {
			t.Fatal("the killed restic left no lock: the test proves nothing")
		}
		// check needs an exclusive lock, which the stale lock blocks until the next backup
		// clears it; --no-lock checks the same structure.
		f.assertIntact(t, "--no-lock")

		// The next backup runs without anyone removing the stale lock, and so does retention,
		// which needs an exclusive lock.
		next := backup(t, repo, f.srcTarget, "--mysql-args=--databases shop", "--retention-keep-last=5")
		mustSucceed(t, next)
		if n := countFiles(t, filepath.Join(repoDir, "locks")); n != 0 {
			t.Errorf("%d locks left after the next backup", n)
		}
		assertHealthy(t, repo)
		if s := snapshots(t, repo); len(s) != 2 {
			t.Errorf("snapshots after the next backup: %+v", s)
		}
	})

	t.Run("restore stopped as when its pod is deleted", func(t *testing.T) {
		// The kubelet sends SIGTERM to the addon. restic must stop first and remove its lock:
		// killing mysql first made restic die of SIGPIPE with the lock left behind.
		r, rdir := localRepo(t)
		src := newServer(t)
		mustExec(t, src, bigSQL)
		mustSucceed(t, backup(t, r, targetDir(t, src, DBPassword), "--mysql-args=--databases big"))
		dst := newServer(t)
		mustExec(t, dst, "CREATE DATABASE big; CREATE TABLE big.a_big (id INT PRIMARY KEY)")
		release := lockTable(t, dst, "big.a_big")
		defer release()
		a, err := tools.StartAddon(filepath.Join(t.TempDir(), "out"), addonArgs(t, "restore-mysql", r, targetDir(t, dst, DBPassword))...)
		if err != nil {
			t.Fatal(err)
		}
		// mysql waits for the lock at the dump's first DROP TABLE; restic fills the pipe and
		// waits too, holding its repository lock.
		waitDumpBlocked(t, dst, a)
		waitFor(t, "restic's lock", func() bool { return countFiles(t, filepath.Join(rdir, "locks")) > 0 })
		if err := a.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		run, err := a.Wait()
		if err != nil {
			t.Fatal(err)
		}
		// restic was interrupted (and so removed its lock) before mysql went away: with mysql
		// killed first, the error was mysql's and restic died of SIGPIPE.
		mustFail(t, run, "the restore was stopped by a termination signal", "the database may be partly restored", "restic dump failed")
		if run.Duration > 20*time.Second {
			t.Errorf("stopping took %s: it must fit in a pod's 30 s grace period", run.Duration)
		}
		if n := countFiles(t, filepath.Join(rdir, "locks")); n != 0 {
			t.Errorf("the stopped restore left %d lock(s) in the repository", n)
		}
		assertHealthy(t, r)
	})

	t.Run("stale exclusive lock", func(t *testing.T) {
		// restic key passwd holds an exclusive lock while it reads the new password: from a
		// FIFO nobody writes to, it holds it until killed, like a prune killed with its pod.
		fifo := filepath.Join(t.TempDir(), "new-password")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		before := len(snapshots(t, repo))
		locksBefore := countFiles(t, filepath.Join(repoDir, "locks"))
		holder := exec.Command(tools.Restic, "key", "passwd", "--no-cache", "--new-password-file", fifo)
		holder.Env = append(os.Environ(), repo.Env...)
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "restic key passwd to lock the repository", func() bool {
			return countFiles(t, filepath.Join(repoDir, "locks")) > locksBefore
		})
		if err := holder.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = holder.Wait()
		if _, err := repo.Restic(ctxT(t), tools, "list", "snapshots"); err == nil {
			// list takes a non-exclusive lock: the exclusive one must stop it, or this
			// test would not prove that the backup clears it.
			t.Fatal("the killed restic's exclusive lock does not block a backup")
		}

		run := backup(t, repo, f.srcTarget, "--mysql-args=--databases shop", "--retry-lock=1m")
		mustSucceed(t, run)
		if n := countFiles(t, filepath.Join(repoDir, "locks")); n != 0 {
			t.Errorf("%d locks left after the backup", n)
		}
		if s := snapshots(t, repo); len(s) != before+1 {
			t.Errorf("%d snapshots after the backup, want %d", len(s), before+1)
		}
		assertHealthy(t, repo)
	})
}

// TestStorageDown: the repository server is down; the backup fails within the storage timeout
// and the repository is intact once the server is back.
func TestStorageDown(t *testing.T) {
	repo, rest, data, port := restRepo(t, "hoard", "rest-Pa55word")
	f := newFaultFixture(t, repo)
	rest.Kill()

	run := backup(t, repo, f.srcTarget, "--storage-timeout=3s")
	mustFail(t, run, "failed to open the restic repository", "did not respond within 3s", "connection refused")
	if run.Duration > 60*time.Second {
		t.Errorf("took %s with a 3s storage timeout", run.Duration)
	}

	restarted, err := tools.StartRestServer(data, port, htpasswdSHA("hoard", "rest-Pa55word"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restarted.Kill)
	f.assertIntact(t)
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		// restic's local backend writes a file under a temporary name first: only files that
		// made it count (a lock being written when its restic is killed is no lock).
		if fi.Mode().IsRegular() && !strings.Contains(fi.Name(), "-tmp-") {
			n++
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond for up to two minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
