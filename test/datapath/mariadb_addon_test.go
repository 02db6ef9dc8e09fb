package datapath

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/test/tasksfile"
)

// stashMariaDBBackup writes a snapshot the way Stash's MariaDB addon (backup-mariadb) did, as
// recorded in docs/stash-mariadb-addon.md: restic 0.12, `mysqldump -u USER -h HOST --port=PORT
// <args>` with the password in MYSQL_PWD, piped into `restic backup --stdin --stdin-filename
// dumpfile.sql --host host-0`, no tags. --no-defaults only keeps this machine's my.cnf out.
func stashMariaDBBackup(t *testing.T, repo *Repo, m *MariaDB, args string) string {
	t.Helper()
	script := fmt.Sprintf("set -o pipefail; %q --no-defaults -u %q -h 127.0.0.1 --port=%d %s | %q backup --no-cache --stdin --stdin-filename dumpfile.sql --host host-0 --json",
		tools.MySQLDump, DBUser, m.Port, args, tools.Restic012)
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(append(os.Environ(), repo.Env...), "MYSQL_PWD="+DBPassword)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Stash MariaDB-style backup: %v\n%s%s", err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	i := strings.Index(last, `"snapshot_id":"`)
	if i < 0 {
		t.Fatalf("no snapshot id in %q", last)
	}
	return last[i+len(`"snapshot_id":"`):][:8]
}

// shippedFunctionArgs are the args of Function name in tasks/mysql-addon.yaml with its
// placeholders resolved from vars, as the operator resolves them for a Job (jobspec.Substitute).
func shippedFunctionArgs(t *testing.T, name string, vars map[string]string) []string {
	return tasksfile.MustArgs(t, name, vars, jobspec.Substitute)
}

// TestStashMariaDBAddonRepository: a repository Stash's MariaDB addon wrote with restic 0.12
// (the guide's BackupConfiguration: args --databases testdb) restores through Hoard's
// mariadb-restore-10.5.8 Function, its args resolved as the operator resolves them, into a
// second server: equal checksums of testdb, and testdb is the only database restored.
func TestStashMariaDBAddonRepository(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	mustExec(t, src, counterSQL("testdb"))
	mustExec(t, src, counterSQL("otherdb"))
	want := tableChecksums(t, src, "testdb")

	repo, dir := restic012Repo(t)
	snap := stashMariaDBBackup(t, repo, src, "--databases testdb")
	bump(t, src, "testdb", 1) // the source moves on after the backup

	if cfg, err := repo.Restic(ctxT(t), tools, "cat", "config"); err != nil || !strings.Contains(cfg, `"version": 1`) {
		t.Fatalf("repository config %s (%v), want version 1 (restic 0.12)", cfg, err)
	}
	snaps := snapshots(t, repo)
	if len(snaps) != 1 || snaps[0].Hostname != "host-0" || !reflect.DeepEqual(snaps[0].Paths, []string{"/dumpfile.sql"}) || len(snaps[0].Tags) != 0 {
		t.Fatalf("not the Stash MariaDB addon's layout: %+v", snaps)
	}
	dump, err := repo.Restic(ctxT(t), tools, "dump", snap, "/dumpfile.sql")
	if err != nil {
		t.Fatal(err)
	}
	var created []string
	for _, line := range strings.Split(dump, "\n") {
		if strings.HasPrefix(line, "CREATE DATABASE") {
			created = append(created, line)
		}
	}
	if len(created) != 1 || !strings.Contains(created[0], "`testdb`") {
		t.Fatalf("the snapshot creates databases %q, want only testdb", created)
	}

	// The Function's args as a Job of a RestoreSession with task mariadb-restore-10.5.8 gets
	// them (implicit variables and the Task's params), then what the Job's mounts fix: the
	// storage Secret, the target's connection files and a scratch directory.
	vars := map[string]string{
		"REPOSITORY_PROVIDER": "local", "REPOSITORY_BUCKET": dir, "NAMESPACE": "demo",
		"TARGET_KIND": "AppBinding", "TARGET_NAME": "sample-mariadb", "RESTORE_SESSION": "sample-mariadb-restore",
		"RESTORE_SNAPSHOTS": "latest", "SOURCE_HOSTNAME": "host-0", "HOSTNAME": "host-0", "ENABLE_CACHE": "false",
		"waitTimeout": strconv.Itoa(30), "outputDir": filepath.Join(t.TempDir(), "out"), "secretVolume": "secret-volume",
	}
	args := shippedFunctionArgs(t, "mariadb-restore-10.5.8", vars)
	if args[0] != "restore-mysql" {
		t.Fatalf("Function mariadb-restore-10.5.8 runs %q, want restore-mysql", args[0])
	}
	args = append(args, "--secret-dir="+repo.SecretDir, "--scratch-dir="+t.TempDir(),
		"--target-dir="+targetDir(t, dst, DBPassword), "--termination-log=/nonexistent/termination-log")
	rr := runAddon(t, args...)
	mustSucceed(t, rr)
	if s := rr.Result.Snapshots[0]; s.Name != snap || s.Hostname != "host-0" || s.Target != "" {
		t.Errorf("restored snapshot %+v, want %s from host-0 without a target", s, snap)
	}
	if got := databases(t, dst); !reflect.DeepEqual(got, []string{"testdb"}) {
		t.Errorf("restored databases %q, want only testdb", got)
	}
	got := tableChecksums(t, dst, "testdb")
	t.Logf("source at backup: %v; restored: %v", want, got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restored %v, want %v (the source when Stash backed it up)", got, want)
	}
}
