package datapath

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNoSecretsInArgvOrOutput samples the command line of every process on the machine while a
// backup runs (with every child alive at one moment, held there by a locked table), and
// checks the addon's output: the database password, the restic password and the REST
// server's password appear nowhere.
func TestNoSecretsInArgvOrOutput(t *testing.T) {
	const restPassword = "rest-S3cret-pw"
	secrets := []string{DBPassword, resticPassword, restPassword}
	repo, _, _, _ := restRepo(t, "hoard", restPassword)
	src := newServer(t)
	mustExec(t, src, shopSQL+"\nCREATE TABLE shop.z_locked (id INT PRIMARY KEY); INSERT INTO shop.z_locked VALUES (1);")
	scratch := t.TempDir()

	var (
		stop    atomic.Bool
		mu      sync.Mutex
		leaks   []string
		samples int
		seen    = map[string]bool{}
		wg      sync.WaitGroup
	)
	scan := func(root int) {
		all, raw := processes()
		mu.Lock()
		defer mu.Unlock()
		samples++
		for pid, cmdline := range raw {
			for _, s := range secrets {
				if strings.Contains(cmdline, s) {
					leaks = append(leaks, strings.ReplaceAll(cmdline, "\x00", " ")+" (pid "+itoa(pid)+")")
				}
			}
		}
		for name := range descendants(all, root) {
			if name != "." {
				seen[name] = true
			}
		}
	}

	release := lockTable(t, src, "shop.z_locked")
	a, err := tools.StartAddon(filepath.Join(t.TempDir(), "out"), append(addonArgs(t, "backup-mysql", repo, targetDir(t, src, DBPassword), "--mysql-args=--databases shop"), "--scratch-dir="+scratch)...)
	if err != nil {
		t.Fatal(err)
	}
	root := a.Cmd.Process.Pid
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			scan(root)
			time.Sleep(time.Millisecond)
		}
	}()

	waitDumpBlocked(t, src, a)
	scan(root)
	all, _ := processes()
	tree := descendants(all, root)
	for _, want := range []string{"restic", "hoard-mysql-addon dump-exec", "mysqldump"} {
		if _, ok := tree[want]; !ok {
			t.Errorf("%s is not running below the addon while the dump waits: %v", want, tree)
		}
	}
	// mysqldump gets a clean environment, not restic's (which holds the repository password).
	if p, ok := tree["mysqldump"]; ok {
		env, err := os.ReadFile("/proc/" + itoa(p.pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(env), s) {
				t.Errorf("mysqldump's environment holds a secret")
			}
		}
		// The option file with the password exists while mysqldump runs, private to its owner.
		files, _ := filepath.Glob(filepath.Join(scratch, "hoard-*", "client-*.cnf"))
		if len(files) != 1 {
			t.Errorf("option files: %v", files)
		} else if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("option file %s: %v %v", files[0], fi.Mode(), err)
		}
	}
	release()
	run, err := a.Wait()
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, run)

	if len(leaks) > 0 {
		t.Errorf("secrets on command lines:\n%s", strings.Join(leaks, "\n"))
	}
	t.Logf("%d samples of every process's command line; seen below the addon: %v", samples, keys(seen))
	if samples < 10 {
		t.Errorf("only %d samples", samples)
	}
	assertNoSecrets(t, run, secrets)
	if files, _ := filepath.Glob(filepath.Join(scratch, "hoard-*")); len(files) != 0 {
		t.Errorf("the work directory with the option file was left behind: %v", files)
	}

	// Failures quote restic's and mysql's messages: still no secrets.
	t.Run("failures", func(t *testing.T) {
		wrongDB := backup(t, repo, targetDir(t, src, "wrong-Db-Pa55word"))
		mustFail(t, wrongDB, "Access denied")
		assertNoSecrets(t, wrongDB, append(secrets, "wrong-Db-Pa55word"))

		bad, err := NewRepo(filepath.Join(t.TempDir(), "secret"), repo.Flags[:len(repo.Flags)-1],
			map[string]string{"RESTIC_PASSWORD": resticPassword, "REST_SERVER_USERNAME": "hoard", "REST_SERVER_PASSWORD": "wrong-Rest-pw"})
		if err != nil {
			t.Fatal(err)
		}
		wrongRest := backup(t, bad, targetDir(t, src, DBPassword), "--storage-timeout=5s")
		mustFail(t, wrongRest, "failed to open the restic repository")
		assertNoSecrets(t, wrongRest, append(secrets, "wrong-Rest-pw"))

		// Secrets of 1 to 3 characters are scrubbed too, as whole tokens (package scrub), and
		// the messages keep their sense.
		shortDB := backup(t, repo, targetDir(t, src, "q7"))
		mustFail(t, shortDB, "Access denied")
		assertNoSecrets(t, shortDB, append(secrets, "q7"))
		shortRest, err := NewRepo(filepath.Join(t.TempDir(), "secret"), repo.Flags[:len(repo.Flags)-1],
			map[string]string{"RESTIC_PASSWORD": "r", "REST_SERVER_USERNAME": "hoard", "REST_SERVER_PASSWORD": "z9"})
		if err != nil {
			t.Fatal(err)
		}
		shortRun := backup(t, shortRest, targetDir(t, src, DBPassword), "--storage-timeout=5s")
		mustFail(t, shortRun, "failed to open the restic repository")
		assertNoSecrets(t, shortRun, append(secrets, "z9", "r", "hoard:z9"))
	})
}

func assertNoSecrets(t *testing.T, run *AddonRun, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		for what, text := range map[string]string{"stdout": run.Stdout, "stderr": run.Stderr, "output.json": string(run.Output)} {
			if holdsSecret(text, s) {
				t.Errorf("%s holds the secret %q (raw, URL-escaped or base64):\n%s", what, s, text)
			}
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
