//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/metrics"
)

// The kubectl plugin (cmd/kubectl-hoard) run as a user runs it: the binary `make plugin`
// builds, with the same KUBECONFIG as kubectl.

var (
	pluginOnce sync.Once
	pluginErr  error
	pluginBin  = filepath.Join(repoRoot, "bin", "kubectl-hoard")
)

// buildPlugin builds bin/kubectl-hoard once per test binary, through the Makefile's target.
func buildPlugin(t *testing.T) {
	t.Helper()
	pluginOnce.Do(func() {
		out, err := exec.Command("make", "-C", repoRoot, "plugin").CombinedOutput()
		if err != nil {
			pluginErr = fmt.Errorf("make plugin: %w\n%s", err, out)
		}
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
}

// hoard runs `kubectl hoard ARGS` in the case's namespace and returns stdout, stderr and the
// exit code.
func (k *kns) hoard(args ...string) (stdout, stderr string, code int) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pluginBin, append([]string{"-n", k.ns}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code <= 0 {
		k.t.Fatalf("kubectl hoard %s: %v", strings.Join(args, " "), err)
	}
	k.logf("$ kubectl hoard %s (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return out.String(), errb.String(), code
}

// mustHoard runs the plugin and fails the test unless it exits 0.
func (k *kns) mustHoard(args ...string) string {
	k.t.Helper()
	out, errOut, code := k.hoard(args...)
	if code != 0 {
		k.t.Fatalf("kubectl hoard %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// refused runs the plugin, requires a non-zero exit and a one-line error containing want.
func (k *kns) refused(want string, args ...string) {
	k.t.Helper()
	out, errOut, code := k.hoard(args...)
	if code == 0 {
		k.t.Fatalf("kubectl hoard %s: exit 0 (stdout %q), want an error", strings.Join(args, " "), out)
	}
	if !strings.HasPrefix(errOut, "error: ") || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
		k.t.Errorf("kubectl hoard %s: stderr %q, want one line containing %q", strings.Join(args, " "), errOut, want)
	}
}

// TestPlugin runs every command of the plugin against the real cluster: the client-side ones
// (trigger, pause, resume, snapshots, restore, debug) and the repository operations the
// operator runs as Jobs (unlock, check).
func TestPlugin(t *testing.T) {
	buildPlugin(t)
	k := newCaseNamespace(t, "e2e-plugin")
	k.setup("plugin-src", "plugin-dst")
	k.repository("plugin-repo", "plugin", false)
	k.backupConfiguration(bcSpec{Name: "plugin-bc", Repo: "plugin-repo", Target: "plugin-src", Keep: 5, Schedule: neverSchedule})
	k.smallData("plugin-src", "plugindb")
	want := k.checksums("plugin-src", "plugindb.small")

	k.logf("pause: spec.paused and the CronJob suspended; a trigger is refused while paused")
	eventually(t, "CronJob of plugin-bc", time.Minute, time.Second, func() (bool, string) {
		s := k.cronJobSuspend("plugin-bc")
		return s == "false", "suspend=" + s
	})
	if out := k.mustHoard("pause", "plugin-bc"); !strings.Contains(out, "BackupConfiguration "+k.ns+"/plugin-bc paused") {
		t.Errorf("pause printed %q", out)
	}
	eventually(t, "CronJob suspended", time.Minute, time.Second, func() (bool, string) {
		s := k.cronJobSuspend("plugin-bc")
		return s == "true", "suspend=" + s
	})
	if out := k.mustHoard("pause", "plugin-bc"); !strings.Contains(out, "already paused") {
		t.Errorf("second pause printed %q", out)
	}
	k.refused("BackupConfiguration "+k.ns+"/plugin-bc is paused: `kubectl hoard resume plugin-bc -n "+k.ns+"` resumes it", "trigger", "plugin-bc")
	k.mustHoard("resume", "plugin-bc")
	eventually(t, "CronJob resumed", time.Minute, time.Second, func() (bool, string) {
		s := k.cronJobSuspend("plugin-bc")
		return s == "false", "suspend=" + s
	})

	k.logf("trigger --wait: follows the session to its result")
	out := k.mustHoard("trigger", "plugin-bc", "--wait", "--timeout=5m")
	m := regexp.MustCompile(`BackupSession ` + k.ns + `/(plugin-bc-\d+) created`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("trigger printed no session name:\n%s", out)
	}
	session := m[1]
	snap := k.mustSucceed(k.session(session))
	for _, l := range []string{
		"BackupSession " + k.ns + "/" + session + ": Running",
		"snapshot " + snap + " of plugin-src (host host-0)",
		"BackupSession " + k.ns + "/" + session + " succeeded in ",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("trigger --wait output lacks %q:\n%s", l, out)
		}
	}

	k.logf("snapshots: the list, as a table and as JSON")
	name := k.snapshotObject("plugin-repo", snap)
	table := k.mustHoard("snapshots", "plugin-repo")
	if !strings.HasPrefix(table, "NAME ") || !strings.Contains(table, name) || !strings.Contains(table, "plugin-repo") {
		t.Errorf("snapshots table lacks %s:\n%s", name, table)
	}
	restoreArgs := []string{"restore", name}
	k.refused("Repository "+k.ns+"/no-such-repo not found", "snapshots", "no-such-repo")

	k.logf("restore --to --wait: the snapshot into plugin-dst, equal checksums")
	k.refused("AppBinding "+k.ns+"/no-such-db not found", append(restoreArgs, "--to", "no-such-db")...)
	out = k.mustHoard(append(restoreArgs, "--to", "plugin-dst", "--task", "mysql-restore-10.11", "--wait", "--timeout=5m")...)
	if !regexp.MustCompile(`RestoreSession ` + k.ns + `/plugin-dst-restore-\S+ succeeded in `).MatchString(out) {
		t.Errorf("restore --wait output lacks the success line:\n%s", out)
	}
	if got := k.checksums("plugin-dst", "plugindb.small"); got != want {
		t.Errorf("restored checksums %q, want %q", got, want)
	}
	k.refused("the repository has no snapshot 0badc0de", "restore", "0badc0de", "--repository", "plugin-repo", "--to", "plugin-dst",
		"--task", "mysql-restore-10.11", "--wait", "--timeout=3m")

	k.logf("debug: one report of the session, its conditions, events, Job, pod and logs")
	out = k.mustHoard("debug", "backupsession/"+session, "--tail", "5")
	for _, s := range []string{
		"=== BackupSession " + k.ns + "/" + session,
		"=== Conditions", "BackupSucceeded", "=== Events", "=== Jobs (1)",
		"--- Job ", ": Complete (active 0, succeeded 1",
		"  Pod ", "container ", "terminated: Completed, exit code 0", "log lines:",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("debug report lacks %q:\n%s", s, out)
		}
	}
	out = k.mustHoard("debug", "bc", "plugin-bc")
	if !strings.Contains(out, "(newest BackupSession: "+session+", Succeeded)") || !strings.Contains(out, "=== Jobs (1)") {
		t.Errorf("debug of the configuration lacks its newest session's Job:\n%s", out)
	}
	k.refused("BackupSession "+k.ns+"/no-such-session not found: check the name and the namespace (-n)", "debug", "backupsession/no-such-session")
	k.refused(`the cluster knows no kind "nosuchkind"`, "debug", "nosuchkind/x")

	url := k.restURL("plugin")
	k.logf("unlock: a lock left by a killed restic on another host goes, through the operator's Job")
	k.leaveLock(url)
	out = k.mustHoard("unlock", "plugin-repo")
	if !regexp.MustCompile(`RepositoryOperation ` + k.ns + `/plugin-repo-unlock-\S+ succeeded: removed 1 lock\(s\): lock \w+ of PID \d+ on host restic-`).MatchString(out) {
		t.Errorf("unlock output lacks the removed lock:\n%s", out)
	}
	if st := k.resticState(url, false); len(st.Locks) != 0 {
		t.Errorf("locks left after unlock: %v", st.Locks)
	}

	k.logf("check: waits behind a backup that came first, then reads half the data")
	out = k.mustHoard("trigger", "plugin-bc")
	m = regexp.MustCompile(`BackupSession ` + k.ns + `/(plugin-bc-\d+) created`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("trigger printed no session name:\n%s", out)
	}
	out = k.mustHoard("check", "plugin-repo", "--read-data-subset=50%", "--timeout=5m")
	if !strings.Contains(out, "Check waits for BackupSession "+k.ns+"/"+m[1]) {
		t.Errorf("check did not wait for BackupSession %s:\n%s", m[1], out)
	}
	if !strings.Contains(out, "succeeded: restic check of the structure and data subset 50% found no errors") {
		t.Errorf("check output lacks its outcome:\n%s", out)
	}
	if bs := k.session(m[1]); bs.Status.Phase != "Succeeded" {
		t.Errorf("BackupSession %s: %s (%s)", m[1], bs.Status.Phase, bs.failure())
	}
	op := regexp.MustCompile(`RepositoryOperation ` + k.ns + `/(plugin-repo-check-\S+) created`).FindStringSubmatch(out)
	if op == nil {
		t.Fatalf("check printed no operation name:\n%s", out)
	}
	out = k.mustHoard("debug", "repositoryoperation/"+op[1])
	for _, s := range []string{"=== RepositoryOperation " + k.ns + "/" + op[1], "=== Jobs (1)", "container operation: terminated: Completed, exit code 0", "found no errors"} {
		if !strings.Contains(out, s) {
			t.Errorf("debug of the operation lacks %q:\n%s", s, out)
		}
	}
	k.refused("spec.check.readDataSubset", "check", "plugin-repo", "--read-data-subset=lots")
	k.refused("Repository "+k.ns+"/no-such-repo not found", "unlock", "no-such-repo")

	k.logf("key rotate: the old password stops working, the new one works, a backup and a restore succeed after it")
	out = k.mustHoard("key", "list", "plugin-repo")
	if rows := strings.Split(strings.TrimSpace(out[strings.Index(out, "ID "):]), "\n"); len(rows) != 2 || !strings.Contains(rows[1], " * ") {
		t.Fatalf("key list before the rotation: want one current key:\n%s", out)
	}
	// The old password, kept aside to try it after the rotation.
	k.copySecret("rest-secret", "plugin-old-password")
	out = k.mustHoard("key", "rotate", "plugin-repo")
	m = regexp.MustCompile(`4/4 rotated: key (\w{8}) removed; Secret ` + k.ns + `/rest-secret holds the password of key (\w{8})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("key rotate output lacks its last step:\n%s", out)
	}
	oldKey, newKey := m[1], m[2]
	if a := k.run("get", "secret", "rest-secret", "-o", `jsonpath={.metadata.annotations.hoard\.io/restic-key-id}`); !strings.HasPrefix(a, newKey) {
		t.Errorf("rest-secret annotated with key %q, want %s", a, newKey)
	}
	if left := k.run("get", "secrets", "-l", "hoard.io/repository=plugin-repo", "-o", "name"); left != "" {
		t.Errorf("the rotation left its password Secret: %s", left)
	}
	probe := `set -u
export RESTIC_PASSWORD="$(cat /secret/RESTIC_PASSWORD)"
if restic cat config --no-lock >/dev/null 2>/tmp/err; then echo "@@OPENS"; else echo "@@REFUSED $(tail -1 /tmp/err)"; fi
restic key list --no-lock 2>/dev/null | grep -c '^[ *]' | sed 's/^/@@KEYS /'
`
	if out := k.resticPodSecret(url, "plugin-old-password", probe); !strings.Contains(out, "@@REFUSED") {
		t.Errorf("the old password still opens the repository:\n%s", out)
	}
	if out := k.resticPodSecret(url, "rest-secret", probe); !strings.Contains(out, "@@OPENS") {
		t.Errorf("the new password does not open the repository:\n%s", out)
	}
	out = k.mustHoard("key", "list", "plugin-repo", "-o", "json")
	var keys []struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 1 || !strings.HasPrefix(keys[0].ID, newKey) || !keys[0].Current {
		t.Errorf("keys after the rotation (%v): %s, want only %s (removed %s)", err, out, newKey, oldKey)
	}
	k.refused("is the one the storage Secret's password opens", "key", "remove", "plugin-repo", newKey)
	out = k.mustHoard("trigger", "plugin-bc", "--wait", "--timeout=5m")
	if !strings.Contains(out, " succeeded in ") {
		t.Errorf("the backup after the rotation did not succeed:\n%s", out)
	}
	k.sql("plugin-dst", "DROP DATABASE plugindb;")
	k.mustHoard("restore", "latest", "--repository", "plugin-repo", "--to", "plugin-dst", "--task", "mysql-restore-10.11", "--wait", "--timeout=5m")
	if got := k.checksums("plugin-dst", "plugindb.small"); got != want {
		t.Errorf("checksums restored after the rotation %q, want %q", got, want)
	}

	k.logf("migrate: a repository made by restic 0.12 (Stash's) is refused while a session waits, then upgraded to format 2; its old snapshot restores with equal checksums")
	stashID := k.stashEraRepository("stash-era")
	k.repository("stash-era", "stash-era", false)
	k.backupConfiguration(bcSpec{Name: "era-bc", Repo: "stash-era", Target: "plugin-src", Keep: 5})
	out = k.mustHoard("trigger", "era-bc")
	m = regexp.MustCompile(`BackupSession ` + k.ns + `/(era-bc-\d+) created`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("trigger printed no session name:\n%s", out)
	}
	k.refused("Migrate refused: BackupSession "+k.ns+"/"+m[1], "migrate", "stash-era")
	k.mustSucceed(k.waitSession(m[1], 4*time.Minute))
	out = k.mustHoard("migrate", "stash-era", "--timeout=5m")
	if !strings.Contains(out, "succeeded: checked, then upgraded the repository from format 1 to 2 and repacked its data compressed") {
		t.Errorf("migrate output lacks the upgrade and the repack:\n%s", out)
	}
	// The data Stash's restic wrote uncompressed is repacked compressed: the repository is
	// smaller now, not only after old snapshots expire.
	if m := regexp.MustCompile(`repacked its data compressed: (.+) before, (.+) after`).FindStringSubmatch(out); m == nil {
		t.Errorf("migrate output lacks the sizes:\n%s", out)
	} else {
		before, berr := metrics.ParseBytes(m[1])
		after, aerr := metrics.ParseBytes(m[2])
		k.logf("migrate: the repository's data was %s before the repack, %s after", m[1], m[2])
		if berr != nil || aerr != nil || after >= before {
			t.Errorf("the repository did not shrink: %s before, %s after (%v, %v)", m[1], m[2], berr, aerr)
		}
	}
	if cfg := k.resticPodSecret(k.restURL("stash-era"), "rest-secret", `RESTIC_PASSWORD="$(cat /secret/RESTIC_PASSWORD)" restic cat config --no-lock`); !strings.Contains(cfg, `"version": 2`) {
		t.Errorf("config after migrate:\n%s", cfg)
	}
	out = k.mustHoard("migrate", "stash-era")
	if !strings.Contains(out, "at format 2 already") {
		t.Errorf("second migrate:\n%s", out)
	}
	k.sql("plugin-dst", "DROP DATABASE plugindb;")
	k.mustHoard("restore", stashID, "--repository", "stash-era", "--to", "plugin-dst", "--task", "mysql-restore-10.11", "--wait", "--timeout=5m")
	if got := k.checksums("plugin-dst", "plugindb.small"); got != want {
		t.Errorf("checksums of the Stash-era snapshot restored after migrate %q, want %q", got, want)
	}
}

// stashEraRepository makes a repository at path of the case's REST server with restic 0.12
// (bin/restic-0.12, what Stash shipped; format 1) through a port-forward, and backs up a dump
// of plugin-src into it the way Stash did (/dumpfile.sql of host-0). It returns the snapshot id.
func (k *kns) stashEraRepository(path string) string {
	k.t.Helper()
	bin := filepath.Join(repoRoot, "bin", "restic-0.12")
	if !fileExists(bin) {
		k.t.Fatalf("%s is missing: run make datapath-tools", bin)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pf := exec.CommandContext(ctx, kubectlBin, "-n", k.ns, "port-forward", "svc/rest-server", ":8000")
	stdout, err := pf.StdoutPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	if err := pf.Start(); err != nil {
		k.t.Fatal(err)
	}
	// The port-forward runs until cancelled: stop it, then reap it.
	defer func() { cancel(); _ = pf.Wait() }()
	buf := make([]byte, 256)
	n, _ := stdout.Read(buf)
	pm := regexp.MustCompile(`127\.0\.0\.1:(\d+)`).FindStringSubmatch(string(buf[:n]))
	if pm == nil {
		k.t.Fatalf("port-forward printed %q", buf[:n])
	}
	pw := k.run("get", "secret", "rest-secret", "-o", "jsonpath={.data.RESTIC_PASSWORD}")
	env := append(os.Environ(), "RESTIC_REPOSITORY=rest:http://127.0.0.1:"+pm[1]+"/"+path, "RESTIC_PASSWORD="+decodeBase64(k.t, pw))
	restic := func(stdin io.Reader, args ...string) string {
		cmd := exec.CommandContext(ctx, bin, append(args, "--no-cache")...)
		cmd.Env, cmd.Stdin = env, stdin
		out, err := cmd.Output()
		if err != nil {
			k.t.Fatalf("restic 0.12 %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	restic(nil, "init")
	dump := exec.CommandContext(ctx, kubectlBin, "-n", k.ns, "exec", "deploy/plugin-src", "-c", "mariadb", "--",
		"sh", "-c", `exec mariadb-dump -uroot -p"$MYSQL_ROOT_PASSWORD" --all-databases`)
	dumpOut, err := dump.StdoutPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	if err := dump.Start(); err != nil {
		k.t.Fatal(err)
	}
	out := restic(dumpOut, "backup", "--stdin", "--stdin-filename", "dumpfile.sql", "--host", "host-0", "--json")
	if err := dump.Wait(); err != nil {
		k.t.Fatalf("mariadb-dump: %v", err)
	}
	id := regexp.MustCompile(`"snapshot_id":"([0-9a-f]+)"`).FindStringSubmatch(out)
	if id == nil {
		k.t.Fatalf("restic 0.12 backup printed no snapshot id:\n%s", out)
	}
	if cfg := restic(nil, "cat", "config"); !strings.Contains(cfg, `"version": 1`) {
		k.t.Fatalf("restic 0.12 made a repository that is not format 1:\n%s", cfg)
	}
	return id[1][:8]
}

func decodeBase64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copySecret copies Secret from to a new Secret to in the case's namespace.
func (k *kns) copySecret(from, to string) {
	k.t.Helper()
	var s struct {
		Data map[string]string `json:"data"`
	}
	if !k.get("secret/"+from, &s) {
		k.t.Fatalf("Secret %s not found", from)
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]string{"name": to}, "data": s.Data})
	k.apply(string(b))
}

// resticPodSecret is resticPod with the Secret secret mounted at /secret.
func (k *kns) resticPodSecret(url, secret, script string) string {
	k.t.Helper()
	img := mustKubectl(k.t, "", "-n", operatorNamespace, "get", "deploy", operatorRelease,
		"-o", "jsonpath={.spec.template.spec.containers[0].image}")
	name := fmt.Sprintf("restic-probe-%d", time.Now().UnixNano()%1000000)
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "labels": map[string]string{"app.kubernetes.io/name": "e2e-restic"}},
		"spec": map[string]any{
			"restartPolicy": "Never",
			"containers": []any{map[string]any{
				"name": "restic", "image": img, "imagePullPolicy": "IfNotPresent",
				"command": []string{"sh", "-c", script},
				"env": []any{
					map[string]string{"name": "RESTIC_REPOSITORY", "value": "rest:" + url},
					map[string]string{"name": "HOME", "value": "/tmp"},
				},
				"volumeMounts": []any{map[string]any{"name": "secret", "mountPath": "/secret", "readOnly": true}},
			}},
			"volumes": []any{map[string]any{"name": "secret", "secret": map[string]string{"secretName": secret}}},
		},
	}
	b, _ := json.Marshal(pod)
	k.apply(string(b))
	defer func() { _, _ = k.try("delete", "pod", name, "--wait=false") }()
	var phase string
	eventually(k.t, "restic pod "+name, 3*time.Minute, 2*time.Second, func() (bool, string) {
		phase, _ = k.try("get", "pod", name, "-o", "jsonpath={.status.phase}")
		return phase == "Succeeded" || phase == "Failed", "phase " + phase
	})
	return k.run("logs", name)
}

// leaveLock leaves a restic lock in the repository at url the way a killed Job pod does: a
// backup that took its lock and waits on stdin is killed with SIGKILL, in a pod that then
// ends (so the lock's host is gone; restic itself would call it stale only after 30 minutes).
func (k *kns) leaveLock(url string) {
	k.t.Helper()
	out := k.resticPod(url, `set -u
export RESTIC_PASSWORD="$(cat /secret/RESTIC_PASSWORD)"
sleep 600 | restic backup --stdin --stdin-filename held >/dev/null 2>&1 &
pid=$!
for i in $(seq 30); do [ -n "$(restic list locks --no-lock)" ] && break; sleep 1; done
kill -9 "$pid"
echo "@@LOCKS $(restic list locks --no-lock | wc -l)"
`)
	if !strings.Contains(out, "@@LOCKS 1") {
		k.t.Fatalf("the restic pod left no single lock:\n%s", out)
	}
}

// snapshotObject returns the name of the Snapshot object the operator recorded for restic
// snapshot id in repo (docs/design/0021-snapshots-as-objects.md), as the plugin lists it.
func (k *kns) snapshotObject(repo, id string) string {
	k.t.Helper()
	find := func() string {
		out := k.mustHoard("snapshots", repo, "-o", "json")
		var list struct {
			Items []struct {
				Metadata struct{ Name string } `json:"metadata"`
				Status   struct{ ID, FullID string }
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			k.t.Fatalf("snapshots -o json: %v\n%s", err, out)
		}
		for _, s := range list.Items {
			if s.Status.ID != "" && (strings.HasPrefix(s.Status.FullID, id) || strings.HasPrefix(id, s.Status.ID)) {
				return s.Metadata.Name
			}
		}
		return ""
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if name := find(); name != "" {
			return name
		}
		time.Sleep(2 * time.Second)
	}
	k.t.Fatalf("no Snapshot object of %s in kubectl hoard snapshots %s 20 s after its backup", id, repo)
	return ""
}

// cronJobSuspend is spec.suspend of the configuration's CronJob, "" while it does not exist.
func (k *kns) cronJobSuspend(bc string) string {
	k.t.Helper()
	out, _ := k.try("get", "cronjob", "stash-trigger-"+bc, "-o", "jsonpath={.spec.suspend}")
	return out
}
