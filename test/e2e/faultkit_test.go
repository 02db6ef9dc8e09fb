//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fault suite's toolkit: one namespace per case with its own REST server and MariaDB
// servers, BackupSessions created the way `hoard trigger` creates them, restic run against a
// case's repository from the operator image, and the table of outcomes.

// faultLabel marks the fault suite's namespaces, so that `make e2e` collects their
// diagnostics after a failure.
const faultLabel = "hoard.io/e2e=faults"

// kns is kubectl in one case's namespace.
type kns struct {
	t  *testing.T
	ns string
}

// newCaseNamespace creates the case's namespace afresh and deletes it again after a pass (it
// stays after a failure, for the diagnostics).
func newCaseNamespace(t *testing.T, name string) *kns {
	t.Helper()
	mustKubectl(t, "", "delete", "namespace", name, "--ignore-not-found", "--wait=true", "--timeout=240s")
	mustKubectl(t, "", "create", "namespace", name)
	k, v, _ := strings.Cut(faultLabel, "=")
	mustKubectl(t, "", "label", "namespace", name, k+"="+v)
	t.Cleanup(func() {
		// What the namespace's pods logged goes with it: read it for the leak search first.
		collectBeforeDeletion(t, name)
		if !t.Failed() {
			_, _ = kubectl("", "delete", "namespace", name, "--wait=false")
		} else {
			t.Logf("namespace %s is kept for a look (diagnostics are in bin/e2e/diagnostics.txt)", name)
		}
	})
	return &kns{t: t, ns: name}
}

func (k *kns) try(args ...string) (string, error) {
	return kubectl("", append([]string{"-n", k.ns}, args...)...)
}

func (k *kns) run(args ...string) string {
	k.t.Helper()
	return mustKubectl(k.t, "", append([]string{"-n", k.ns}, args...)...)
}

func (k *kns) apply(yaml string) {
	k.t.Helper()
	mustKubectl(k.t, yaml, "-n", k.ns, "apply", "-f", "-")
}

func (k *kns) logf(format string, args ...any) {
	k.t.Helper()
	k.t.Logf("==> [%s %s] %s", time.Now().Format("15:04:05"), k.ns, fmt.Sprintf(format, args...))
}

// get decodes one object (kubectl get RESOURCE -o json) into v; false when it does not exist.
func (k *kns) get(resource string, v any) bool {
	k.t.Helper()
	out, err := k.try("get", resource, "-o", "json")
	if err != nil {
		if strings.Contains(err.Error(), "NotFound") {
			return false
		}
		k.t.Fatalf("%v", err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		k.t.Fatalf("decoding %s: %v", resource, err)
	}
	return true
}

// show logs what a user would look at.
func (k *kns) show(args ...string) {
	k.t.Helper()
	out, err := k.try(args...)
	if err != nil {
		k.t.Logf("$ kubectl -n %s %s: %v", k.ns, strings.Join(args, " "), err)
		return
	}
	k.t.Logf("$ kubectl -n %s %s\n%s", k.ns, strings.Join(args, " "), out)
}

// restURL is the URL of path on the case's REST server.
func (k *kns) restURL(path string) string {
	return "http://rest-server." + k.ns + ".svc:8000/" + path
}

// setup starts the case's REST server and the named MariaDB servers (each with its AppBinding
// of the same name) and waits for them.
func (k *kns) setup(servers ...string) {
	k.t.Helper()
	k.apply(manifest(k.t, "fault-storage.yaml"))
	for _, s := range servers {
		k.apply(manifest(k.t, "mariadb.yaml", "NAME", s))
	}
	for _, d := range append([]string{"rest-server"}, servers...) {
		k.run("rollout", "status", "deploy/"+d, "--timeout=300s")
	}
}

func (k *kns) repository(name, path string, wipeOut bool) {
	k.t.Helper()
	k.apply(manifest(k.t, "fault-repository.yaml", "NAME", name, "URL", k.restURL(path), "WIPEOUT", strconv.FormatBool(wipeOut)))
}

// bcSpec is a BackupConfiguration of the suite (fault-backupconfiguration.yaml).
type bcSpec struct {
	Name, Repo, Target, Args, Schedule string
	Keep                               int
	Paused                             bool
	StorageTimeout                     int
}

// neverSchedule never fires during a test run: its sessions are created by the test.
const neverSchedule = "0 0 1 1 *"

func (k *kns) backupConfiguration(s bcSpec) {
	k.t.Helper()
	if s.Schedule == "" {
		s.Schedule = neverSchedule
	}
	if s.Args == "" {
		s.Args = "--all-databases"
	}
	if s.Keep == 0 {
		s.Keep = 3
	}
	if s.StorageTimeout == 0 {
		s.StorageTimeout = 300
	}
	k.apply(manifest(k.t, "fault-backupconfiguration.yaml", "NAME", s.Name, "REPO", s.Repo, "TARGET", s.Target,
		"ARGS", s.Args, "SCHEDULE", s.Schedule, "KEEP", strconv.Itoa(s.Keep), "PAUSED", strconv.FormatBool(s.Paused),
		"STORAGE_TIMEOUT", strconv.Itoa(s.StorageTimeout)))
}

// limitCPU puts a CPU limit on the backup Job's containers (runtimeSettings.container); ""
// removes it.
func (k *kns) limitCPU(resource, cpu string) {
	k.t.Helper()
	patch := `{"spec":{"runtimeSettings":null}}`
	if cpu != "" {
		patch = `{"spec":{"runtimeSettings":{"container":{"resources":{"limits":{"cpu":"` + cpu + `"}}}}}}`
	}
	k.run("patch", resource, "--type=merge", "-p", patch)
}

func (k *kns) pause(bc string, paused bool) {
	k.t.Helper()
	k.run("patch", "backupconfiguration", bc, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"paused":%t}}`, paused))
}

// sql runs statements as root in the MariaDB server deploy and returns the tab-separated
// result.
func (k *kns) sql(deploy, stmts string) string {
	k.t.Helper()
	return mustKubectl(k.t, stmts, "-n", k.ns, "exec", "-i", "deploy/"+deploy, "-c", "mariadb", "--",
		"sh", "-c", `exec mariadb -uroot -p"$MYSQL_ROOT_PASSWORD" -N -B`)
}

// checksums is CHECKSUM TABLE and COUNT(*) of each table, one line.
func (k *kns) checksums(deploy string, tables ...string) string {
	k.t.Helper()
	var q []string
	for _, tb := range tables {
		q = append(q, "CHECKSUM TABLE "+tb+"; SELECT COUNT(*) FROM "+tb+";")
	}
	return strings.Join(strings.Fields(k.sql(deploy, strings.Join(q, " "))), " ")
}

// smallData creates database db with a three-row table db.small.
func (k *kns) smallData(deploy, db string) {
	k.t.Helper()
	k.sql(deploy, fmt.Sprintf(`CREATE DATABASE IF NOT EXISTS %[1]s;
CREATE TABLE %[1]s.small (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL);
INSERT INTO %[1]s.small (name) VALUES ('%[1]s-1'), ('%[1]s-2'), ('%[1]s-3');`, db))
}

// bigRows makes a dump of about bigRows*975 bytes: 48 MB, enough for a backup under a CPU
// limit to be caught mid-upload.
const bigRows = 50000

// bigData adds db.big: bigRows rows of 960 characters (MariaDB's SEQUENCE engine makes the
// rows).
func (k *kns) bigData(deploy, db string) {
	k.t.Helper()
	k.sql(deploy, fmt.Sprintf(`CREATE DATABASE IF NOT EXISTS %[1]s;
USE %[1]s;
CREATE TABLE big (id INT PRIMARY KEY AUTO_INCREMENT, v TEXT NOT NULL);
INSERT INTO big (v) SELECT REPEAT(MD5(RAND()), 30) FROM seq_1_to_%[2]d;`, db, bigRows))
}

// trigger creates one BackupSession for each configuration in a single `kubectl apply`, the
// way `hoard trigger` makes them (internal/trigger: name <configuration>-<unix seconds>, the
// invoker labels, spec.invoker and a controller reference to the configuration), and returns
// their names.
func (k *kns) trigger(bcs ...string) []string {
	k.t.Helper()
	now := time.Now().Unix()
	var docs, names []string
	for _, bc := range bcs {
		name := fmt.Sprintf("%s-%d", bc, now)
		names = append(names, name)
		docs = append(docs, k.sessionYAML(bc, name))
	}
	k.apply(strings.Join(docs, "---\n"))
	return names
}

// sessionYAML is BackupSession name of configuration bc as `hoard trigger` makes it: the
// invoker labels, spec.invoker and a controller reference to the configuration.
func (k *kns) sessionYAML(bc, name string) string {
	k.t.Helper()
	uid := k.run("get", "backupconfiguration", bc, "-o", "jsonpath={.metadata.uid}")
	return fmt.Sprintf(`apiVersion: stash.appscode.com/v1beta1
kind: BackupSession
metadata:
  name: %[1]s
  labels:
    stash.appscode.com/invoker-type: BackupConfiguration
    stash.appscode.com/invoker-name: %[2]s
  ownerReferences:
    - {apiVersion: stash.appscode.com/v1beta1, kind: BackupConfiguration, name: %[2]s, uid: %[3]s, controller: true}
spec:
  invoker: {apiGroup: stash.appscode.com, kind: BackupConfiguration, name: %[2]s}
`, name, bc, uid)
}

// session reads one BackupSession.
func (k *kns) session(name string) backupSession {
	k.t.Helper()
	var bs backupSession
	if !k.get("backupsession/"+name, &bs) {
		k.t.Fatalf("BackupSession %s/%s not found", k.ns, name)
	}
	return bs
}

// sessions lists the namespace's BackupSessions (of one configuration if bc is given), oldest
// first.
func (k *kns) sessions(bc string) []backupSession {
	k.t.Helper()
	args := []string{"get", "backupsessions", "-o", "json"}
	if bc != "" {
		args = append(args, "-l", "stash.appscode.com/invoker-name="+bc)
	}
	var list struct {
		Items []backupSession `json:"items"`
	}
	out, err := k.try(args...)
	if err != nil {
		k.t.Logf("listing sessions: %v", err)
		return nil
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		k.t.Fatalf("decoding sessions: %v", err)
	}
	sort.SliceStable(list.Items, func(i, j int) bool {
		a, b := list.Items[i].Metadata, list.Items[j].Metadata
		if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
			return a.CreationTimestamp.Before(b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	return list.Items
}

func finished(phase string) bool {
	return phase == "Succeeded" || phase == "Failed" || phase == "Skipped"
}

// waitSession waits for a BackupSession to end and returns it.
func (k *kns) waitSession(name string, timeout time.Duration) backupSession {
	k.t.Helper()
	var bs backupSession
	eventually(k.t, "BackupSession "+name+" to finish", timeout, 2*time.Second, func() (bool, string) {
		bs = k.session(name)
		return finished(bs.Status.Phase), fmt.Sprintf("phase %q, conditions %s", bs.Status.Phase, bs.conditions())
	})
	return bs
}

// waitRunning waits until a backup is Running and its progress shows bytes uploaded (the
// operator reads it from the Job's log), so that stopping something now hits the upload.
func (k *kns) waitUploading(name string, timeout time.Duration) backupSession {
	k.t.Helper()
	var bs backupSession
	eventually(k.t, "BackupSession "+name+" to show upload progress", timeout, 2*time.Second, func() (bool, string) {
		bs = k.session(name)
		if finished(bs.Status.Phase) {
			k.t.Fatalf("BackupSession %s ended (%s) before its progress showed an upload: the test's backup is too fast to be interrupted (%s)",
				name, bs.Status.Phase, bs.failure())
		}
		p := bs.Status.Progress
		return bs.Status.Phase == "Running" && p != nil && p.BytesDone > 0, fmt.Sprintf("phase %q, progress %+v", bs.Status.Phase, p)
	})
	return bs
}

// mustSucceed fails the test unless the session Succeeded with one snapshot, and returns the
// snapshot's name.
func (k *kns) mustSucceed(bs backupSession) string {
	k.t.Helper()
	if bs.Status.Phase != "Succeeded" {
		k.t.Fatalf("BackupSession %s: %s, want Succeeded: %s", bs.Metadata.Name, bs.Status.Phase, bs.failure())
	}
	snaps := bs.snapshots()
	if len(snaps) != 1 {
		k.t.Fatalf("BackupSession %s reports snapshots %v, want one", bs.Metadata.Name, snaps)
	}
	for _, c := range []string{"SnapshotCreated", "RetentionPolicyApplied", "RepositoryIntegrityVerified", "BackupSucceeded"} {
		if st := bs.condition(c).Status; st != "True" {
			k.t.Errorf("BackupSession %s: condition %s is %q, want True (%s)", bs.Metadata.Name, c, st, bs.conditions())
		}
	}
	return snaps[0]
}

// backup triggers one session of bc, waits for it and requires success; it returns the
// snapshot.
func (k *kns) backup(bc string) string {
	k.t.Helper()
	name := k.trigger(bc)[0]
	return k.mustSucceed(k.waitSession(name, 4*time.Minute))
}

// jobOf returns the name and UID of the Job the session (by UID) controls, "" when none.
func (k *kns) jobOf(sessionUID string) (name, uid string) {
	k.t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name            string `json:"name"`
				UID             string `json:"uid"`
				OwnerReferences []struct {
					UID        string `json:"uid"`
					Controller bool   `json:"controller"`
				} `json:"ownerReferences"`
			} `json:"metadata"`
		} `json:"items"`
	}
	out := k.run("get", "jobs", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		k.t.Fatalf("decoding jobs: %v", err)
	}
	for _, j := range list.Items {
		for _, r := range j.Metadata.OwnerReferences {
			if r.Controller && r.UID == sessionUID {
				return j.Metadata.Name, j.Metadata.UID
			}
		}
	}
	return "", ""
}

// podOfJob returns the name of the Job's pod ("" when it has none).
func (k *kns) podOfJob(job string) string {
	k.t.Helper()
	out, _ := k.try("get", "pods", "-l", "batch.kubernetes.io/job-name="+job, "-o", "jsonpath={.items[0].metadata.name}")
	return out
}

// follow streams a container's log (kubectl logs -f) in the background; the function it
// returns stops that and gives the lines other than progress reports.
func (k *kns) follow(pod, container string) func() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, kubectlBin, "-n", k.ns, "logs", "-f", pod, "-c", container)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		cancel()
		return func() []string { return []string{"kubectl logs -f: " + err.Error()} }
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return func() []string {
		cancel()
		<-done
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if !strings.Contains(l, `"type":"progress"`) {
				lines = append(lines, l)
			}
		}
		return lines
	}
}

// Minimal view of a RestoreSession.
type restoreSession struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		Phase      string      `json:"phase"`
		Conditions []condition `json:"conditions"`
		Stats      []struct {
			Hostname string `json:"hostname"`
			Phase    string `json:"phase"`
			Error    string `json:"error"`
		} `json:"stats"`
	} `json:"status"`
}

// ---- restic, run against a case's repository ----

// resticSnapshot is one entry of `restic snapshots --json`.
type resticSnapshot struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags"`
}

// repoState is what restic says of a repository.
type repoState struct {
	Exists    bool
	Snapshots []resticSnapshot
	Locks     []string
	CheckOK   bool
	CheckOut  string
}

func (s repoState) ids() []string {
	var ids []string
	for _, sn := range s.Snapshots {
		ids = append(ids, sn.ShortID)
	}
	sort.Strings(ids)
	return ids
}

func (s repoState) has(short string) bool {
	for _, sn := range s.Snapshots {
		if strings.HasPrefix(sn.ID, short) {
			return true
		}
	}
	return false
}

var resticPodSeq struct {
	sync.Mutex
	n int
}

// resticState lists the snapshots and locks of the REST repository at url and, with check,
// runs `restic check`. restic is the operator image's, in a pod of the case's namespace. No
// Hoard Job may use the repository meanwhile (restic check takes an exclusive lock).
func (k *kns) resticState(url string, check bool) repoState {
	k.t.Helper()
	script := `set -u
export RESTIC_PASSWORD="$(cat /secret/RESTIC_PASSWORD)"
if ! restic cat config >/dev/null 2>&1; then echo "@@NOREPO"; exit 0; fi
echo "@@SNAPSHOTS"; restic snapshots --json --no-lock || echo "@@FAILED snapshots"
echo; echo "@@LOCKS"; restic list locks --no-lock || echo "@@FAILED locks"
`
	if check {
		script += `echo "@@CHECK"; restic check 2>&1; echo "@@CHECKRC $?"
`
	}
	out := k.resticPod(url, script)
	st := repoState{}
	if strings.Contains(out, "@@NOREPO") {
		return st
	}
	st.Exists = true
	// The script's output, cut at its @@NAME marker lines.
	sections := map[string]string{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "@@") {
			cur = strings.Fields(strings.TrimPrefix(line, "@@"))[0]
			sections[cur] += line + "\n"
			continue
		}
		if cur != "" {
			sections[cur] += line + "\n"
		}
	}
	section := func(name string) string {
		s, ok := sections[name]
		if !ok {
			k.t.Fatalf("restic against %s printed no %s section:\n%s", url, name, out)
		}
		_, body, _ := strings.Cut(s, "\n")
		return strings.TrimSpace(body)
	}
	if f, ok := sections["FAILED"]; ok {
		k.t.Fatalf("restic against %s failed: %s\n%s", url, f, out)
	}
	if err := json.Unmarshal([]byte(section("SNAPSHOTS")), &st.Snapshots); err != nil {
		k.t.Fatalf("restic snapshots of %s: %v:\n%s", url, err, out)
	}
	st.Locks = append(st.Locks, strings.Fields(section("LOCKS"))...)
	if check {
		st.CheckOut = section("CHECK")
		st.CheckOK = strings.TrimSpace(sections["CHECKRC"]) == "@@CHECKRC 0" && strings.Contains(st.CheckOut, "no errors were found")
	}
	return st
}

// resticPod runs script with RESTIC_REPOSITORY=rest:url and the storage Secret at /secret in
// a pod of the operator image, and returns its log.
func (k *kns) resticPod(url, script string) string {
	k.t.Helper()
	img := mustKubectl(k.t, "", "-n", operatorNamespace, "get", "deploy", operatorRelease,
		"-o", "jsonpath={.spec.template.spec.containers[0].image}")
	resticPodSeq.Lock()
	resticPodSeq.n++
	name := fmt.Sprintf("restic-%d-%d", time.Now().Unix()%100000, resticPodSeq.n)
	resticPodSeq.Unlock()
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
					map[string]string{"name": "RESTIC_CACHE_DIR", "value": "/tmp/restic-cache"},
					map[string]string{"name": "HOME", "value": "/tmp"},
				},
				"volumeMounts": []any{map[string]any{"name": "secret", "mountPath": "/secret", "readOnly": true}},
			}},
			"volumes": []any{map[string]any{"name": "secret", "secret": map[string]string{"secretName": "rest-secret"}}},
		},
	}
	b, _ := json.Marshal(pod)
	k.apply(string(b))
	defer func() { _, _ = k.try("delete", "pod", name, "--wait=false") }()
	var phase string
	eventually(k.t, "restic pod "+name, 5*time.Minute, 2*time.Second, func() (bool, string) {
		phase, _ = k.try("get", "pod", name, "-o", "jsonpath={.status.phase}")
		return phase == "Succeeded" || phase == "Failed", "phase " + phase
	})
	out := k.run("logs", name)
	if phase != "Succeeded" {
		k.t.Fatalf("restic pod %s: %s:\n%s", name, phase, out)
	}
	return out
}

// verifyRepository ends a case: restic check of the repository at url is clean, no lock is
// left, and every snapshot in keep is still there. It returns the state.
func (k *kns) verifyRepository(url string, keep ...string) repoState {
	k.t.Helper()
	st := k.resticState(url, true)
	if !st.Exists {
		k.t.Fatalf("no restic repository at %s", url)
	}
	k.t.Logf("  restic at %s: %d snapshots %v, %d locks, check: %s", url, len(st.Snapshots), st.ids(), len(st.Locks), lastLine(st.CheckOut))
	if !st.CheckOK {
		k.t.Errorf("restic check of %s is not clean:\n%s", url, st.CheckOut)
	}
	if len(st.Locks) > 0 {
		k.t.Errorf("restic locks left in %s: %v", url, st.Locks)
	}
	for _, s := range keep {
		if !st.has(s) {
			k.t.Errorf("snapshot %s is gone from %s (left: %v)", s, url, st.ids())
		}
	}
	return st
}

// verdict says in a few words how the repository ended, for the table.
func (s repoState) verdict() string {
	switch {
	case !s.Exists:
		return "NO repository"
	case s.CheckOK && len(s.Locks) == 0:
		return "check clean"
	case s.CheckOK:
		return fmt.Sprintf("check clean but %d lock(s) left", len(s.Locks))
	case len(s.Locks) > 0:
		return fmt.Sprintf("check NOT clean: %d stale lock(s) left", len(s.Locks))
	}
	return "check NOT clean: " + lastLine(s.CheckOut)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// ---- the table of outcomes ----

type faultRow struct {
	Case, Outcome, Detail string
	Took                  time.Duration
}

type faultTable struct {
	mu   sync.Mutex
	rows []faultRow
}

// record runs at the end of a case (t.Cleanup) with what detail says about it.
func (ft *faultTable) record(t *testing.T, name string, detail *string) {
	start := time.Now()
	t.Cleanup(func() {
		outcome := "PASS"
		if t.Failed() {
			outcome = "FAIL"
		} else if t.Skipped() {
			outcome = "SKIP"
		}
		ft.mu.Lock()
		defer ft.mu.Unlock()
		ft.rows = append(ft.rows, faultRow{Case: name, Outcome: outcome, Detail: *detail, Took: time.Since(start).Round(time.Second)})
	})
}

func (ft *faultTable) String() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	rows := append([]faultRow(nil), ft.rows...)
	sort.Slice(rows, func(i, j int) bool { return rows[i].Case < rows[j].Case })
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s %-7s %8s  %s\n", "CASE", "OUTCOME", "TOOK", "WHAT WAS SEEN")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-28s %-7s %8s  %s\n", r.Case, r.Outcome, r.Took, r.Detail)
	}
	return b.String()
}
