package metrics

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	repov1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/scheme"
)

// t0 is the creation time of the fixtures' sessions: 1700000000 in Unix seconds.
var t0 = metav1.NewTime(time.Unix(1_700_000_000, 0))

func backupConfig(ns, name, repo string) *v1beta1.BackupConfiguration {
	return &v1beta1.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1beta1.BackupConfigurationSpec{
			Driver:     v1beta1.ResticSnapshotter,
			Repository: v1beta1.RepositoryRef{Name: repo},
		},
	}
}

func backupSession(ns, name, invoker string, created metav1.Time, status v1beta1.BackupSessionStatus) *v1beta1.BackupSession {
	return &v1beta1.BackupSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: created, UID: types.UID("uid-bs-" + ns + "-" + name)},
		Spec:       v1beta1.BackupSessionSpec{Invoker: v1beta1.BackupInvokerRef{APIGroup: "stash.appscode.com", Kind: "BackupConfiguration", Name: invoker}},
		Status:     status,
	}
}

var appBinding = v1beta1.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: "mysql"}

// succeededBackup is what the session controller writes for a successful MySQL backup.
func succeededBackup() v1beta1.BackupSessionStatus {
	return v1beta1.BackupSessionStatus{
		Phase:           v1beta1.BackupSessionSucceeded,
		SessionDuration: "20.5s",
		Targets: []v1beta1.BackupTargetStatus{{
			Ref:        appBinding,
			TotalHosts: ptr.To[int32](1),
			Phase:      v1beta1.TargetBackupSucceeded,
			Stats: []v1beta1.HostBackupStats{{
				Hostname: "host-0",
				Phase:    v1beta1.HostSucceeded,
				Duration: "12.25s",
				Snapshots: []v1beta1.SnapshotStats{{
					Name:           "4fa1b2c3",
					Path:           "dumpfile.sql",
					TotalSize:      "6.500 MiB",
					Uploaded:       "1.500 KiB",
					ProcessingTime: "3.5s",
					FileStats: v1beta1.FileStats{
						TotalFiles: ptr.To[int64](1), NewFiles: ptr.To[int64](0),
						ModifiedFiles: ptr.To[int64](1), UnmodifiedFiles: ptr.To[int64](0),
					},
				}},
			}},
		}},
	}
}

func failedBackup() v1beta1.BackupSessionStatus {
	return v1beta1.BackupSessionStatus{
		Phase:           v1beta1.BackupSessionFailed,
		SessionDuration: "3s",
		Targets: []v1beta1.BackupTargetStatus{{
			Ref:        appBinding,
			TotalHosts: ptr.To[int32](1),
			Phase:      v1beta1.TargetBackupFailed,
			Stats: []v1beta1.HostBackupStats{{
				Hostname: "host-0",
				Phase:    v1beta1.HostFailed,
				Duration: "2s",
				Error:    "mysqldump: Got error: 1045: Access denied",
			}},
		}},
	}
}

func restoreSession(ns, name, repo string, status v1beta1.RestoreSessionStatus) *v1beta1.RestoreSession {
	return &v1beta1.RestoreSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: t0, UID: types.UID("uid-rs-" + ns + "-" + name)},
		Spec: v1beta1.RestoreSessionSpec{
			Repository: v1beta1.RepositoryRef{Name: repo},
			Target:     &v1beta1.RestoreTarget{Ref: appBinding},
		},
		Status: status,
	}
}

func s3Repository(ns, name string) *v1alpha1.Repository {
	return &v1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
			StorageSecretName: "s3-secret",
			S3:                &v1alpha1.S3Spec{Endpoint: "s3.amazonaws.com", Bucket: "stash-demo", Prefix: "/demo/mysql"},
		}},
		Status: v1alpha1.RepositoryStatus{
			Integrity:                     ptr.To(true),
			TotalSize:                     "1.500 GiB",
			SnapshotCount:                 3,
			SnapshotsRemovedOnLastCleanup: 1,
		},
	}
}

func newFakeReader(objs ...client.Object) client.Reader {
	return fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).Build()
}

const sessionHelp = `
# HELP stash_backup_session_success 1 when the latest finished backup session of the invoker succeeded, 0 when it failed.
# TYPE stash_backup_session_success gauge
# HELP stash_backup_session_duration_seconds How long the latest successful backup session took.
# TYPE stash_backup_session_duration_seconds gauge
# HELP stash_backup_last_success_time_seconds Unix time at which the latest successful backup session finished.
# TYPE stash_backup_last_success_time_seconds gauge
# HELP stash_backup_target_count_total Number of targets the latest successful backup session backed up.
# TYPE stash_backup_target_count_total gauge
# HELP stash_backup_target_success 1 when the backup of the target succeeded, 0 when it failed.
# TYPE stash_backup_target_success gauge
# HELP stash_backup_target_host_count_total Number of hosts backed up for the target.
# TYPE stash_backup_target_host_count_total gauge
# HELP stash_backup_target_last_success_time_seconds Unix time at which the latest successful backup of the target finished.
# TYPE stash_backup_target_last_success_time_seconds gauge
# HELP stash_backup_host_backup_success 1 when the backup of the host succeeded, 0 when it failed.
# TYPE stash_backup_host_backup_success gauge
# HELP stash_backup_host_backup_duration_seconds How long the backup of the host took.
# TYPE stash_backup_host_backup_duration_seconds gauge
# HELP stash_backup_host_data_size_bytes Size of the data backed up for the host.
# TYPE stash_backup_host_data_size_bytes gauge
# HELP stash_backup_host_data_uploaded_bytes Data uploaded to the repository for the host.
# TYPE stash_backup_host_data_uploaded_bytes gauge
# HELP stash_backup_host_data_processing_time_seconds Time restic spent processing the host's data.
# TYPE stash_backup_host_data_processing_time_seconds gauge
# HELP stash_backup_host_files_total Number of files in the host's snapshots.
# TYPE stash_backup_host_files_total gauge
# HELP stash_backup_host_files_new Number of files new since the previous backup of the host.
# TYPE stash_backup_host_files_new gauge
# HELP stash_backup_host_files_modified Number of files modified since the previous backup of the host.
# TYPE stash_backup_host_files_modified gauge
# HELP stash_backup_host_files_unmodified Number of files unchanged since the previous backup of the host.
# TYPE stash_backup_host_files_unmodified gauge
# HELP stash_backup_schedule_interval_seconds Longest time between two scheduled backups of an unpaused BackupConfiguration.
# TYPE stash_backup_schedule_interval_seconds gauge
# HELP stash_backup_session_start_time_seconds Unix time at which the oldest unfinished backup session of the invoker was created.
# TYPE stash_backup_session_start_time_seconds gauge
`

const restoreHelp = `
# HELP stash_restore_session_success 1 when the restore session succeeded, 0 when it failed.
# TYPE stash_restore_session_success gauge
# HELP stash_restore_session_duration_seconds How long the successful restore session took.
# TYPE stash_restore_session_duration_seconds gauge
# HELP stash_restore_target_count_total Number of targets the successful restore session restored.
# TYPE stash_restore_target_count_total gauge
# HELP stash_restore_target_success 1 when the restore of the target succeeded, 0 when it failed.
# TYPE stash_restore_target_success gauge
# HELP stash_restore_target_host_count_total Number of hosts restored for the target.
# TYPE stash_restore_target_host_count_total gauge
# HELP stash_restore_host_restore_success 1 when the restore of the host succeeded, 0 when it failed.
# TYPE stash_restore_host_restore_success gauge
# HELP stash_restore_host_restore_duration_seconds How long the restore of the host took.
# TYPE stash_restore_host_restore_duration_seconds gauge
`

const repoHelp = `
# HELP stash_repository_integrity 1 when the latest integrity check of the repository passed, 0 when it failed.
# TYPE stash_repository_integrity gauge
# HELP stash_repository_size_bytes Size of the repository's data.
# TYPE stash_repository_size_bytes gauge
# HELP stash_repository_snapshot_count Number of snapshots in the repository.
# TYPE stash_repository_snapshot_count gauge
# HELP stash_repository_snapshot_cleaned Number of snapshots the retention policy removed on its latest run.
# TYPE stash_repository_snapshot_cleaned gauge
`

func TestCollectorSucceededBackup(t *testing.T) {
	// The latest finished session wins: the older failed one and the newer running one are
	// not reported, but for the running one's start.
	c := NewCollector(newFakeReader(
		backupConfig("demo", "mysql-backup", "s3-repo"),
		backupSession("demo", "mysql-backup-1699999000", "mysql-backup", metav1.NewTime(t0.Add(-time.Hour)), failedBackup()),
		backupSession("demo", "mysql-backup-1700000000", "mysql-backup", t0, succeededBackup()),
		backupSession("demo", "mysql-backup-1700003600", "mysql-backup", metav1.NewTime(t0.Add(time.Hour)),
			v1beta1.BackupSessionStatus{Phase: v1beta1.BackupSessionRunning}),
	), logr.Discard())

	const s = `invoker_kind="BackupConfiguration",invoker_name="mysql-backup",namespace="demo",driver="Restic",repository="s3-repo"`
	const tgt = s + `,kind="AppBinding",group="appcatalog.appscode.com",name="mysql"`
	const h = tgt + `,hostname="host-0"`
	want := sessionHelp + `
stash_backup_session_success{` + s + `} 1
stash_backup_session_duration_seconds{` + s + `} 20.5
stash_backup_last_success_time_seconds{` + s + `} 1.7000000205e+09
stash_backup_target_count_total{` + s + `} 1
stash_backup_target_success{` + tgt + `} 1
stash_backup_target_host_count_total{` + tgt + `} 1
stash_backup_target_last_success_time_seconds{` + tgt + `} 1.7000000205e+09
stash_backup_host_backup_success{` + h + `} 1
stash_backup_host_backup_duration_seconds{` + h + `} 12.25
stash_backup_host_data_size_bytes{` + h + `} 6815744
stash_backup_host_data_uploaded_bytes{` + h + `} 1536
stash_backup_host_data_processing_time_seconds{` + h + `} 3.5
stash_backup_host_files_total{` + h + `} 1
stash_backup_host_files_new{` + h + `} 0
stash_backup_host_files_modified{` + h + `} 1
stash_backup_host_files_unmodified{` + h + `} 0
stash_backup_session_start_time_seconds{` + s + `} 1.7000036e+09
`
	compare(t, c, want, backupNames()...)
}

func TestCollectorFailedBackup(t *testing.T) {
	// On failure only the *_success gauges are set, at every level, and the time of the last
	// success, from the older session.
	c := NewCollector(newFakeReader(
		backupConfig("demo", "mysql-backup", "s3-repo"),
		backupSession("demo", "mysql-backup-1699999000", "mysql-backup", metav1.NewTime(t0.Add(-time.Hour)), succeededBackup()),
		backupSession("demo", "mysql-backup-1700000000", "mysql-backup", t0, failedBackup()),
	), logr.Discard())

	const s = `invoker_kind="BackupConfiguration",invoker_name="mysql-backup",namespace="demo",driver="Restic",repository="s3-repo"`
	const tgt = s + `,kind="AppBinding",group="appcatalog.appscode.com",name="mysql"`
	want := sessionHelp + `
stash_backup_session_success{` + s + `} 0
stash_backup_last_success_time_seconds{` + s + `} 1.6999964205e+09
stash_backup_target_success{` + tgt + `} 0
stash_backup_host_backup_success{` + tgt + `,hostname="host-0"} 0
`
	compare(t, c, want, backupNames()...)
}

func TestCollectorScheduleAndRunningSessions(t *testing.T) {
	// A scheduled configuration reports its longest gap between backups; a paused one and one
	// without a schedule promise nothing. Of the unfinished sessions the oldest reports its
	// start; a Skipped one never runs.
	weekdays := backupConfig("demo", "weekdays", "s3-repo")
	weekdays.Spec.Schedule = "0 2 * * 1-5"
	paused := backupConfig("demo", "paused", "s3-repo")
	paused.Spec.Schedule = "@daily"
	paused.Spec.Paused = true
	c := NewCollector(newFakeReader(
		weekdays, paused, backupConfig("demo", "manual", "s3-repo"),
		backupSession("demo", "weekdays-1699999000", "weekdays", metav1.NewTime(t0.Add(-time.Hour)),
			v1beta1.BackupSessionStatus{Phase: v1beta1.BackupSessionPending}),
		backupSession("demo", "weekdays-1700000000", "weekdays", t0, v1beta1.BackupSessionStatus{Phase: v1beta1.BackupSessionRunning}),
		backupSession("demo", "manual-1699990000", "manual", metav1.NewTime(t0.Add(-3*time.Hour)),
			v1beta1.BackupSessionStatus{Phase: v1beta1.BackupSessionSkipped}),
	), logr.Discard())
	const wd = `invoker_kind="BackupConfiguration",invoker_name="weekdays",namespace="demo",driver="Restic",repository="s3-repo"`
	want := sessionHelp + `
stash_backup_schedule_interval_seconds{` + wd + `} 259200
stash_backup_session_start_time_seconds{` + wd + `} 1.6999964e+09
`
	compare(t, c, want, backupNames()...)
}

func TestExportedNames(t *testing.T) {
	// ExportedNames, which the dashboard and alert checks read, names exactly the described
	// metrics.
	described := namesOf("")
	sort.Strings(described)
	got := ExportedNames()
	if strings.Join(got, " ") != strings.Join(described, " ") {
		t.Errorf("ExportedNames() = %v\nwant the described %v", got, described)
	}
	if len(got) != 33 {
		t.Errorf("ExportedNames() has %d names, want the contract's 27 and Hoard's 6", len(got))
	}
}

func TestCollectorBackupWithoutInvoker(t *testing.T) {
	// A session whose BackupConfiguration is gone still reports its outcome; only the labels
	// that come from the configuration are empty. Sessions that never finished report nothing.
	c := NewCollector(newFakeReader(
		backupSession("other", "orphan-1700000000", "orphan", t0, v1beta1.BackupSessionStatus{Phase: v1beta1.BackupSessionFailed}),
		backupSession("other", "skipped-1700000000", "skipped", t0, v1beta1.BackupSessionStatus{Phase: v1beta1.BackupSessionSkipped}),
	), logr.Discard())
	want := sessionHelp + `
stash_backup_session_success{invoker_kind="BackupConfiguration",invoker_name="orphan",namespace="other",driver="",repository=""} 0
`
	compare(t, c, want, backupNames()...)
}

func TestCollectorRestore(t *testing.T) {
	c := NewCollector(newFakeReader(
		restoreSession("demo", "restore-ok", "s3-repo", v1beta1.RestoreSessionStatus{
			Phase:           v1beta1.RestoreSucceeded,
			TotalHosts:      ptr.To[int32](1),
			SessionDuration: "1m30s",
			Stats:           []v1beta1.HostRestoreStats{{Hostname: "host-0", Phase: v1beta1.HostSucceeded, Duration: "1m20s"}},
		}),
		restoreSession("demo", "restore-bad", "s3-repo", v1beta1.RestoreSessionStatus{
			Phase:           v1beta1.RestoreFailed,
			TotalHosts:      ptr.To[int32](1),
			SessionDuration: "5s",
			Stats:           []v1beta1.HostRestoreStats{{Hostname: "host-0", Phase: v1beta1.HostFailed, Duration: "4s", Error: "snapshot not found"}},
		}),
		restoreSession("demo", "restore-running", "s3-repo", v1beta1.RestoreSessionStatus{Phase: v1beta1.RestoreRunning}),
	), logr.Discard())

	const ok = `invoker_kind="RestoreSession",invoker_name="restore-ok",namespace="demo",driver="Restic",repository="s3-repo"`
	const bad = `invoker_kind="RestoreSession",invoker_name="restore-bad",namespace="demo",driver="Restic",repository="s3-repo"`
	const ref = `,kind="AppBinding",group="appcatalog.appscode.com",name="mysql"`
	want := restoreHelp + `
stash_restore_session_success{` + ok + `} 1
stash_restore_session_success{` + bad + `} 0
stash_restore_session_duration_seconds{` + ok + `} 90
stash_restore_target_count_total{` + ok + `} 1
stash_restore_target_success{` + ok + ref + `} 1
stash_restore_target_success{` + bad + ref + `} 0
stash_restore_target_host_count_total{` + ok + ref + `} 1
stash_restore_host_restore_success{` + ok + ref + `,hostname="host-0"} 1
stash_restore_host_restore_success{` + bad + ref + `,hostname="host-0"} 0
stash_restore_host_restore_duration_seconds{` + ok + ref + `,hostname="host-0"} 80
`
	compare(t, c, want, restoreNames()...)
}

func TestCollectorRepositories(t *testing.T) {
	unchecked := &v1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "rest-repo"},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
			Rest: &v1alpha1.RestServerSpec{URL: "https://user:secret@rest.example.com:8000/hoard/demo"},
		}},
	}
	local := &v1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "local-repo"},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
			Local: &v1alpha1.LocalSpec{MountPath: "/safe/data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}},
		Status: v1alpha1.RepositoryStatus{Integrity: ptr.To(false), TotalSize: "512 B", SnapshotCount: 1},
	}
	c := NewCollector(newFakeReader(s3Repository("demo", "s3-repo"), unchecked, local), logr.Discard())
	const s3 = `name="s3-repo",namespace="demo",backend="s3",bucket="stash-demo",prefix="/demo/mysql"`
	const rest = `name="rest-repo",namespace="demo",backend="rest",bucket="rest.example.com:8000",prefix="/hoard/demo"`
	const loc = `name="local-repo",namespace="demo",backend="local",bucket="/safe/data",prefix=""`
	want := repoHelp + `
stash_repository_integrity{` + s3 + `} 1
stash_repository_integrity{` + loc + `} 0
stash_repository_size_bytes{` + s3 + `} 1.610612736e+09
stash_repository_size_bytes{` + loc + `} 512
stash_repository_snapshot_count{` + s3 + `} 3
stash_repository_snapshot_count{` + rest + `} 0
stash_repository_snapshot_count{` + loc + `} 1
stash_repository_snapshot_cleaned{` + s3 + `} 1
stash_repository_snapshot_cleaned{` + rest + `} 0
stash_repository_snapshot_cleaned{` + loc + `} 0
`
	compare(t, c, want, repoNames()...)
}

// TestCollectorVerification: a Repository's verification gauges follow its most recently
// verified Snapshot; a Repository without one has none.
func TestCollectorVerification(t *testing.T) {
	snap := func(name, repo string, phase string, at time.Time) *repov1alpha1.Snapshot {
		s := &repov1alpha1.Snapshot{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: name}}
		s.Status.Repository = repo
		if phase != "" {
			s.Status.Verification = &repov1alpha1.SnapshotVerification{Phase: phase, Time: &metav1.Time{Time: at}}
		}
		return s
	}
	at := t0.Time
	c := NewCollector(newFakeReader(s3Repository("demo", "s3-repo"), s3Repository("demo", "other"), s3Repository("demo", "never"),
		snap("s3-repo-aaaaaaaa", "s3-repo", repov1alpha1.VerificationPassed, at),
		snap("s3-repo-bbbbbbbb", "s3-repo", repov1alpha1.VerificationFailed, at.Add(time.Hour)),
		snap("s3-repo-cccccccc", "s3-repo", "", time.Time{}),
		snap("other-aaaaaaaa", "other", repov1alpha1.VerificationFailed, at),
		snap("other-bbbbbbbb", "other", repov1alpha1.VerificationPassed, at.Add(time.Minute)),
	), logr.Discard())
	const s3 = `name="s3-repo",namespace="demo",backend="s3",bucket="stash-demo",prefix="/demo/mysql"`
	const other = `name="other",namespace="demo",backend="s3",bucket="stash-demo",prefix="/demo/mysql"`
	want := `
# HELP stash_repository_verification_success 1 when the latest verification restore of a snapshot of the repository passed, 0 when it failed.
# TYPE stash_repository_verification_success gauge
stash_repository_verification_success{` + other + `} 1
stash_repository_verification_success{` + s3 + `} 0
# HELP stash_repository_last_verification_time_seconds Unix time at which the latest verification restore of a snapshot of the repository ended.
# TYPE stash_repository_last_verification_time_seconds gauge
stash_repository_last_verification_time_seconds{` + other + `} ` + fmt.Sprint(float64(at.Add(time.Minute).Unix())) + `
stash_repository_last_verification_time_seconds{` + s3 + `} ` + fmt.Sprint(float64(at.Add(time.Hour).Unix())) + `
`
	compare(t, c, want, "stash_repository_verification_success", "stash_repository_last_verification_time_seconds")
}

func TestCollectorSkipsMalformedValues(t *testing.T) {
	// One malformed string drops its own gauge and is reported; everything else is exported.
	status := succeededBackup()
	status.Targets[0].Stats[0].Snapshots[0].TotalSize = "lots"
	status.SessionDuration = "a while"
	c := NewCollector(newFakeReader(
		backupConfig("demo", "mysql-backup", "s3-repo"),
		backupSession("demo", "mysql-backup-1700000000", "mysql-backup", t0, status),
	), logr.Discard())
	ms, err := c.collect(t.Context())
	if err == nil || !strings.Contains(err.Error(), `invalid size "lots"`) || !strings.Contains(err.Error(), `invalid duration "a while"`) {
		t.Errorf("collect error = %v, want both malformed values named", err)
	}
	names := map[string]bool{}
	for _, m := range ms {
		names[descName(m.Desc())] = true
	}
	for _, n := range []string{"stash_backup_session_duration_seconds", "stash_backup_host_data_size_bytes"} {
		if names[n] {
			t.Errorf("%s exported from a malformed value", n)
		}
	}
	for _, n := range []string{"stash_backup_session_success", "stash_backup_host_data_uploaded_bytes", "stash_backup_host_files_total"} {
		if !names[n] {
			t.Errorf("%s missing", n)
		}
	}
}

func TestRegisterReplaces(t *testing.T) {
	// A second manager in the same process replaces the first one's collector instead of
	// failing to start.
	reg := prometheus.NewRegistry()
	first := NewCollector(newFakeReader(s3Repository("demo", "first")), logr.Discard())
	second := NewCollector(newFakeReader(s3Repository("demo", "second")), logr.Discard())
	if err := register(reg, first); err != nil {
		t.Fatal(err)
	}
	if err := register(reg, second); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg, "stash_repository_snapshot_count")
	if err != nil || n != 1 {
		t.Fatalf("GatherAndCount = %d, %v; want 1 series", n, err)
	}
	var notCollector prometheus.Collector = prometheus.NewGauge(prometheus.GaugeOpts{Name: "stash_repository_integrity", Help: "clash"})
	if err := register(reg, notCollector); err == nil {
		t.Errorf("register of a clashing collector = %v, want an error", err)
	}
}

// compare is testutil.CollectAndCompare with the expected text normalised first: the
// exposition format sorts labels by name, and the expectations are easier to read in the
// order of the metrics contract.
func compare(t *testing.T, c prometheus.Collector, want string, names ...string) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(want))
	if err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	var buf bytes.Buffer
	keys := make([]string, 0, len(families))
	for k := range families {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, m := range families[k].GetMetric() {
			sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
		}
		if _, err := expfmt.MetricFamilyToText(&buf, families[k]); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.CollectAndCompare(c, &buf, names...); err != nil {
		t.Error(err)
	}
}

func descName(d *prometheus.Desc) string {
	s := d.String()
	_, rest, _ := strings.Cut(s, `fqName: "`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

func namesOf(prefix string) []string {
	ch := make(chan *prometheus.Desc, 64)
	newDescriptors().describe(ch)
	close(ch)
	var out []string
	for d := range ch {
		if n := descName(d); strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func backupNames() []string  { return namesOf("stash_backup_") }
func restoreNames() []string { return namesOf("stash_restore_") }
func repoNames() []string    { return namesOf("stash_repository_") }

// pushedRepoNames are the repository metrics a session's push carries: not the verification
// gauges, which are scraped only.
func pushedRepoNames() []string {
	return slices.DeleteFunc(repoNames(), func(n string) bool { return strings.Contains(n, "verification") })
}

// TestCollectorVerificationReady: a BackupVerification's Ready condition is a gauge; one not
// reconciled yet has none.
func TestCollectorVerificationReady(t *testing.T) {
	bv := func(name string, status metav1.ConditionStatus) *opsv1alpha1.BackupVerification {
		v := &opsv1alpha1.BackupVerification{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: name},
			Spec: opsv1alpha1.BackupVerificationSpec{BackupConfiguration: "nightly"}}
		if status != "" {
			v.Status.Conditions = []metav1.Condition{{Type: opsv1alpha1.ConditionVerificationReady, Status: status}}
		}
		return v
	}
	c := NewCollector(newFakeReader(bv("good", metav1.ConditionTrue), bv("onto-source", metav1.ConditionFalse), bv("new", "")), logr.Discard())
	want := `
# HELP stash_verification_ready 1 when the BackupVerification of the BackupConfiguration invoker_name can run its verifications, 0 when its Ready condition is False.
# TYPE stash_verification_ready gauge
stash_verification_ready{invoker_name="nightly",name="good",namespace="demo"} 1
stash_verification_ready{invoker_name="nightly",name="onto-source",namespace="demo"} 0
`
	compare(t, c, want, "stash_verification_ready")
}

// TestCollectorBinlogGap: a target whose newest binary log after a gap is newer than its
// newest dump has an open gap; a dump after the gap closes it; a target that ships no binary
// logs has no gauge.
func TestCollectorBinlogGap(t *testing.T) {
	snap := func(name, target string, at time.Time, tags ...string) *repov1alpha1.Snapshot {
		s := &repov1alpha1.Snapshot{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: name}}
		s.Status.Repository, s.Status.Target, s.Status.Time, s.Status.Tags = "s3-repo", target, &metav1.Time{Time: at}, tags
		return s
	}
	binlogTags := func(file string, gap bool) []string {
		tags := []string{"binlog", "binlog-file=" + file, "binlog-first=2026-12-03T12:00:00Z", "binlog-last=2026-12-03T12:01:00Z", "binlog-begin=0-7-1", "binlog-end=0-7-9"}
		if gap {
			tags = append(tags, "binlog-gap")
		}
		return tags
	}
	at := t0.Time
	c := NewCollector(newFakeReader(
		// demo/AppBinding/open: a gap after its only dump.
		snap("a", "demo/AppBinding/open", at),
		snap("b", "demo/AppBinding/open", at.Add(time.Minute), binlogTags("mysql-bin.000001", false)...),
		snap("c", "demo/AppBinding/open", at.Add(2*time.Minute), binlogTags("mysql-bin.000004", true)...),
		snap("d", "demo/AppBinding/open", at.Add(3*time.Minute), binlogTags("mysql-bin.000005", false)...),
		// demo/AppBinding/covered: a dump after the gap.
		snap("e", "demo/AppBinding/covered", at.Add(time.Minute), binlogTags("mysql-bin.000004", true)...),
		snap("f", "demo/AppBinding/covered", at.Add(2*time.Minute)),
		// demo/AppBinding/plain ships no binary logs.
		snap("g", "demo/AppBinding/plain", at),
	), logr.Discard())
	want := `
# HELP stash_binlog_gap 1 while the target's shipped binary logs have a gap that no dump taken after it covers (times after the gap cannot be recovered), 0 when they have none; only for targets whose binary logs are shipped.
# TYPE stash_binlog_gap gauge
stash_binlog_gap{namespace="demo",repository="s3-repo",target="demo/AppBinding/covered"} 0
stash_binlog_gap{namespace="demo",repository="s3-repo",target="demo/AppBinding/open"} 1
`
	compare(t, c, want, "stash_binlog_gap")
}
