//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFaults is issue 10's fault suite on the real cluster: eight ways a backup can be hurt,
// each in its own namespace with its own REST server and MariaDB. Each case ends with no good
// snapshot lost, a clean `restic check` (and no lock left) in every repository it used, and a
// clear status on the objects it made. The case that restarts the operator runs alone first;
// the others run side by side. A table of case and outcome is logged at the end.
//
//	E2E_KEEP_CLUSTER=1 test/e2e/run.sh -run 'TestFaults/concurrent/5-long-name'
func TestFaults(t *testing.T) {
	requireHoard(t)
	// Namespaces a failed run kept (their schedules may still fire) go first.
	mustKubectl(t, "", "delete", "namespaces", "-l", faultLabel, "--wait=false")
	table := &faultTable{}
	start := time.Now()
	defer func() {
		t.Logf("fault suite (issue 10) finished in %s:\n%s", time.Since(start).Round(time.Second), table)
	}()

	// Alone: every other case needs the operator.
	t.Run("3-operator-deleted", func(t *testing.T) {
		var d string
		table.record(t, "3 operator deleted", &d)
		caseOperatorDeleted(t, &d)
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, c := range []struct {
			name, row string
			run       func(*testing.T, *string)
		}{
			{"1-twenty-at-once", "1 twenty at once", caseTwentyAtOnce},
			{"2a-backup-pod-deleted", "2a backup pod deleted", func(t *testing.T, d *string) { caseBackupKilled(t, d, "pod") }},
			{"2b-restic-sigkilled", "2b restic SIGKILLed", func(t *testing.T, d *string) { caseBackupKilled(t, d, "restic") }},
			{"4-restore-recreated", "4 restore re-created", caseRestoreRecreated},
			{"5-long-name", "5 63-character name", caseLongName},
			{"6-wipeout-shared", "6 wipeOut shared location", caseWipeOutShared},
			{"7-storage-down", "7 storage down", caseStorageDown},
			{"8-database-restarted", "8 database restarted", caseDatabaseRestarted},
		} {
			// Side by side whatever go test's -parallel says (its default is the number of
			// CPUs, 2 here): t.Run from goroutines, each returning when its case ends.
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.Run(c.name, func(t *testing.T) {
					var d string
					table.record(t, c.row, &d)
					c.run(t, &d)
				})
			}()
		}
		wg.Wait()
	})
}

// requireHoard waits for the operator and the MySQL addon's Tasks.
func requireHoard(t *testing.T) {
	t.Helper()
	mustKubectl(t, "", "-n", operatorNamespace, "rollout", "status", "deploy/"+operatorRelease, "--timeout=180s")
	eventually(t, "Task mysql-backup-10.11 and mysql-restore-10.11", 2*time.Minute, 2*time.Second, func() (bool, string) {
		_, err := kubectl("", "get", "task", "mysql-backup-10.11", "mysql-restore-10.11")
		return err == nil, errString(err)
	})
}

// CPU limits on a backup's (or restore's) Job. At victimCPU a backup of bigData reads the
// dump for about half a minute, long enough for the operator's progress poll (every 10s) to
// show bytes before the test interrupts it (at 100m, 48 MB take about 6s). slowCPU makes a
// backup or restore of bigData last some 30s in all.
const (
	victimCPU = "20m"
	slowCPU   = "100m"
)

// backupContainer is the backup Job's container that runs mysqldump and restic (the Task's
// first step, Function mysql-backup-10.11).
const backupContainer = "mysql-backup-10-11-0"

// ---- case 1 ----

// caseTwentyAtOnce: 20 BackupConfigurations on one Repository, triggered in one apply. They
// run one at a time, in arrival order, the others Pending with RepositoryAvailable=False
// naming what they wait for; all 20 succeed and each keeps its own snapshot (keepLast 3 each,
// so a retention that took other configurations' snapshots for its own would leave 3).
func caseTwentyAtOnce(t *testing.T, detail *string) {
	const n = 20
	k := newCaseNamespace(t, "fault1-twenty")
	k.setup("mariadb")
	var stmts []string
	var bcs []string
	for i := 1; i <= n; i++ {
		stmts = append(stmts, fmt.Sprintf(`CREATE DATABASE db%02[1]d; CREATE TABLE db%02[1]d.t (id INT PRIMARY KEY, v VARCHAR(32)); INSERT INTO db%02[1]d.t VALUES (%[1]d, 'db%02[1]d');`, i))
	}
	k.sql("mariadb", strings.Join(stmts, "\n"))
	k.repository("shared", "shared", false)
	for i := 1; i <= n; i++ {
		target := fmt.Sprintf("db-%02d", i)
		bc := fmt.Sprintf("backup-%02d", i)
		k.apply(manifest(t, "fault-appbinding.yaml", "NAME", target, "SERVER", "mariadb"))
		k.backupConfiguration(bcSpec{Name: bc, Repo: "shared", Target: target, Args: fmt.Sprintf("--databases db%02d", i), Keep: 3})
		bcs = append(bcs, bc)
	}

	k.logf("%d BackupSessions in one apply", n)
	names := k.trigger(bcs...)
	started := time.Now()

	// Watch until all have finished: at most one unfinished Job per repository location at
	// any time, and a waiting session that says what it waits for.
	maxActive, waitSeen, polls := 0, "", 0
	lastLog := time.Now()
	var sessions []backupSession
	eventually(t, "all 20 sessions to finish", 15*time.Minute, 2*time.Second, func() (bool, string) {
		polls++
		active := map[string]int{}
		for _, j := range k.jobs() {
			if !j.finished() && j.Metadata.DeletionTimestamp == nil && j.Metadata.Labels["hoard.io/repository-location"] != "" {
				active[j.Metadata.Labels["hoard.io/repository-location"]]++
			}
		}
		for loc, c := range active {
			if c > maxActive {
				maxActive = c
			}
			if c > 1 {
				t.Errorf("%d unfinished Jobs use repository location %s at once", c, loc)
			}
		}
		sessions = k.sessions("")
		count := map[string]int{}
		for _, bs := range sessions {
			count[bs.Status.Phase]++
			c := bs.condition("RepositoryAvailable")
			if waitSeen == "" && bs.Status.Phase == "Pending" && c.Status == "False" && c.Reason == "WaitingForRepository" &&
				strings.Contains(c.Message, "BackupSession "+k.ns+"/") {
				waitSeen = bs.Metadata.Name + ": " + c.Message
			}
		}
		if time.Since(lastLog) > 20*time.Second {
			lastLog = time.Now()
			k.logf("sessions by phase: %v", count)
		}
		return len(sessions) == n && count["Succeeded"]+count["Failed"]+count["Skipped"] == n, fmt.Sprintf("by phase: %v", count)
	})
	took := time.Since(started).Round(time.Second)
	k.show("get", "backupsession")

	ok := 0
	snapOf := map[string]string{}
	for _, bs := range sessions {
		if bs.Status.Phase != "Succeeded" {
			t.Errorf("BackupSession %s: %s: %s", bs.Metadata.Name, bs.Status.Phase, bs.failure())
			continue
		}
		ok++
		snaps := bs.snapshots()
		if len(snaps) != 1 {
			t.Errorf("BackupSession %s reports snapshots %v, want one", bs.Metadata.Name, snaps)
			continue
		}
		snapOf[bs.Metadata.Labels["stash.appscode.com/invoker-name"]] = snaps[0]
		for _, c := range []string{"RepositoryAvailable", "SnapshotCreated", "RetentionPolicyApplied", "RepositoryIntegrityVerified"} {
			if st := bs.condition(c).Status; st != "True" {
				t.Errorf("BackupSession %s: condition %s is %q: %s", bs.Metadata.Name, c, st, bs.conditions())
			}
		}
	}
	if waitSeen == "" {
		t.Errorf("no Pending session with RepositoryAvailable=False (WaitingForRepository) naming the session it waits for was seen in %d polls", polls)
	} else {
		t.Logf("  waiting, as seen: %s", waitSeen)
	}

	// Arrival order: the Jobs started in the order the sessions were created (then by name).
	jobStart := map[string]time.Time{}
	for _, j := range k.jobs() {
		for _, r := range j.Metadata.OwnerReferences {
			jobStart[r.Name] = j.Metadata.CreationTimestamp
		}
	}
	order := append([]string(nil), names...)
	sort.SliceStable(order, func(i, j int) bool {
		a, b := k.sessionCreated(sessions, order[i]), k.sessionCreated(sessions, order[j])
		if !a.Equal(b) {
			return a.Before(b)
		}
		return order[i] < order[j]
	})
	for i := 1; i < len(order); i++ {
		if jobStart[order[i]].Before(jobStart[order[i-1]]) {
			t.Errorf("Job of %s started at %s, before that of %s (%s), which came first",
				order[i], jobStart[order[i]].Format(time.TimeOnly), order[i-1], jobStart[order[i-1]].Format(time.TimeOnly))
		}
	}

	// restic: 20 snapshots, each the one its session reports, tagged with its own
	// configuration and target; a clean check; no lock left.
	st := k.verifyRepository(k.restURL("shared"), values(snapOf)...)
	if len(st.Snapshots) != n {
		t.Errorf("restic lists %d snapshots, want %d: %v", len(st.Snapshots), n, st.ids())
	}
	for i := 1; i <= n; i++ {
		bc, target := fmt.Sprintf("backup-%02d", i), fmt.Sprintf("db-%02d", i)
		for _, sn := range st.Snapshots {
			if snapOf[bc] != "" && strings.HasPrefix(sn.ID, snapOf[bc]) {
				tags := strings.Join(sn.Tags, ",")
				if !strings.Contains(tags, "invoker=BackupConfiguration/"+bc) || !strings.Contains(tags, "target=AppBinding/"+target) {
					t.Errorf("snapshot %s of %s has tags %v", sn.ShortID, bc, sn.Tags)
				}
			}
		}
	}
	repo := k.repositoryStatus("shared")
	if repo.Status.SnapshotCount != n || repo.Status.Integrity == nil || !*repo.Status.Integrity {
		t.Errorf("Repository shared: snapshotCount %d, integrity %v; want %d, true", repo.Status.SnapshotCount, repo.Status.Integrity, n)
	}
	k.show("get", "repository")
	*detail = fmt.Sprintf("%d/%d Succeeded, restic lists %d snapshots, at most %d Job at a time, Pending+WaitingForRepository seen, %s; all in %s",
		ok, n, len(st.Snapshots), maxActive, st.verdict(), took)
}

func values(m map[string]string) []string {
	var v []string
	for _, s := range m {
		v = append(v, s)
	}
	return v
}

func (k *kns) sessionCreated(sessions []backupSession, name string) time.Time {
	for _, bs := range sessions {
		if bs.Metadata.Name == name {
			return bs.Metadata.CreationTimestamp
		}
	}
	k.t.Fatalf("no session %s", name)
	return time.Time{}
}

// ---- case 2 ----

// caseBackupKilled: a backup is stopped mid-upload, by deleting its pod (how="pod") or by
// SIGKILLing restic inside it (how="restic", which leaves restic's lock behind). The session
// fails saying so; the next scheduled backup (every minute) then succeeds, retention and check
// included, within one schedule period; the earlier snapshot is kept.
func caseBackupKilled(t *testing.T, detail *string, how string) {
	nsName := map[string]string{"pod": "fault2a-pod-deleted", "restic": "fault2b-restic-killed"}[how]
	k := newCaseNamespace(t, nsName)
	k.setup("mariadb")
	k.smallData("mariadb", "shop")
	k.repository("repo", "repo", false)
	url := k.restURL("repo")
	k.backupConfiguration(bcSpec{Name: "shop", Repo: "repo", Target: "mariadb", Args: "--databases shop", Schedule: "*/1 * * * *", Keep: 2, Paused: true})
	seed := k.backup("shop")
	k.logf("seed snapshot %s; now %d MB more data and a CPU limit of %s", seed, bigRows*975/1000000, victimCPU)
	k.bigData("mariadb", "shop")
	k.limitCPU("backupconfiguration/shop", victimCPU)

	victim := k.trigger("shop")[0]
	bs := k.waitUploading(victim, 5*time.Minute)
	job, _ := k.jobOf(bs.Metadata.UID)
	pod := k.podOfJob(job)
	k.logf("%s is uploading (%d bytes): stopping it by %s", victim, bs.Status.Progress.BytesDone, map[string]string{"pod": "deleting pod " + pod, "restic": "SIGKILL to restic in " + pod}[how])
	switch how {
	case "pod":
		k.run("delete", "pod", pod, "--wait=false")
	case "restic":
		// The addon ends as soon as restic dies, and with it the container and this shell:
		// the pid is printed before the kill, and an exec that dies with it is no error.
		out, err := k.try("exec", pod, "-c", backupContainer, "--", "sh", "-c",
			`for p in /proc/[0-9]*; do if [ "$(cat $p/comm 2>/dev/null)" = restic ]; then echo "SIGKILL to restic, pid ${p#/proc/}"; kill -KILL "${p#/proc/}"; fi; done`)
		if !strings.Contains(out, "SIGKILL to restic") {
			t.Fatalf("no restic process found in pod %s: %q %v", pod, out, err)
		}
		t.Logf("  %s (exec: %v)", out, err)
	}
	failed := k.waitSession(victim, 4*time.Minute)
	t.Logf("  %s: %s: %s", victim, failed.Status.Phase, failed.failure())
	if failed.Status.Phase != "Failed" {
		t.Fatalf("BackupSession %s is %s after its backup was stopped, want Failed", victim, failed.Status.Phase)
	}
	if s := failed.snapshots(); len(s) != 0 {
		t.Errorf("the stopped backup reports snapshots %v", s)
	}
	// A killed restic is reported by the addon. A deleted pod is too when the operator sees its
	// last status (False); when the pod is gone first nothing is reported, and the operator
	// cannot tell whether the snapshot was stored before (Unknown). Never True.
	if c := failed.condition("SnapshotCreated"); c.Status != "False" && (how != "pod" || c.Status != "Unknown") {
		t.Errorf("the stopped backup's SnapshotCreated is %q (%s), want False (or Unknown for a deleted pod)", c.Status, c.Message)
	}
	want := map[string]string{"pod": "deleted", "restic": "killed"}[how]
	if !strings.Contains(strings.ToLower(failed.failure()), want) {
		t.Errorf("the failure does not say the %s was %s: %s", map[string]string{"pod": "pod", "restic": "restic process"}[how], want, failed.failure())
	}
	locks := k.resticState(url, false).Locks
	k.logf("locks left by the stopped backup: %d", len(locks))
	if how == "restic" && len(locks) == 0 {
		t.Fatalf("restic SIGKILLed mid-backup left no lock: this case would prove nothing about stale locks")
	}

	// The schedule resumes at full speed; the first scheduled session must succeed.
	k.limitCPU("backupconfiguration/shop", "")
	resumed := time.Now()
	k.pause("shop", false)
	var next string
	eventually(t, "the next scheduled session", 2*time.Minute, 2*time.Second, func() (bool, string) {
		for _, s := range k.sessions("shop") {
			if !s.Metadata.CreationTimestamp.Before(resumed.Truncate(time.Second)) {
				next = s.Metadata.Name
				return true, ""
			}
		}
		return false, "none yet"
	})
	// One is enough: no further ticks meanwhile.
	k.pause("shop", true)
	nb := k.waitSession(next, 4*time.Minute)
	snap := k.mustSucceed(nb)
	// A backup that waited for the stale lock instead of removing it would spend the addon's
	// --retry-lock (2m) before its check, and then fail it (mustSucceed requires the check).
	// The bound is that wait, not the schedule period: with the other fault cases running on
	// two cores, a clean backup has taken 1m20s.
	d, err := time.ParseDuration(nb.Status.SessionDuration)
	if err != nil || d >= 2*time.Minute {
		t.Errorf("the next scheduled backup %s took %s (%v), as long as waiting out a lock (--retry-lock 2m)", next, nb.Status.SessionDuration, err)
	}
	if how == "restic" {
		// The lock was met and removed at once, not waited out.
		log := k.run("logs", "job/"+must(k.jobOf(nb.Metadata.UID)), "-c", backupContainer)
		var said []string
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "lock") {
				said = append(said, l)
			}
		}
		t.Logf("  the next backup's log on locks:\n    %s", strings.Join(said, "\n    "))
		if !strings.Contains(log, "removed every lock") {
			t.Errorf("the next backup's log does not say it removed the stale lock")
		}
	}
	removed := nb.condition("RetentionPolicyApplied").Message
	k.logf("next scheduled backup %s (created %s, %s after the resume): Succeeded in %s, snapshot %s; %s",
		next, nb.Metadata.CreationTimestamp.Format(time.TimeOnly), nb.Metadata.CreationTimestamp.Sub(resumed.Truncate(time.Second)), nb.Status.SessionDuration, snap, removed)
	k.show("get", "backupsession")
	st := k.verifyRepository(url, seed, snap)
	if len(st.Snapshots) != 2 {
		t.Errorf("restic lists %v, want the seed %s and the new %s (keepLast 2)", st.ids(), seed, snap)
	}
	*detail = fmt.Sprintf("stopped at %d bytes, session Failed (%q), %d lock(s) left; next scheduled backup Succeeded in %s (retention+check True), seed kept, %s",
		bs.Status.Progress.BytesDone, short(failed.failure(), 90), len(locks), nb.Status.SessionDuration, st.verdict())
}

// must drops the second value.
func must(s, _ string) string { return s }

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ---- case 3 ----

// caseOperatorDeleted: the operator's pod is deleted while a backup runs (its Job slowed by a
// CPU limit). The Job runs on; the new operator picks the session up and records its outcome
// from that same Job.
func caseOperatorDeleted(t *testing.T, detail *string) {
	k := newCaseNamespace(t, "fault3-operator-deleted")
	k.setup("mariadb")
	k.smallData("mariadb", "shop")
	k.bigData("mariadb", "shop")
	k.repository("repo", "repo", false)
	k.backupConfiguration(bcSpec{Name: "shop", Repo: "repo", Target: "mariadb", Args: "--databases shop", Keep: 3})
	k.limitCPU("backupconfiguration/shop", slowCPU)

	name := k.trigger("shop")[0]
	// Mid-backup: the Job's backup container runs and has started its backup.
	var bs backupSession
	var job, jobUID, pod string
	eventually(t, name+"'s backup to be under way", 5*time.Minute, 2*time.Second, func() (bool, string) {
		bs = k.session(name)
		if finished(bs.Status.Phase) {
			t.Fatalf("BackupSession %s ended (%s) before the operator could be deleted: the test's backup is too fast", name, bs.Status.Phase)
		}
		if job == "" {
			job, jobUID = k.jobOf(bs.Metadata.UID)
		}
		if job != "" && pod == "" {
			pod = k.podOfJob(job)
		}
		if pod == "" {
			return false, "phase " + bs.Status.Phase + ", no pod yet"
		}
		log, _ := k.try("logs", pod, "-c", backupContainer)
		return bs.Status.Phase == "Running" && strings.Contains(log, "backing up"), "phase " + bs.Status.Phase + ", log: " + lastLine(log)
	})
	sel := mustKubectl(t, "", "-n", operatorNamespace, "get", "deploy", operatorRelease, "-o",
		`go-template={{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}`)
	sel = strings.TrimSuffix(sel, ",")
	old := strings.Fields(mustKubectl(t, "", "-n", operatorNamespace, "get", "pods", "-l", sel, "-o", "jsonpath={.items[*].metadata.name}"))
	k.logf("%s is backing up (Job %s): deleting the operator pod(s) %v", name, job, old)
	mustKubectl(t, "", append([]string{"-n", operatorNamespace, "delete", "pod", "--wait=false"}, old...)...)
	deleted := time.Now()
	eventually(t, "a new operator pod, ready, and the old one gone", 3*time.Minute, 2*time.Second, func() (bool, string) {
		out, _ := kubectl("", "-n", operatorNamespace, "get", "pods", "-l", sel, "-o",
			`go-template={{range .items}}{{.metadata.name}} {{range .status.conditions}}{{if eq .type "Ready"}}{{.status}}{{end}}{{end}};{{end}}`)
		ready, stale := 0, 0
		for _, p := range strings.Split(strings.TrimSuffix(out, ";"), ";") {
			f := strings.Fields(p)
			if len(f) == 0 {
				continue
			}
			if contains(old, f[0]) {
				stale++
			} else if len(f) > 1 && f[1] == "True" {
				ready++
			}
		}
		return ready == 1 && stale == 0, "pods: " + out
	})
	ready := time.Since(deleted).Round(time.Second)
	jobDone := jsonpathIn(k, "job/"+job, `{.status.conditions[?(@.type=="Complete")].status}`)
	k.logf("new operator ready %s after the deletion; the Job has finished meanwhile: %v", ready, jobDone == "True")

	final := k.waitSession(name, 5*time.Minute)
	snap := k.mustSucceed(final)
	if j, uid := k.jobOf(final.Metadata.UID); j != job || uid != jobUID {
		t.Errorf("the session's Job is %s (uid %s), want the one that ran, %s (uid %s)", j, uid, job, jobUID)
	}
	k.show("get", "backupsession,repository")
	repo := k.repositoryStatus("repo")
	if repo.Status.SnapshotCount != 1 {
		t.Errorf("Repository repo: snapshotCount %d, want 1", repo.Status.SnapshotCount)
	}
	st := k.verifyRepository(k.restURL("repo"), snap)
	*detail = fmt.Sprintf("operator deleted mid-backup; new operator ready after %s (Job finished meanwhile: %v); session Succeeded (%s) on its one Job, snapshot %s recorded, %s",
		ready, jobDone == "True", final.Status.SessionDuration, snap, st.verdict())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func jsonpathIn(k *kns, resource, path string) string {
	out, _ := k.try("get", resource, "-o", "jsonpath="+path)
	return out
}

// ---- case 4 ----

// caseRestoreRecreated: a RestoreSession is deleted while it loads, and created again under
// the same name. The new one waits for the old Job to go, runs its own Job, and the restored
// tables equal the source.
func caseRestoreRecreated(t *testing.T, detail *string) {
	k := newCaseNamespace(t, "fault4-restore-recreated")
	k.setup("source", "restored")
	k.smallData("source", "shop")
	k.bigData("source", "shop")
	want := k.checksums("source", "shop.small", "shop.big")
	k.repository("repo", "repo", false)
	k.backupConfiguration(bcSpec{Name: "shop", Repo: "repo", Target: "source", Args: "--databases shop", Keep: 3})
	snap := k.backup("shop")

	rs := manifest(t, "fault-restoresession.yaml", "NAME", "restore", "REPO", "repo", "TARGET", "restored")
	// Slow enough that restic is still streaming the dump when the session is deleted.
	slow := rs + "  runtimeSettings:\n    container:\n      resources:\n        limits: {cpu: " + victimCPU + "}\n"
	k.logf("RestoreSession restore of %s, CPU limit %s", snap, victimCPU)
	k.apply(slow)
	var first restoreSession
	eventually(t, "the first restore to be loading (table shop.big created in restored)", 5*time.Minute, 2*time.Second, func() (bool, string) {
		k.get("restoresession/restore", &first)
		if finished(first.Status.Phase) {
			t.Fatalf("the first RestoreSession ended (%s) before it could be deleted mid-run: the test's restore is too fast", first.Status.Phase)
		}
		n := k.sql("restored", `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='shop' AND table_name='big'`)
		return first.Status.Phase == "Running" && n == "1", "phase " + first.Status.Phase + ", shop.big tables " + n
	})
	oldJob, oldJobUID := k.jobOf(first.Metadata.UID)
	// The deleted restore's log goes with its pod: follow it, to show how that restore ended.
	oldLog := k.follow(k.podOfJob(oldJob), "mysql-restore-10-11-0")
	k.logf("deleting RestoreSession restore (uid %s, Job %s) mid-load, creating it again", first.Metadata.UID, oldJob)
	k.run("delete", "restoresession", "restore", "--wait=true")
	k.apply(rs)
	var second restoreSession
	waits := map[string]bool{}
	eventually(t, "the re-created RestoreSession to finish", 5*time.Minute, 2*time.Second, func() (bool, string) {
		k.get("restoresession/restore", &second)
		if c := findCondition(second.Status.Conditions, "RepositoryAvailable"); c.Status == "False" && !waits[c.Message] {
			waits[c.Message] = true
			t.Logf("  re-created session waits: %s", c.Message)
		}
		return second.Status.Phase == "Succeeded" || second.Status.Phase == "Failed", "phase " + second.Status.Phase
	})
	k.show("get", "restoresession,jobs")
	t.Logf("  how the deleted restore ended (its log):\n    %s", strings.Join(oldLog(), "\n    "))
	if second.Metadata.UID == first.Metadata.UID {
		t.Fatalf("the re-created RestoreSession has the old UID")
	}
	if second.Status.Phase != "Succeeded" {
		t.Fatalf("re-created RestoreSession: %s: %+v %s", second.Status.Phase, second.Status.Stats, formatConditions(second.Status.Conditions))
	}
	job, jobUID := k.jobOf(second.Metadata.UID)
	if job == "" || jobUID == oldJobUID {
		t.Errorf("the re-created RestoreSession's Job: %q (uid %s), old Job uid %s: want a Job of its own", job, jobUID, oldJobUID)
	}
	got := k.checksums("restored", "shop.small", "shop.big")
	t.Logf("  source:   %s\n  restored: %s", want, got)
	if got != want {
		t.Errorf("restored tables differ from the source")
	}
	st := k.verifyRepository(k.restURL("repo"), snap)
	*detail = fmt.Sprintf("deleted mid-load; re-created session waited (%d distinct wait messages), %s on its own Job, checksums equal: %v; %s",
		len(waits), second.Status.Phase, got == want, st.verdict())
}

// ---- case 5 ----

// caseLongName: a BackupConfiguration whose name is 63 characters backs up on its schedule:
// CronJob, session, Job and Secret all get valid names.
func caseLongName(t *testing.T, detail *string) {
	k := newCaseNamespace(t, "fault5-long-name")
	name := "nightly-backup-of-the-sample-mariadb-database-into-rest-repo-01"
	if len(name) != 63 {
		t.Fatalf("test bug: name has %d characters", len(name))
	}
	k.setup("mariadb")
	k.smallData("mariadb", "shop")
	k.repository("repo", "repo", false)
	created := time.Now()
	k.backupConfiguration(bcSpec{Name: name, Repo: "repo", Target: "mariadb", Args: "--databases shop", Schedule: "*/1 * * * *"})
	var first string
	eventually(t, "the first scheduled session", 3*time.Minute, 2*time.Second, func() (bool, string) {
		for _, s := range k.sessions(name) {
			if !s.Metadata.CreationTimestamp.Before(created.Truncate(time.Second)) {
				first = s.Metadata.Name
				return true, ""
			}
		}
		return false, "phase of the configuration: " + jsonpathIn(k, "backupconfiguration/"+name, "{.status.phase}")
	})
	k.pause(name, true)
	bs := k.waitSession(first, 4*time.Minute)
	snap := k.mustSucceed(bs)
	cron := k.run("get", "cronjobs", "-o", "jsonpath={.items[*].metadata.name}")
	k.show("get", "backupconfiguration,cronjob,backupsession")
	st := k.verifyRepository(k.restURL("repo"), snap)
	*detail = fmt.Sprintf("scheduled session (%d-char name) Succeeded (snapshot %s); CronJob %s (%d chars); %s", len(first), snap, cron, len(cron), st.verdict())
}

// ---- case 6 ----

// caseWipeOutShared: deleting a Repository with wipeOut whose location another Repository
// shares is refused, with a condition and an event naming the other, the finalizer kept and
// the other's snapshots intact. Then, the same for a Repository a BackupConfiguration still
// uses; and once nothing else uses it, the wipe runs.
func caseWipeOutShared(t *testing.T, detail *string) {
	k := newCaseNamespace(t, "fault6-wipeout-shared")
	k.setup("mariadb")
	k.smallData("mariadb", "shop")
	k.repository("r1", "shared", true)
	k.repository("r2", "shared", false)
	url := k.restURL("shared")
	k.backupConfiguration(bcSpec{Name: "b2", Repo: "r2", Target: "mariadb", Args: "--databases shop", Keep: 3})
	s1 := k.backup("b2")
	s2 := k.backup("b2")
	before := k.resticState(url, false)

	k.logf("deleting Repository r1 (wipeOut: true), which shares %s with r2", url)
	k.run("delete", "repository", "r1", "--wait=false")
	refusal := k.waitWipeRefused("r1", "Repository "+k.ns+"/r2")
	after := k.verifyRepository(url, s1, s2)
	if strings.Join(after.ids(), ",") != strings.Join(before.ids(), ",") {
		t.Errorf("snapshots before the refused wipe %v, after %v", before.ids(), after.ids())
	}

	k.logf("r1: wipeOut false lets it go without touching the data")
	k.run("patch", "repository", "r1", "--type=merge", "-p", `{"spec":{"wipeOut":false}}`)
	k.run("wait", "repository/r1", "--for=delete", "--timeout=120s")

	k.logf("deleting Repository r2 (wipeOut: true), which BackupConfiguration b2 still uses")
	k.run("patch", "repository", "r2", "--type=merge", "-p", `{"spec":{"wipeOut":true}}`)
	eventually(t, "r2's finalizer", time.Minute, 2*time.Second, func() (bool, string) {
		f := jsonpathIn(k, "repository/r2", "{.metadata.finalizers}")
		return f != "", "finalizers " + f
	})
	k.run("delete", "repository", "r2", "--wait=false")
	refusal2 := k.waitWipeRefused("r2", "BackupConfiguration "+k.ns+"/b2")
	if st := k.resticState(url, false); strings.Join(st.ids(), ",") != strings.Join(before.ids(), ",") {
		t.Errorf("snapshots after the second refused wipe: %v, want %v", st.ids(), before.ids())
	}
	k.logf("deleting BackupConfiguration b2: now the wipe may run")
	k.run("delete", "backupconfiguration", "b2", "--wait=true")
	k.run("wait", "repository/r2", "--for=delete", "--timeout=240s")
	gone := k.resticState(url, false)
	if len(gone.Snapshots) != 0 {
		t.Errorf("after r2's wipe restic still lists %v", gone.ids())
	}
	*detail = fmt.Sprintf("refused, naming r2: %q; then refused: %q; data intact (%d snapshots, %s); wiped once nothing shared it",
		short(refusal[strings.Index(refusal, ":")+1:], 80), short(refusal2[strings.Index(refusal2, ":")+1:], 60), len(after.Snapshots), after.verdict())
}

// waitWipeRefused waits for the Repository's WipedOut=False/WipeOutRefused condition naming
// other, checks the event and that the Repository stays (finalizer) with no wipe Job, and
// returns the condition's message.
func (k *kns) waitWipeRefused(repo, other string) string {
	k.t.Helper()
	var r repositoryView
	eventually(k.t, "Repository "+repo+" to refuse its wipe", 2*time.Minute, 2*time.Second, func() (bool, string) {
		if !k.get("repository/"+repo, &r) {
			k.t.Fatalf("Repository %s is gone: its wipe was not refused", repo)
		}
		c := findCondition(r.Status.Conditions, "WipedOut")
		return c.Status == "False" && c.Reason == "WipeOutRefused", formatConditions(r.Status.Conditions)
	})
	msg := findCondition(r.Status.Conditions, "WipedOut").Message
	k.t.Logf("  %s: WipedOut=False (WipeOutRefused): %s", repo, msg)
	if !strings.Contains(msg, other) {
		k.t.Errorf("the refusal does not name %s: %s", other, msg)
	}
	if r.Metadata.DeletionTimestamp == nil || len(r.Metadata.Finalizers) == 0 {
		k.t.Errorf("Repository %s: deletionTimestamp %v, finalizers %v: want it kept by its finalizer", repo, r.Metadata.DeletionTimestamp, r.Metadata.Finalizers)
	}
	eventually(k.t, "event WipeOutRefused on "+repo, time.Minute, 2*time.Second, func() (bool, string) {
		out := k.run("get", "events", "--field-selector", "involvedObject.kind=Repository,involvedObject.name="+repo+",reason=WipeOutRefused",
			"-o", "jsonpath={.items[*].message}")
		return strings.Contains(out, other), "events: " + out
	})
	if out, _ := k.try("get", "jobs", "-o", "name"); strings.Contains(out, "wipe") {
		k.t.Errorf("a wipe Job exists: %s", out)
	}
	return msg
}

// repositoryView is the part of a Repository the suite reads.
type repositoryView struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		Integrity     *bool       `json:"integrity"`
		SnapshotCount int         `json:"snapshotCount"`
		TotalSize     string      `json:"totalSize"`
		Conditions    []condition `json:"conditions"`
	} `json:"status"`
}

func (k *kns) repositoryStatus(name string) repositoryView {
	k.t.Helper()
	var r repositoryView
	k.get("repository/"+name, &r)
	return r
}

// ---- case 7 ----

// caseStorageDown: the REST server is down for the whole session. It fails after the
// storage timeout (Task param storageTimeout=20) with a message naming the repository; once
// the server is back, the next backup succeeds and the earlier snapshot is there.
func caseStorageDown(t *testing.T, detail *string) {
	k := newCaseNamespace(t, "fault7-storage-down")
	k.setup("mariadb")
	k.smallData("mariadb", "shop")
	k.repository("repo", "repo", false)
	url := k.restURL("repo")
	k.backupConfiguration(bcSpec{Name: "shop", Repo: "repo", Target: "mariadb", Args: "--databases shop", Keep: 3, StorageTimeout: 20})
	seed := k.backup("shop")
	wired := strings.Contains(mustKubectl(t, "", "get", "function", "mysql-backup-10.11", "-o", "jsonpath={.spec.args}"), "--storage-timeout")
	if !wired {
		t.Logf("  NOTE: Function mysql-backup-10.11 has no --storage-timeout argument: the param storageTimeout=20 has no effect, the addon's default applies")
	}

	k.logf("REST server down (scaled to 0)")
	k.run("scale", "deploy/rest-server", "--replicas=0")
	eventually(t, "the REST server's pod to be gone", 2*time.Minute, 2*time.Second, func() (bool, string) {
		out, _ := k.try("get", "pods", "-l", "app.kubernetes.io/name=rest-server", "-o", "name")
		return out == "", out
	})
	name := k.trigger("shop")[0]
	bs := k.waitSession(name, 8*time.Minute)
	msg := bs.failure()
	t.Logf("  %s: %s in %s: %s", name, bs.Status.Phase, bs.Status.SessionDuration, msg)
	if bs.Status.Phase != "Failed" {
		t.Errorf("with the storage down the session is %s, want Failed", bs.Status.Phase)
	}
	if !strings.Contains(msg, "rest-server."+k.ns+".svc:8000") {
		t.Errorf("the failure does not name the backend (rest-server.%s.svc:8000): %s", k.ns, msg)
	}
	if s := bs.snapshots(); len(s) != 0 {
		t.Errorf("the failed session reports snapshots %v", s)
	}
	if c := bs.condition("SnapshotCreated"); c.Status != "False" {
		t.Errorf("SnapshotCreated is %q, want False", c.Status)
	}

	k.logf("REST server back")
	k.run("scale", "deploy/rest-server", "--replicas=1")
	k.run("rollout", "status", "deploy/rest-server", "--timeout=180s")
	next := k.backup("shop")
	k.show("get", "backupsession")
	st := k.verifyRepository(url, seed, next)
	note := ""
	if !wired {
		note = " (NOTE: storageTimeout not wired into the Function; the default applied)"
	}
	*detail = fmt.Sprintf("Failed after %s: %q; after the server came back the next backup Succeeded, seed kept, %s%s",
		bs.Status.SessionDuration, short(msg, 110), st.verdict(), note)
}

// ---- case 8 ----

// caseDatabaseRestarted: MariaDB is stopped mid-dump (its container restarts and keeps its
// data). The backup fails naming mysqldump and leaves no snapshot; the next backup succeeds.
func caseDatabaseRestarted(t *testing.T, detail *string) {
	k := newCaseNamespace(t, "fault8-db-restarted")
	k.setup("mariadb")
	k.smallData("mariadb", "shop")
	k.repository("repo", "repo", false)
	url := k.restURL("repo")
	k.backupConfiguration(bcSpec{Name: "shop", Repo: "repo", Target: "mariadb", Args: "--databases shop", Keep: 3})
	seed := k.backup("shop")
	k.bigData("mariadb", "shop")
	want := k.checksums("mariadb", "shop.small", "shop.big")
	k.limitCPU("backupconfiguration/shop", victimCPU)
	pod := k.run("get", "pods", "-l", "app.kubernetes.io/name=mariadb", "-o", "jsonpath={.items[0].metadata.name}")
	restarts := func() int {
		n, _ := strconv.Atoi(jsonpathIn(k, "pod/"+pod, "{.status.containerStatuses[0].restartCount}"))
		return n
	}
	before := restarts()

	name := k.trigger("shop")[0]
	bs := k.waitUploading(name, 5*time.Minute)
	if done, total := bs.Status.Progress.BytesDone, int64(bigRows*960); done > total*8/10 {
		t.Fatalf("the dump is nearly read (%d of about %d bytes) before the database could be stopped: the test's backup is too fast", done, total)
	}
	// mariadbd is the container's PID 1, which ignores SIGKILL from inside its namespace:
	// SIGTERM, which it handles by closing every connection and exiting.
	out := k.run("exec", pod, "-c", "mariadb", "--", "sh", "-c",
		`for p in /proc/[0-9]*; do if [ "$(cat $p/comm 2>/dev/null)" = mariadbd ]; then kill -TERM "${p#/proc/}" && echo "stopped mariadbd ${p#/proc/}"; fi; done`)
	k.logf("%s uploads (%d bytes): %s", name, bs.Status.Progress.BytesDone, out)
	eventually(t, "the MariaDB container to restart and be ready", 3*time.Minute, 2*time.Second, func() (bool, string) {
		ready := jsonpathIn(k, "pod/"+pod, "{.status.containerStatuses[0].ready}")
		return restarts() > before && ready == "true", fmt.Sprintf("restarts %d, ready %s", restarts(), ready)
	})
	failed := k.waitSession(name, 4*time.Minute)
	msg := failed.failure()
	t.Logf("  %s: %s: %s", name, failed.Status.Phase, msg)
	if failed.Status.Phase != "Failed" {
		t.Fatalf("BackupSession %s is %s after the database restarted mid-dump, want Failed", name, failed.Status.Phase)
	}
	if s := failed.snapshots(); len(s) != 0 {
		t.Errorf("the failed session reports snapshots %v", s)
	}
	if c := failed.condition("SnapshotCreated"); c.Status != "False" {
		t.Errorf("SnapshotCreated is %q, want False", c.Status)
	}
	if !strings.Contains(msg, "mysqldump") {
		t.Errorf("the failure does not name mysqldump: %s", msg)
	}
	st := k.verifyRepository(url, seed)
	if len(st.Snapshots) != 1 {
		t.Errorf("restic lists %v after the failed backup, want only the seed %s", st.ids(), seed)
	}
	if got := k.checksums("mariadb", "shop.small", "shop.big"); got != want {
		t.Errorf("the database changed across its restart: %s, was %s", got, want)
	}
	k.limitCPU("backupconfiguration/shop", "")
	next := k.backup("shop")
	k.show("get", "backupsession")
	*detail = fmt.Sprintf("stopped at %d bytes; Failed: %q; restic listed %d snapshot(s) (the seed), %s; the next backup Succeeded (%s)",
		bs.Status.Progress.BytesDone, short(msg, 100), len(st.Snapshots), st.verdict(), next)
}

// ---- small readers ----

type jobView struct {
	Metadata struct {
		Name              string            `json:"name"`
		UID               string            `json:"uid"`
		Labels            map[string]string `json:"labels"`
		CreationTimestamp time.Time         `json:"creationTimestamp"`
		DeletionTimestamp *time.Time        `json:"deletionTimestamp"`
		OwnerReferences   []struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Status struct {
		Conditions []condition `json:"conditions"`
	} `json:"status"`
}

func (j jobView) finished() bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == "Complete" || c.Type == "Failed") && c.Status == "True" {
			return true
		}
	}
	return false
}

func (k *kns) jobs() []jobView {
	k.t.Helper()
	out, err := k.try("get", "jobs", "-o", "json")
	if err != nil {
		k.t.Logf("listing jobs: %v", err)
		return nil
	}
	var list struct {
		Items []jobView `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		k.t.Fatalf("decoding jobs: %v", err)
	}
	return list.Items
}
