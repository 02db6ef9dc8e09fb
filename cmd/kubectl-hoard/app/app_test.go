package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// run runs the plugin without a cluster: only what fails before any API call is tested here
// (the e2e runs the rest against the real cluster).
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestArgumentErrorsAreOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trigger"}, "kubectl hoard trigger needs one backupconfiguration name, got 0 arguments"},
		{[]string{"trigger", "a", "b"}, "needs one backupconfiguration name, got 2 arguments"},
		{[]string{"pause"}, "kubectl hoard pause needs one backupconfiguration name"},
		{[]string{"resume", "x", "y"}, "kubectl hoard resume needs one backupconfiguration name, got 2"},
		{[]string{"restore", "rest-repo-4b2a9e1c"}, "kubectl hoard restore needs --to <appbinding>"},
		{[]string{"snapshots", "a", "b"}, "takes at most one Repository name, got 2 arguments"},
		{[]string{"snapshots", "-o", "xml"}, `--output "xml" is not supported: use json or yaml`},
		{[]string{"debug", "backupsession"}, "name the object as <kind>/<name> or <kind> <name>"},
		{[]string{"debug"}, "name the object as <kind>/<name>"},
		{[]string{"nosuch"}, `unknown command "nosuch"`},
		// A cluster that cannot be reached names the object's command, on one line.
		{[]string{"trigger", "nightly", "-n", "demo", "-s", "https://127.0.0.1:1", "--request-timeout=2s"}, "BackupConfiguration demo/nightly"},
	} {
		stdout, stderr, code := run(t, tc.args...)
		if code == 0 {
			t.Errorf("%v: exit 0, want non-zero", tc.args)
		}
		if !strings.HasPrefix(stderr, "error: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q, want one line \"error: ...%s...\"", tc.args, stderr, tc.want)
		}
		if stdout != "" {
			t.Errorf("%v: stdout %q, want nothing", tc.args, stdout)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		stdout, stderr, code := run(t, "completion", shell)
		if code != 0 || !strings.Contains(stdout, "kubectl-hoard") {
			t.Errorf("completion %s: exit %d, stderr %q, script without the command's name", shell, code, stderr)
		}
	}
}

func TestParseObjectArg(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		kind, name string
		ok         bool
	}{
		{[]string{"backupsession/nightly-1"}, "backupsession", "nightly-1", true},
		{[]string{"bc", "nightly"}, "bc", "nightly", true},
		{[]string{"jobs.batch/x"}, "jobs.batch", "x", true},
		{[]string{"nightly"}, "", "", false},
		{[]string{"/x"}, "", "", false},
		{[]string{"a/b/c"}, "", "", false},
		{[]string{"bc/", "x"}, "", "", false},
		{nil, "", "", false},
	} {
		kind, name, err := parseObjectArg(tc.args)
		if (err == nil) != tc.ok || kind != tc.kind || name != tc.name {
			t.Errorf("parseObjectArg(%q) = %q, %q, %v", tc.args, kind, name, err)
		}
	}
}

func snapshot(name, repo, id, host, when string) unstructured.Unstructured {
	u := unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": name, "namespace": "demo", "labels": map[string]any{"repository": repo}},
		"status":   map[string]any{"repository": repo, "id": id, "fullID": id + "00ff", "hostname": host, "time": when, "totalSize": "6.8 MiB"},
	}}
	u.SetGroupVersionKind(snapshotGVK)
	return u
}

func TestSnapshotTable(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	items := []unstructured.Unstructured{
		snapshot("rest-repo-bbbbbbbb", "rest-repo", "bbbbbbbb", "host-0", "2026-12-02T11:00:00Z"),
		snapshot("rest-repo-aaaaaaaa", "rest-repo", "aaaaaaaa", "host-0", "2026-12-01T10:00:00Z"),
	}
	sortSnapshots(items)
	var out bytes.Buffer
	if err := printTable(&out, snapshotHeader, snapshotRows(items, now)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", out.String())
	}
	for i, want := range [][]string{
		{"NAME", "ID", "REPOSITORY", "HOSTNAME", "CREATED", "SIZE", "TARGET", "SESSION", "VERIFIED"},
		{"rest-repo-aaaaaaaa", "aaaaaaaa", "rest-repo", "host-0", "2026-12-01T10:00:00Z", "(26h", "ago)", "6.8", "MiB", "-", "-", "-"},
		{"rest-repo-bbbbbbbb", "bbbbbbbb", "rest-repo", "host-0", "2026-12-02T11:00:00Z", "(60m", "ago)", "6.8", "MiB", "-", "-", "-"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d = %q, want fields %q", i, lines[i], want)
		}
	}
	// Columns line up: every row's ID starts where the header's does.
	col := strings.Index(lines[0], "ID")
	for _, l := range lines[1:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("ID column misaligned in %q (header at %d)", l, col)
		}
	}
}

func TestStructuredOutput(t *testing.T) {
	list := newSnapshotList()
	list.Items = []unstructured.Unstructured{snapshot("rest-repo-aaaaaaaa", "rest-repo", "aaaaaaaa", "host-0", "2026-12-01T10:00:00Z")}
	for _, format := range []string{outputJSON, outputYAML} {
		var out bytes.Buffer
		if err := printStructured(&out, format, list.UnstructuredContent()); err != nil {
			t.Fatal(err)
		}
		var back map[string]any
		var err error
		if format == outputJSON {
			err = json.Unmarshal(out.Bytes(), &back)
		} else {
			err = yaml.Unmarshal(out.Bytes(), &back)
		}
		if err != nil {
			t.Fatalf("%s output does not parse: %v\n%s", format, err, out.String())
		}
		items, _ := back["items"].([]any)
		if back["kind"] != "SnapshotList" || len(items) != 1 {
			t.Errorf("%s output: kind %v, %d items\n%s", format, back["kind"], len(items), out.String())
		}
		id, _, _ := unstructured.NestedString(items[0].(map[string]any), "status", "id")
		if id != "aaaaaaaa" {
			t.Errorf("%s output: status.id %q", format, id)
		}
	}
	if err := checkOutput("wide"); err == nil {
		t.Error("checkOutput(wide) accepted")
	}
}

func TestRestoreSessionFromSnapshot(t *testing.T) {
	s := snapshot("rest-repo-aaaaaaaa", "rest-repo", "aaaaaaaa", "host-0", "2026-12-01T10:00:00Z")
	src, err := snapshotSource(&s)
	if err != nil {
		t.Fatal(err)
	}
	rs := newRestoreSession("demo", "restored-mysql", "mysql-restore-10.11", src)
	if rs.GenerateName != "restored-mysql-restore-" || rs.Namespace != "demo" {
		t.Errorf("name %q/%q", rs.Namespace, rs.GenerateName)
	}
	if rs.Spec.Repository.Name != "rest-repo" || rs.Spec.Task.Name != "mysql-restore-10.11" {
		t.Errorf("repository %q task %q", rs.Spec.Repository.Name, rs.Spec.Task.Name)
	}
	tg := rs.Spec.Target
	if tg.Ref.Kind != "AppBinding" || tg.Ref.Name != "restored-mysql" || tg.Ref.APIVersion != "appcatalog.appscode.com/v1alpha1" {
		t.Errorf("target %+v", tg.Ref)
	}
	// The whole restic id: a short one could become ambiguous as the repository grows.
	if len(tg.Rules) != 1 || len(tg.Rules[0].Snapshots) != 1 || tg.Rules[0].Snapshots[0] != "aaaaaaaa00ff" || tg.Rules[0].SourceHost != "host-0" {
		t.Errorf("rules %+v", tg.Rules)
	}

	unrecorded := snapshot("rest-repo-cccccccc", "", "", "", "")
	unrecorded.SetLabels(nil)
	if _, err := snapshotSource(&unrecorded); err == nil || !strings.Contains(err.Error(), "Snapshot demo/rest-repo-cccccccc has no status.repository") {
		t.Errorf("snapshotSource of an unrecorded Snapshot: %v", err)
	}
}

func TestBackupReport(t *testing.T) {
	bs := &stashv1beta1.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "nightly-1"}}
	r := backupReport(bs)
	if r.done || r.lines[0] != "BackupSession demo/nightly-1: Pending" {
		t.Errorf("new session: %+v", r)
	}

	bs.Status.Phase = stashv1beta1.BackupSessionRunning
	bs.Status.Progress = &stashv1beta1.BackupProgress{Percent: ptr.To[int32](40), BytesDone: 4 << 20, TotalBytes: 10 << 20}
	r = backupReport(bs)
	if r.done || !contains(r.lines, "  uploaded 4.0 MiB of 10.0 MiB (40%)") {
		t.Errorf("running: %q", r.lines)
	}

	bs.Status.Phase = stashv1beta1.BackupSessionSucceeded
	bs.Status.SessionDuration = "11.2s"
	bs.Status.Targets = []stashv1beta1.BackupTargetStatus{{Ref: stashv1beta1.TargetRef{Name: "sample-mysql"}, Stats: []stashv1beta1.HostBackupStats{{
		Hostname: "host-0", Duration: "9s", Snapshots: []stashv1beta1.SnapshotStats{{Name: "4b2a9e1c", TotalSize: "6.8 MiB", Uploaded: "1.2 MiB"}},
	}}}}
	r = backupReport(bs)
	if !r.done || r.err != nil || !contains(r.lines, "  snapshot 4b2a9e1c of sample-mysql (host host-0): 6.8 MiB, 1.2 MiB uploaded, took 9s") ||
		r.lines[len(r.lines)-1] != "BackupSession demo/nightly-1 succeeded in 11.2s" {
		t.Errorf("succeeded: %q %v", r.lines, r.err)
	}

	bs.Status.Phase = stashv1beta1.BackupSessionFailed
	bs.Status.Targets[0].Stats[0].Error = "mysqldump: Access denied"
	bs.Status.Conditions = []metav1.Condition{{Type: "BackupTargetFound", Status: metav1.ConditionTrue, Reason: "Found"}}
	r = backupReport(bs)
	want := "BackupSession demo/nightly-1 failed: host-0: mysqldump: Access denied; `kubectl hoard debug backupsession/nightly-1 -n demo` shows its Job, pod and logs"
	if !r.done || r.err == nil || r.err.Error() != want {
		t.Errorf("failed: %v, want %q", r.err, want)
	}

	bs.Status.Phase = stashv1beta1.BackupSessionSkipped
	r = backupReport(bs)
	if !r.done || r.err == nil || !strings.HasPrefix(r.err.Error(), "BackupSession demo/nightly-1 was skipped") {
		t.Errorf("skipped: %v", r.err)
	}
}

func TestRestoreReport(t *testing.T) {
	rs := &stashv1beta1.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "db-restore-x"}}
	rs.Status.Phase = stashv1beta1.RestoreFailed
	rs.Status.Conditions = []metav1.Condition{{Type: "RestoreCompleted", Status: metav1.ConditionFalse, Reason: "RestoreFailed", Message: "the repository has no snapshot 0badc0de"}}
	r := restoreReport(rs)
	if !r.done || r.err == nil || !strings.Contains(r.err.Error(), "RestoreSession demo/db-restore-x failed: RestoreCompleted: the repository has no snapshot 0badc0de;") {
		t.Errorf("failed: %v", r.err)
	}
	if !contains(r.lines, "  RestoreCompleted=False (RestoreFailed): the repository has no snapshot 0badc0de") {
		t.Errorf("lines %q", r.lines)
	}
	rs.Status.Phase = stashv1beta1.RestoreSucceeded
	rs.Status.SessionDuration = "7s"
	if r := restoreReport(rs); !r.done || r.err != nil {
		t.Errorf("succeeded: %+v", r)
	}
}

func TestFollowPrintsEachLineOnceAndTimesOut(t *testing.T) {
	var out bytes.Buffer
	reads := 0
	err := follow(t.Context(), &out, "backupsession/x", time.Millisecond, time.Hour, func(context.Context) (report, error) {
		reads++
		if reads < 3 {
			return report{lines: []string{"BackupSession demo/x: Running"}}, nil
		}
		return report{lines: []string{"BackupSession demo/x: Running", "done"}, done: true, err: errors.New("boom")}, nil
	})
	if err == nil || err.Error() != "boom" || out.String() != "BackupSession demo/x: Running\ndone\n" {
		t.Errorf("follow: %v, printed %q", err, out.String())
	}
	err = follow(t.Context(), &out, "backupsession/x", time.Millisecond, time.Millisecond, func(context.Context) (report, error) {
		time.Sleep(2 * time.Millisecond)
		return report{}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "backupsession/x has not finished after 1ms") {
		t.Errorf("timeout: %v", err)
	}
}

func TestHumanBytes(t *testing.T) {
	for b, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(b); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", b, got, want)
		}
	}
}

func contains(lines []string, l string) bool {
	for _, x := range lines {
		if x == l {
			return true
		}
	}
	return false
}

func TestOperationCommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"unlock"}, "kubectl hoard unlock needs one repository name, got 0 arguments"},
		{[]string{"check", "a", "b"}, "kubectl hoard check needs one repository name, got 2 arguments"},
		{[]string{"key", "remove", "rest-repo"}, "kubectl hoard key remove needs a Repository name and a key id"},
		{[]string{"key", "add", "rest-repo"}, "kubectl hoard key add needs --from-secret <secret>"},
		{[]string{"key", "rotate"}, "kubectl hoard key rotate needs one repository name"},
		{[]string{"key", "list", "rest-repo", "-o", "wide"}, `--output "wide" is not supported`},
	} {
		_, stderr, code := run(t, tc.args...)
		if code == 0 || !strings.HasPrefix(stderr, "error: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want one line containing %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestOperationReport(t *testing.T) {
	op := newOperation("demo", "rest-repo", opsv1alpha1.RepositoryOperationSpec{Operation: opsv1alpha1.OperationCheck, Check: &opsv1alpha1.CheckParams{ReadDataSubset: "5%"}})
	if op.GenerateName != "rest-repo-check-" || op.Spec.Repository != "rest-repo" || op.Spec.Check.ReadDataSubset != "5%" {
		t.Errorf("newOperation: %+v", op)
	}
	op.Name = "rest-repo-check-x"
	op.Status = opsv1alpha1.RepositoryOperationStatus{Phase: opsv1alpha1.OperationPending, Message: "Check waits for BackupSession demo/b-1, which is using the repository"}
	r := operationReport(op)
	if r.done || r.lines[0] != "RepositoryOperation demo/rest-repo-check-x: Pending: Check waits for BackupSession demo/b-1, which is using the repository" {
		t.Errorf("pending: %+v", r)
	}
	op.Status = opsv1alpha1.RepositoryOperationStatus{Phase: opsv1alpha1.OperationSucceeded, Message: "restic check of the structure found no errors"}
	if r := operationReport(op); !r.done || r.err != nil || r.lines[len(r.lines)-1] != "RepositoryOperation demo/rest-repo-check-x succeeded: restic check of the structure found no errors" {
		t.Errorf("succeeded: %+v", r)
	}
	op.Status = opsv1alpha1.RepositoryOperationStatus{Phase: opsv1alpha1.OperationFailed, Message: "Check failed: restic check of the structure found 2 error(s)"}
	if r := operationReport(op); !r.done || r.err == nil || r.err.Error() != "RepositoryOperation demo/rest-repo-check-x failed: Check failed: restic check of the structure found 2 error(s)" {
		t.Errorf("failed: %+v", r)
	}
}

func TestKeyTable(t *testing.T) {
	var out bytes.Buffer
	keys := []opsv1alpha1.RepositoryKey{
		{ID: "1111111100aa", Current: true, UserName: "root", HostName: "hoard-op-x", Created: "2026-12-02 06:07:30"},
		{ID: "2222222200bb", HostName: "laptop"},
	}
	if err := printTable(&out, []string{"ID", "CURRENT", "USER", "HOST", "CREATED"}, keyRows(keys)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[1]), " ") != "11111111 * root hoard-op-x 2026-12-02 06:07:30" ||
		strings.Join(strings.Fields(lines[2]), " ") != "22222222 - laptop -" {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestNewPassword(t *testing.T) {
	a, err := newPassword()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newPassword()
	if len(a) != 43 || a == b || strings.ContainsAny(a, " \n\t=") {
		t.Errorf("passwords %q, %q", a, b)
	}
}
