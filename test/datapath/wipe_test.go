package datapath

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/wipe"
)

// TestWipe: wipe-repository's two halves on real repositories. Local: only a restic
// repository is deleted, and only restic's files in it. Remote (rest-server): every snapshot
// is forgotten and the data pruned through the restic wrapper, even past a dead Job's lock
// when the operator says the wipe is the sole writer.
func TestWipe(t *testing.T) {
	src := newServer(t)
	mustExec(t, src, shopSQL)
	target := targetDir(t, src, DBPassword)
	sel := "--mysql-args=--databases shop"

	t.Run("local", func(t *testing.T) {
		repo, dir := localRepo(t)
		mustSucceed(t, backup(t, repo, target, sel))
		mustSucceed(t, backup(t, repo, target, sel))
		if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not restic's"), 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := wipe.LocalRepository(dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"snapshots", "index", "data", "locks", "keys", "config"}; !reflect.DeepEqual(rep.Removed, want) {
			t.Errorf("removed %q, want %q", rep.Removed, want)
		}
		if !reflect.DeepEqual(rep.Left, []string{"README.txt"}) {
			t.Errorf("left %q", rep.Left)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != "README.txt" {
			t.Errorf("directory after the wipe: %v", entries)
		}
		if _, err := repo.Restic(ctxT(t), tools, "snapshots"); err == nil {
			t.Error("the repository still opens")
		}

		// The same directory again: no longer a repository, so nothing is touched.
		if _, err := wipe.LocalRepository(dir); !errors.Is(err, wipe.ErrNotRepository) {
			t.Errorf("second wipe: %v, want a refusal", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "README.txt")); err != nil {
			t.Errorf("the refused wipe touched the directory: %v", err)
		}
	})

	t.Run("rest", func(t *testing.T) {
		repo, _, data, _ := restRepo(t, "hoard", "rest-Pa55word")
		for i := 0; i < 3; i++ {
			mustSucceed(t, backup(t, repo, target, sel, "--enable-cache=false"))
		}
		dir := filepath.Join(data, "demo-repo")
		leaveLock(t, repo, false)
		setup, err := restic.NewSetup(restic.Config{Provider: "rest", Endpoint: restEndpoint(t, repo), SecretDir: repo.SecretDir})
		if err != nil {
			t.Fatal(err)
		}
		var logged []string
		r := restic.New(setup, restic.Options{Binary: tools.Restic, BaseEnv: os.Environ(), TempDir: t.TempDir()})
		n, err := wipe.Remote(context.Background(), r, wipe.RemoteOptions{SoleWriter: true, Log: func(f string, a ...any) { logged = append(logged, f) }})
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("forgot %d snapshots, want 3", n)
		}
		if len(logged) == 0 {
			t.Error("the removed lock was not logged")
		}
		if s := snapshots(t, repo); len(s) != 0 {
			t.Errorf("snapshots left: %+v", s)
		}
		if n := countFiles(t, filepath.Join(dir, "data")); n != 0 {
			t.Errorf("%d data packs left after the prune", n)
		}
		for _, keep := range []string{"config", "keys"} {
			if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
				t.Errorf("restic's %s is gone: %v", keep, err)
			}
		}
		assertHealthy(t, repo)
	})
}

// restEndpoint is the --endpoint flag of a REST repository.
func restEndpoint(t *testing.T, r *Repo) string {
	t.Helper()
	for _, f := range r.Flags {
		if v, ok := strings.CutPrefix(f, "--endpoint="); ok {
			return v
		}
	}
	t.Fatal("not a REST repository")
	return ""
}
