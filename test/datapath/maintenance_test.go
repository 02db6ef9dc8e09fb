package datapath

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// A repository made by restic 0.12 (Stash's, format 1) is checked and upgraded to format 2;
// its snapshot still reads back byte for byte, and a second Migrate leaves it alone.
func TestMaintenanceMigrateStashEra(t *testing.T) {
	repo, dir := localRepo(t)
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
	data := filepath.Join(t.TempDir(), "dumpfile.sql")
	content := strings.Repeat("INSERT INTO t VALUES ('stash era');\n", 5000)
	if err := os.WriteFile(data, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	old("backup", data, "--host", "host-0")
	setup, err := restic.NewSetup(restic.Config{Provider: "local", Bucket: dir, SecretDir: repo.SecretDir})
	if err != nil {
		t.Fatal(err)
	}
	r := restic.New(setup, restic.Options{Binary: tools.Restic, BaseEnv: os.Environ(), TempDir: t.TempDir(), GracePeriod: 10 * time.Second})
	if cfg, err := r.CatConfig(ctx); err != nil || cfg.Version != 1 {
		t.Fatalf("config before: %+v, %v", cfg, err)
	}
	msg, err := maintenance.Migrate(ctx, r)
	if err != nil || !strings.HasPrefix(msg, "checked, then upgraded the repository from format 1 to 2") {
		t.Fatalf("Migrate: %q, %v", msg, err)
	}
	if cfg, err := r.CatConfig(ctx); err != nil || cfg.Version != 2 {
		t.Errorf("config after: %+v, %v", cfg, err)
	}
	got, err := repo.Restic(ctx, tools, "dump", "latest", data)
	if err != nil || got != content {
		t.Errorf("the Stash-era snapshot reads back %d bytes (%v), want %d", len(got), err, len(content))
	}
	if msg, err := maintenance.Migrate(ctx, r); err != nil || !strings.Contains(msg, "at format 2 already") {
		t.Errorf("second Migrate: %q, %v", msg, err)
	}
}
