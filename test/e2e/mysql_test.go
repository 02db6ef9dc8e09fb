//go:build e2e

// Package e2e runs the Stash MySQL backup and restore guide for real on a Kubernetes cluster
// with Hoard installed: `make e2e` brings up the local one-node cluster (or uses KUBECONFIG),
// builds and loads the images, installs the chart and runs this with `-tags e2e`.
package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The guide's namespace. It is deleted and recreated at the start, and deleted after a pass
// (kept after a failure, for the diagnostics `make e2e` collects).
const namespace = "demo"

const (
	backupConfig = "sample-mysql-backup"
	failConfig   = "wrong-password-backup"
	// The CronJob the operator makes for a BackupConfiguration.
	cronJob = "stash-trigger-" + backupConfig
	// A scheduled session can take up to a minute to start, plus the Job itself.
	sessionTimeout = 4 * time.Minute
)

// checksum of the guide's table, and its row count.
func checksum(t *testing.T, deploy string) string {
	t.Helper()
	out := sql(t, deploy, "CHECKSUM TABLE company.employees; SELECT COUNT(*) FROM company.employees;")
	return strings.Join(strings.Fields(out), " ")
}

func TestMySQLBackupAndRestore(t *testing.T) {
	start := time.Now()
	defer func() { step(t, "finished in %s", time.Since(start).Round(time.Second)) }()
	s := steps{t}
	// What the steps learn and later steps check.
	var first, second string
	var created, paused, failCreated time.Time

	s.run("Hoard is installed: operator ready, MySQL addon Tasks present", func(t *testing.T) {
		mustKubectl(t, "", "-n", operatorNamespace, "rollout", "status", "deploy/"+operatorRelease, "--timeout=180s")
		eventually(t, "Task mysql-backup-10.11 and mysql-restore-10.11", 2*time.Minute, 2*time.Second, func() (bool, string) {
			_, err := kubectl("", "get", "task", "mysql-backup-10.11", "mysql-restore-10.11")
			if err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	})

	s.run(fmt.Sprintf("namespace %s (fresh)", namespace), func(t *testing.T) {
		mustKubectl(t, "", "delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=180s")
		mustKubectl(t, "", "create", "namespace", namespace)
	})

	s.run("MariaDB source (sample-mysql) and restore target (restored-mysql) with AppBindings; rest-server backend, storage Secret, Repository", func(t *testing.T) {
		apply(t, manifest(t, "mariadb.yaml", "NAME", "sample-mysql"))
		apply(t, manifest(t, "mariadb.yaml", "NAME", "restored-mysql"))
		apply(t, manifest(t, "storage.yaml"))
		for _, d := range []string{"sample-mysql", "restored-mysql", "rest-server"} {
			ns(t, "rollout", "status", "deploy/"+d, "--timeout=240s")
		}
	})

	s.run("sample data in sample-mysql", func(t *testing.T) {
		sql(t, "sample-mysql", `CREATE DATABASE company;
CREATE TABLE company.employees (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL, salary INT NOT NULL);
INSERT INTO company.employees (name, salary) VALUES ('John', 4000), ('Jane', 5000), ('Ada', 6000);`)
		first = checksum(t, "sample-mysql")
		t.Logf("  checksum, rows: %s", first)
	})

	s.run(fmt.Sprintf("BackupConfiguration %s: every minute, keepLast 5", backupConfig), func(t *testing.T) {
		created = time.Now()
		apply(t, manifest(t, "backupconfiguration.yaml"))
		eventually(t, "CronJob "+cronJob, time.Minute, time.Second, func() (bool, string) {
			_, err := kubectl("", "-n", namespace, "get", "cronjob", cronJob)
			return err == nil, errString(err)
		})
	})

	s.run("first scheduled BackupSession succeeds", func(t *testing.T) {
		bs1 := waitSession(t, backupConfig, created, sessionTimeout)
		if bs1.Status.Phase != "Succeeded" {
			t.Fatalf("BackupSession %s: %s: %s", bs1.Metadata.Name, bs1.Status.Phase, bs1.failure())
		}
		if len(bs1.snapshots()) != 1 {
			t.Fatalf("BackupSession %s reports snapshots %v, want one", bs1.Metadata.Name, bs1.snapshots())
		}
		show(t, "get", "backupsession")
		// sample-mysql writes binary logs (mariadb.yaml): the Snapshot records the position the
		// dump is consistent with (design 0036).
		snap := "snapshot/rest-repo-" + bs1.snapshots()[0]
		position := regexp.MustCompile(`^mysql-bin\.\d+ [1-9]\d* 0-1-\d+$`)
		eventually(t, snap+" binlog position", time.Minute, 2*time.Second, func() (bool, string) {
			b := jsonpath(t, snap, "{.status.binlog.file} {.status.binlog.position} {.status.binlog.gtid}")
			return position.MatchString(b), b
		})
	})

	s.run("Repository reports integrity, size and snapshot count", func(t *testing.T) {
		eventually(t, "Repository rest-repo status", time.Minute, 2*time.Second, func() (bool, string) {
			st := jsonpath(t, "repository/rest-repo", "{.status.integrity} {.status.snapshotCount} {.status.totalSize}")
			f := strings.Fields(st)
			ok := len(f) >= 3 && f[0] == "true" && f[1] != "0"
			return ok, "status: " + st
		})
		show(t, "get", "repository")
	})

	s.run("insert rows; the next scheduled session backs them up", func(t *testing.T) {
		sql(t, "sample-mysql", `INSERT INTO company.employees (name, salary) VALUES ('Grace', 7000), ('Linus', 3000);`)
		second = checksum(t, "sample-mysql")
		t.Logf("  checksum, rows: %s", second)
		if second == first {
			t.Fatalf("checksum unchanged after insert: %s", second)
		}
		bs2 := waitSession(t, backupConfig, time.Now(), sessionTimeout)
		if bs2.Status.Phase != "Succeeded" {
			t.Fatalf("BackupSession %s: %s: %s", bs2.Metadata.Name, bs2.Status.Phase, bs2.failure())
		}
	})

	s.run("pause the BackupConfiguration", func(t *testing.T) {
		// A trigger that read the configuration just before the patch may still create its session
		// a moment later; anything created more than that after the patch is a bug.
		paused = time.Now().Add(3 * time.Second)
		ns(t, "patch", "backupconfiguration", backupConfig, "--type=merge", "-p", `{"spec":{"paused":true}}`)
		eventually(t, "CronJob suspended", time.Minute, time.Second, func() (bool, string) {
			s := jsonpath(t, "cronjob/"+cronJob, "{.spec.suspend}")
			return s == "true", "suspend=" + s
		})
		// A session the schedule started just before the pause still runs to its end; the latest
		// snapshot is then that session's, which holds the same data (nothing was written since).
		eventually(t, "no session running", sessionTimeout, 2*time.Second, func() (bool, string) {
			for _, bs := range sessionsOf(t, backupConfig) {
				switch bs.Status.Phase {
				case "Succeeded", "Failed", "Skipped":
				default:
					return false, bs.Metadata.Name + " is " + bs.Status.Phase
				}
			}
			return true, ""
		})
		show(t, "get", "backupconfiguration")
		// The source moves on; the restore must bring back the backed-up state, not this one.
		sql(t, "sample-mysql", `INSERT INTO company.employees (name, salary) VALUES ('after-the-backup', 1);`)
	})

	s.run(fmt.Sprintf("failure case: BackupConfiguration %s with a wrong database password", failConfig), func(t *testing.T) {
		failCreated = time.Now()
		apply(t, manifest(t, "wrong-password.yaml"))
	})

	s.run("RestoreSession: latest snapshot into restored-mysql", func(t *testing.T) {
		apply(t, manifest(t, "restoresession.yaml"))
		eventually(t, "RestoreSession sample-mysql-restore to finish", sessionTimeout, 2*time.Second, func() (bool, string) {
			p := jsonpath(t, "restoresession/sample-mysql-restore", "{.status.phase}")
			return p == "Succeeded" || p == "Failed", "phase " + p
		})
		if p := jsonpath(t, "restoresession/sample-mysql-restore", "{.status.phase}"); p != "Succeeded" {
			show(t, "get", "restoresession", "sample-mysql-restore", "-o", "yaml")
			t.Fatalf("RestoreSession phase %s", p)
		}
		show(t, "get", "restoresession")
	})

	s.run("restored table equals the source at the backup's time", func(t *testing.T) {
		restored := checksum(t, "restored-mysql")
		t.Logf("  source at backup: %s\n  restored:         %s\n  source now:       %s", second, restored, checksum(t, "sample-mysql"))
		if restored != second {
			t.Fatalf("restored checksum %q, want %q (the source when it was backed up)", restored, second)
		}
	})

	s.run("wrong password: the session fails with the database's reason and makes no snapshot", func(t *testing.T) {
		bad := waitSession(t, failConfig, failCreated, sessionTimeout)
		if bad.Status.Phase != "Failed" {
			t.Fatalf("BackupSession %s with a wrong password: %s, want Failed", bad.Metadata.Name, bad.Status.Phase)
		}
		reason := bad.failure()
		t.Logf("  %s: %s", bad.Metadata.Name, reason)
		if !strings.Contains(reason, "Access denied") {
			t.Errorf("failure reason %q does not say Access denied", reason)
		}
		if s := bad.snapshots(); len(s) != 0 {
			t.Errorf("failed session reports snapshots %v", s)
		}
		ns(t, "patch", "backupconfiguration", failConfig, "--type=merge", "-p", `{"spec":{"paused":true}}`)
		if n := resticSnapshots(t, "http://rest-server:8000/mysql/wrong-password"); n != 0 {
			t.Errorf("the failed backup's repository holds %d snapshots, want 0", n)
		}
		want := jsonpath(t, "repository/rest-repo", "{.status.snapshotCount}")
		if n := resticSnapshots(t, "http://rest-server:8000/mysql/sample-mysql"); strconv.Itoa(n) != want {
			t.Errorf("restic lists %d snapshots in rest-repo, its status says %s", n, want)
		}
	})

	s.run("stash_* metrics are served by the operator", func(t *testing.T) {
		metrics := mustKubectl(t, "", "get", "--raw",
			"/api/v1/namespaces/"+operatorNamespace+"/services/"+operatorRelease+"-metrics:8080/proxy/metrics")
		for _, re := range []string{
			`stash_backup_session_success\{[^}]*invoker_name="` + backupConfig + `"[^}]*\} 1`,
			`stash_backup_last_success_time_seconds\{[^}]*invoker_name="` + backupConfig + `"`,
			`stash_repository_snapshot_count\{[^}]*name="rest-repo"[^}]*\} [1-9]`,
			`stash_repository_integrity\{[^}]*name="rest-repo"[^}]*\} 1`,
			`stash_restore_session_success\{[^}]*invoker_name="sample-mysql-restore"[^}]*\} 1`,
			`stash_backup_session_success\{[^}]*invoker_name="` + failConfig + `"[^}]*\} 0`,
		} {
			if m := regexp.MustCompile(`(?m)^` + re).FindString(metrics); m == "" {
				t.Errorf("metrics lack %s", re)
			} else {
				t.Logf("  %s", m)
			}
		}
	})

	s.run("paused: no session after the pause", func(t *testing.T) {
		// At least one schedule tick (every minute) must have passed since the pause, plus the
		// CronJob controller's slack, before "no new session" means anything.
		tick := paused.Truncate(time.Minute).Add(time.Minute + 15*time.Second)
		eventually(t, "a schedule tick after the pause", time.Until(tick)+time.Minute, time.Second, func() (bool, string) {
			return time.Now().After(tick), ""
		})
		for _, bs := range sessionsOf(t, backupConfig) {
			if bs.Metadata.CreationTimestamp.After(paused) {
				t.Errorf("BackupSession %s was created at %s, after the pause at %s", bs.Metadata.Name,
					bs.Metadata.CreationTimestamp.Format(time.TimeOnly), paused.Format(time.TimeOnly))
			}
		}
	})

	s.run("what a user sees", func(t *testing.T) {
		show(t, "get", "bc,backupsession,repository,restoresession")
	})

	s.run("deleting the BackupConfiguration removes its CronJob", func(t *testing.T) {
		ns(t, "delete", "backupconfiguration", backupConfig, failConfig, "--wait=true", "--timeout=120s")
		eventually(t, "CronJob "+cronJob+" gone", 2*time.Minute, time.Second, func() (bool, string) {
			out, err := kubectl("", "-n", namespace, "get", "cronjobs", "-o", "name")
			return err == nil && out == "", "cronjobs: " + out + errString(err)
		})
	})

	collectBeforeDeletion(t, namespace)
	if !t.Failed() {
		step(t, "cleaning up namespace %s", namespace)
		mustKubectl(t, "", "delete", "namespace", namespace, "--wait=false")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// resticSnapshots counts the snapshots of a restic REST repository, with restic from the
// operator image run as a pod in the test namespace. A repository that was never initialised
// counts as 0.
func resticSnapshots(t *testing.T, url string) int {
	t.Helper()
	img := mustKubectl(t, "", "-n", operatorNamespace, "get", "deploy", operatorRelease,
		"-o", "jsonpath={.spec.template.spec.containers[0].image}")
	pw := mustKubectl(t, "", "-n", namespace, "get", "secret", "rest-secret", "-o", "jsonpath={.data.RESTIC_PASSWORD}")
	name := "restic-snapshots-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	script := `if ! restic cat config >/dev/null 2>&1; then echo 0; exit 0; fi; restic snapshots --json --no-lock | grep -o '"short_id"' | wc -l`
	// Not `kubectl run -i --rm`: its attach can miss the output of a pod that ends before it
	// attaches (seen as "no output" in CI). Wait for the pod to end and read its log instead.
	mustKubectl(t, "", "-n", namespace, "run", name, "--image="+img, "--image-pull-policy=IfNotPresent",
		"--restart=Never",
		"--env=RESTIC_REPOSITORY=rest:"+url, "--env=RESTIC_PASSWORD_B64="+pw, "--env=HOME=/tmp",
		"--command", "--", "sh", "-c", `export RESTIC_PASSWORD=$(echo "$RESTIC_PASSWORD_B64" | base64 -d); `+script)
	defer func() {
		_, _ = kubectl("", "-n", namespace, "delete", "pod", name, "--ignore-not-found", "--wait=false")
	}()
	mustKubectl(t, "", "-n", namespace, "wait", "pod/"+name, "--for=jsonpath={.status.phase}=Succeeded", "--timeout=3m")
	out := mustKubectl(t, "", "-n", namespace, "logs", name)
	f := strings.Fields(out)
	if len(f) == 0 {
		t.Fatalf("restic snapshots: no output")
	}
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		t.Fatalf("restic snapshots: %q", out)
	}
	return n
}
