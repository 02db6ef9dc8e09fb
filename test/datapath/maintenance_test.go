package datapath

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/maintenance"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/scrub"
)

// maintenanceRepo is an initialised local repository with one snapshot and a runner that
// opens it with the storage Secret's password, as a RepositoryOperation's Job does.
func maintenanceRepo(t *testing.T) (*Repo, *restic.Restic) {
	t.Helper()
	repo, dir := localRepo(t)
	if _, err := repo.Restic(ctxT(t), tools, "init"); err != nil {
		t.Fatal(err)
	}
	// A snapshot: something for the new password to open and for check to read.
	data := filepath.Join(t.TempDir(), "dump.sql")
	if err := os.WriteFile(data, []byte(strings.Repeat("INSERT INTO t VALUES (1);\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Restic(ctxT(t), tools, "backup", data, "--host", "host-0"); err != nil {
		t.Fatal(err)
	}
	setup, err := restic.NewSetup(restic.Config{Provider: "local", Bucket: dir, SecretDir: repo.SecretDir})
	if err != nil {
		t.Fatal(err)
	}
	r := restic.New(setup, restic.Options{Binary: tools.Restic, BaseEnv: os.Environ(), TempDir: t.TempDir(), GracePeriod: 10 * time.Second,
		Scrubber: scrub.New(setup.Secrets...)})
	return repo, r
}

// Key rotation's two Job steps against real restic: KeyAdd adds a key and opens the
// repository with the new password; KeyRemove, opened with the new password (the updated
// storage Secret), removes the old key, after which the old password no longer opens it.
// The key the Secret opens cannot be removed.
func TestMaintenanceKeyRotation(t *testing.T) {
	repo, r := maintenanceRepo(t)
	ctx := ctxT(t)

	list, err := maintenance.KeyList(ctx, r)
	if err != nil || len(list.Keys) != 1 || !list.Keys[0].Current || list.CurrentKeyID != list.Keys[0].ID {
		t.Fatalf("KeyList: %+v, %v", list, err)
	}
	oldKey := list.CurrentKeyID

	pwFile := filepath.Join(t.TempDir(), "RESTIC_PASSWORD")
	const newPassword = "n3w-Pa55word-0f-the-rotation"
	if err := os.WriteFile(pwFile, []byte(newPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	added, err := maintenance.KeyAdd(ctx, r, pwFile)
	if err != nil {
		t.Fatalf("KeyAdd: %v", err)
	}
	if added.CurrentKeyID != oldKey || added.KeyID == "" || added.KeyID == oldKey || len(added.Keys) != 2 {
		t.Fatalf("KeyAdd outcome %+v", added)
	}
	if want := "added key " + added.KeyID[:8] + " and opened the repository with its password; the storage Secret's password opens key " + oldKey[:8]; added.Message != want {
		t.Errorf("message %q, want %q", added.Message, want)
	}

	// The storage Secret now holds the new password: the Job opens the repository with it.
	withNew := r.WithPassword(newPassword)
	if _, err := maintenance.KeyRemove(ctx, r, oldKey[:8]); err == nil || !strings.Contains(err.Error(), "is the one the storage Secret's password opens") {
		t.Errorf("KeyRemove of the current key: %v", err)
	}
	removed, err := maintenance.KeyRemove(ctx, withNew, oldKey[:8])
	if err != nil {
		t.Fatalf("KeyRemove: %v", err)
	}
	if removed.CurrentKeyID != added.KeyID || !strings.HasPrefix(removed.Message, "removed key "+oldKey[:8]) {
		t.Errorf("KeyRemove outcome %+v", removed)
	}
	keys, err := withNew.KeyList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != added.KeyID {
		t.Errorf("keys after the rotation %+v, want only %s", keys, added.KeyID[:8])
	}
	// The old password opens nothing any more; the new one opens the snapshots.
	if _, err := repo.Restic(ctx, tools, "snapshots"); err == nil {
		t.Error("the old password still opens the repository")
	}
	repo.Env = append(repo.Env, "RESTIC_PASSWORD="+newPassword)
	if _, err := repo.Restic(ctx, tools, "snapshots"); err != nil {
		t.Errorf("the new password does not open the repository: %v", err)
	}
	if _, err := maintenance.KeyRemove(ctx, withNew, "0badc0de"); err == nil || !strings.Contains(err.Error(), "has no key 0badc0de") {
		t.Errorf("KeyRemove of an unknown key: %v", err)
	}
}

// Unlock as sole writer removes every lock, a live-looking one included; Check reads the data.
func TestMaintenanceUnlockAndCheck(t *testing.T) {
	repo, r := maintenanceRepo(t)
	ctx := ctxT(t)
	leaveLock(t, repo, true)
	if n := len(lockIDs(t, repo)); n != 1 {
		t.Fatalf("%d locks before unlock, want 1", n)
	}
	msg, err := maintenance.Unlock(ctx, r, true)
	if err != nil || !strings.HasPrefix(msg, "removed 1 lock(s): exclusive lock ") || !strings.Contains(msg, "on host "+deadHost) {
		t.Errorf("Unlock: %q, %v", msg, err)
	}
	if n := len(lockIDs(t, repo)); n != 0 {
		t.Errorf("%d locks after unlock", n)
	}
	if msg, err := maintenance.Unlock(ctx, r, true); err != nil || msg != "the repository had no locks" {
		t.Errorf("Unlock of an unlocked repository: %q, %v", msg, err)
	}
	msg, err = maintenance.Check(ctx, r, "100%")
	if err != nil || msg != "restic check of the structure and data subset 100% found no errors" {
		t.Errorf("Check: %q, %v", msg, err)
	}
}

// stashEraRepo fills repo, empty, the way Stash did: restic 0.12 (format 1, no compression)
// writes n snapshots of distinct, compressible SQL dumps of about 3 MiB each. It returns each
// snapshot's content by id; the dumps are all at path.
func stashEraRepo(t *testing.T, repo *Repo, n int) (path string, contents map[string]string) {
	t.Helper()
	ctx := ctxT(t)
	old := func(args ...string) string {
		cmd := exec.CommandContext(ctx, tools.Restic012, append(args, "--no-cache")...)
		cmd.Env = append(os.Environ(), repo.Env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("restic 0.12 %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	old("init")
	path = filepath.Join(t.TempDir(), "dumpfile.sql")
	contents = map[string]string{}
	for s := 0; s < n; s++ {
		var b strings.Builder
		for i := 0; b.Len() < 3<<20; i++ {
			fmt.Fprintf(&b, "INSERT INTO t VALUES (%d, %d, 'row %d of the stash era');\n", s, i, i)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		old("backup", path, "--host", "host-0")
		snaps := snapshots(t, repo)
		contents[snaps[len(snaps)-1].ID] = b.String()
	}
	return path, contents
}

// assertSnapshotsRead: the repository has exactly the snapshots of contents, restic check
// reads all of its data without an error, and each snapshot dumps back byte for byte.
func assertSnapshotsRead(t *testing.T, repo *Repo, path string, contents map[string]string) {
	t.Helper()
	ctx := ctxT(t)
	var want []string
	for id := range contents {
		want = append(want, id)
	}
	slices.Sort(want)
	got := snapshotIDs(snapshots(t, repo))
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("snapshots %v, want %v", got, want)
	}
	assertHealthy(t, repo, "--read-data")
	for id, content := range contents {
		if got, err := repo.Restic(ctx, tools, "dump", id, path); err != nil || got != content {
			t.Errorf("snapshot %s reads back %d bytes (%v), want %d", id[:8], len(got), err, len(content))
		}
	}
}

// dirSize is the bytes of the files under dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A repository made by restic 0.12 (Stash's, format 1) is checked, upgraded to format 2 and
// repacked compressed: its data takes less than half the room, and its snapshots still read
// back byte for byte. A second Migrate only repacks (nothing is left to repack).
func TestMaintenanceMigrateStashEra(t *testing.T) {
	repo, dir := localRepo(t)
	ctx := ctxT(t)
	path, contents := stashEraRepo(t, repo, 2)
	setup, err := restic.NewSetup(restic.Config{Provider: "local", Bucket: dir, SecretDir: repo.SecretDir})
	if err != nil {
		t.Fatal(err)
	}
	r := restic.New(setup, restic.Options{Binary: tools.Restic, BaseEnv: os.Environ(), TempDir: t.TempDir(), GracePeriod: 10 * time.Second})
	if cfg, err := r.CatConfig(ctx); err != nil || cfg.Version != 1 {
		t.Fatalf("config before: %+v, %v", cfg, err)
	}
	before := dirSize(t, filepath.Join(dir, "data"))
	msg, err := maintenance.Migrate(ctx, r, true, t.Logf)
	if err != nil || !strings.HasPrefix(msg, "checked, then upgraded the repository from format 1 to 2 and repacked its data compressed: ") {
		t.Fatalf("Migrate: %q, %v", msg, err)
	}
	after := dirSize(t, filepath.Join(dir, "data"))
	t.Logf("data of the Stash-era repository: %d bytes before the migration, %d after (%.1f%%); %s", before, after, 100*float64(after)/float64(before), msg)
	if after*2 > before {
		t.Errorf("the repository's data went from %d to %d bytes: want less than half", before, after)
	}
	if cfg, err := r.CatConfig(ctx); err != nil || cfg.Version != 2 {
		t.Errorf("config after: %+v, %v", cfg, err)
	}
	assertSnapshotsRead(t, repo, path, contents)
	if msg, err := maintenance.Migrate(ctx, r, true, t.Logf); err != nil || !strings.HasPrefix(msg, "the repository is at format 2 already and repacked") {
		t.Errorf("second Migrate: %q, %v", msg, err)
	}
}

// killingProxy forwards restic's requests to a rest-server. Once armed, it kills restic
// (SIGKILL, the pid its wrapper wrote to pidFile) at the first request of method for a file
// under dir, instead of forwarding it: a crash at exactly that step.
type killingProxy struct {
	next         http.Handler
	method, dir  string
	pidFile      string
	armed, fired atomic.Bool
}

func (p *killingProxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if p.armed.Load() && req.Method == p.method && strings.Contains(req.URL.Path, "/"+p.dir+"/") && !p.fired.Swap(true) {
		b, err := os.ReadFile(p.pidFile)
		pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && perr == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		http.Error(w, "killed", http.StatusInternalServerError)
		return
	}
	p.next.ServeHTTP(w, req)
}

// An interrupted repack loses nothing: restic is killed while the migration's prune writes
// the repacked data, writes the new index, deletes the old index and deletes the old data.
// Each time every snapshot still reads back byte for byte and restic check reads all data
// without an error; Migrate run again (it removes the killed restic's lock, as the sole
// writer) finishes the repack and the repository shrinks.
func TestMaintenanceMigrateRepackInterrupted(t *testing.T) {
	for _, step := range []struct{ method, dir string }{
		{http.MethodPost, "data"}, {http.MethodPost, "index"}, {http.MethodDelete, "index"}, {http.MethodDelete, "data"},
	} {
		t.Run(step.method+" "+step.dir, func(t *testing.T) {
			ctx := ctxT(t)
			port, err := FreePort()
			if err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(t.TempDir(), "rest-data")
			rest, err := tools.StartRestServer(data, port, "")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(rest.Kill)
			target, err := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			proxy := &killingProxy{next: httputil.NewSingleHostReverseProxy(target), method: step.method, dir: step.dir,
				pidFile: filepath.Join(t.TempDir(), "restic.pid")}
			srv := httptest.NewServer(proxy)
			t.Cleanup(srv.Close)
			repo, err := NewRepo(filepath.Join(t.TempDir(), "secret"), nil, map[string]string{"RESTIC_PASSWORD": resticPassword},
				"RESTIC_REPOSITORY=rest:"+srv.URL+"/repo")
			if err != nil {
				t.Fatal(err)
			}
			path, contents := stashEraRepo(t, repo, 2)
			setup, err := restic.NewSetup(restic.Config{Provider: "rest", Endpoint: srv.URL + "/repo", Bucket: "127.0.0.1", SecretDir: repo.SecretDir})
			if err != nil {
				t.Fatal(err)
			}
			// The wrapper records each restic's pid and execs it, so the kill hits restic itself.
			r := restic.New(setup, restic.Options{Binary: tools.Restic, BaseEnv: os.Environ(), TempDir: t.TempDir(), GracePeriod: 10 * time.Second,
				Wrapper: []string{"sh", "-c", `echo $$ > "$0"; exec "$@"`, proxy.pidFile}})
			before := dirSize(t, filepath.Join(data, "repo", "data"))

			proxy.armed.Store(true)
			_, err = maintenance.Migrate(ctx, r, true, t.Logf)
			proxy.armed.Store(false)
			if !proxy.fired.Load() {
				t.Fatalf("the migration never sent %s %s: %v", step.method, step.dir, err)
			}
			if err == nil || !strings.Contains(err.Error(), "but repacking its data compressed failed") || !strings.Contains(err.Error(), "run Migrate again") {
				t.Fatalf("Migrate killed at %s %s: %v", step.method, step.dir, err)
			}
			t.Logf("killed at %s %s: %v", step.method, step.dir, err)
			if _, err := repo.Restic(ctx, tools, "unlock", "--remove-all"); err != nil {
				t.Fatal(err)
			}
			assertSnapshotsRead(t, repo, path, contents)

			msg, err := maintenance.Migrate(ctx, r, true, t.Logf)
			if err != nil || !strings.HasPrefix(msg, "the repository is at format 2 already and repacked its data compressed") {
				t.Fatalf("Migrate again: %q, %v", msg, err)
			}
			after := dirSize(t, filepath.Join(data, "repo", "data"))
			t.Logf("data: %d bytes before, %d after the finished repack; %s", before, after, msg)
			if after*2 > before {
				t.Errorf("the repository's data went from %d to %d bytes: want less than half", before, after)
			}
			assertSnapshotsRead(t, repo, path, contents)
		})
	}
}
