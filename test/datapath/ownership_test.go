package datapath

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// configArgs are the backup flags of BackupConfiguration name, whose target is AppBinding name.
func configArgs(name string) []string {
	return []string{"--invoker-kind=BackupConfiguration", "--invoker-name=" + name, "--target-kind=AppBinding", "--target-name=" + name}
}

// ownTarget are the restore flags of a RestoreSession whose target is AppBinding name.
func ownTarget(name string) []string {
	return []string{"--target-kind=AppBinding", "--target-name=" + name}
}

// counterSQL makes database db with a table whose content changes with every bump.
func counterSQL(db string) string {
	return fmt.Sprintf("CREATE DATABASE %[1]s; USE %[1]s; CREATE TABLE %[1]s.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40));"+
		"INSERT INTO %[1]s.t (v) SELECT CONCAT('%[1]s ', seq) FROM seq_1_to_200;", db)
}

func bump(t *testing.T, m *MariaDB, db string, i int) {
	t.Helper()
	mustExec(t, m, fmt.Sprintf("INSERT INTO %s.t (v) VALUES ('backup %d')", db, i))
}

// perTarget counts the repository's snapshots by their target tag ("" for none).
func perTarget(t *testing.T, r *Repo) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, s := range snapshots(t, r) {
		target := ""
		for _, tag := range s.Tags {
			if v, ok := strings.CutPrefix(tag, "target="); ok {
				target = v
			}
		}
		out[target]++
	}
	return out
}

// databases lists the user databases of m.
func databases(t *testing.T, m *MariaDB) []string {
	t.Helper()
	var dbs []string
	for _, r := range mustQuery(t, m, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1") {
		dbs = append(dbs, r[0])
	}
	return dbs
}

func dropAll(t *testing.T, m *MariaDB) {
	t.Helper()
	for _, db := range databases(t, m) {
		mustExec(t, m, "DROP DATABASE "+Ident(db))
	}
}

// TestSharedRepository: two configurations back up different databases into one repository,
// both as host-0, each with keepLast 2 and prune. Each keeps exactly its own two snapshots,
// "latest" restores each target's own data, and a restore that cannot tell which target is
// meant refuses instead of loading another database.
func TestSharedRepository(t *testing.T) {
	srcA, srcB, dst := newServer(t), newServer(t), newServer(t)
	mustExec(t, srcA, counterSQL("alpha"))
	mustExec(t, srcB, counterSQL("beta"))
	targetA, targetB, targetDst := targetDir(t, srcA, DBPassword), targetDir(t, srcB, DBPassword), targetDir(t, dst, DBPassword)
	repo, _, _, _ := restRepo(t, "hoard", "rest-Pa55word")
	retention := []string{"--retention-keep-last=2", "--retention-prune=true"}

	var lastA, lastB string
	for i := 1; i <= 3; i++ {
		bump(t, srcA, "alpha", i)
		run := backup(t, repo, targetA, append(append(configArgs("db-a"), retention...), "--mysql-args=--databases alpha")...)
		mustSucceed(t, run)
		lastA = run.Result.Snapshots[0].Name
		if s := run.Result.Snapshots[0]; s.Target != "demo/AppBinding/db-a" || s.Hostname != "host-0" || s.Time == "" {
			t.Errorf("backup result snapshot %+v", s)
		}
	}
	wantA := tableChecksums(t, srcA, "alpha")
	for i := 1; i <= 3; i++ {
		bump(t, srcB, "beta", i)
		run := backup(t, repo, targetB, append(append(configArgs("db-b"), retention...), "--mysql-args=--databases beta")...)
		mustSucceed(t, run)
		lastB = run.Result.Snapshots[0].Name
		if i == 3 && (run.Result.Repository.SnapshotCount != 4 || run.Result.Repository.SnapshotsRemoved != 1) {
			t.Errorf("db-b's third backup: repository %+v, want 4 snapshots after removing 1", run.Result.Repository)
		}
	}
	wantB := tableChecksums(t, srcB, "beta")
	if got := perTarget(t, repo); !reflect.DeepEqual(got, map[string]int{"AppBinding/db-a": 2, "AppBinding/db-b": 2}) {
		t.Fatalf("snapshots per target after 3 backups each with keepLast 2: %v", got)
	}
	assertHealthy(t, repo)

	restoreOwn := func(name, db, wantSnap string, want map[string]string) {
		t.Helper()
		dropAll(t, dst)
		rr := restore(t, repo, targetDst, ownTarget(name)...)
		mustSucceed(t, rr)
		s := rr.Result.Snapshots[0]
		if s.Name != wantSnap || s.Target != "demo/AppBinding/"+name || s.Hostname != "host-0" || s.Time == "" {
			t.Errorf("restore of %s reports %+v, want snapshot %s", name, s, wantSnap)
		}
		if got := databases(t, dst); !reflect.DeepEqual(got, []string{db}) {
			t.Errorf("restoring %s's latest loaded databases %q", name, got)
		}
		if got := tableChecksums(t, dst, db); !reflect.DeepEqual(got, want) {
			t.Errorf("restored %v, want %v", got, want)
		}
	}
	t.Run("latest of db-a is db-a's", func(t *testing.T) { restoreOwn("db-a", "alpha", lastA, wantA) })
	t.Run("latest of db-b is db-b's", func(t *testing.T) { restoreOwn("db-b", "beta", lastB, wantB) })

	t.Run("a third target refuses and lists both", func(t *testing.T) {
		dropAll(t, dst)
		rr := restore(t, repo, targetDst, ownTarget("db-c")...)
		mustFail(t, rr, `snapshots of 2 targets from host "host-0"`, "none of them is this restore's own target demo/AppBinding/db-c",
			"demo/AppBinding/db-a (2 snapshots, newest ", "demo/AppBinding/db-b (2 snapshots, newest ",
			"params: [{name: sourceTarget, value: AppBinding/db-a}]", "sourceHost", "snapshot id")
		if got := databases(t, dst); len(got) != 0 {
			t.Errorf("a refused restore loaded %q", got)
		}
	})

	t.Run("sourceTarget names the one to restore", func(t *testing.T) {
		for _, source := range []string{"AppBinding/db-a", "demo/AppBinding/db-a"} {
			dropAll(t, dst)
			rr := restore(t, repo, targetDst, append(ownTarget("db-c"), "--source-target="+source)...)
			mustSucceed(t, rr)
			if s := rr.Result.Snapshots[0]; s.Name != lastA || s.Target != "demo/AppBinding/db-a" {
				t.Errorf("--source-target=%s restored %+v", source, s)
			}
			if got := tableChecksums(t, dst, "alpha"); !reflect.DeepEqual(got, wantA) {
				t.Errorf("restored %v, want %v", got, wantA)
			}
		}
		mustFail(t, restore(t, repo, targetDst, "--source-target=AppBinding/db-x"), "no snapshot of target demo/AppBinding/db-x")
	})
}

// TestKeepTags: keepTags keeps snapshots that have any one of the tags.
func TestKeepTags(t *testing.T) {
	src := newServer(t)
	mustExec(t, src, shopSQL)
	target := targetDir(t, src, DBPassword)
	repo, _ := localRepo(t)
	sel := "--mysql-args=--databases shop"
	for i := 0; i < 4; i++ {
		mustSucceed(t, backup(t, repo, target, sel))
	}
	s := snapshots(t, repo)
	sort.Slice(s, func(i, j int) bool { return s[i].Time.Before(s[j].Time) })
	for i, tag := range []string{"monthly", "manual"} {
		if _, err := repo.Restic(ctxT(t), tools, "tag", "--add", tag, s[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	run := backup(t, repo, target, sel, "--retention-keep-last=1", "--retention-keep-tags=monthly,manual", "--retention-prune=true")
	mustSucceed(t, run)
	var kept []string
	for _, x := range snapshots(t, repo) {
		var extra []string
		for _, tag := range x.Tags {
			if tag == "monthly" || tag == "manual" {
				extra = append(extra, tag)
			}
		}
		kept = append(kept, strings.Join(extra, ","))
		if len(extra) == 0 && x.ShortID != run.Result.Snapshots[0].Name {
			t.Errorf("kept untagged %s, which is not the last", x.ShortID)
		}
	}
	sort.Strings(kept)
	if want := []string{"", "manual", "monthly"}; !reflect.DeepEqual(kept, want) {
		t.Errorf("kept snapshots with tags %q, want %q (the last, the monthly and the manual one)", kept, want)
	}
	if run.Result.Repository.SnapshotsRemoved != 2 {
		t.Errorf("removed %d, want 2", run.Result.Repository.SnapshotsRemoved)
	}
	assertHealthy(t, repo)
}

// stashBackup writes a snapshot the way upstream Stash's MySQL addon did: restic 0.12,
// mysqldump piped into `restic backup --stdin --stdin-filename dumpfile.sql --host host-0`,
// no tags.
func stashBackup(t *testing.T, repo *Repo, m *MariaDB) string {
	t.Helper()
	script := fmt.Sprintf("set -o pipefail; %q --no-defaults --socket=%q --user=root --all-databases --single-transaction | %q backup --no-cache --stdin --stdin-filename dumpfile.sql --host host-0 --json",
		tools.MySQLDump, m.Socket, tools.Restic012)
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), repo.Env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Stash-style backup: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	i := strings.Index(last, `"snapshot_id":"`)
	if i < 0 {
		t.Fatalf("no snapshot id in %q", last)
	}
	return last[i+len(`"snapshot_id":"`):][:8]
}

// TestStashEraRepository: a repository written by restic 0.12 the way upstream Stash did
// (repository version 1, host-0, /dumpfile.sql, no tags) restores by "latest", by id and by
// Stash's <repository>-<short id> name; a Hoard configuration's retention on it never forgets
// those snapshots.
func TestStashEraRepository(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	mustExec(t, src, counterSQL("legacy"))
	dstTarget := targetDir(t, dst, DBPassword)
	repo, _ := restic012Repo(t)
	first := stashBackup(t, repo, src)
	wantFirst := tableChecksums(t, src, "legacy")
	bump(t, src, "legacy", 1)
	second := stashBackup(t, repo, src)
	wantSecond := tableChecksums(t, src, "legacy")
	if cfg, err := repo.Restic(ctxT(t), tools, "cat", "config"); err != nil || !strings.Contains(cfg, `"version": 1`) {
		t.Fatalf("repository config %s (%v), want version 1", cfg, err)
	}
	for _, s := range snapshots(t, repo) {
		if s.Hostname != "host-0" || !reflect.DeepEqual(s.Paths, []string{"/dumpfile.sql"}) || len(s.Tags) != 0 {
			t.Fatalf("not a Stash-era snapshot: %+v", s)
		}
	}

	check := func(t *testing.T, rr *AddonRun, wantSnap string, want map[string]string) {
		t.Helper()
		mustSucceed(t, rr)
		if s := rr.Result.Snapshots[0]; s.Name != wantSnap || s.Target != "" || s.Hostname != "host-0" {
			t.Errorf("restored %+v, want snapshot %s without a target", s, wantSnap)
		}
		if got := tableChecksums(t, dst, "legacy"); !reflect.DeepEqual(got, want) {
			t.Errorf("restored %v, want %v", got, want)
		}
	}
	t.Run("latest", func(t *testing.T) {
		dropAll(t, dst)
		check(t, restore(t, repo, dstTarget, ownTarget("mysql")...), second, wantSecond)
	})
	t.Run("by id", func(t *testing.T) {
		dropAll(t, dst)
		check(t, restore(t, repo, dstTarget, append(ownTarget("mysql"), "--snapshot="+first)...), first, wantFirst)
	})
	t.Run("by Stash's snapshot name", func(t *testing.T) {
		dropAll(t, dst)
		check(t, restore(t, repo, dstTarget, "--snapshot=local-repo-"+first), first, wantFirst)
	})

	t.Run("Hoard retention keeps the Stash snapshots", func(t *testing.T) {
		srcTarget := targetDir(t, src, DBPassword)
		for i := 0; i < 2; i++ {
			bump(t, src, "legacy", 10+i)
			mustSucceed(t, backup(t, repo, srcTarget, append(configArgs("mysql"), "--retention-keep-last=1", "--retention-prune=true", "--mysql-args=--databases legacy")...))
		}
		if got := perTarget(t, repo); !reflect.DeepEqual(got, map[string]int{"": 2, "AppBinding/mysql": 1}) {
			t.Errorf("snapshots per target after Hoard's keepLast 1: %v, want both Stash snapshots and one of Hoard's", got)
		}
		assertHealthy(t, repo)
		// restic 0.12 still reads the repository Hoard wrote to.
		cmd := exec.Command(tools.Restic012, "check", "--no-cache")
		cmd.Env = append(os.Environ(), repo.Env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("restic 0.12 check after Hoard's backups: %v\n%s", err, out)
		}
		// latest is now the target's own snapshot; the Stash ones stay restorable by id.
		want := tableChecksums(t, src, "legacy")
		dropAll(t, dst)
		rr := restore(t, repo, dstTarget, ownTarget("mysql")...)
		mustSucceed(t, rr)
		if s := rr.Result.Snapshots[0]; s.Target != "demo/AppBinding/mysql" {
			t.Errorf("latest restored %+v, want the target's own snapshot", s)
		}
		if got := tableChecksums(t, dst, "legacy"); !reflect.DeepEqual(got, want) {
			t.Errorf("restored %v, want %v", got, want)
		}
		dropAll(t, dst)
		check(t, restore(t, repo, dstTarget, append(ownTarget("mysql"), "--snapshot="+second)...), second, wantSecond)
	})
}
