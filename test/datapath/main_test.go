package datapath

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/result"
)

// tools and template are set up once by TestMain: the pinned binaries, the addon built from
// this tree, and a MariaDB data directory every server starts from.
var (
	tools    *Tools
	template string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	var err error
	if tools, err = FindTools(root); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	work, err := os.MkdirTemp("", "hoard-datapath-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(work)
	if err := tools.BuildAddon(work); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	template = filepath.Join(work, "template")
	if err := tools.NewTemplate(template); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// newServer starts a MariaDB that is killed when the test ends.
func newServer(t *testing.T, extra ...string) *MariaDB {
	t.Helper()
	m, err := tools.StartMariaDB(template, t.TempDir(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Kill)
	return m
}

func mustExec(t *testing.T, m *MariaDB, sql string) string {
	t.Helper()
	out, err := m.Exec(sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustQuery(t *testing.T, m *MariaDB, sql string) [][]string {
	t.Helper()
	rows, err := m.Query(sql)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// targetDir writes the connection files for m with the given password.
func targetDir(t *testing.T, m *MariaDB, password string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "target")
	if err := m.WriteTarget(dir, password); err != nil {
		t.Fatal(err)
	}
	return dir
}

const resticPassword = "r3stic-Pa55!word"

// localRepo is a repository in a local directory.
func localRepo(t *testing.T) (*Repo, string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "repo")
	r, err := NewRepo(filepath.Join(base, "secret"), []string{"--provider=local", "--bucket=" + dir}, map[string]string{"RESTIC_PASSWORD": resticPassword}, "RESTIC_REPOSITORY="+dir)
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

// restic012Repo is a repository in a local directory created by restic 0.12 (a version 1
// repository, as Stash wrote them).
func restic012Repo(t *testing.T) (*Repo, string) {
	t.Helper()
	r, dir := localRepo(t)
	init := exec.Command(tools.Restic012, "init", "--no-cache")
	init.Env = append(os.Environ(), r.Env...)
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("restic 0.12 init: %v\n%s", err, out)
	}
	return r, dir
}

// addonArgs are the flags the operator's Function passes, for repository r and database dir.
func addonArgs(t *testing.T, sub string, r *Repo, target string, extra ...string) []string {
	args := []string{sub}
	args = append(args, r.Flags...)
	args = append(args,
		"--scratch-dir="+t.TempDir(),
		"--target-dir="+target,
		"--namespace=demo",
		"--wait-timeout=30",
		"--storage-timeout=30s",
		"--termination-log=/nonexistent/termination-log",
	)
	if sub == "backup-mysql" {
		args = append(args, "--invoker-kind=BackupConfiguration", "--invoker-name=nightly", "--target-kind=AppBinding", "--target-name=shop")
	}
	return append(args, extra...)
}

func runAddon(t *testing.T, args ...string) *AddonRun {
	t.Helper()
	run, err := tools.RunAddon(filepath.Join(t.TempDir(), "out"), args...)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func backup(t *testing.T, r *Repo, target string, extra ...string) *AddonRun {
	t.Helper()
	return runAddon(t, addonArgs(t, "backup-mysql", r, target, extra...)...)
}

func restore(t *testing.T, r *Repo, target string, extra ...string) *AddonRun {
	t.Helper()
	return runAddon(t, addonArgs(t, "restore-mysql", r, target, extra...)...)
}

func mustSucceed(t *testing.T, run *AddonRun) {
	t.Helper()
	if run.ExitCode != 0 || run.Result.Phase != result.PhaseSucceeded {
		t.Fatalf("addon failed (exit %d): %s\nstderr:\n%s", run.ExitCode, run.Result.Error, run.Stderr)
	}
}

// mustFail checks a failed run: exit 1, phase Failed and an error holding every want.
func mustFail(t *testing.T, run *AddonRun, want ...string) {
	t.Helper()
	if run.ExitCode != 1 || run.Result.Phase != result.PhaseFailed {
		t.Fatalf("addon exit %d phase %s, want a failure\nstderr:\n%s", run.ExitCode, run.Result.Phase, run.Stderr)
	}
	t.Logf("failed as expected in %s: %s", run.Duration.Round(time.Millisecond), run.Result.Error)
	for _, w := range want {
		if !strings.Contains(run.Result.Error, w) {
			t.Errorf("error %q does not mention %q", run.Result.Error, w)
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func snapshots(t *testing.T, r *Repo) []Snapshot {
	t.Helper()
	s, err := r.Snapshots(ctxT(t), tools)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func snapshotIDs(s []Snapshot) []string {
	var ids []string
	for _, x := range s {
		ids = append(ids, x.ID)
	}
	return ids
}

// assertHealthy checks the repository with restic itself.
func assertHealthy(t *testing.T, r *Repo, args ...string) {
	t.Helper()
	if out, err := r.Restic(ctxT(t), tools, append([]string{"check"}, args...)...); err != nil {
		t.Fatalf("repository is not healthy: %v\n%s", err, out)
	}
}

// tableChecksums returns "db.table" -> "rows checksum" for the base tables of dbs.
func tableChecksums(t *testing.T, m *MariaDB, dbs ...string) map[string]string {
	t.Helper()
	var in []string
	for _, d := range dbs {
		in = append(in, sqlString(d))
	}
	rows := mustQuery(t, m, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE='BASE TABLE' AND TABLE_SCHEMA IN ("+strings.Join(in, ",")+") ORDER BY 1, 2")
	out := map[string]string{}
	var sql strings.Builder
	for _, r := range rows {
		q := Ident(r[0]) + "." + Ident(r[1])
		fmt.Fprintf(&sql, "SELECT %s, COUNT(*) FROM %s; CHECKSUM TABLE %s EXTENDED;\n", sqlString(r[0]+"."+r[1]), q, q)
	}
	if sql.Len() == 0 {
		return out
	}
	res := mustQuery(t, m, sql.String())
	for i := 0; i+1 < len(res); i += 2 {
		out[res[i][0]] = res[i][1] + " rows, checksum " + res[i+1][1]
	}
	return out
}
